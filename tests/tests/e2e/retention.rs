//! The retention job on a real store (a SQLite file, and PostgreSQL), fed by the csv-source plugin
//! and drained by the http-sink plugin: old receipts lose their details but not their totals,
//! pending and dead-lettered work keeps its receipts, other records past their period are deleted
//! and newer ones kept, a dry run changes nothing, and the `rapport retention` command says what
//! it did in plain words.

use chrono::{DateTime, Utc};
use rapport_core::governance::retention::{Mode, RecordClass, RetentionConfig};
use rapport_core::model::{Money, Payload};
use rapport_e2e::{output_text, PostgresDatabase, ShopDir, TestShop, SQLITE_LOOPBACK_DEV};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::governance::retention;
use rapport_host::pipeline::Pipeline;
use rapport_store::{SnapshotDepth, Store};
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The shop: its store at `store`, the csv-source `shop` and the http-sink `hook`.
fn shop(store: &str, hook: &str) -> TestShop {
    TestShop::new()
        .database(store)
        .csv_source("shop")
        .http_sink("hook", hook, [])
}

fn periods(text: &str) -> RetentionConfig {
    toml::from_str(text).expect("retention periods parse")
}

/// One stored event as the retention job sees it.
#[derive(Debug, Clone, PartialEq)]
struct StoredEvent {
    occurred_at: i64,
    payload: String,
    summarised: bool,
    /// Work items not yet delivered that point at the event.
    undelivered: i64,
}

async fn events(pool: &AnyPool) -> BTreeMap<i64, StoredEvent> {
    sqlx::query(
        "SELECT e.id, e.occurred_at, e.payload, e.summarised_at,
                (SELECT COUNT(*) FROM outbox o
                 WHERE o.event_id = e.id AND o.status <> 'delivered') AS undelivered
         FROM events e",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let summarised_at: Option<i64> = r.get("summarised_at");
        (
            r.get("id"),
            StoredEvent {
                occurred_at: r.get("occurred_at"),
                payload: r.get("payload"),
                summarised: summarised_at.is_some(),
                undelivered: r.get("undelivered"),
            },
        )
    })
    .collect()
}

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Row counts of every table the job may change, and the events as stored.
async fn state(pool: &AnyPool) -> (Vec<i64>, BTreeMap<i64, StoredEvent>) {
    let mut counts = Vec::new();
    for table in [
        "events",
        "rejected_inputs",
        "webhook_inbox",
        "outbox",
        "deliveries",
        "retired_work",
    ] {
        counts.push(count(pool, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    (counts, events(pool).await)
}

type Totals = (i64, i64, Option<Money>, Option<i64>, Option<i64>);

/// Every person's totals, as a sink would receive them.
async fn totals(store: &Store, pool: &AnyPool) -> BTreeMap<i64, Totals> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM profiles")
        .fetch_all(pool)
        .await
        .unwrap();
    store
        .profile_snapshots(&ids, SnapshotDepth::Full)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, s)| {
            let totals = (
                s.orders_count,
                s.refunds_count,
                s.net_spent,
                s.first_order_at,
                s.last_order_at,
            );
            (id, totals)
        })
        .collect()
}

/// A summarised payload still reads as an event, and holds nothing about the person or the items.
fn assert_summary(payload: &str) {
    let parsed: Payload = serde_json::from_str(payload).expect("a summary is still a payload");
    assert!(!payload.contains('@'), "{payload}");
    match parsed {
        Payload::Order(o) => assert!(o.customer.is_none() && o.lines.is_empty(), "{payload}"),
        Payload::Refund(r) => assert!(
            r.customer.is_none() && r.lines.is_empty() && r.reason.is_none(),
            "{payload}"
        ),
        Payload::Customer(c)
        | Payload::CustomersMerged { survivor: c, .. }
        | Payload::LoyaltyChanged { customer: c } => assert!(
            c.identities.is_empty()
                && c.given_name.is_none()
                && c.consents.is_empty()
                && c.birthday.is_none()
                && c.loyalty.is_none(),
            "{payload}"
        ),
        Payload::CustomerDeleted { identities } | Payload::PrivacyRequest { identities, .. } => {
            assert!(identities.is_empty(), "{payload}")
        }
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn drain(pipeline: &Pipeline) {
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
}

/// The whole story on one backend.
async fn old_records_go_and_totals_stay(database_url: &str) {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        Config::parse(&shop(database_url, &crm.url()).text(dir.path()), dir.path()).unwrap();
    config.store.database_url = database_url.to_string();
    let pipeline = Pipeline::start(config).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let store = &pipeline.store;

    // Two uploads of sales from 2026-10-01 to 10-29, a moment apart; only the first is delivered.
    let first = SampleShop::generate(31, 120, 12);
    let second = SampleShop::generate(32, 120, 12).as_export(1, "B");
    pipeline
        .intake
        .receive_push("shop", vec![], first.to_csv().into_bytes())
        .await
        .unwrap();
    drain(&pipeline).await;
    store
        .keep_webhook("shop", "malformed", &[], b"{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    pipeline
        .intake
        .receive_push("shop", vec![], second.to_csv().into_bytes())
        .await
        .unwrap();
    store
        .keep_webhook("shop", "malformed", &[], b"[")
        .await
        .unwrap();
    let totals_before = totals(store, &pool).await;
    let (_, before) = state(&pool).await;
    assert!(before.values().any(|e| e.undelivered > 0));

    // Receipts are kept 40 days: on 2026-11-24, those before 2026-10-15 are past it.
    let receipts = periods(
        "events = \"40d\"\nrejected_inputs = \"forever\"\nwebhook_inbox = \"forever\"\n\
         outbox = \"forever\"\ndead_letters = \"forever\"\ndeliveries = \"forever\"\n",
    );
    let now = at("2026-11-24T00:00:00Z");
    let cutoff = at("2026-10-15T00:00:00Z").timestamp_millis();
    let dry = retention::run(store, &receipts, now, Mode::DryRun)
        .await
        .unwrap();
    assert_eq!(state(&pool).await.1, before, "a dry run changes nothing");
    let report = retention::run(store, &receipts, now, Mode::Apply)
        .await
        .unwrap();
    assert_eq!(report.classes, dry.classes);
    let after = events(&pool).await;
    let mut summarised = 0;
    for (id, event) in &after {
        let old = &before[id];
        let due = old.occurred_at < cutoff && old.undelivered == 0;
        assert_eq!(event.summarised, due, "event {id}: {old:?}");
        if due {
            summarised += 1;
            assert_summary(&event.payload);
        } else {
            assert_eq!(event.payload, old.payload, "event {id} is untouched");
        }
    }
    assert_eq!(report.retired(RecordClass::EventDetails), summarised);
    assert!(summarised > 0);
    assert!(after.values().any(|e| e.occurred_at >= cutoff));
    assert!(
        after
            .values()
            .any(|e| e.occurred_at < cutoff && !e.summarised),
        "the second upload's old sales wait for delivery with their details"
    );
    assert_eq!(totals(store, &pool).await, totals_before);

    // The second upload is delivered in full from the receipts it kept; then its old ones go too.
    let delivered_before = crm.captured().activities.len();
    drain(&pipeline).await;
    let captured = crm.captured();
    let sales: Vec<_> = captured.activities[delivered_before..]
        .iter()
        .filter(|a| a["name"] == "Placed Order")
        .collect();
    assert!(!sales.is_empty());
    assert!(sales
        .iter()
        .all(|a| !a["properties"]["products"].as_str().unwrap().is_empty()));
    let report = retention::run(store, &receipts, now, Mode::Apply)
        .await
        .unwrap();
    assert!(report.retired(RecordClass::EventDetails) > 0);
    for event in events(&pool).await.values() {
        assert_eq!(event.summarised, event.occurred_at < cutoff);
    }
    let totals_after = totals(store, &pool).await;
    assert_eq!(totals_after, totals_before);
    assert_eq!(
        retention::run(store, &receipts, now, Mode::Apply)
            .await
            .unwrap()
            .total(),
        0,
        "a second run finds nothing more"
    );

    // An hour after the moment between the uploads, records kept an hour: the first upload's go.
    let figures_before = store.summary().await.unwrap().sinks;
    let hour = periods(
        "events = \"forever\"\nrejected_inputs = \"1h\"\nwebhook_inbox = \"1h\"\n\
         outbox = \"1h\"\ndead_letters = \"1h\"\ndeliveries = \"1h\"\n",
    );
    let later = between + chrono::Duration::hours(1);
    let older = between.timestamp_millis();
    let expected = [
        (
            RecordClass::RejectedInputs,
            format!("SELECT COUNT(*) FROM rejected_inputs WHERE received_at < {older}"),
        ),
        (
            RecordClass::WebhookInbox,
            format!("SELECT COUNT(*) FROM webhook_inbox WHERE received_at < {older}"),
        ),
        (
            RecordClass::DeliveredWork,
            format!("SELECT COUNT(*) FROM outbox WHERE next_attempt_at < {older}"),
        ),
        (
            RecordClass::DeliveryHistory,
            format!("SELECT COUNT(*) FROM deliveries WHERE at < {older}"),
        ),
    ];
    let mut old_rows = Vec::new();
    for (class, sql) in &expected {
        old_rows.push((*class, count(&pool, sql).await));
    }
    let (counts_before, _) = state(&pool).await;
    let dry = retention::run(store, &hour, later, Mode::DryRun)
        .await
        .unwrap();
    assert_eq!(
        state(&pool).await.0,
        counts_before,
        "a dry run changes nothing"
    );
    let report = retention::run(store, &hour, later, Mode::Apply)
        .await
        .unwrap();
    assert_eq!(report.classes, dry.classes);
    for ((class, sql), (_, old)) in expected.iter().zip(&old_rows) {
        assert!(*old > 0, "{class:?} had old rows");
        assert_eq!(report.retired(*class), *old as u64, "{class:?}");
        assert_eq!(count(&pool, sql).await, 0, "{class:?}: old rows are gone");
    }
    let (counts_after, _) = state(&pool).await;
    assert_eq!(
        counts_after[0], counts_before[0],
        "events are never deleted"
    );
    for (n, table) in ["rejected_inputs", "webhook_inbox", "outbox", "deliveries"]
        .iter()
        .enumerate()
    {
        assert!(counts_after[n + 1] > 0, "the newer {table} rows stay");
    }
    assert_eq!(
        store.summary().await.unwrap().sinks,
        figures_before,
        "delivery figures stay lifetime totals"
    );
    assert_eq!(totals(store, &pool).await, totals_before);
    pool.close().await;
    pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_old_records_go_and_totals_stay() {
    let dir = tempfile::tempdir().unwrap();
    old_records_go_and_totals_stay(&format!(
        "sqlite://{}",
        dir.path().join("rapport.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_old_records_go_and_totals_stay() {
    let database = PostgresDatabase::create().await;
    old_records_go_and_totals_stay(&database.url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_keeps_its_receipt_until_the_letter_itself_expires() {
    let crm = CaptureServer::start().await.unwrap();
    // The vendor refuses everything: every work item ends in the dead-letter queue.
    crm.faults().fail_randomly(
        1.0,
        Fault::Status {
            status: 422,
            retry_after: None,
        },
        7,
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rapport.db").display());
    let mut config = Config::parse(&shop(&url, &crm.url()).text(dir.path()), dir.path()).unwrap();
    config.store.database_url = url.clone();
    let pipeline = Pipeline::start(config).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&url).await.unwrap();
    pipeline
        .intake
        .receive_push(
            "shop",
            vec![],
            SampleShop::generate(33, 40, 0).to_csv().into_bytes(),
        )
        .await
        .unwrap();
    drain(&pipeline).await;
    let dead = count(
        &pool,
        "SELECT COUNT(*) FROM outbox WHERE status = 'rejected'",
    )
    .await;
    assert!(dead > 0);

    let keep_letters = periods("events = \"1d\"\ndead_letters = \"90d\"\n");
    retention::run(&pipeline.store, &keep_letters, Utc::now(), Mode::Apply)
        .await
        .unwrap();
    let stored = events(&pool).await;
    assert!(stored.values().any(|e| e.undelivered > 0));
    for event in stored.values() {
        assert_eq!(event.summarised, event.undelivered == 0, "{event:?}");
    }
    let letter = sqlx::query_scalar::<_, i64>(
        "SELECT MIN(id) FROM outbox WHERE status = 'rejected' AND kind = 'activity'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let shown = pipeline.store.dead_letter(letter).await.unwrap().unwrap();
    assert!(shown.event.unwrap().contains("\"product\""));

    // Once dead letters are past their own period they go, and so do their receipts' details.
    let letters_go = periods("events = \"1d\"\ndead_letters = \"1h\"\n");
    let report = retention::run(
        &pipeline.store,
        &letters_go,
        Utc::now() + chrono::Duration::hours(2),
        Mode::Apply,
    )
    .await
    .unwrap();
    assert_eq!(report.retired(RecordClass::DeadLetters), dead as u64);
    assert!(events(&pool).await.values().all(|e| e.summarised));
    pool.close().await;
    pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_says_what_it_removes_and_a_dry_run_removes_nothing() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = shop("sqlite://rapport.db", &crm.url())
        .section(
            "retention",
            [
                ("events", "1d".into()),
                ("rejected_inputs", "forever".into()),
            ],
        )
        .write();
    let shop = SampleShop::generate(34, 60, 10);
    let export = dir.path().join("export.csv");
    std::fs::write(&export, shop.to_csv()).unwrap();
    let import = dir
        .rapport(&["import", "--source", "shop", export.to_str().unwrap()])
        .await;
    assert!(import.status.success(), "{}", output_text(&import));
    let sync = dir.rapport(&["sync"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));

    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&dir.database_url()).await.unwrap();
    let before = state(&pool).await;
    let stored = before.1.len();
    let dry = dir.rapport(&["retention", "run", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", output_text(&dry));
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.contains("dry run: nothing was changed"), "{dry}");
    let line = format!(
        "details of sales, refunds and customer updates: {stored} older than 1 day summarised"
    );
    assert!(dry.contains(&line), "{dry}");
    assert!(
        dry.contains("till records that could not be read: kept with no time limit"),
        "{dry}"
    );
    assert_eq!(state(&pool).await, before, "a dry run changes nothing");

    let run = dir.rapport(&["retention", "run"]).await;
    assert!(run.status.success(), "{}", output_text(&run));
    let run = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(!run.contains("dry run") && run.contains(&line), "{run}");
    assert!(events(&pool).await.values().all(|e| e.summarised));
    let again = dir.rapport(&["retention", "run"]).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing is past its retention period"));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_period_is_refused_naming_the_key_and_value() {
    for (setting, expected) in [
        (
            "events = \"ten days\"",
            "retention.events: \"ten days\" is not a duration like \"90d\"",
        ),
        (
            "outbox = \"30\"",
            "retention.outbox: \"30\" is not a duration like \"90d\"",
        ),
        ("receipts = \"30d\"", "unknown field `receipts`"),
    ] {
        let dir = ShopDir::new(&format!("{SQLITE_LOOPBACK_DEV}[retention]\n{setting}\n"));
        let output = dir.rapport(&["retention", "run"]).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{setting}: {stderr}");
        assert!(!Path::new(&dir.path().join("rapport.db")).exists());
    }
}
