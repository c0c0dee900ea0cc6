//! How the work grows, printed (not asserted): `cargo bench -p rapport-e2e --bench growth`.
//!
//! For each size (10,000, 100,000 and 1,000,000 sales by default; `RAPPORT_BENCH_GROWTH` lists
//! others, comma-separated), a new SQLite store and a running daemon take the sales through
//! csv-source in uploads of 1,000 (four in flight) until the loopback CRM has every activity: the
//! throughput, CPU time per sale (it must stay flat as the store grows) and this process's memory.
//! Each upload is a year of a hundred customers of its own (so 1,000,000 sales are 100,000
//! customers with about eight visits a year each). Then, on the largest store: fitting the
//! prediction models, mining product pairs, and the metrics (of the year's last month) and
//! dashboard API's answers over real HTTP with an admin token.

use rapport_e2e::bench::{cpu_seconds, mb, status_kb, Section};
use rapport_e2e::{admin_token, free_port, plugin, LOOPBACK_DEV};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::{SampleShop, Shape};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PER_UPLOAD: usize = 1_000;
const UPLOADS_IN_FLIGHT: usize = 4;
/// Each upload: a year, 2025-11-01 to 2026-11-01 (UTC), of a hundred customers of its own.
const UPLOAD: Shape = Shape {
    sales: PER_UPLOAD,
    customers: 100,
    start: 1_761_955_200,
    days: 365,
    locations: 2,
    refund_one_in: 15,
};
/// The day the models are fitted on: the end of the uploads' year.
const FIT_AS_OF: &str = "2026-11-01";
/// The month the metrics are asked for: the year's last.
const METRICS_MONTH: &str = "from=2026-10-01&to=2026-11-01";

fn config(dir: &std::path::Path, port: u16, hook: &str) -> Config {
    let text = format!(
        "[store]\ndatabase_url = \"sqlite://growth.db\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n{LOOPBACK_DEV}\
         [[source]]\nid = \"shop\"\nplugin = \"{}\"\npoll_interval_secs = 3600\n\
         [[sink]]\nid = \"crm\"\nplugin = \"{}\"\nchannels = []\n[sink.config]\nurl = \"{hook}\"\nbatch_size = 500\n",
        plugin("csv-source").display(),
        plugin("http-sink").display(),
    );
    Config::parse(&text, dir).unwrap()
}

/// Upload `n` of a run: its CSV, and the activities the CRM should get from it (one per sale
/// with a known customer, one per refund). Made as it is sent, so the run's memory is rapport's.
fn upload(n: usize) -> (Vec<u8>, usize) {
    let shop = SampleShop::generate_shaped(n as u64, &UPLOAD, 0).as_export(n, &format!("G{n:05}-"));
    let expected = shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count();
    (shop.to_csv().into_bytes(), expected)
}

/// What one size's run measured, and the daemon left running on its store.
struct Run {
    pipeline: Arc<Pipeline>,
    stop: tokio::sync::watch::Sender<bool>,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    port: u16,
    _dir: tempfile::TempDir,
}

async fn run(report: &mut Section, sales: usize) -> (Vec<String>, Run) {
    let dir = tempfile::tempdir().unwrap();
    let crm = CaptureServer::counting().await.unwrap();
    let port = free_port();
    let pipeline = Arc::new(
        Pipeline::start(config(dir.path(), port, &crm.url()))
            .await
            .unwrap(),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    let uploads = sales.div_ceil(PER_UPLOAD);
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..UPLOADS_IN_FLIGHT {
        let pipeline = pipeline.clone();
        lanes.spawn(async move {
            let mut expected = 0;
            for n in (lane..uploads).step_by(UPLOADS_IN_FLIGHT) {
                let (csv, activities) = tokio::task::spawn_blocking(move || upload(n))
                    .await
                    .unwrap();
                expected += activities;
                pipeline
                    .intake
                    .receive_push("shop", vec![], csv)
                    .await
                    .unwrap();
            }
            expected
        });
    }
    let expected: usize = lanes.join_all().await.into_iter().sum();
    let deadline = Instant::now() + Duration::from_secs(3600);
    while crm.distinct_activities() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let arrived = crm.distinct_activities();
    if arrived < expected {
        report.line(format!(
            "- {sales} sales: only {arrived} of {expected} activities arrived within the hour"
        ));
    }
    let row = vec![
        sales.to_string(),
        format!("{elapsed:.1} s"),
        format!("{:.0}", sales as f64 / elapsed),
        cpu.map_or("?".into(), |s| format!("{:.0} µs", s * 1e6 / sales as f64)),
        status_kb("self", "VmRSS").map_or("?".into(), mb),
        status_kb("self", "VmHWM").map_or("?".into(), mb),
    ];
    let run = Run {
        pipeline,
        stop,
        daemon,
        port,
        _dir: dir,
    };
    (row, run)
}

impl Run {
    /// Stops the daemon and closes the store.
    async fn finish(self) {
        let _ = self.stop.send(true);
        self.daemon.await.unwrap().unwrap();
        self.pipeline.store.close().await;
    }
}

/// The median of five timings of `work`, in milliseconds, and what it answered the last time.
async fn median_ms<T, F: std::future::Future<Output = T>>(mut work: impl FnMut() -> F) -> (f64, T) {
    let mut ms = Vec::new();
    let mut answer = None;
    for _ in 0..5 {
        let started = Instant::now();
        answer = Some(work().await);
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[2], answer.expect("five answers"))
}

/// Fitting, pairs and the API's answers on the largest store.
async fn upkeep(report: &mut Section, sales: usize, run: &Run) {
    let pipeline = &run.pipeline;
    let store = &pipeline.store;
    let now = chrono::Utc::now();
    let as_of = FIT_AS_OF.parse().unwrap();
    let zone = pipeline.config.shop.time_zone;
    let started = Instant::now();
    let fitted = rapport_host::predictions::refit(store, zone, as_of, now)
        .await
        .unwrap();
    let fit_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    rapport_host::pairs::recompute(store, &pipeline.config.pairs, now)
        .await
        .unwrap();
    let pairs_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.line(format!(
        "\nOn the store of {sales} sales: the prediction models fitted in {fit_ms:.0} ms ({}), \
         product and category pairs mined in {pairs_ms:.0} ms.",
        match fitted {
            rapport_host::predictions::Refit::Fitted(_) => "fitted".to_string(),
            rapport_host::predictions::Refit::Refused { refusal, .. } =>
                format!("refused: {refusal}"),
        }
    ));
    let token = admin_token(store).await;
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    let metrics = format!("/api/metrics?{METRICS_MONTH}");
    for path in [
        metrics.as_str(),
        "/api/summary",
        "/api/segments",
        "/api/operations",
    ] {
        let url = format!("http://127.0.0.1:{}{path}", run.port);
        let (ms, status) = median_ms(|| {
            let request = client.get(&url).bearer_auth(&token).send();
            async move {
                let response = request.await.unwrap();
                let status = response.status().as_u16();
                response.bytes().await.unwrap();
                status
            }
        })
        .await;
        rows.push(vec![
            format!("`GET {path}`"),
            status.to_string(),
            format!("{ms:.1} ms"),
        ]);
    }
    report.table(&["answer", "status", "median of 5"], &rows);
    report.line("\nTarget: metrics and dashboard API answers ≤ 200 ms at 1M sales.");
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("RAPPORT_BENCH_GROWTH")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let mut report = Section::new(
        "growth",
        "As the work grows",
        "Each size on a new SQLite store, with the daemon running: sales uploaded through \
         csv-source in uploads of 1,000 (four in flight) until the loopback CRM (http-sink) has \
         every activity (`cargo bench -p rapport-e2e --bench growth`); each upload is a year \
         (2025-11-01 to 2026-11-01) of a hundred customers of its own, so 1,000,000 sales are \
         100,000 customers. Memory is this process's (host, plugins, the sales generator and the \
         loopback CRM, which only counts the activities that arrive): resident after the run and \
         its high-water mark so far.\n",
    );
    let mut rows = Vec::new();
    let mut last: Option<(usize, Run)> = None;
    for sales in sizes {
        if let Some((_, previous)) = last.take() {
            previous.finish().await;
        }
        let (row, run) = run(&mut report, sales).await;
        println!("{}", row.join(" | "));
        rows.push(row);
        last = Some((sales, run));
    }
    report.table(
        &[
            "sales",
            "wall",
            "sales/s",
            "CPU per sale",
            "resident after",
            "peak so far",
        ],
        &rows,
    );
    if let Some((sales, run)) = last {
        upkeep(&mut report, sales, &run).await;
        run.finish().await;
    }
}
