//! The same pipeline on PostgreSQL: migrations, dedup, delivery and claiming behave as on SQLite.

use rapport_e2e::{assert_in_till_order, PostgresDatabase, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_on_postgres_and_delivers_each_sale_once() {
    let database = PostgresDatabase::create().await;
    let crm = CaptureServer::start().await.unwrap();
    let dir = TestShop::new()
        .database(&database.url())
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [("batch_size", 25.into())])
        .write();
    let mut config = Config::load(&dir.config()).unwrap();
    config.store.database_url = database.url();
    let pipeline = Pipeline::start(config).await.unwrap();
    let shop = SampleShop::generate(21, 300, 25);
    let export = shop.to_csv().into_bytes();
    let first = pipeline
        .intake
        .receive_push("shop", vec![], export.clone())
        .await
        .unwrap();
    assert_eq!(first.accepted, shop.valid_receipts().count());
    assert_eq!(first.rejected, shop.malformed_lines().len());
    let again = pipeline
        .intake
        .receive_push("shop", vec![], export)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, first.accepted));

    let owed = pipeline
        .drain(Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
    let expected = shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count();
    let captured = crm.captured();
    assert_eq!(captured.activities.len(), expected);
    assert!(captured.activity_arrivals.values().all(|&n| n == 1));
    let summary = pipeline.store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].activities_delivered as usize, expected);
    // Each upload's rejections are recorded with it: the same file twice, twice the records.
    assert_eq!(
        summary.rejected_inputs as usize,
        2 * shop.malformed_lines().len()
    );
    pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_share_one_database_and_one_dying_loses_nothing() {
    use rapport_e2e::{stop_gracefully, wait_until};
    let database = PostgresDatabase::create().await;
    let crm = CaptureServer::start().await.unwrap();
    crm.faults().set_latency(Duration::from_millis(10));
    const BATCH: usize = 20;
    let dir = TestShop::new()
        .database(&database.url())
        .section("server", [("listen", "127.0.0.1:0".into())])
        .section("delivery", [("lease_ms", 1500.into())])
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [("batch_size", (BATCH as i64).into())])
        .write();
    let shop = SampleShop::generate(77, 1500, 0);
    let export = dir.path().join("export.csv");
    std::fs::write(&export, shop.to_csv()).unwrap();
    let import = dir
        .rapport(&["import", "--source", "shop", export.to_str().unwrap()])
        .await;
    assert!(
        import.status.success(),
        "{}",
        rapport_e2e::output_text(&import)
    );
    let expected = shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count();

    let mut first = dir.spawn_daemon();
    let mut second = dir.spawn_daemon();
    let started = wait_until(Duration::from_secs(60), || {
        crm.captured().activity_arrivals.len() >= expected / 3
    })
    .await;
    assert!(started, "the hosts delivered too little to kill one midway");
    first.kill().unwrap();
    let killed = Instant::now();
    first.wait().unwrap();
    let done = wait_until(Duration::from_secs(120), || {
        crm.captured().activity_arrivals.len() >= expected
    })
    .await;
    assert!(
        stop_gracefully(&mut second),
        "the surviving host did not stop cleanly"
    );
    let captured = crm.captured();
    assert!(
        done,
        "only {} of {expected} activities arrived",
        captured.activity_arrivals.len()
    );
    assert_eq!(captured.activity_arrivals.len(), expected);
    // Each activity arrived once, but for what the killed host had in flight when it died: the
    // vendor may have taken such a batch without the host recording it, so the survivor sends it
    // again once its lease runs out (at least once; the vendor deduplicates by key). So a repeat
    // arrives exactly twice, first just before the kill and again after it, and there are at most
    // as many as the dead host's delivery lanes hold.
    let mut arrivals: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (activity, at) in captured.activities.iter().zip(&captured.activities_at) {
        let key = activity["idempotency_key"]
            .as_str()
            .expect("idempotency key");
        arrivals.entry(key).or_default().push(*at);
    }
    let lanes = Config::load(&dir.config()).unwrap().delivery.concurrency;
    let repeated: Vec<(&str, &Vec<Instant>)> = arrivals
        .iter()
        .filter(|(_, times)| times.len() > 1)
        .map(|(key, times)| (*key, times))
        .collect();
    assert!(
        repeated.len() <= lanes * BATCH,
        "{} activities arrived more than once; the killed host had at most {} in flight",
        repeated.len(),
        lanes * BATCH
    );
    let since_kill = |at: Instant| match at.checked_duration_since(killed) {
        Some(after) => format!("{after:?} after the kill"),
        None => format!("{:?} before the kill", killed - at),
    };
    for (key, times) in repeated {
        assert_eq!(
            times.len(),
            2,
            "activity {key} arrived {} times",
            times.len()
        );
        assert!(
            times[0] < killed + Duration::from_secs(1) && times[1] > killed,
            "activity {key} arrived twice, not as a re-send of the killed host's last batch: \
             {} and {}",
            since_kill(times[0]),
            since_kill(times[1])
        );
    }
    // Across both hosts and the kill, each person's activities first arrived in till order.
    assert_in_till_order(&shop, &captured.activities);

    let store = rapport_store::Store::open(&database.url()).await.unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].activities_delivered as usize, expected);
    assert_eq!(summary.sinks[0].waiting, 0);
    store.close().await;
}
