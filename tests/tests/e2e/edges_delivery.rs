//! Clean failure at the edges of the store and of delivery, with real plugins, the HubSpot
//! simulator on loopback and a real SQLite file: a damaged database is refused by `rapport run`
//! and left byte for byte as it was; the database and its WAL are owner-only; after `rapport
//! forget` and a checkpoint the file's bytes hold no trace of the forgotten email; a storm of 429s
//! uses no attempt (nothing is dead-lettered with two attempts allowed) and pauses the sink; a 401
//! pauses the sink and marks it as needing attention instead of dead-lettering, until a delivery
//! goes through; and a `Retry-After` of 49 days pauses the sink for the cap, saying so.

use rapport_e2e::{output_text, plugin, upload_csv, ShopDir, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_store::now_ms;
use sqlx::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A shop on SQLite whose uploads go to the HubSpot simulator, allowed `max_attempts` attempts
/// per item, with quick backoff and a credential refusal retried after one second.
fn hubspot_shop(sim: &HubSpotSim, max_attempts: i64) -> ShopDir {
    TestShop::new()
        .sqlite()
        .secrets(&[("hubspot_token", hubspot::TOKEN)])
        .marketing_without_choice("send")
        .section(
            "delivery",
            [
                ("max_attempts", max_attempts.into()),
                ("backoff_base_ms", 50.into()),
                ("backoff_max_ms", 200.into()),
                ("auth_retry_ms", 1000.into()),
            ],
        )
        .csv_source("shop")
        .sink(
            "hubspot",
            &plugin("hubspot-sink"),
            [
                ("api_base", sim.base_url().into()),
                ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
            ],
        )
        .write()
}

async fn start(shop: &ShopDir) -> Pipeline {
    Pipeline::start(Config::load(&shop.config()).unwrap())
        .await
        .unwrap()
}

/// The most attempts any of the sink's work items has used.
async fn most_attempts(shop: &ShopDir) -> i64 {
    let mut conn = sqlx::AnyConnection::connect(&shop.database_url())
        .await
        .unwrap();
    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(attempts) FROM outbox")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n.unwrap_or(0)
}

fn status_429(retry_after: u64) -> Fault {
    Fault::Status {
        status: 429,
        retry_after: Some(retry_after),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_uses_no_attempt_and_pauses_the_sink() {
    sqlx::any::install_default_drivers();
    let sim = HubSpotSim::start().await.unwrap();
    let shop = hubspot_shop(&sim, 2);
    let pipeline = start(&shop).await;
    let sample = SampleShop::generate(41, 12, 0);
    upload_csv(&pipeline, "shop", &sample).await;
    sim.faults().fail_next(6, status_429(1));

    let worker = pipeline.workers().remove(0);
    let report = worker.step().await.unwrap();
    assert!(report.claimed > 0 && report.delivered == 0, "{report:?}");
    let pause = pipeline.store.sink_pause("hubspot").await.unwrap();
    let pause = pause.expect("the throttled sink is paused");
    assert!(!pause.needs_attention, "{pause:?}");
    assert!(pause.reason.contains("throttled"), "{pause:?}");
    assert!(pause.until > now_ms(), "{pause:?}");
    // Paused, it sends nothing: the simulator sees no request until the pause ends.
    let seen = sim.seen().len();
    assert_eq!(worker.step().await.unwrap().claimed, 0);
    assert_eq!(sim.seen().len(), seen);

    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(owed, 0, "everything was delivered once the storm passed");
    assert_eq!(sim.faults().pending(), 0, "every 429 was answered");
    let summary = pipeline.store.summary().await.unwrap();
    let figures = &summary.sinks[0];
    assert_eq!((figures.dead, figures.rejected), (0, 0), "{figures:?}");
    assert_eq!(
        figures.pause, None,
        "a delivery that went through ends the pause"
    );
    assert_eq!(most_attempts(&shop).await, 1, "throttling used no attempt");
    let buyers: std::collections::BTreeSet<usize> =
        sample.valid_receipts().filter_map(|r| r.customer).collect();
    assert!(!buyers.is_empty());
    for buyer in buyers {
        let email = &sample.customers[buyer].email;
        assert!(sim.contact(email).is_some(), "{email} reached HubSpot");
    }
    pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_pauses_the_sink_and_marks_it_instead_of_dead_lettering() {
    sqlx::any::install_default_drivers();
    let sim = HubSpotSim::start().await.unwrap();
    // One attempt allowed: an attempt used up would dead-letter at once.
    let shop = hubspot_shop(&sim, 1);
    let pipeline = start(&shop).await;
    let sample = SampleShop::generate(42, 9, 0);
    upload_csv(&pipeline, "shop", &sample).await;
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 401,
            retry_after: None,
        },
    );

    let worker = pipeline.workers().remove(0);
    let report = worker.step().await.unwrap();
    assert!(report.claimed > 0 && report.delivered == 0, "{report:?}");
    let summary = pipeline.store.summary().await.unwrap();
    let figures = &summary.sinks[0];
    assert_eq!((figures.dead, figures.rejected), (0, 0), "{figures:?}");
    let pause = figures.pause.clone().expect("the sink is paused");
    assert!(pause.needs_attention, "{pause:?}");
    assert!(
        pause.reason.contains("refused the sink's credentials"),
        "{pause:?}"
    );
    // The API's summary says so too.
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["sinks"][0]["pause"]["needs_attention"], true, "{json}");
    let status = shop.rapport(&["status", "--dev"]).await;
    let text = output_text(&status);
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains("sink hubspot NEEDS ATTENTION, paused until"),
        "{text}"
    );
    assert!(text.contains("HTTP 401"), "{text}");
    assert_eq!(most_attempts(&shop).await, 0, "the refusal used no attempt");

    // Once the vendor takes the credentials again, the work goes and the mark is gone.
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
    let summary = pipeline.store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].dead, 0);
    assert_eq!(summary.sinks[0].pause, None);
    pipeline.store.close().await;
    let status = output_text(&shop.rapport(&["status", "--dev"]).await);
    assert!(!status.contains("NEEDS ATTENTION"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_of_49_days_is_capped_and_shown() {
    sqlx::any::install_default_drivers();
    let sim = HubSpotSim::start().await.unwrap();
    let shop = hubspot_shop(&sim, 2);
    let pipeline = start(&shop).await;
    upload_csv(&pipeline, "shop", &SampleShop::generate(43, 6, 0)).await;
    sim.faults().fail_next(1, status_429(49 * 24 * 3600));
    let before = now_ms();
    let worker = pipeline.workers().remove(0);
    worker.step().await.unwrap();
    let pause = pipeline
        .store
        .sink_pause("hubspot")
        .await
        .unwrap()
        .expect("the sink is paused");
    let hour = 3_600_000;
    assert!(
        pause.until >= before + hour && pause.until <= now_ms() + hour,
        "paused for the default cap of one hour, not 49 days: {pause:?}"
    );
    assert!(
        pause
            .reason
            .contains("the vendor asked to wait 4233600 s, capped at 3600 s"),
        "{pause:?}"
    );
    let mut conn = sqlx::AnyConnection::connect(&shop.database_url())
        .await
        .unwrap();
    let latest: i64 = sqlx::query_scalar("SELECT MAX(next_attempt_at) FROM outbox")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert!(latest <= now_ms() + hour, "no item waits past the cap");
    pipeline.store.close().await;
    let status = output_text(&shop.rapport(&["status", "--dev"]).await);
    assert!(status.contains("sink hubspot paused until"), "{status}");
    assert!(status.contains("capped at 3600 s"), "{status}");
}

/// A CSV-only shop on SQLite (no sink), as a fresh database for the file checks.
fn csv_shop() -> ShopDir {
    TestShop::new().sqlite().csv_source("shop").write()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_and_its_wal_are_created_owner_only() {
    let shop = csv_shop();
    let pipeline = start(&shop).await;
    upload_csv(&pipeline, "shop", &SampleShop::generate(44, 4, 0)).await;
    let db = shop.path().join("rapport.db");
    let wal = shop.path().join("rapport.db-wal");
    assert!(wal.exists(), "the store writes ahead to its WAL while open");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal), 0o600);
    pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_database_is_refused_and_left_unchanged() {
    let shop = csv_shop();
    let pipeline = start(&shop).await;
    upload_csv(&pipeline, "shop", &SampleShop::generate(45, 200, 0)).await;
    pipeline.store.close().await;
    let db = shop.path().join("rapport.db");
    let mut bytes = checkpointed_bytes(&shop).await;
    assert!(bytes.len() > 8 * 4096, "a database of several pages");
    // Scribble over the middle of the file, as a failing disk or a stray write would.
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 3000].fill(0x5a);
    std::fs::write(&db, &bytes).unwrap();

    let mut run = std::process::Command::new(rapport_e2e::rapport_bin())
        .args(["run", "--dev", "--config"])
        .arg(shop.config())
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            run.kill().unwrap();
            panic!("rapport run kept running on a damaged database");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("the database file {} is damaged", db.display())),
        "{stderr}"
    );
    assert!(stderr.contains("has not changed it"), "{stderr}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the file is byte for byte as it was"
    );
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file's bytes after a checkpoint has moved the WAL into it.
async fn checkpointed_bytes(shop: &ShopDir) -> Vec<u8> {
    let mut conn = sqlx::AnyConnection::connect(&shop.database_url())
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let wal = shop.path().join("rapport.db-wal");
    let wal = std::fs::read(wal).unwrap_or_default();
    assert!(wal.is_empty(), "the checkpoint emptied the WAL");
    std::fs::read(shop.path().join("rapport.db")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_forget_and_a_checkpoint_the_file_holds_no_trace_of_the_email() {
    sqlx::any::install_default_drivers();
    let crm = CaptureServer::start().await.unwrap();
    let shop = TestShop::new()
        .sqlite()
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .write();
    let sample = SampleShop::generate(46, 30, 0);
    shop.import("shop", &sample.to_csv(), &["--dev"]).await;
    let sync = shop.rapport(&["sync", "--dev"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
    let email = sample
        .customers
        .iter()
        .map(|c| c.email.clone())
        .find(|e| sample.to_csv().matches(e.as_str()).count() > 0)
        .expect("a customer in the export");
    let before = checkpointed_bytes(&shop).await;
    assert!(
        contains(&before, email.as_bytes()),
        "the file holds the email before"
    );

    let forgot = shop.rapport(&["forget", "--dev", &email]).await;
    let text = output_text(&forgot);
    assert!(forgot.status.success(), "{text}");
    assert!(text.contains("the erasure is complete"), "{text}");
    let after = checkpointed_bytes(&shop).await;
    assert!(
        !contains(&after, email.as_bytes()),
        "the erased email survives in the database file's bytes"
    );
    let local = email.split('@').next().unwrap();
    assert!(
        !contains(&after, local.as_bytes()),
        "part of the erased email survives in the database file's bytes"
    );
}
