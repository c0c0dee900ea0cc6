//! Pushed input: a webhook payload or an uploaded file runs through its source's plugin and is
//! stored; the answer goes back only once it is durable, and the delivery workers are woken.

use super::{ingest, Delivery, IngestReport, Origin};
use crate::connectors::Connectors;
use rapport_core::journeys::Routes;
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

/// Why a pushed payload (webhook or uploaded file) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    #[error("signature or credentials refused: {0}")]
    Auth(String),
    #[error("payload refused: {reason} (kept for inspection as webhook inbox item {kept})")]
    Invalid { reason: String, kept: i64 },
    #[error("source is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The delivery workers' doorbells: ingest rings them when it has stored new work.
#[derive(Debug, Clone, Default)]
pub struct Wakers(Vec<Arc<Notify>>);

impl Wakers {
    /// One doorbell for each of `count` workers.
    pub fn new(count: usize) -> Wakers {
        Wakers((0..count).map(|_| Arc::new(Notify::new())).collect())
    }

    /// Tells every delivery worker new work may be waiting.
    pub fn wake_all(&self) {
        for waker in &self.0 {
            waker.notify_one();
        }
    }

    /// Worker `index`'s doorbell.
    pub fn get(&self, index: usize) -> Arc<Notify> {
        self.0[index].clone()
    }
}

/// Takes pushed input for every configured source.
pub struct Intake {
    store: Store,
    connectors: Arc<Connectors>,
    routes: Routes,
    wakers: Wakers,
}

impl Intake {
    pub fn new(
        store: Store,
        connectors: Arc<Connectors>,
        routes: Routes,
        wakers: Wakers,
    ) -> Intake {
        Intake {
            store,
            connectors,
            routes,
            wakers,
        }
    }

    /// Runs a webhook payload or an uploaded file through `source_id`'s plugin and stores the result;
    /// returns once it is durable.
    pub async fn receive_push(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<IngestReport, PushError> {
        self.receive(source_id, headers, body, false).await
    }

    /// Runs an export of past sales through `source_id`'s plugin as history: it fills profiles and
    /// the sinks and starts no journey, however recent its sales.
    pub async fn receive_history(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<IngestReport, PushError> {
        self.receive(source_id, headers, body, true).await
    }

    async fn receive(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        history: bool,
    ) -> Result<IngestReport, PushError> {
        let source = self
            .connectors
            .source(source_id)
            .ok_or_else(|| PushError::UnknownSource(source_id.to_string()))?
            .clone();
        if source.generations.is_disabled() {
            return Err(PushError::Unavailable(format!(
                "source `{source_id}` is disabled (`rapport plugin enable` turns it back on)"
            )));
        }
        let plugin = source.plugin();
        let (headers, body) = (Arc::new(headers), Arc::new(body));
        let answer = tokio::task::spawn_blocking({
            let (headers, body) = (headers.clone(), body.clone());
            move || plugin.webhook(&headers, &body)
        })
        .await
        .map_err(|e| PushError::Unavailable(e.to_string()))?
        .map_err(|fault| PushError::Unavailable(fault.to_string()))?;
        let push = match answer {
            Ok(push) => push,
            Err(ConnectorError::Auth(m)) => return Err(PushError::Auth(m)),
            Err(ConnectorError::Invalid(reason) | ConnectorError::Config(reason)) => {
                let kept = self
                    .store
                    .keep_webhook(source_id, &reason, &headers, &body)
                    .await?;
                return Err(PushError::Invalid { reason, kept });
            }
            Err(ConnectorError::Transient(m)) => return Err(PushError::Unavailable(m)),
            Err(ConnectorError::RateLimited(ms)) => {
                return Err(PushError::Unavailable(format!("rate limited for {ms} ms")))
            }
        };
        let report = ingest(
            &self.store,
            &source.normalizer,
            source_id,
            &self.routes,
            Origin {
                name: "webhook",
                cursor: None,
                history,
            },
            Delivery {
                events: push.events,
                rejected: push.rejected,
            },
        )
        .await?;
        self.wakers.wake_all();
        Ok(report)
    }
}
