//! Durable delivery under vendor trouble: a storm of 5xx and 429 bursts still delivers everything once
//! and honours Retry-After; a sink whose vendor hangs does not hold up the others; a one-shot sync
//! delivers with as many batches in flight as the daemon.

use rapport_e2e::{assert_in_till_order, stop_gracefully, wait_until, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::time::Duration;

fn expected_activities(shop: &SampleShop) -> usize {
    shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_storm_still_delivers_everything_once_and_honours_retry_after() {
    let crm = CaptureServer::start().await.unwrap();
    crm.faults().fail_randomly(
        0.3,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        7,
    );
    crm.faults().fail_next(
        3,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    );
    // One lane, so every request after a 429 is one sent after it was answered: with several
    // lanes, a batch already on its way when the 429 came still arrives after it (the pause
    // stops what has not started).
    let dir = TestShop::new()
        .sqlite()
        .section(
            "delivery",
            [
                ("backoff_base_ms", 100.into()),
                ("backoff_max_ms", 400.into()),
                ("concurrency", 1.into()),
            ],
        )
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [("batch_size", 10.into())])
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    let shop = SampleShop::generate(9, 200, 0);
    pipeline
        .intake
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    let crm = std::sync::Arc::new(crm);
    let second_burst = tokio::spawn({
        let crm = crm.clone();
        async move {
            // A second burst of 429s in the middle of the work.
            wait_until(Duration::from_secs(60), || crm.captured().requests >= 20).await;
            crm.faults().fail_next(
                2,
                Fault::Status {
                    status: 429,
                    retry_after: Some(1),
                },
            );
        }
    });
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(120))
        .await
        .unwrap();
    second_burst.await.unwrap();

    assert_eq!(owed, 0);
    let captured = crm.captured();
    assert_eq!(captured.activities.len(), expected_activities(&shop));
    assert!(
        captured.activity_arrivals.values().all(|&n| n == 1),
        "an activity arrived twice"
    );
    // A person's activities reach the CRM in the order they happened at the till, whatever failed
    // in between: a later one never overtakes an earlier one that was being retried.
    let people = assert_in_till_order(&shop, &captured.activities);
    assert!(
        people < captured.activities.len(),
        "the sample should give people several receipts"
    );
    let failures = captured.seen.iter().filter(|r| r.status >= 500).count();
    assert!(
        failures > 10,
        "the storm should have failed many requests, failed {failures}"
    );
    let throttles: Vec<_> = captured.seen.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttles.len(), 5);
    for (n, throttle) in throttles.iter().enumerate() {
        // The throttled batch is owed, so a request must follow the 429: its retry.
        let next = captured
            .seen
            .iter()
            .find(|r| r.arrived > throttle.answered)
            .unwrap_or_else(|| panic!("no request followed 429 number {}", n + 1));
        let gap = next.arrived - throttle.answered;
        assert!(
            gap >= Duration::from_millis(950),
            "a request came {gap:?} after 429 number {} with Retry-After: 1",
            n + 1
        );
    }
    let summary = pipeline.store.summary().await.unwrap();
    assert_eq!(
        (
            summary.sinks[0].dead,
            summary.sinks[0].rejected,
            summary.sinks[0].waiting
        ),
        (0, 0, 0)
    );
}

/// The most requests the CRM was answering at one moment.
fn most_in_flight(crm: &CaptureServer) -> usize {
    let seen = crm.captured().seen;
    (seen.iter())
        .map(|r| {
            (seen.iter())
                .filter(|o| o.arrived <= r.arrived && r.arrived < o.answered)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_shot_sync_delivers_with_the_daemons_lanes() {
    for lanes in [1, 3] {
        let crm = CaptureServer::start().await.unwrap();
        crm.faults().set_latency(Duration::from_millis(40));
        let dir = TestShop::new()
            .sqlite()
            .section("delivery", [("concurrency", lanes.into())])
            .csv_source("shop")
            .http_sink("hook", &crm.url(), [("batch_size", 10.into())])
            .write();
        let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
            .await
            .unwrap();
        let shop = SampleShop::generate(4, 200, 0);
        pipeline
            .intake
            .receive_push("shop", vec![], shop.to_csv().into_bytes())
            .await
            .unwrap();
        let owed = pipeline
            .drain(Duration::from_secs(5), Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(owed, 0);
        let captured = crm.captured();
        assert_eq!(captured.activities.len(), expected_activities(&shop));
        assert_in_till_order(&shop, &captured.activities);
        assert_eq!(
            most_in_flight(&crm),
            lanes as usize,
            "delivery.concurrency = {lanes}"
        );
        pipeline.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_whose_vendor_hangs_does_not_hold_up_the_others() {
    let healthy = CaptureServer::start().await.unwrap();
    let hung = CaptureServer::start().await.unwrap();
    hung.faults().fail_randomly(1.0, Fault::Hang, 1);
    let shop = SampleShop::generate(4, 300, 0);
    let dir = TestShop::new()
        .sqlite()
        .section(
            "server",
            [
                ("listen", "127.0.0.1:0".into()),
                ("http_timeout_ms", 2000.into()),
            ],
        )
        .csv_source("shop")
        .http_sink("down", &hung.url(), [])
        .http_sink("up", &healthy.url(), [("batch_size", 20.into())])
        .write();
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

    let mut daemon = dir.spawn_daemon();
    let expected = expected_activities(&shop);
    let delivered = wait_until(Duration::from_secs(90), || {
        healthy.captured().activities.len() >= expected
    })
    .await;
    assert!(stop_gracefully(&mut daemon), "rapport did not stop cleanly");
    assert!(
        delivered,
        "the healthy sink got {} of {expected}",
        healthy.captured().activities.len()
    );
    assert!(hung.captured().seen.is_empty() || hung.captured().activities.is_empty());
    assert!(healthy
        .captured()
        .activity_arrivals
        .values()
        .all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_exhausted_work_waits_in_the_dead_letter_queue_until_replayed() {
    use rapport_store::LetterStatus;
    let crm = CaptureServer::start().await.unwrap();
    let dir = TestShop::new()
        .sqlite()
        .section(
            "delivery",
            [
                ("max_attempts", 2.into()),
                ("backoff_base_ms", 1.into()),
                ("backoff_max_ms", 5.into()),
            ],
        )
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [])
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    let shop = SampleShop::generate(2, 20, 0);
    // The vendor refuses the first batch outright and fails everything after it twice.
    crm.faults().fail_next(
        1,
        Fault::Status {
            status: 422,
            retry_after: None,
        },
    );
    crm.faults().fail_randomly(
        1.0,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        3,
    );
    pipeline
        .intake
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    let owed = pipeline
        .drain(Duration::from_secs(1), Duration::from_secs(60))
        .await
        .unwrap();
    let store = &pipeline.store;
    let rejected = store
        .dead_letters(Some("hook"), LetterStatus::Rejected, 100)
        .await
        .unwrap();
    let dead = store
        .dead_letters(Some("hook"), LetterStatus::Dead, 1000)
        .await
        .unwrap();
    assert!(
        !rejected.is_empty() && !dead.is_empty(),
        "rejected {rejected:?}, dead {dead:?}"
    );
    assert!(
        rejected
            .iter()
            .all(|l| l.error.as_deref().unwrap_or("").contains("422")),
        "{rejected:?}"
    );
    assert!(dead.iter().all(|l| l.attempts == 2
        && l.error
            .as_deref()
            .unwrap_or("")
            .contains("gave up after 2 attempts")));
    // Nothing got through, and what could not be attempted yet is still owed, not lost.
    assert!(crm.captured().activities.is_empty());
    let total = store.summary().await.unwrap().sinks[0].clone();
    assert_eq!(total.waiting, owed);
    assert!(total.waiting + total.rejected + total.dead > 0);

    // The vendor recovers; the operator replays everything.
    crm.faults().fail_randomly(0.0, Fault::Malformed, 0);
    let mut ids = store
        .dead_letter_ids(Some("hook"), LetterStatus::Rejected)
        .await
        .unwrap();
    ids.extend(
        store
            .dead_letter_ids(Some("hook"), LetterStatus::Dead)
            .await
            .unwrap(),
    );
    assert_eq!(
        store.replay_dead_letters(&ids).await.unwrap() as usize,
        ids.len()
    );
    let owed = pipeline
        .drain(Duration::from_secs(1), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
    let captured = crm.captured();
    assert_eq!(captured.activities.len(), expected_activities(&shop));
    assert!(captured.activity_arrivals.values().all(|&n| n == 1));
    let summary = store.summary().await.unwrap();
    assert_eq!((summary.sinks[0].dead, summary.sinks[0].rejected), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_list_and_replay_the_dead_letter_queue_from_the_cli() {
    let crm = CaptureServer::start().await.unwrap();
    crm.faults().fail_randomly(
        1.0,
        Fault::Status {
            status: 422,
            retry_after: None,
        },
        5,
    );
    let dir = TestShop::new()
        .sqlite()
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [])
        .write();
    let shop = SampleShop::generate(12, 15, 0);
    let export = dir.path().join("export.csv");
    std::fs::write(&export, shop.to_csv()).unwrap();
    dir.rapport(&["import", "--source", "shop", export.to_str().unwrap()])
        .await;
    dir.rapport(&["sync", "--timeout-secs", "5"]).await;

    let list = dir.rapport(&["dlq", "list", "--status", "rejected"]).await;
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", rapport_e2e::output_text(&list));
    let rejected: Vec<i64> = text
        .lines()
        .filter(|l| l.contains("rejected") && l.contains("422"))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(!rejected.is_empty(), "{text}");
    let show = dir
        .rapport(&["dlq", "show", &rejected[0].to_string()])
        .await;
    assert!(String::from_utf8_lossy(&show.stdout).contains("idempotency key:"));

    crm.faults().fail_randomly(0.0, Fault::Malformed, 0);
    let replay = dir
        .rapport(&["dlq", "replay", "--all", "--status", "rejected"])
        .await;
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(
        text.contains(&format!(
            "{n} of {n} items put back in line",
            n = rejected.len()
        )),
        "{text}"
    );
    let sync = dir.rapport(&["sync", "--timeout-secs", "30"]).await;
    assert!(sync.status.success(), "{}", rapport_e2e::output_text(&sync));
    assert_eq!(crm.captured().activities.len(), expected_activities(&shop));
    let empty = dir.rapport(&["dlq", "list", "--status", "rejected"]).await;
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no Rejected items"));
}
