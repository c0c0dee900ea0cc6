//! Stopping the daemon in the middle of a sync and starting it again loses nothing and sends nothing
//! twice: the source resumes from its stored cursor, the outbox from what was recorded. A poll the
//! vendor breaks off keeps every page it stored before the break.

use chrono::{TimeZone, Utc};
use rapport_e2e::{csv_export, stop_gracefully, tea_sale, wait_until, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::exports::ExportServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
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
        .csv_export_source("shop", &export_url, 50)
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

/// Each poll reads a page while storing the one before (`ingest::poll::read_stream`); a vendor
/// error on the page read ahead must not cost the page being stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_the_vendor_breaks_off_keeps_every_page_stored_before_the_break() {
    // Thirty one-line sales, read five at a time: a step per download of the export.
    let first = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let sales: Vec<String> = (1..=30)
        .map(|n| {
            let at = first + chrono::Duration::minutes(n);
            tea_sale(&format!("R{n}"), at, "", "", "", "", "", "3.00")
        })
        .collect();
    let exports = ExportServer::start().await.unwrap();
    let export_url = exports.publish("sales.csv", csv_export(&sales));
    // The first three downloads are answered; the fourth, read while the third step is stored,
    // is refused.
    exports.faults().pass_next(3);
    exports.faults().fail_next(
        1,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = TestShop::new()
        .sqlite()
        .csv_export_source("shop", &export_url, 5);
    let pipeline = Pipeline::start(Config::parse(&config.text(dir.path()), dir.path()).unwrap())
        .await
        .unwrap();
    let sync = || pipeline.sync_once(Duration::from_secs(5), Duration::from_secs(60));
    let cursor = || pipeline.store.cursor("shop", "sales");

    let broken = sync().await.unwrap();
    assert_eq!(broken.poll_errors.len(), 1, "{broken:?}");
    assert!(broken.poll_errors[0].contains("500"), "{broken:?}");
    assert_eq!(exports.requests(), 4);
    assert_eq!(pipeline.store.summary().await.unwrap().orders, 15);
    // The header is line 1, so the fifteenth sale ends on line 16.
    assert_eq!(cursor().await.unwrap().as_deref(), Some("16"));

    let whole = sync().await.unwrap();
    assert!(whole.poll_errors.is_empty(), "{whole:?}");
    assert_eq!(whole.ingested.accepted, 15);
    assert_eq!(pipeline.store.summary().await.unwrap().orders, 30);
    assert_eq!(cursor().await.unwrap().as_deref(), Some("31"));
}
