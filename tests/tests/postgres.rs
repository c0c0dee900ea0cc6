//! The same pipeline on PostgreSQL: migrations, dedup, delivery and claiming behave as on SQLite.

use rapport_e2e::{plugin, PostgresDatabase};
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
[network]
allow_private = ["127.0.0.1/32"]
[trust]
dev = true
[[source]]
id = "shop"
plugin = "{csv}"
[[sink]]
id = "hook"
plugin = "{sink}"
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
        .receive_push("shop", vec![], export.clone())
        .await
        .unwrap();
    assert_eq!(first.accepted, shop.valid_receipts().count());
    assert_eq!(first.rejected, shop.malformed_lines().len());
    let again = pipeline.receive_push("shop", vec![], export).await.unwrap();
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
