//! Polling a source: each stream is read from its stored cursor until the source says nothing more is
//! available, each step committed with its cursor, so a restart resumes where the last commit left.

use super::{grants, ingest, Delivery, IngestReport, Origin};
use crate::connectors::Connector;
use rapport_core::journeys::Routes;
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::runtime::plugin::{Plugin, PluginError};
use rapport_store::outbox::ProfileUpdates;
use rapport_store::{Store, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why a poll stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Plugin(#[from] rapport_sandbox::runtime::plugin::PluginError),
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
            PollError::Plugin(rapport_sandbox::runtime::plugin::PluginError {
                fault: rapport_sandbox::runtime::plugin::Fault::Quarantined { retry_in, .. },
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

/// Runs `call` on `connector`'s live plugin off the async runtime and reads its answer: a plugin
/// fault or a connector error (named with `stream`) fails the read.
pub async fn call_plugin<R: Send + 'static>(
    connector: &Connector,
    stream: &str,
    call: impl FnOnce(&Plugin) -> Result<Result<R, ConnectorError>, PluginError> + Send + 'static,
) -> Result<R, PollError> {
    let plugin = connector.plugin();
    let answer = tokio::task::spawn_blocking(move || call(&plugin))
        .await
        .map_err(|e| PollError::Task(e.to_string()))??;
    answer.map_err(|error| PollError::Connector {
        source_id: connector.id.clone(),
        stream: stream.into(),
        error,
    })
}

/// Reading the next step of a stream.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Step, PollError>> + Send + 'a>>;

/// One step read from a connector's stream: what to store, where to resume, whether more waits.
pub struct Step {
    pub delivery: Delivery,
    /// `None` keeps the stored cursor.
    pub cursor: Option<String>,
    pub more: bool,
}

/// Runs `poll` (a poll's reads of `connector`), then releases the profile updates they held, so
/// a backfill sends each person's once when the poll ends rather than after each of their sales;
/// released whether the poll caught up or stopped on an error (a poll that queued no work held
/// nothing). `on_commit` runs if any were.
pub async fn releasing(
    store: &Store,
    connector: &Connector,
    routes: &Routes,
    on_commit: &(dyn Fn() + Send + Sync),
    poll: impl Future<Output = Result<IngestReport, PollError>>,
) -> Result<IngestReport, PollError> {
    let polled = poll.await;
    if polled.as_ref().is_ok_and(|report| report.work_items == 0) {
        return polled;
    }
    let released = store
        .release_held_profiles(&routes.sinks, routes.clock.now_ms())
        .await;
    match released {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(connector = %connector.id, released,
                "poll ended: the profile updates it held are due");
            on_commit();
        }
        // The poll's own error comes first; what stays held is released when the next one ends.
        Err(e) if polled.is_err() => {
            tracing::error!(connector = %connector.id, error = %e,
                "the profile updates held during the poll could not be released");
        }
        Err(e) => return Err(e.into()),
    }
    polled
}

/// Polls every stream of `source` until each is caught up; `on_commit` runs after each stored step.
/// A disabled source is not polled. What the streams hold is released once all are read.
pub async fn poll_source(
    store: &Store,
    source: &Connector,
    routes: &Routes,
    grants_consent: bool,
    on_commit: &(dyn Fn() + Send + Sync),
) -> Result<IngestReport, PollError> {
    if source.generations.is_disabled() {
        return Ok(IngestReport::default());
    }
    let streams = async {
        let mut total = IngestReport::default();
        for stream in &source.live().descriptor.streams {
            total += read_stream(store, source, stream, routes, on_commit, |cursor| {
                Box::pin(async move {
                    let stream_name = stream.clone();
                    let mut batch = call_plugin(source, stream, move |p| {
                        p.poll(&stream_name, cursor.as_deref())
                    })
                    .await?;
                    if !grants_consent {
                        let dropped = grants::drop_grants(&source.id, &mut batch.events);
                        batch.rejected.extend(dropped);
                    }
                    Ok(Step {
                        delivery: Delivery {
                            events: batch.events,
                            rejected: batch.rejected,
                        },
                        cursor: batch.cursor,
                        more: batch.more,
                    })
                })
            })
            .await?;
        }
        Ok(total)
    };
    releasing(store, source, routes, on_commit, streams).await
}

/// Reads `stream` of `connector` from its stored cursor until a step says nothing more is
/// available, storing each step's events in one transaction with its cursor; `on_commit` runs after
/// each. `step` reads the next step from a cursor. The profile updates the steps owe are held
/// ([`ProfileUpdates::Held`]): the caller releases them when its poll ends ([`releasing`]).
///
/// The next step is read while the one before is stored: a step names its own next cursor, so
/// the vendor's pages and the store's transactions overlap instead of taking turns (a first
/// backfill is mostly this loop). The transactions still commit one after the other, each with its
/// cursor, and a step read ahead is only stored after the one before it: if storing fails, what
/// was read ahead is dropped and read again from the stored cursor next time; if reading ahead
/// fails, the step before it is stored first, then the read's error ends the poll.
pub async fn read_stream<'a>(
    store: &Store,
    connector: &Connector,
    stream: &str,
    routes: &Routes,
    on_commit: &(dyn Fn() + Send + Sync),
    step: impl Fn(Option<String>) -> StepFuture<'a>,
) -> Result<IngestReport, PollError> {
    let origin = format!("poll:{stream}");
    let mut total = IngestReport::default();
    let mut resume = store.cursor(&connector.id, stream).await?;
    // A stream read for the first time is history: it fills profiles and starts no journey.
    let history = resume.is_none();
    let mut read = step(resume.clone()).await;
    loop {
        let Step {
            delivery,
            cursor,
            more,
        } = read?;
        // A step without a cursor keeps the one before.
        if cursor.is_some() {
            resume.clone_from(&cursor);
        }
        let storing = ingest(
            store,
            &connector.normalizer,
            &connector.id,
            routes,
            Origin {
                name: &origin,
                cursor: cursor.as_deref().map(|c| (stream, c)),
                history,
                profile_updates: ProfileUpdates::Held,
            },
            delivery,
        );
        let (stored, ahead) = match more {
            true => {
                let (stored, ahead) = tokio::join!(storing, step(resume.clone()));
                (stored, Some(ahead))
            }
            false => (storing.await, None),
        };
        let report = stored?;
        on_commit();
        tracing::info!(connector = %connector.id, stream, accepted = report.accepted,
            duplicates = report.duplicates, rejected = report.rejected, "poll step stored");
        total += report;
        match ahead {
            Some(ahead) => read = ahead,
            None => return Ok(total),
        }
    }
}
