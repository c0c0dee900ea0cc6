//! The operations part of `rapport status`: one line per sink (backlog, dead letters, latency,
//! error budget, rate-limit waits), and `rapport status --json`, the store's figures and the
//! operations figures as one JSON document.

use rapport_host::operations::{self, OperationsReport, SinkOperations};
use rapport_host::pipeline::Pipeline;
use std::time::Duration;

/// Prints each sink's operations figures, one line a sink.
pub async fn print_operations(pipeline: &Pipeline) -> anyhow::Result<()> {
    for sink in &read(pipeline).await?.sinks {
        println!("{}", operations_line(sink));
    }
    Ok(())
}

/// The store's figures (`store`) and the operations figures (`operations`) as JSON. The
/// north-star numbers (the business metrics) join this document under their own key.
pub async fn json(pipeline: &Pipeline) -> anyhow::Result<serde_json::Value> {
    let store = pipeline.store.summary().await?;
    let operations = read(pipeline).await?;
    Ok(serde_json::json!({ "store": store, "operations": operations }))
}

async fn read(pipeline: &Pipeline) -> anyhow::Result<OperationsReport> {
    let now = pipeline.clock.now();
    Ok(operations::read(&pipeline.store, &pipeline.connectors, now).await?)
}

fn operations_line(s: &SinkOperations) -> String {
    let oldest = s
        .oldest_backlog_age_seconds
        .map_or(String::new(), |age| format!(", oldest {}", seconds(age)));
    let latency = match (s.latency.p50_seconds, s.latency.p99_seconds) {
        (Some(p50), Some(p99)) => format!(
            "latency p50 {} p99 {} over {} deliveries",
            seconds(p50),
            seconds(p99),
            s.latency.samples
        ),
        _ => "no latency yet".to_string(),
    };
    let days = s.slo.window.as_secs() / 86_400;
    format!(
        "sink {} operations: backlog {}{oldest}, {} dead letters, {latency}, error budget \
         {:.1} % burned of a {} % objective over {days} days ({:.1} % left), {} held by rate limits",
        s.sink,
        s.backlog,
        s.dead_letters,
        s.error_budget.burned * 100.0,
        // In tenths of a percent, as objectives are written (99.5), without float noise.
        (s.slo.target * 1000.0).round() / 10.0,
        s.error_budget.remaining * 100.0,
        seconds(s.rate_limit_wait_seconds),
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
