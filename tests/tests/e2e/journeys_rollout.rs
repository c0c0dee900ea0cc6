//! A journey's progressive go-live: with `rollout = 0.2`, 200 buyers' thank-you messages reach the
//! CRM (a capture server behind the http-sink) for about a fifth of them — within four standard
//! deviations of Binomial(200, 0.2) — and after a restart of the host on the same SQLite file, the
//! next sale of everyone thanks exactly the same people. Pausing the journey (`enabled = false`)
//! then lets nobody in.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{journey_message, TestShop, CSV_HEADER};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::collections::BTreeSet;
use std::time::Duration as Wait;

const PEOPLE: usize = 200;

/// Noon UTC on `day` March 2026.
fn noon(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
}

/// One sale of 4.00 to each of the buyers, at `at`, receipts named after `round`.
fn sales(round: &str, at: DateTime<Utc>) -> Vec<u8> {
    let date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = format!("{CSV_HEADER}\n");
    for n in 0..PEOPLE {
        out.push_str(&format!(
            "{round}-{n},sale,,{date},High Street,in-store,C-{n},buyer{n}@example.com,,Buyer {n},yes,TEA-1,Tea,drinks,1,4.00,4.00,GBP,0.00,0.00,4.00\n"
        ));
    }
    out.into_bytes()
}

/// A shop whose thank-you journey runs for `rollout` of people, `enabled` or paused.
fn config(dir: &std::path::Path, crm: &CaptureServer, rollout: f64, enabled: bool) -> String {
    TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "UTC".into())])
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .channels(&["email"])
        .journey("thanks", "crm", "email", "every-order")
        .set("rollout", rollout.into())
        .set("enabled", enabled.into())
        .set("reentry", "always".into())
        .text(dir)
}

/// Starts the host on `text`, uploads a round of sales at `at`, delivers, and stops.
async fn round(dir: &std::path::Path, text: &str, name: &str, at: DateTime<Utc>) {
    let clock = ManualClock::starting_at(at);
    let pipeline = Pipeline::start_with_clock(Config::parse(text, dir).unwrap(), clock.shared())
        .await
        .unwrap();
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    let report = (pipeline.intake)
        .receive_push("shop", headers, sales(name, at))
        .await
        .unwrap();
    assert_eq!(report.rejected, 0);
    clock.set(at + Duration::minutes(5));
    pipeline.run_journeys().await.unwrap();
    let owed = pipeline
        .drain(Wait::from_secs(1), Wait::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0, "everything delivered");
    pipeline.store.close().await;
}

/// The people thanked so far, by email, and how many messages they got in all.
fn thanked(crm: &CaptureServer) -> (BTreeSet<String>, usize) {
    let messages: Vec<String> = (crm.captured().activities.iter())
        .filter_map(journey_message)
        .map(|(_, email)| email)
        .collect();
    let people = messages.iter().cloned().collect();
    (people, messages.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_share_reaches_about_that_share_of_people_and_the_same_ones_after_a_restart() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifth = config(dir.path(), &crm, 0.2, true);
    round(dir.path(), &fifth, "A", noon(2)).await;
    let (first, sent) = thanked(&crm);
    assert_eq!(sent, first.len(), "one message each");
    // Binomial(200, 0.2): mean 40, standard deviation √32 ≈ 5.7.
    assert!((18..=62).contains(&first.len()), "{} thanked", first.len());

    // A new host on the same database: everyone buys again, the same people are thanked.
    round(dir.path(), &fifth, "B", noon(9)).await;
    let (second, sent) = thanked(&crm);
    assert_eq!(
        second, first,
        "the rollout keeps its people across a restart"
    );
    assert_eq!(sent, 2 * first.len());

    // Paused: nobody is thanked for a third round of sales.
    let paused = config(dir.path(), &crm, 0.2, false);
    round(dir.path(), &paused, "C", noon(16)).await;
    assert_eq!(thanked(&crm).1, sent, "a paused journey sends nothing");
}
