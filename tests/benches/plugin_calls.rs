//! What a plugin call costs, printed (not asserted): `cargo bench -p rapport-e2e --bench plugin_calls`.
//!
//! The real plugins, loaded by a pipeline as the daemon loads them, called directly: an empty
//! call (`describe`, a few strings back) as the floor, then csv-source's `webhook` turning an
//! upload of 1, 100 and 1,000 sales into events, and http-sink's `record-activities` with 1, 100
//! and 1,000 activities. The sink runs in shadow mode, so its requests are captured in the sandbox
//! and answered there: the figure is the call, the plugin's own work and the host's capture, with
//! no network. Per record: the call's time less the empty call's, over the batch.
//!
//! `RAPPORT_BENCH_CALLS` sets the records pushed through per measurement (default 20,000).

use rapport_e2e::bench::Section;
use rapport_e2e::{plugin, LOOPBACK_DEV};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_sandbox::contract::wit::{Activity, Identity, IdentityKind, Money};
use rapport_sandbox::runtime::plugin::Plugin;
use std::sync::Arc;
use std::time::Instant;

const BATCHES: [usize; 3] = [1, 100, 1_000];

/// Nanoseconds per call of `call`, made `calls` times (after one call to warm up).
fn per_call(calls: usize, mut call: impl FnMut()) -> f64 {
    call();
    let started = Instant::now();
    for _ in 0..calls {
        call();
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

/// `n` placed orders of different people, as the host hands them to a sink.
fn activities(n: usize) -> Vec<Activity> {
    (0..n)
        .map(|i| Activity {
            idempotency_key: format!("bench-order-{i}"),
            profile_key: format!("p-{i}"),
            identities: vec![Identity {
                kind: IdentityKind::Email,
                value: format!("buyer{i}@example.com"),
            }],
            name: "Placed Order".into(),
            occurred_at: 1_780_000_000_000 + i as i64,
            value: Some(Money {
                minor: 1250 + i as i64,
                currency: "USD".into(),
            }),
            properties: vec![],
        })
        .collect()
}

/// One row of the table: the batch, time per call, per record over the empty call, and that as a
/// multiple of the empty call.
fn row(label: &str, batch: usize, call_ns: f64, empty_ns: f64) -> Vec<String> {
    let per_record = (call_ns - empty_ns).max(0.0) / batch as f64;
    vec![
        label.to_string(),
        batch.to_string(),
        format!("{:.1} µs", call_ns / 1000.0),
        format!("{per_record:.0} ns"),
        format!("{:.2}×", per_record / empty_ns),
    ]
}

fn measure(report: &mut Section, source: Arc<Plugin>, sink: Arc<Plugin>, records: usize) {
    let empty_calls = records.max(1000);
    let empty = per_call(empty_calls, || {
        sink.describe().unwrap();
    });
    report.line(format!(
        "- empty call (`describe`, {empty_calls} calls): {:.1} µs",
        empty / 1000.0
    ));
    let mut rows = Vec::new();
    for batch in BATCHES {
        let calls = (records / batch).max(10);
        let csv = SampleShop::generate(batch as u64, batch, 0)
            .as_export(0, "B")
            .to_csv()
            .into_bytes();
        let headers = vec![("content-type".to_string(), "text/csv".to_string())];
        let ns = per_call(calls, || {
            let pushed = source.webhook(&headers, &csv).unwrap().unwrap();
            assert!(!pushed.events.is_empty());
        });
        rows.push(row("csv-source `webhook`", batch, ns, empty));
    }
    for batch in BATCHES {
        let calls = (records / batch).max(10);
        let items = activities(batch);
        let ns = per_call(calls, || {
            let outcomes = sink.record_activities(&items).unwrap().unwrap();
            assert_eq!(outcomes.len(), batch);
        });
        rows.push(row("http-sink `record-activities`", batch, ns, empty));
    }
    report.table(
        &[
            "call",
            "records",
            "per call",
            "per record (less the empty call)",
            "per record ÷ empty call",
        ],
        &rows,
    );
    report.line("\nTargets: per-record overhead ≤ 300 ns and ≤ 3× the empty call.");
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::var("RAPPORT_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\ndatabase_url = \"sqlite://bench.db\"\n[server]\nlisten = \"127.0.0.1:0\"\n{LOOPBACK_DEV}\
         [[source]]\nid = \"shop\"\nplugin = \"{}\"\npoll_interval_secs = 3600\n\
         [[sink]]\nid = \"crm\"\nplugin = \"{}\"\nmode = \"shadow\"\nchannels = []\n[sink.config]\nurl = \"http://127.0.0.1:9/hook\"\n",
        plugin("csv-source").display(),
        plugin("http-sink").display(),
    );
    let config = Config::parse(&text, dir.path()).unwrap();
    let pipeline = Pipeline::start(config).await.unwrap();
    let source = pipeline.connectors.sources[0].plugin();
    let sink = pipeline.connectors.sinks[0].plugin();
    let mut report = Section::new(
        "plugin_calls",
        "What a plugin call costs",
        "The real plugins as the daemon loads them, called directly on one thread \
         (`cargo bench -p rapport-e2e --bench plugin_calls`): the empty call is `describe`; \
         csv-source's `webhook` parses an upload of N sales into events; http-sink's \
         `record-activities` takes N activities and makes its requests, captured and answered in \
         the sandbox (shadow mode), so no network is in the figure. Each call instantiates the \
         component afresh, as every call in rapport does.\n",
    );
    tokio::task::spawn_blocking(move || measure(&mut report, source, sink, records))
        .await
        .unwrap();
    pipeline.store.close().await;
}
