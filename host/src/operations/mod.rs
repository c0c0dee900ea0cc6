//! Operations figures per connector, for `/api/operations`, `/metrics` and `rapport status`: each
//! sink's sync latency (p50, p99), error budget against its objective, backlog, dead letters and
//! time held by its vendor's rate limits; each connector's plugin generation and health; the
//! events each source brought in. Read from the store at the injected clock's time, computed by
//! `rapport_core::operations`'s rules.
//!
//! Sync latency runs from when the host accepted the event (the outbox item's `created_at`, written
//! in the transaction that stored the event; not the sale's own time, which a late upload or a
//! history import would make meaningless) to when the sink confirmed delivery. It covers profile
//! updates, activities and consent changes confirmed within the sink's SLO window; journey
//! messages, which wait for their time by design, are left out.

use crate::config::mode::SinkMode;
use crate::connectors::{Connector, Connectors};
use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use rapport_core::operations::{CountedValues, ErrorBudget, Outcomes, Slo};
use rapport_sandbox::runtime::health::HealthState;
use rapport_store::operations::Backlog;
use rapport_store::{Store, StoreError};
use serde::Serialize;
use std::time::Duration;

/// Every connector's operations figures at one time.
#[derive(Debug, Clone, Serialize)]
pub struct OperationsReport {
    pub at: DateTime<Utc>,
    pub sinks: Vec<SinkOperations>,
    pub sources: Vec<SourceOperations>,
}

/// The plugin a connector runs, and how it is doing.
#[derive(Debug, Clone, Serialize)]
pub struct PluginState {
    pub plugin: String,
    /// The live generation (1 at start, one more at each reload).
    pub generation: u64,
    pub health: HealthState,
}

/// One sink's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SinkOperations {
    pub sink: String,
    #[serde(flatten)]
    pub plugin: PluginState,
    /// The objective; the outcomes, budget and latency are over its window.
    pub slo: Slo,
    pub outcomes: Outcomes,
    pub error_budget: ErrorBudget,
    pub latency: Latency,
    /// Items owed: pending or in flight, less journey messages waiting for their time.
    pub backlog: i64,
    /// How long the oldest of them has waited.
    #[serde(serialize_with = "seconds::optional")]
    pub oldest_backlog_age_seconds: Option<Duration>,
    /// Items dead or rejected, waiting for an operator (`rapport dlq`).
    pub dead_letters: i64,
    /// Time the vendor's rate limits (429, Retry-After) held the sink's work, in all.
    #[serde(serialize_with = "seconds::exact")]
    pub rate_limit_wait_seconds: Duration,
    /// `live`, or `shadow`: its plugin's requests are captured, never sent.
    pub mode: SinkMode,
}

/// Sync latency percentiles, by the nearest-rank method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Deliveries the percentiles are read from.
    pub samples: u64,
    #[serde(serialize_with = "seconds::optional")]
    pub p50_seconds: Option<Duration>,
    #[serde(serialize_with = "seconds::optional")]
    pub p99_seconds: Option<Duration>,
}

/// One source's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOperations {
    pub source: String,
    #[serde(flatten)]
    pub plugin: PluginState,
    /// Events it brought in that the store still holds.
    pub events_ingested: i64,
}

/// Reads every configured connector's figures at `now`. Each count walks an index of its own on
/// a connection of its own, so the reads run side by side.
#[tracing::instrument(skip_all)]
pub async fn read(
    store: &Store,
    connectors: &Connectors,
    now: DateTime<Utc>,
) -> Result<OperationsReport, StoreError> {
    let ids: Vec<&str> = connectors.sources.iter().map(|s| s.id.as_str()).collect();
    let (dead_letters, waits, events, sinks) = tokio::try_join!(
        store.dead_letter_counts(),
        store.rate_limit_waits(),
        store.events_by_source(&ids),
        try_join_all((connectors.sinks.iter()).map(|sink| sink_counts(store, sink, now))),
    )?;
    let sinks = (connectors.sinks.iter().zip(sinks))
        .map(|(sink, (slo, outcomes, backlog, latency))| SinkOperations {
            sink: sink.id.clone(),
            plugin: plugin_state(sink),
            slo,
            outcomes,
            error_budget: ErrorBudget::of(&slo, &outcomes),
            latency,
            backlog: backlog.items,
            oldest_backlog_age_seconds: backlog
                .oldest_queued_at
                .map(|at| millis(now.timestamp_millis() - at)),
            dead_letters: dead_letters.get(&sink.id).copied().unwrap_or(0),
            rate_limit_wait_seconds: millis(waits.get(&sink.id).copied().unwrap_or(0)),
            mode: sink.mode,
        })
        .collect();
    let sources = connectors
        .sources
        .iter()
        .zip(events)
        .map(|(source, events_ingested)| SourceOperations {
            source: source.id.clone(),
            plugin: plugin_state(source),
            events_ingested,
        })
        .collect();
    Ok(OperationsReport {
        at: now,
        sinks,
        sources,
    })
}

/// `sink`'s objective, and how its work finished, what it owes and how long it took within the
/// objective's window up to `now`.
async fn sink_counts(
    store: &Store,
    sink: &Connector,
    now: DateTime<Utc>,
) -> Result<(Slo, Outcomes, Backlog, Latency), StoreError> {
    // The objective was checked when the config loaded.
    let slo = sink.config.slo().unwrap_or_default();
    let since = (now - slo.window).timestamp_millis();
    let (outcomes, backlog, latency) = tokio::try_join!(
        store.outcomes_since(&sink.id, since),
        store.backlog_at(&sink.id, now.timestamp_millis()),
        latency(store, &sink.id, since),
    )?;
    Ok((slo, outcomes, backlog, latency))
}

fn plugin_state(connector: &Connector) -> PluginState {
    let live = connector.live();
    PluginState {
        plugin: live.plugin.id().to_string(),
        generation: live.number(),
        health: live.plugin.health().state,
    }
}

/// `sink`'s p50 and p99 sync latency over deliveries confirmed since `since`, from the window's
/// latencies counted by value.
async fn latency(store: &Store, sink: &str, since: i64) -> Result<Latency, StoreError> {
    let latencies = CountedValues::new(store.sync_latency_counts(sink, since).await?);
    Ok(Latency {
        samples: latencies.total(),
        p50_seconds: latencies.at_quantile(0.5).map(millis),
        p99_seconds: latencies.at_quantile(0.99).map(millis),
    })
}

/// A span of milliseconds (none below zero).
fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Durations as seconds (with fractions) in JSON.
mod seconds {
    use serde::Serializer;
    use std::time::Duration;

    pub fn exact<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn optional<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => exact(d, s),
            None => s.serialize_none(),
        }
    }
}
