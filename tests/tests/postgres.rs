//! The same pipeline on PostgreSQL: migrations, dedup, delivery and claiming behave as on SQLite.

use rapport_e2e::{plugin, PostgresDatabase, LOOPBACK_DEV};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_on_postgres_and_delivers_each_sale_once() {
    let database = PostgresDatabase::create().await;
    let crm = CaptureServer::start().await.unwrap();
    let text = format!(
        r#"
[store]
database_url = "{url}"
{LOOPBACK_DEV}[[source]]
id = "shop"
plugin = "{csv}"
[[sink]]
id = "hook"
plugin = "{sink}"
channels = []
[sink.config]
url = "{hook}"
batch_size = 25
"#,
        url = database.url(),
        csv = plugin("csv-source").display(),
        sink = plugin("http-sink").display(),
        hook = crm.url(),
    );
    let mut config = Config::parse(&text, std::path::Path::new(".")).unwrap();
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
    use rapport_e2e::{stop_gracefully, wait_until, ShopDir};
    let database = PostgresDatabase::create().await;
    let crm = CaptureServer::start().await.unwrap();
    crm.faults().set_latency(Duration::from_millis(10));
    let dir = ShopDir::new(&format!(
        r#"
[store]
database_url = "{url}"
[server]
listen = "127.0.0.1:0"
{LOOPBACK_DEV}[delivery]
lease_ms = 1500
[[source]]
id = "shop"
plugin = "{csv}"
[[sink]]
id = "hook"
plugin = "{sink}"
channels = []
[sink.config]
url = "{hook}"
batch_size = 20
"#,
        url = database.url(),
        csv = plugin("csv-source").display(),
        sink = plugin("http-sink").display(),
        hook = crm.url(),
    ));
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

    let store = rapport_store::Store::open(&database.url()).await.unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].activities_delivered as usize, expected);
    assert_eq!(summary.sinks[0].waiting, 0);
    store.close().await;
}
