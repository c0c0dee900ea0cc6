//! The daemon's first backfill: its sink workers deliver while the source is still being read, so
//! a regular's activities go page by page, while their profile update, which every sale changes,
//! is held until the poll ends and then sent once with the whole history's figures.

use chrono::{TimeZone, Utc};
use rapport_e2e::{csv_export, tea_sale, wait_until, InProcessDaemon, TestShop};
use rapport_fakes::capture::{Arrival, CaptureServer};
use rapport_fakes::exports::ExportServer;
use std::time::Duration;

const SALES: usize = 30;
const PER_PAGE: i64 = 5;

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_delivers_activities_as_it_reads_and_a_regulars_profile_once_it_ends() {
    // Thirty sales of one regular at 3.00 GBP, read five per page, each page a slow download.
    let first = Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).unwrap();
    let sales: Vec<String> = (1..=SALES)
        .map(|n| {
            let at = first + chrono::Duration::days(n as i64);
            tea_sale(
                &format!("R{n}"),
                at,
                "C-ada",
                "ada@example.com",
                "",
                "Ada Lovelace",
                "yes",
                "3.00",
            )
        })
        .collect();
    let exports = ExportServer::start().await.unwrap();
    let export_url = exports.publish("sales.csv", csv_export(&sales));
    exports.faults().set_latency(Duration::from_millis(300));
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .section("server", [("listen", "127.0.0.1:0".into())])
        .csv_export_source("shop", &export_url, PER_PAGE)
        .set("poll_interval_secs", 3600.into())
        .http_sink("hook", &crm.url(), [])
        .text(dir.path());
    let daemon = InProcessDaemon::start(&text, dir.path()).await;

    // Done when the CRM holds the regular with all thirty sales counted.
    let counted = || {
        let captured = crm.captured();
        captured.activity_arrivals.len() == SALES
            && captured
                .profiles
                .values()
                .any(|p| p["traits"]["orders_count"] == SALES)
    };
    assert!(
        wait_until(Duration::from_secs(60), counted).await,
        "the CRM never got the whole backfill: {:?}",
        crm.captured().profiles
    );
    daemon.stop().await;

    // The activities went while later pages were still being read: the first was delivered
    // before the last page was stored (six downloads of 300 ms each).
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("rapport.db").display()
    ))
    .await
    .unwrap();
    let first_delivered: i64 = sqlx::query_scalar(
        "SELECT MIN(at) FROM deliveries WHERE kind = 'activity' AND outcome = 'ok'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let last_stored: i64 = sqlx::query_scalar("SELECT MAX(ingested_at) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(
        first_delivered < last_stored,
        "the first activity went at {first_delivered}, after the last page was stored at {last_stored}"
    );
    let captured = crm.captured();
    // The regular's profile went first (the CRM knows them before their sales), then once more
    // when the poll ended, not after every page that brought one of their sales. (Their consent
    // goes as a profile item of its own, with no figures.)
    let figures = |p: &serde_json::Value| p["traits"].as_object().is_some_and(|t| !t.is_empty());
    let arrived: Vec<String> = (captured.arrivals.iter())
        .map(|a| match a {
            Arrival::Profile(p) if figures(p) => {
                format!("profile {}", p["traits"]["orders_count"])
            }
            Arrival::Profile(_) => "consent".to_string(),
            Arrival::Activity(a) => format!("activity {}", a["name"]),
        })
        .collect();
    let profiles: Vec<&serde_json::Value> = (captured.arrivals.iter())
        .filter_map(|a| match a {
            Arrival::Profile(p) if figures(p) => Some(p),
            _ => None,
        })
        .collect();
    let first_activity = arrived.iter().position(|a| a.starts_with("activity"));
    let first_profile = arrived.iter().position(|a| a.starts_with("profile"));
    assert!(first_profile < first_activity, "{arrived:?}");
    assert!(
        (1..=2).contains(&profiles.len()),
        "{} profile updates for one person over {} pages: {arrived:?}",
        profiles.len(),
        SALES / PER_PAGE as usize
    );
    // The last one carries the whole history: 30 sales of 3.00 GBP.
    let last = profiles.last().unwrap();
    assert_eq!(last["traits"]["orders_count"], SALES);
    assert_eq!(
        last["traits"]["net_spent"],
        serde_json::json!({"amount_minor": 300 * SALES, "currency": "GBP"})
    );
    assert_eq!(crm.distinct_activities(), SALES);
}
