//! End-to-end delivery figures, printed (not asserted): `cargo bench -p rapport-e2e --bench pipeline`.
//!
//! - throughput: sales uploaded through the csv-source plugin, stored, resolved to people and
//!   delivered by the http-sink plugin to a loopback CRM; events/s from the first upload to the last
//!   CRM request, on SQLite and (when reachable) PostgreSQL;
//! - latency: the daemon fed 1,000 and then 5,000 events/s in small uploads; p50/p99 from upload
//!   to the CRM receiving the sale's activity;
//! - predictions: the time to fit the customer-base models (BG/NBD and Gamma-Gamma) for 100,000
//!   customers simulated over two years, on one core (target: 2 s), and to summarise their sales;
//! - journeys: 20,000 sales each start a thank-you an hour later; the clock (injected) moves past
//!   the hour and the scheduler lets everyone in: its cost per due profile, on SQLite.
//!
//! `RAPPORT_BENCH_EVENTS` sets the throughput run's size (default 20,000). Words after `--` pick
//! runs by name (`throughput`, `latency`, `predictions`, `journeys`, `sqlite`, `postgresql`): all
//! of them must match. The figures also go to BENCHMARKS.md when `scripts/bench` runs it.

use rapport_e2e::bench::{cpu_seconds, Section};
use rapport_e2e::{plugin, PostgresDatabase, LOOPBACK_DEV};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(database_url: &str, hook: &str) -> String {
    format!(
        r#"
[store]
database_url = "{database_url}"
[server]
listen = "127.0.0.1:0"
{LOOPBACK_DEV}[[source]]
id = "shop"
plugin = "{csv}"
poll_interval_secs = 3600
[[sink]]
id = "crm"
plugin = "{sink}"
channels = []
[sink.config]
url = "{hook}"
batch_size = 500
"#,
        csv = plugin("csv-source").display(),
        sink = plugin("http-sink").display(),
    )
}

async fn start(database_url: &str, dir: &std::path::Path, crm: &CaptureServer) -> Pipeline {
    let mut config = Config::parse(&config(database_url, &crm.url()), dir).unwrap();
    config.store.database_url = if database_url.starts_with("sqlite://") {
        format!("sqlite://{}", dir.join("bench.db").display())
    } else {
        database_url.to_string()
    };
    Pipeline::start(config).await.unwrap()
}

fn uploads(total: usize, per_upload: usize) -> Vec<(SampleShop, Vec<u8>)> {
    (0..total.div_ceil(per_upload))
        .map(|i| {
            let shop =
                SampleShop::generate(i as u64, per_upload, 0).as_export(i, &format!("T{i:05}-"));
            let csv = shop.to_csv().into_bytes();
            (shop, csv)
        })
        .collect()
}

/// The activities the CRM should receive: one per sale with a known customer, and one per refund.
fn expected_activities(batches: &[(SampleShop, Vec<u8>)]) -> usize {
    batches
        .iter()
        .map(|(s, _)| {
            s.attributed_sales().count()
                + s.valid_receipts().filter(|r| r.refund_of.is_some()).count()
        })
        .sum()
}

/// The steady rates the latency runs feed, in sales per second.
const LATENCY_RATES: [usize; 2] = [1_000, 5_000];

/// Uploads the throughput run keeps in flight at once, as a till's webhooks and a CSV drop arrive
/// side by side.
const UPLOADS_IN_FLIGHT: usize = 4;

async fn throughput(report: &mut Section, backend: &str, database_url: &str, events: usize) {
    let dir = tempfile::tempdir().unwrap();
    let crm = CaptureServer::counting().await.unwrap();
    let pipeline = Arc::new(start(database_url, dir.path(), &crm).await);
    let batches = uploads(events, 1000);
    let expected = expected_activities(&batches);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut uploaders = tokio::task::JoinSet::new();
    let mut lanes: Vec<Vec<Vec<u8>>> = vec![Vec::new(); UPLOADS_IN_FLIGHT];
    for (i, (_, csv)) in batches.into_iter().enumerate() {
        lanes[i % UPLOADS_IN_FLIGHT].push(csv);
    }
    for lane in lanes {
        let pipeline = pipeline.clone();
        uploaders.spawn(async move {
            for csv in lane {
                pipeline
                    .intake
                    .receive_push("shop", vec![], csv)
                    .await
                    .unwrap();
            }
        });
    }
    uploaders.join_all().await;
    let ingested = started.elapsed();
    // How far delivery kept up while the sales were being stored.
    let delivered_while_storing = crm.distinct_activities();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while crm.distinct_activities() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    stop.send(true).unwrap();
    daemon.await.unwrap().unwrap();
    let delivered = crm.distinct_activities();
    assert_eq!(delivered, expected, "{backend}: incomplete run");
    report.line(format!(
        "- throughput {backend}: {events} sales in {:.1} s (stored in {:.1} s, by when {delivered_while_storing} activities had arrived) -> {delivered} activities: {:.0} sales/s end to end, {:.0} sales/s ingest, {}",
        elapsed.as_secs_f64(),
        ingested.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        events as f64 / ingested.as_secs_f64(),
        cpu.map_or("CPU time unknown".to_string(), |s| format!(
            "{:.0} µs of CPU per sale (this process: host, plugins and the loopback CRM)",
            s * 1e6 / events as f64
        )),
    ));
    pipeline.store.close().await;
}

async fn latency(report: &mut Section, backend: &str, database_url: &str, rate: usize) {
    const SECONDS: usize = 10;
    const PER_UPLOAD: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let crm = CaptureServer::start().await.unwrap();
    let pipeline = Arc::new(start(database_url, dir.path(), &crm).await);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    let batches = uploads(rate * SECONDS, PER_UPLOAD);
    let expected = expected_activities(&batches);
    let mut submitted: HashMap<String, Instant> = HashMap::new();
    let interval = Duration::from_secs_f64(PER_UPLOAD as f64 / rate as f64);
    let mut tick = tokio::time::interval(interval);
    for (shop, csv) in batches {
        tick.tick().await;
        let at = Instant::now();
        for r in shop.attributed_sales() {
            submitted.insert(r.id.clone(), at);
        }
        pipeline
            .intake
            .receive_push("shop", vec![], csv)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while crm.distinct_activities() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    daemon.await.unwrap().unwrap();
    let captured = crm.captured();
    let mut arrivals: HashMap<String, Instant> = HashMap::new();
    for (a, at) in captured.activities.iter().zip(&captured.activities_at) {
        if let Some(order) = a["properties"]["order_id"].as_str() {
            arrivals.entry(order.to_string()).or_insert(*at);
        }
    }
    let mut latencies: Vec<Duration> = submitted
        .iter()
        .filter_map(|(id, at)| arrivals.get(id).map(|arrived| *arrived - *at))
        .collect();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    report.line(format!(
        "- latency {backend}: {rate} sales/s for {SECONDS} s, {} of {} measured: p50 {:.0} ms, p99 {:.0} ms",
        latencies.len(),
        submitted.len(),
        pick(0.50).as_secs_f64() * 1000.0,
        pick(0.99).as_secs_f64() * 1000.0,
    ));
}

/// Fits the customer-base models to 100,000 customers whose first purchases spread over two years
/// before the fit's date, simulated from CDNOW's published parameters (spend from the Gamma-Gamma
/// paper's), with purchase times on whole days as a shop's history has them.
fn predictions(report: &mut Section) {
    use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
    use rand::{Rng, SeedableRng};
    use rapport_core::predictions::{self as models, simulate, BgNbd, GammaGamma, Sale};
    let (truth, spend) = (
        BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        },
        GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        },
    );
    let as_of: NaiveDate = "2026-06-30".parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(100_000);
    let mut sales = Vec::new();
    for profile_id in 0..100_000 {
        let t = 104.0 * (1.0 - rng.gen::<f64>());
        let first = as_of - Days::days((t * 7.0) as i64);
        for purchase in simulate::customer(&mut rng, &truth, &spend, t) {
            let day = first + Days::days((purchase.at * 7.0) as i64);
            sales.push(Sale {
                profile_id,
                placed_at: Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap()),
                amount_minor: (purchase.spend * 100.0).round() as i64,
                currency: "USD".to_owned().try_into().unwrap(),
            });
        }
    }
    let started = Instant::now();
    let history = models::ShopHistory::summarise(&sales, chrono_tz::UTC, as_of, models::TIME_UNIT);
    let summarised = started.elapsed();
    let started = Instant::now();
    let fit = models::fit_shop(&history).expect("the simulated shop is fitted");
    let fitted = started.elapsed();
    report.line(format!(
        "- predictions: {} customers ({} sales): summarised in {:.2} s, both models fitted in {:.2} s \
         (target 2 s); r {:.3} alpha {:.3} a {:.3} b {:.3}",
        history.customers.len(),
        sales.len(),
        summarised.as_secs_f64(),
        fitted.as_secs_f64(),
        fit.bgnbd.params.r,
        fit.bgnbd.params.alpha,
        fit.bgnbd.params.a,
        fit.bgnbd.params.b,
    ));
}

/// The journey scheduler's cost per due profile: `sales` sales uploaded on a manual clock, each
/// starting a thank-you an hour later; then the clock moves two hours on and one scheduler run
/// lets every due person in (a message queued for each).
async fn journeys(report: &mut Section, sales: usize) {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}[consent]\nmarketing_without_choice = \"send\"\n[journeys]\nmax_age = \"3650d\"\n[[journey]]\nname = \"thanks\"\nsink = \"crm\"\nchannel = \"email\"\ntrigger = \"every-order\"\nwait_minutes = 60\n",
        config("sqlite://bench.db", &crm.url()).replace("channels = []\n", "")
    );
    let mut config = Config::parse(&text, dir.path()).unwrap();
    config.store.database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let batches = uploads(sales, 1_000);
    let latest = (batches.iter())
        .flat_map(|(shop, _)| shop.receipts.iter().map(|r| r.at))
        .max()
        .unwrap();
    let start = chrono::DateTime::from_timestamp(latest, 0).unwrap();
    let clock = rapport_core::clock::ManualClock::starting_at(start);
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    for (_, csv) in &batches {
        (pipeline.intake)
            .receive_push("shop", headers.clone(), csv.clone())
            .await
            .unwrap();
    }
    let waits = pipeline.store.journey_waits().await.unwrap();
    clock.advance(chrono::Duration::hours(2));
    let started = Instant::now();
    let pass = pipeline.run_journeys().await.unwrap();
    let elapsed = started.elapsed();
    report.line(format!(
        "- journeys sqlite: {waits} waits stored, {} due, {} messages queued in {:.2} s: {:.0} µs per due profile",
        pass.due,
        pass.sent,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / pass.due.max(1) as f64
    ));
    pipeline.store.close().await;
}

fn main() {
    let events: usize = std::env::var("RAPPORT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |run: &str, backend: &str| words.iter().all(|w| w == run || w == backend);
    let mut report = Section::new(
        "pipeline",
        "End to end: a sale in, the CRM request out",
        &format!(
            "A sale uploaded through the csv-source plugin, stored, resolved to a person and \
             delivered by the http-sink plugin to a loopback CRM, in one process (`cargo bench -p \
             rapport-e2e --bench pipeline`). Throughput: {events} sales in uploads of 1,000, \
             {UPLOADS_IN_FLIGHT} in flight; CPU time is the whole process's (host, plugins and the \
             loopback CRM). Latency: sales fed into the running daemon at a steady rate in uploads \
             of 10, from upload to the CRM receiving the sale's activity."
        ),
    );
    if wanted("predictions", "cpu") {
        predictions(&mut report);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if wanted("throughput", "sqlite") {
            throughput(&mut report, "sqlite", "sqlite://bench.db", events).await;
        }
        for rate in LATENCY_RATES {
            if wanted("latency", "sqlite") {
                latency(&mut report, "sqlite", "sqlite://bench.db", rate).await;
            }
        }
        if wanted("journeys", "sqlite") {
            journeys(&mut report, events).await;
        }
        if wanted("throughput", "postgresql") {
            let postgres = PostgresDatabase::create().await;
            throughput(&mut report, "postgresql", &postgres.url(), events).await;
        }
        for rate in LATENCY_RATES {
            if wanted("latency", "postgresql") {
                let postgres = PostgresDatabase::create().await;
                latency(&mut report, "postgresql", &postgres.url(), rate).await;
            }
        }
    });
}
