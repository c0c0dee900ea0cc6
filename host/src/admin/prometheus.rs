//! `GET /metrics`: the operations figures in the Prometheus text format (0.0.4), for a scraper
//! that sends the admin token (`authorization: { credentials: … }` in its scrape config). A fresh
//! registry is filled from the store at each scrape, so every host sharing a PostgreSQL database
//! reports the same numbers.

use super::openapi::{ErrorBody, ADMIN};
use super::{error, operations, AdminState};
use crate::operations::{OperationsReport, PluginState};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rapport_sandbox::runtime::health::HealthState;
use std::sync::atomic::AtomicU64;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/metrics", get(scrape))
}

/// The operations figures as Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = ADMIN,
    responses(
        (status = 200, description = "The Prometheus text format 0.0.4", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn scrape(State(state): State<AdminState>) -> Response {
    let report = match operations::read(&state).await {
        Ok(report) => report,
        Err(unavailable) => return unavailable,
    };
    let mut text = String::new();
    match prometheus_client::encoding::prometheus_text::encode(&mut text, &registry(&report)) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    sink: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    sink: String,
    quantile: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
    role: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    connector: String,
    role: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

type Ratio = Gauge<f64, AtomicU64>;

/// Registers a family named `name` and returns it to be filled.
fn family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let family = Family::<L, M>::default();
    registry.register(name, help, family.clone());
    family
}

/// The report as metric families.
fn registry(report: &OperationsReport) -> Registry {
    let mut r = Registry::with_prefix("rapport");
    let backlog: Family<SinkLabel, Gauge> = family(
        &mut r,
        "backlog_items",
        "Work items a sink owes: pending or in flight, less journey messages waiting for their time",
    );
    let oldest: Family<SinkLabel, Ratio> = family(
        &mut r,
        "backlog_oldest_age_seconds",
        "How long the oldest item of a sink's backlog has waited",
    );
    let dead: Family<SinkLabel, Gauge> = family(
        &mut r,
        "dead_letters",
        "Items dead or rejected, waiting for an operator",
    );
    let finished: Family<OutcomeLabels, Gauge> = family(
        &mut r,
        "deliveries_in_slo_window",
        "Work items finished within the sink's SLO window, by outcome",
    );
    let latency: Family<QuantileLabels, Ratio> = family(
        &mut r,
        "sync_latency_seconds",
        "Sync latency from the event's acceptance to the sink's confirmation, within the SLO window (nearest rank)",
    );
    let samples: Family<SinkLabel, Gauge> = family(
        &mut r,
        "sync_latency_samples",
        "Deliveries the sync latency percentiles are read from",
    );
    let target: Family<SinkLabel, Ratio> =
        family(&mut r, "slo_target", "The sink's objective (`slo`)");
    let burned: Family<SinkLabel, Ratio> = family(
        &mut r,
        "error_budget_burned_ratio",
        "Share of the error budget the window's rejected and dead items used (above 1: overspent)",
    );
    let remaining: Family<SinkLabel, Ratio> = family(
        &mut r,
        "error_budget_remaining_ratio",
        "Share of the error budget left (negative: overspent)",
    );
    let waited: Family<SinkLabel, Counter<f64, AtomicU64>> = family(
        &mut r,
        "rate_limit_wait_seconds",
        "Time the vendor's rate limits (429, Retry-After) held the sink's work",
    );
    let generation: Family<ConnectorLabels, Gauge> = family(
        &mut r,
        "plugin_generation",
        "The live generation of the connector's plugin",
    );
    let health: Family<HealthLabels, Gauge> = family(
        &mut r,
        "plugin_health",
        "1 for the state the connector's plugin is in, 0 for the others",
    );
    let ingested: Family<SourceLabel, Gauge> = family(
        &mut r,
        "events_ingested",
        "Events the source brought in that the store still holds",
    );
    let plugin = |connector: &str, role, state: &PluginState| {
        let labels = ConnectorLabels {
            connector: connector.to_string(),
            role,
        };
        generation
            .get_or_create(&labels)
            .set(i64::try_from(state.generation).unwrap_or(i64::MAX));
        for (name, each) in [
            ("healthy", HealthState::Healthy),
            ("degraded", HealthState::Degraded),
            ("quarantined", HealthState::Quarantined),
        ] {
            let labels = HealthLabels {
                connector: connector.to_string(),
                role,
                state: name,
            };
            health
                .get_or_create(&labels)
                .set(i64::from(each == state.health));
        }
    };
    for s in &report.sinks {
        let sink = || SinkLabel {
            sink: s.sink.clone(),
        };
        backlog.get_or_create(&sink()).set(s.backlog);
        if let Some(age) = s.oldest_backlog_age_seconds {
            oldest.get_or_create(&sink()).set(age.as_secs_f64());
        }
        dead.get_or_create(&sink()).set(s.dead_letters);
        for (outcome, n) in [
            ("delivered", s.outcomes.delivered),
            ("rejected", s.outcomes.rejected),
            ("dead", s.outcomes.dead),
        ] {
            let labels = OutcomeLabels {
                sink: s.sink.clone(),
                outcome,
            };
            finished
                .get_or_create(&labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for (quantile, value) in [
            ("0.5", s.latency.p50_seconds),
            ("0.99", s.latency.p99_seconds),
        ] {
            if let Some(value) = value {
                let labels = QuantileLabels {
                    sink: s.sink.clone(),
                    quantile,
                };
                latency.get_or_create(&labels).set(value.as_secs_f64());
            }
        }
        samples
            .get_or_create(&sink())
            .set(i64::try_from(s.latency.samples).unwrap_or(i64::MAX));
        target.get_or_create(&sink()).set(s.slo.target);
        burned.get_or_create(&sink()).set(s.error_budget.burned);
        remaining
            .get_or_create(&sink())
            .set(s.error_budget.remaining);
        waited
            .get_or_create(&sink())
            .inc_by(s.rate_limit_wait_seconds.as_secs_f64());
        plugin(&s.sink, "sink", &s.plugin);
    }
    for s in &report.sources {
        ingested
            .get_or_create(&SourceLabel {
                source: s.source.clone(),
            })
            .set(s.events_ingested);
        plugin(&s.source, "source", &s.plugin);
    }
    r
}
