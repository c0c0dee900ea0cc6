//! Pushed input: a webhook payload or an uploaded file runs through its source's plugin and is
//! stored; the answer goes back only once it is durable, and the delivery workers are woken. A body
//! the source refuses, or one its plugin cannot hold in memory, is the input's fault: it is kept
//! once in the webhook inbox and the plugin's health is untouched. A source that may not grant
//! consent has its grants dropped (`grants`); its refusals count.

use super::{grants, ingest, Delivery, IngestReport, Origin};
use crate::connectors::Connectors;
use rapport_core::journeys::Routes;
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::runtime::plugin::Fault;
use rapport_store::outbox::ProfileUpdates;
use rapport_store::{Kept, Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

/// Why a pushed payload (webhook or uploaded file) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    #[error("signature or credentials refused: {0}")]
    Auth(String),
    #[error("payload refused: {reason} ({})", kept_note(kept))]
    Invalid { reason: String, kept: Kept },
    #[error("payload too large: {reason} ({})", kept_note(kept))]
    TooLarge { reason: String, kept: Kept },
    #[error("source is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn kept_note(kept: &Kept) -> String {
    match kept {
        Kept::Item { id, attempts: 1 } => {
            format!("kept for inspection as webhook inbox item {id}")
        }
        Kept::Item { id, attempts } => {
            format!("kept for inspection as webhook inbox item {id}, refused {attempts} times")
        }
        Kept::Full => "not kept: the webhook inbox is full (server.inbox_max_mib)".into(),
    }
}

/// How far a push is trusted, from the source's `[server.sources.<id>]` and `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct PushPolicy {
    /// Whether the source's consent grants are taken; its refusals always are.
    pub grants_consent: bool,
    /// Most bytes of refused bodies the webhook inbox holds.
    pub inbox_cap_bytes: i64,
}

impl PushPolicy {
    /// The policy `[server]` sets for `source`.
    pub fn of(server: &crate::config::ServerConfig, source: &str) -> PushPolicy {
        PushPolicy {
            grants_consent: server.source(source).grants_consent,
            inbox_cap_bytes: i64::try_from(server.inbox_max_mib << 20).unwrap_or(i64::MAX),
        }
    }
}

impl Default for PushPolicy {
    /// The policy of a source `[server]` says nothing about.
    fn default() -> Self {
        PushPolicy::of(&crate::config::ServerConfig::default(), "")
    }
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

    /// Runs a webhook payload or an uploaded file through `source_id`'s plugin and stores the result
    /// under the default [`PushPolicy`]; returns once it is durable.
    pub async fn receive_push(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<IngestReport, PushError> {
        self.receive(source_id, headers, body, false, PushPolicy::default())
            .await
    }

    /// Runs an export of past sales through `source_id`'s plugin as history: it fills profiles and
    /// the sinks and starts no journey, however recent its sales.
    pub async fn receive_history(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<IngestReport, PushError> {
        self.receive(source_id, headers, body, true, PushPolicy::default())
            .await
    }

    /// Runs a push through `source_id`'s plugin under `policy` and stores the result, as history if
    /// `history` says so; returns once it is durable.
    pub async fn receive(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        history: bool,
        policy: PushPolicy,
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
        .map_err(|e| PushError::Unavailable(e.to_string()))?;
        let keep = |reason: String| async {
            let kept = self
                .store
                .keep_webhook_within(source_id, &reason, &headers, &body, policy.inbox_cap_bytes)
                .await?;
            Ok::<_, StoreError>((reason, kept))
        };
        let answer = match answer {
            Ok(answer) => answer,
            // The body is more than the plugin can hold: the input's fault, not the plugin's.
            Err(e) if matches!(e.fault, Fault::Memory(_)) => {
                let (reason, kept) = keep(format!(
                    "source `{source_id}`'s plugin {} reading a body of {} bytes: send it in smaller parts",
                    e.fault,
                    body.len()
                ))
                .await?;
                return Err(PushError::TooLarge { reason, kept });
            }
            Err(e) => return Err(PushError::Unavailable(e.to_string())),
        };
        let mut push = match answer {
            Ok(push) => push,
            Err(ConnectorError::Auth(m)) => return Err(PushError::Auth(m)),
            Err(ConnectorError::Invalid(reason) | ConnectorError::Config(reason)) => {
                let (reason, kept) = keep(reason).await?;
                return Err(PushError::Invalid { reason, kept });
            }
            Err(ConnectorError::Transient(m)) => return Err(PushError::Unavailable(m)),
            Err(ConnectorError::RateLimited(ms)) => {
                return Err(PushError::Unavailable(format!("rate limited for {ms} ms")))
            }
        };
        if !policy.grants_consent {
            let dropped = grants::drop_grants(source_id, &mut push.events);
            push.rejected.extend(dropped);
        }
        let report = ingest(
            &self.store,
            &source.normalizer,
            source_id,
            &self.routes,
            Origin {
                name: "webhook",
                cursor: None,
                history,
                profile_updates: ProfileUpdates::Due,
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
