//! Polling a source: each stream is read from its stored cursor until the source says nothing more is
//! available, each step committed with its cursor, so a restart resumes where the last commit left.

use super::{ingest, Delivery};
use crate::connectors::Connector;
use crate::runtime::bindings::wit::ConnectorError;
use crate::store::{IngestReport, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Why a poll stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Plugin(#[from] crate::runtime::plugin::PluginError),
    #[error("source {source_id} stream {stream}: {error:?}")]
    Connector {
        source_id: String,
        stream: String,
        error: ConnectorError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("poll task failed: {0}")]
    Task(String),
}

impl PollError {
    /// How long the source asked (or its quarantine requires) to be left alone, if so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Plugin(crate::runtime::plugin::PluginError {
                fault: crate::runtime::plugin::Fault::Quarantined { retry_in, .. },
                ..
            }) => Some(*retry_in),
            PollError::Connector {
                error: ConnectorError::RateLimited(ms),
                ..
            } => Some(Duration::from_millis(u64::from(*ms))),
            _ => None,
        }
    }
}

/// Polls every stream of `source` until each is caught up; `on_commit` runs after each stored step.
/// A disabled source is not polled.
pub async fn poll_source(
    store: &Store,
    source: &Arc<Connector>,
    sinks: &[String],
    on_commit: &(dyn Fn() + Send + Sync),
) -> Result<IngestReport, PollError> {
    let mut total = IngestReport::default();
    if source.generations.is_disabled() {
        return Ok(total);
    }
    for stream in &source.live().descriptor.streams {
        let origin = format!("poll:{stream}");
        loop {
            let cursor = store.cursor(&source.id, stream).await?;
            let plugin = source.plugin();
            let stream_name = stream.clone();
            let answer =
                tokio::task::spawn_blocking(move || plugin.poll(&stream_name, cursor.as_deref()))
                    .await
                    .map_err(|e| PollError::Task(e.to_string()))??;
            let batch = answer.map_err(|error| PollError::Connector {
                source_id: source.id.clone(),
                stream: stream.clone(),
                error,
            })?;
            let report = ingest(
                store,
                &source.normalizer,
                &source.id,
                sinks,
                &origin,
                batch.cursor.as_deref().map(|c| (stream.as_str(), c)),
                Delivery {
                    events: batch.events,
                    rejected: batch.rejected,
                },
            )
            .await?;
            on_commit();
            tracing::info!(source = %source.id, stream = %stream, accepted = report.accepted,
                duplicates = report.duplicates, rejected = report.rejected, "poll step stored");
            total += report;
            if !batch.more {
                break;
            }
        }
    }
    Ok(total)
}
