//! Crash safety: the `rapport` daemon syncs 100,000 sales while being killed with SIGKILL at random
//! moments and restarted. Uploads it did not acknowledge are sent again, as a vendor retries webhooks.
//! At the end the CRM holds every activity (by idempotency key) and the store agrees.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_e2e::{free_port, stop_gracefully, wait_until, ShopDir, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_store::Store;
use std::collections::BTreeSet;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const UPLOADS: usize = 100;
const SALES_PER_UPLOAD: usize = 1000;
const KILLS: usize = 6;

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_daemon_at_random_loses_nothing() {
    let crm = CaptureServer::start().await.unwrap();
    let port = free_port();
    let dir = TestShop::new()
        .sqlite()
        .listen(port)
        .section("delivery", [("lease_ms", 2000.into())])
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [("batch_size", 200.into())])
        .write();
    let shops: Vec<SampleShop> = (0..UPLOADS)
        .map(|i| {
            SampleShop::generate(1000 + i as u64, SALES_PER_UPLOAD, 0)
                .as_export(i, &format!("U{i:03}-"))
        })
        .collect();
    let expected: usize = shops
        .iter()
        .map(|s| {
            s.attributed_sales().count()
                + s.valid_receipts().filter(|r| r.refund_of.is_some()).count()
        })
        .sum();

    let token = dir.token("upload", Some("shop")).await;
    let daemon: Arc<Mutex<Child>> = Arc::new(Mutex::new(dir.spawn_daemon()));
    let uploads_done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The killer: SIGKILL at random moments, restart at once.
    let killer = tokio::spawn({
        let daemon = daemon.clone();
        let config = dir.config();
        async move {
            let mut rng = StdRng::seed_from_u64(42);
            for _ in 0..KILLS {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1500..4000))).await;
                let mut child = daemon.lock().unwrap();
                child.kill().expect("SIGKILL rapport");
                child.wait().expect("reap rapport");
                *child = ShopDir::spawn_daemon_with(&config);
            }
        }
    });

    // The vendor: every upload is re-sent until the daemon acknowledges it (acknowledged = durable).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/webhooks/shop");
    let mut resends = 0;
    for shop in &shops {
        let body = shop.to_csv();
        loop {
            match client
                .post(&url)
                .bearer_auth(&token)
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                _ => {
                    resends += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    uploads_done.store(true, std::sync::atomic::Ordering::SeqCst);
    killer.await.unwrap();

    let distinct = || crm.captured().activity_arrivals.len();
    let finished = wait_until(Duration::from_secs(600), || distinct() >= expected).await;
    assert!(
        stop_gracefully(&mut daemon.lock().unwrap()),
        "rapport did not stop cleanly"
    );
    let captured = crm.captured();
    assert!(
        finished,
        "only {} of {expected} activities arrived",
        captured.activity_arrivals.len()
    );
    let wanted: BTreeSet<String> = captured.activity_arrivals.keys().cloned().collect();
    assert_eq!(wanted.len(), expected);
    let repeats: usize = captured.activity_arrivals.values().map(|n| n - 1).sum();
    eprintln!("{KILLS} kills, {resends} re-sent uploads, {repeats} activities delivered more than once (at-least-once; deduplicated by key)");

    let store = Store::open(&dir.database_url()).await.unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].activities_delivered as usize, expected);
    assert_eq!((summary.sinks[0].waiting, summary.sinks[0].dead), (0, 0));
    let sales: usize = shops
        .iter()
        .map(|s| s.valid_receipts().filter(|r| r.refund_of.is_none()).count())
        .sum();
    assert_eq!(summary.orders as usize, sales);
}
