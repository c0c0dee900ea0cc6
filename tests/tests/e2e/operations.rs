//! Operations figures end to end: a pipeline on a SQLite file and a `ManualClock`, exports coming in
//! through the csv-source plugin and going out through the http-sink plugin to a catch-hook on
//! loopback that throttles (429 with Retry-After), refuses (422) and fails (500) on cue.
//!
//! - Sync latency p50/p99 equal the nearest-rank percentiles of the latencies the test set with
//!   the clock (upload at one time, delivery at another).
//! - The error budget burned is the test's own `failures / ((1 - slo) × finished)`.
//! - The backlog, its oldest age, the dead letters and the 30 s the 429 held the sink are shown.
//! - `/api/operations` and `/metrics` (parsed by a Prometheus text parser) agree with all of it,
//!   and both refuse a request without a token.
//! - `rapport status --json` and `rapport status` show the same sink figures.
//! - `RAPPORT_LOG_FORMAT=json` makes the binary log JSON lines; text logs to a pipe carry no
//!   colour codes.

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{
    admin_token, free_port, output_text, rapport_bin, upload_csv, ShopDir, TestShop,
};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::server::{serve, Running};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const SLO: f64 = 0.99;
const SINK: &str = "hook";

/// A shop whose exports reach a catch-hook through the http-sink, each item tried once (a failure
/// dead-letters it at once), with a 99 % objective over 7 days.
fn shop_config(crm: &CaptureServer, port: u16) -> ShopDir {
    TestShop::new()
        .sqlite()
        .listen(port)
        .section("delivery", [("max_attempts", 1.into())])
        .csv_source("shop")
        .http_sink(SINK, &crm.url(), [("batch_size", 100.into())])
        .set("slo", SLO.into())
        .set("slo_window_days", 7.into())
        .write()
}

/// A running shop: its pipeline on a manual clock, its HTTP routes, a pool onto its database.
struct Shop {
    dir: ShopDir,
    pipeline: Pipeline,
    clock: ManualClock,
    _http: Running,
    base: String,
    pool: AnyPool,
}

impl Shop {
    async fn start(crm: &CaptureServer, start: DateTime<Utc>) -> Shop {
        let port = free_port();
        let dir = shop_config(crm, port);
        let clock = ManualClock::starting_at(start);
        let config = Config::load(&dir.config()).unwrap();
        let pipeline = Pipeline::start_with_clock(config, clock.shared())
            .await
            .unwrap();
        let http = serve(rapport_host::daemon::admin_router(&pipeline), port)
            .await
            .unwrap();
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&dir.database_url()).await.unwrap();
        Shop {
            dir,
            pipeline,
            clock,
            _http: http,
            base: format!("http://127.0.0.1:{port}"),
            pool,
        }
    }

    /// Steps fresh delivery workers (fresh pace, so a past 429 makes no real sleep) until nothing
    /// more is claimed at the clock's current time.
    async fn deliver(&self) {
        loop {
            let worker = self.pipeline.workers().remove(0);
            if worker.step().await.unwrap().claimed == 0 {
                return;
            }
        }
    }

    /// The outbox items by (status, when they were queued).
    async fn items(&self) -> BTreeMap<(String, i64), i64> {
        sqlx::query(
            "SELECT status, created_at, COUNT(*) AS n FROM outbox GROUP BY status, created_at",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get("status"), r.get("created_at")), r.get("n")))
        .collect()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

fn status_fault(status: u16, retry_after: Option<u64>) -> Fault {
    Fault::Status {
        status,
        retry_after,
    }
}

/// The nearest-rank `q` quantile of `values`, as a textbook gives it: sort, take the ⌈q·n⌉-th.
fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((q * sorted.len() as f64).ceil() as usize).max(1) - 1]
}

/// One sample of a parsed scrape, by metric name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(prometheus_parse::Value::Gauge(v))
        | Some(prometheus_parse::Value::Counter(v))
        | Some(prometheus_parse::Value::Untyped(v)) => *v,
        other => panic!("{name}{labels:?}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_figures_follow_the_deliveries() {
    let crm = CaptureServer::start().await.unwrap();
    // An hour ago, on a whole second, so every time below is in the past and exact.
    let t0 = (Utc::now() - Span::hours(1))
        .duration_trunc(Span::seconds(1))
        .unwrap();
    let shop = Shop::start(&crm, t0).await;
    let ms = |at: DateTime<Utc>| at.timestamp_millis();

    // Export A at t0, export B ten seconds later.
    let a = upload_csv(
        &shop.pipeline,
        "shop",
        &SampleShop::generate(61, 9, 0).as_export(0, "A"),
    )
    .await;
    shop.clock.advance(Span::seconds(10));
    let b = upload_csv(
        &shop.pipeline,
        "shop",
        &SampleShop::generate(62, 6, 0).as_export(1, "B"),
    )
    .await;

    // At t0+20 s the hook answers 429 with Retry-After 30: nothing goes, the sink is held 30 s.
    shop.clock.advance(Span::seconds(10));
    crm.faults().fail_next(1, status_fault(429, Some(30)));
    shop.deliver().await;
    assert_eq!(crm.faults().pending(), 0, "the 429 was answered");
    assert!(crm.captured().activities.is_empty(), "nothing went through");

    // At t0+60 s everything of A and B goes: A waited 60 s, B 50 s.
    shop.clock.set(t0 + Span::seconds(60));
    shop.deliver().await;
    let items = shop.items().await;
    let count = |status: &str, at: DateTime<Utc>| {
        items
            .get(&(status.to_string(), ms(at)))
            .copied()
            .unwrap_or(0)
    };
    let (delivered_a, delivered_b) = (
        count("delivered", t0),
        count("delivered", t0 + Span::seconds(10)),
    );
    assert!(delivered_a > 0 && delivered_b > 0, "{items:?}");
    assert_eq!(delivered_a, a.work_items as i64, "all of A went: {items:?}");
    assert_eq!(delivered_b, b.work_items as i64, "all of B went: {items:?}");
    assert_eq!(items.values().sum::<i64>(), delivered_a + delivered_b);

    // Export C at t0+70 s; at t0+80 s its profile updates are refused (422) and its activities
    // fail (500) with no attempt left: all of C is dead-lettered.
    shop.clock.set(t0 + Span::seconds(70));
    let c = upload_csv(
        &shop.pipeline,
        "shop",
        &SampleShop::generate(63, 6, 0).as_export(2, "C"),
    )
    .await;
    shop.clock.set(t0 + Span::seconds(80));
    crm.faults().fail_next(1, status_fault(422, None));
    crm.faults().fail_next(1, status_fault(500, None));
    shop.deliver().await;
    assert_eq!(crm.faults().pending(), 0, "both faults were answered");
    let items = shop.items().await;
    let c_at = ms(t0 + Span::seconds(70));
    let rejected = items
        .get(&("rejected".to_string(), c_at))
        .copied()
        .unwrap_or(0);
    let dead = items.get(&("dead".to_string(), c_at)).copied().unwrap_or(0);
    assert!(rejected > 0 && dead > 0, "{items:?}");
    assert_eq!(
        rejected + dead,
        c.work_items as i64,
        "all of C failed: {items:?}"
    );

    // Export D at t0+90 s stays owed; the figures are read at t0+100 s.
    shop.clock.set(t0 + Span::seconds(90));
    let d = upload_csv(
        &shop.pipeline,
        "shop",
        &SampleShop::generate(64, 3, 0).as_export(3, "D"),
    )
    .await;
    shop.clock.set(t0 + Span::seconds(100));
    let items = shop.items().await;
    let owed = items
        .get(&("pending".to_string(), ms(t0 + Span::seconds(90))))
        .copied()
        .unwrap_or(0);
    assert!(owed > 0, "{items:?}");
    assert_eq!(owed, d.work_items as i64, "all of D is owed: {items:?}");

    // By hand: the latencies the clock made, and the budget the failures burned.
    let mut latencies = vec![60.0; delivered_a as usize];
    latencies.extend(vec![50.0; delivered_b as usize]);
    let (p50, p99) = (
        nearest_rank(&latencies, 0.5),
        nearest_rank(&latencies, 0.99),
    );
    let finished = (delivered_a + delivered_b + rejected + dead) as f64;
    let burned = (rejected + dead) as f64 / ((1.0 - SLO) * finished);

    let token = admin_token(&shop.pipeline.store).await;
    let figures: Value = shop
        .get("/api/operations", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let sink = &figures["sinks"][0];
    assert_eq!(sink["sink"], SINK, "{figures:#}");
    assert_eq!(sink["latency"]["samples"], delivered_a + delivered_b);
    assert_eq!(sink["latency"]["p50_seconds"], p50, "{sink:#}");
    assert_eq!(sink["latency"]["p99_seconds"], p99, "{sink:#}");
    assert_eq!(sink["outcomes"]["delivered"], delivered_a + delivered_b);
    assert_eq!(sink["outcomes"]["rejected"], rejected);
    assert_eq!(sink["outcomes"]["dead"], dead);
    assert_eq!(sink["slo"]["target"], SLO);
    assert_eq!(sink["slo"]["window"], 7);
    let api_burned = sink["error_budget"]["burned"].as_f64().unwrap();
    assert!(
        (api_burned - burned).abs() < 1e-9,
        "{api_burned} vs {burned}"
    );
    let api_left = sink["error_budget"]["remaining"].as_f64().unwrap();
    assert!((api_left - (1.0 - burned)).abs() < 1e-9, "{sink:#}");
    assert_eq!(sink["backlog"], owed);
    assert_eq!(sink["oldest_backlog_age_seconds"], 10.0);
    assert_eq!(sink["dead_letters"], rejected + dead);
    assert_eq!(sink["rate_limit_wait_seconds"], 30.0);
    assert_eq!(sink["generation"], 1);
    assert_eq!(sink["health"], "healthy");
    let ingested = (a.accepted + b.accepted + c.accepted + d.accepted) as i64;
    assert_eq!(figures["sources"][0]["source"], "shop");
    assert_eq!(figures["sources"][0]["events_ingested"], ingested);

    // The same in Prometheus text, read by a real parser.
    let response = shop.get("/metrics", Some(&token)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let on_sink = [("sink", SINK)];
    assert_eq!(
        sample(&scrape, "rapport_backlog_items", &on_sink),
        owed as f64,
        "{text}"
    );
    assert_eq!(
        sample(&scrape, "rapport_backlog_oldest_age_seconds", &on_sink),
        10.0
    );
    assert_eq!(
        sample(&scrape, "rapport_dead_letters", &on_sink),
        (rejected + dead) as f64
    );
    assert_eq!(
        sample(
            &scrape,
            "rapport_sync_latency_seconds",
            &[("sink", SINK), ("quantile", "0.5")]
        ),
        p50,
        "{text}"
    );
    assert_eq!(
        sample(
            &scrape,
            "rapport_sync_latency_seconds",
            &[("sink", SINK), ("quantile", "0.99")]
        ),
        p99
    );
    for (outcome, n) in [
        ("delivered", delivered_a + delivered_b),
        ("rejected", rejected),
        ("dead", dead),
    ] {
        let labels = [("sink", SINK), ("outcome", outcome)];
        assert_eq!(
            sample(&scrape, "rapport_deliveries_in_slo_window", &labels),
            n as f64
        );
    }
    assert_eq!(sample(&scrape, "rapport_slo_target", &on_sink), SLO);
    let scraped_burn = sample(&scrape, "rapport_error_budget_burned_ratio", &on_sink);
    assert!((scraped_burn - burned).abs() < 1e-9, "{text}");
    assert_eq!(
        sample(&scrape, "rapport_rate_limit_wait_seconds_total", &on_sink),
        30.0,
        "{text}"
    );
    let hook = [("connector", SINK), ("role", "sink")];
    assert_eq!(sample(&scrape, "rapport_plugin_generation", &hook), 1.0);
    let healthy = [("connector", SINK), ("state", "healthy")];
    assert_eq!(sample(&scrape, "rapport_plugin_health", &healthy), 1.0);
    let quarantined = [("connector", SINK), ("state", "quarantined")];
    assert_eq!(sample(&scrape, "rapport_plugin_health", &quarantined), 0.0);
    assert_eq!(
        sample(&scrape, "rapport_events_ingested", &[("source", "shop")]),
        ingested as f64
    );

    // Without a token, neither says anything.
    for path in ["/metrics", "/api/operations"] {
        assert_eq!(shop.get(path, None).await.status(), 401, "{path}");
    }

    // `rapport status --json` (on the system clock: only what does not depend on the time).
    let status = shop.dir.rapport(&["status", "--json"]).await;
    assert!(status.status.success(), "{}", output_text(&status));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let sink = &status["operations"]["sinks"][0];
    assert_eq!(sink["latency"]["p50_seconds"], p50, "{status:#}");
    assert_eq!(sink["latency"]["p99_seconds"], p99);
    assert_eq!(sink["backlog"], owed);
    assert_eq!(sink["dead_letters"], rejected + dead);
    assert_eq!(sink["rate_limit_wait_seconds"], 30.0);
    assert_eq!(status["store"]["sinks"][0]["dead"], dead, "{status:#}");
    let text = output_text(&shop.dir.rapport(&["status"]).await);
    let line = format!("sink {SINK} operations: backlog {owed}, oldest ");
    assert!(text.contains(&line), "{text}");
    assert!(
        text.contains(&format!(
            "{} dead letters, latency p50 {p50:.3} s p99 {p99:.3} s over {} deliveries, error budget {:.1} % burned of a 99 % objective over 7 days",
            rejected + dead,
            delivered_a + delivered_b,
            burned * 100.0
        )),
        "{text}"
    );
    assert!(text.contains("30.000 s held by rate limits"), "{text}");
    shop.pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_json_lines_on_request_and_never_coloured_into_a_pipe() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = shop_config(&crm, free_port());
    let export = SampleShop::generate(65, 6, 0).as_export(0, "L").to_csv();
    dir.import("shop", &export, &[]).await;
    let sync = |format: Option<&str>| {
        let mut cmd = Command::new(rapport_bin());
        cmd.args(["sync", "--config"])
            .arg(dir.config())
            .env_remove("DATABASE_URL")
            .env_remove("RAPPORT_LOG_FORMAT")
            .env("RAPPORT_LOG", "rapport_host=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(format) = format {
            cmd.env("RAPPORT_LOG_FORMAT", format);
        }
        cmd.output().expect("run rapport sync")
    };

    let json = sync(Some("json"));
    assert!(json.status.success(), "{}", output_text(&json));
    let stderr = String::from_utf8(json.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "nothing was logged");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let batch = lines
        .iter()
        .find(|l| l["fields"]["message"] == "batch done")
        .unwrap_or_else(|| panic!("no delivery batch logged: {stderr}"));
    assert_eq!(batch["target"], "rapport_host::delivery", "{batch}");
    assert!(
        batch["fields"]["delivered"].as_u64().unwrap() > 0,
        "{batch}"
    );

    // Text, into a pipe: no escape sequences.
    dir.import(
        "shop",
        &SampleShop::generate(66, 3, 0).as_export(1, "M").to_csv(),
        &[],
    )
    .await;
    let text = sync(None);
    assert!(text.status.success(), "{}", output_text(&text));
    let stderr = String::from_utf8(text.stderr).unwrap();
    assert!(stderr.contains("batch done"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
}
