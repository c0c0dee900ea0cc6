//! Stopping the daemon in the middle of a sync and starting it again loses nothing and sends nothing
//! twice: the source resumes from its stored cursor, the outbox from what was recorded.

use rapport_e2e::{plugin, stop_gracefully, wait_until, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::exports::ExportServer;
use rapport_fakes::shop::SampleShop;
use rapport_store::Store;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_mid_sync_loses_nothing_and_repeats_nothing() {
    let shop = SampleShop::generate(5, 1000, 0);
    let exports = ExportServer::start().await.unwrap();
    let export_url = exports.publish("sales.csv", shop.to_csv());
    let crm = CaptureServer::start().await.unwrap();
    crm.faults().set_latency(Duration::from_millis(15));
    let dir = TestShop::new()
        .sqlite()
        .section("server", [("listen", "127.0.0.1:0".into())])
        .source(
            "shop",
            &plugin("csv-source"),
            [
                ("export_url", export_url.as_str().into()),
                ("batch_size", 50.into()),
            ],
        )
        .set("poll_interval_secs", 1.into())
        .http_sink("hook", &crm.url(), [("batch_size", 10.into())])
        .write();
    let expected: usize = shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count();

    let mut daemon = dir.spawn_daemon();
    let midway = wait_until(Duration::from_secs(60), || {
        crm.captured().activities.len() >= 150
    })
    .await;
    assert!(
        midway,
        "the first run delivered too little to stop it midway"
    );
    assert!(stop_gracefully(&mut daemon), "rapport did not stop cleanly");
    let at_stop = crm.captured().activities.len();
    assert!(
        at_stop < expected,
        "the stop came after everything was delivered ({at_stop})"
    );

    let mut daemon = dir.spawn_daemon();
    let finished = wait_until(Duration::from_secs(120), || {
        crm.captured().activities.len() >= expected
    })
    .await;
    // Give a duplicate, if one were coming, the time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stop_gracefully(&mut daemon), "rapport did not stop cleanly");
    let captured = crm.captured();
    assert!(
        finished,
        "only {} of {expected} activities arrived",
        captured.activities.len()
    );
    assert_eq!(captured.activities.len(), expected);
    assert!(
        captured.activity_arrivals.values().all(|&n| n == 1),
        "some activity arrived twice"
    );

    let store = Store::open(&dir.database_url()).await.unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(
        summary.orders as usize,
        shop.valid_receipts()
            .filter(|r| r.refund_of.is_none())
            .count()
    );
    assert_eq!(summary.sinks[0].activities_delivered as usize, expected);
    assert_eq!(summary.sinks[0].waiting, 0);
    assert_eq!(
        store.cursor("shop", "sales").await.unwrap().as_deref(),
        Some(&*(shop.to_csv().lines().count()).to_string())
    );
}
