//! Backups end to end: a shop built through the csv-source plugin on a `ManualClock` (a history
//! import, live sales that start a journey with an experiment, a refund, an opt-out, two records of
//! one person merged with `rapport identity merge`, work owed to a sink that is down, a token), then
//! `rapport export`, `rapport restore` into a new empty store and `rapport export` again: the same
//! bytes after the header, whose only difference is when it was taken. On a SQLite file and on
//! PostgreSQL, and across them (a SQLite backup restored into PostgreSQL and back). A restore into
//! a store holding data is refused naming the table; a damaged or cut-short backup is refused with
//! its line and leaves the store empty; new rows after a restore take ids the restored ones never
//! had. Scheduled backups on the clock keep the newest `keep`, and `rapport run` takes one.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rapport_core::clock::{Clock, ManualClock};
use rapport_e2e::{
    free_port, output_text, stop_gracefully, upload_receipts, wait_until, PostgresDatabase,
    ShopDir, TestShop,
};
use rapport_host::config::backup::BackupConfig;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Noon UTC on a day of 2026.
fn noon(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap()
}

/// One receipt of one line: a sale, or a refund of `refund_of`; `email` is the local part.
fn receipt(
    id: &str,
    refund_of: Option<&str>,
    at: DateTime<Utc>,
    customer: &str,
    email: &str,
    opt_in: &str,
) -> String {
    format!(
        "{id},{},{},{},Main,in-store,{customer},{email}@example.com,,{email} Tester,{opt_in},BEAN-1,House beans,coffee,1,9.50,9.50,USD,0,0,9.50",
        if refund_of.is_some() { "refund" } else { "sale" },
        refund_of.unwrap_or(""),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// A shop's config: the csv-source, a CRM that is down (its work waits in the outbox) and a
/// thank-you journey with a holdout, on the store at `url` (`None`: a SQLite file).
fn shop(url: Option<&str>) -> ShopDir {
    let warm = toml::Table::from_iter([("name".to_owned(), "warm".into())]);
    let experiment = toml::Table::from_iter([
        ("name".to_owned(), "thanks-test".into()),
        ("holdout".to_owned(), 0.5.into()),
        (
            "variants".to_owned(),
            toml::Value::Array(vec![toml::Value::Table(warm)]),
        ),
    ]);
    match url {
        None => TestShop::new().sqlite(),
        Some(url) => TestShop::new().database(url),
    }
    .marketing_without_choice("send")
    .csv_source("shop")
    .http_sink("crm", "http://127.0.0.1:9/hook", [])
    .channels(&["email"])
    .journey("thanks", "crm", "email", "every-order")
    .set("experiment", toml::Value::Table(experiment))
    .set("wait_minutes", 1440.into())
    .write()
}

/// Fills `dir`'s store with a shop's life through its plugins, up to 10 March (whose sale's
/// thank-you still waits).
async fn fill(dir: &ShopDir) {
    let clock = ManualClock::starting_at(noon(2, 28));
    let config = Config::load(&dir.config()).unwrap();
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();
    let history = [
        receipt("H1", None, noon(1, 10), "C-1", "ana", "yes"),
        receipt("H2", None, noon(2, 15), "C-2", "ben", "yes"),
        receipt("H3", None, noon(2, 20), "C-5", "dan", "no"),
    ];
    upload_receipts(&pipeline, &clock, None, &history).await;
    for (day, customers) in [
        (
            2,
            vec![("C-1", "ana"), ("C-3", "ben.work"), ("C-4", "cara")],
        ),
        (5, vec![("C-4", "cara"), ("C-6", "eve"), ("C-7", "fay")]),
        (8, vec![("C-2", "ben"), ("C-8", "gus"), ("C-9", "hal")]),
        (10, vec![("C-6", "eve")]),
    ] {
        let receipts: Vec<String> = (customers.iter().enumerate())
            .map(|(n, (id, email))| {
                receipt(&format!("S{day}-{n}"), None, noon(3, day), id, email, "yes")
            })
            .collect();
        upload_receipts(&pipeline, &clock, Some(noon(3, day)), &receipts).await;
        if day == 8 {
            let refund = receipt("R1", Some("S2-0"), noon(3, 9), "C-1", "ana", "no");
            upload_receipts(&pipeline, &clock, Some(noon(3, 9)), &[refund]).await;
        }
    }
    let merged = dir
        .rapport(&[
            "identity",
            "merge",
            "ben@example.com",
            "ben.work@example.com",
        ])
        .await;
    assert!(merged.status.success(), "{}", output_text(&merged));
    dir.token("admin", None).await;
    pipeline.store.close().await;
}

/// Runs `rapport <args> FILE` in `dir`, which must succeed.
async fn rapport_file(dir: &ShopDir, command: &str, file: &Path) {
    let output = dir
        .rapport(&[command, file.to_str().expect("a UTF-8 path")])
        .await;
    assert!(output.status.success(), "{}", output_text(&output));
}

/// `rapport export` of `dir`'s store into `file`, read back.
async fn export(dir: &ShopDir, file: &Path) -> String {
    rapport_file(dir, "export", file).await;
    std::fs::read_to_string(file).unwrap()
}

/// A backup's header without when it was taken, and its rows.
fn split(backup: &str) -> (Value, &str) {
    let (header, rows) = backup.split_once('\n').expect("a header line");
    let mut header: Value = serde_json::from_str(header).unwrap();
    let taken = header.as_object_mut().unwrap().remove("created_at");
    assert!(taken.is_some_and(|t| t.is_string()), "{header}");
    (header, rows)
}

/// The backup's rows of `table`.
fn rows(backup: &str, table: &str) -> Vec<Value> {
    (backup.lines().skip(1))
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["table"] == table)
        .map(|line| line["row"].clone())
        .collect()
}

/// Both backups hold the same store: equal headers but for their time, and the same bytes after.
fn assert_same(original: &str, again: &str) {
    let (header, body) = split(original);
    let (header_again, body_again) = split(again);
    assert_eq!(header, header_again);
    assert!(body == body_again, "the rows differ after a restore");
}

/// The backup's header counts every table's rows, `tables` have rows, and no token is backed up.
fn assert_holds(backup: &str, tables: &[&str]) {
    let (header, _) = split(backup);
    assert_eq!(header["format"], "rapport-backup");
    assert_eq!(header["version"], 1);
    for table in header["tables"].as_array().unwrap() {
        let name = table["table"].as_str().unwrap();
        assert_eq!(
            table["rows"].as_u64().unwrap(),
            rows(backup, name).len() as u64,
            "{name}"
        );
    }
    for table in tables {
        assert!(!rows(backup, table).is_empty(), "{table} is backed up");
    }
    assert!(rows(backup, "access_tokens").is_empty());
}

/// The tables of a shop's life: its connectors, people, consent, sales, merges and work owed.
const SHOP: &[&str] = &[
    "sources",
    "sinks",
    "profiles",
    "identities",
    "consents",
    "consent_ledger",
    "events",
    "identity_merges",
    "identity_merge_moves",
    "outbox",
    "profile_facts",
    "journey_entries",
    "experiment_assignments",
    "store_salt",
];

/// What a filled shop's backup must hold: every part of the shop (the thank-you that still waits
/// too), and exactly its people, merge, revoked consent and sales in id order.
fn assert_whole(backup: &str) {
    assert_holds(backup, SHOP);
    assert!(
        !rows(backup, "journey_due").is_empty(),
        "the wait is backed up"
    );
    let emails: Vec<Value> = rows(backup, "identities")
        .into_iter()
        .filter(|i| i["kind"] == "email")
        .map(|i| i["value"].clone())
        .collect();
    assert_eq!(emails.len(), 9, "{emails:?}");
    let merges = rows(backup, "identity_merges");
    assert_eq!(merges.len(), 1);
    let revoked = rows(backup, "consent_ledger");
    assert!(
        revoked.iter().any(|c| c["state"] == "revoked"),
        "{revoked:?}"
    );
    let events = rows(backup, "events");
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "rows in id order");
}

/// The error a failed command printed.
fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `rapport restore` of `file` into `dir`, which must fail; what it said.
async fn refused(dir: &ShopDir, file: &Path) -> String {
    let output = dir.rapport(&["restore", file.to_str().unwrap()]).await;
    assert!(!output.status.success(), "{}", output_text(&output));
    stderr(&output)
}

/// Every table of `dir`'s store is empty (the salt a migration makes aside).
async fn assert_empty(dir: &ShopDir, scratch: &Path) {
    let backup = export(dir, scratch).await;
    let (header, _) = split(&backup);
    for table in header["tables"].as_array().unwrap() {
        let expected = if table["table"] == "store_salt" { 1 } else { 0 };
        assert_eq!(table["rows"], expected, "{table}");
    }
}

/// A backup restored into a shop and then added to: a new sale's rows take ids past the
/// counters the backup carried, so none is handed out twice.
async fn assert_new_ids_are_new(dir: &ShopDir, backup: &str, scratch: &Path) {
    let (header, _) = split(backup);
    let clock = ManualClock::starting_at(noon(3, 12));
    let config = Config::load(&dir.config()).unwrap();
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();
    let sale = receipt("S12-0", None, noon(3, 12), "C-10", "ivy", "yes");
    upload_receipts(&pipeline, &clock, Some(noon(3, 12)), &[sale]).await;
    pipeline.store.close().await;
    let after = export(dir, scratch).await;
    for table in ["events", "profiles", "outbox", "journey_due"] {
        let counter = header["sequences"][table].as_i64().unwrap();
        let before: Vec<Value> = rows(backup, table);
        let new: Vec<i64> = rows(&after, table)
            .into_iter()
            .filter(|row| !before.contains(row))
            .filter_map(|row| row["id"].as_i64())
            .collect();
        assert!(!new.is_empty(), "{table} has a new row");
        assert!(
            new.iter().all(|id| *id > counter),
            "{table}: {new:?} after {counter}"
        );
    }
    assert!(
        header["sequences"]["journey_due"].as_i64().unwrap()
            > rows(backup, "journey_due").len() as i64,
        "waits entered were deleted, and their ids are not handed out again"
    );
}

#[tokio::test]
async fn export_restore_export_is_identical_on_sqlite_and_into_postgres() {
    let original = shop(None);
    fill(&original).await;
    let scratch = tempfile::tempdir().unwrap();
    let file = |name: &str| scratch.path().join(name);
    let backup = export(&original, &file("original.jsonl")).await;
    assert_whole(&backup);

    let restored = shop(None);
    rapport_file(&restored, "restore", &file("original.jsonl")).await;
    assert_same(&backup, &export(&restored, &file("restored.jsonl")).await);

    let postgres = PostgresDatabase::create().await;
    let on_postgres = shop(Some(&postgres.url()));
    rapport_file(&on_postgres, "restore", &file("original.jsonl")).await;
    assert_same(
        &backup,
        &export(&on_postgres, &file("postgres.jsonl")).await,
    );

    let again = refused(&restored, &file("original.jsonl")).await;
    assert!(
        again.contains("table sources already holds data")
            && again.contains("nothing was restored"),
        "{again}"
    );

    let fresh = shop(None);
    let lines: Vec<&str> = backup.lines().collect();
    let events = 1 + lines
        .iter()
        .position(|l| l.starts_with(r#"{"table":"events","row":"#))
        .unwrap();
    let mut damaged = lines.clone();
    let broken = damaged[events - 1].replacen(r#""id":"#, r#""id":"lots","x":"#, 1);
    assert_ne!(broken, lines[events - 1], "the row was damaged");
    damaged[events - 1] = &broken;
    std::fs::write(file("damaged.jsonl"), damaged.join("\n")).unwrap();
    let said = refused(&fresh, &file("damaged.jsonl")).await;
    assert!(
        said.contains(&format!("line {events}: ")) && said.contains("table events"),
        "{said}"
    );
    let cut = lines[..lines.len() - 1].join("\n");
    std::fs::write(file("cut.jsonl"), cut).unwrap();
    let said = refused(&fresh, &file("cut.jsonl")).await;
    assert!(said.contains("the backup ends early"), "{said}");
    std::fs::write(file("truncated.jsonl"), &backup[..backup.len() - 20]).unwrap();
    let said = refused(&fresh, &file("truncated.jsonl")).await;
    assert!(said.contains(&format!("line {}: ", lines.len())), "{said}");
    assert_empty(&fresh, &file("fresh.jsonl")).await;

    assert_new_ids_are_new(&restored, &backup, &file("after.jsonl")).await;
}

#[tokio::test]
async fn export_restore_export_is_identical_on_postgres_and_into_sqlite() {
    let postgres = PostgresDatabase::create().await;
    let original = shop(Some(&postgres.url()));
    fill(&original).await;
    let scratch = tempfile::tempdir().unwrap();
    let file = |name: &str| scratch.path().join(name);
    let backup = export(&original, &file("original.jsonl")).await;
    assert_whole(&backup);

    let into = PostgresDatabase::create().await;
    let restored = shop(Some(&into.url()));
    rapport_file(&restored, "restore", &file("original.jsonl")).await;
    assert_same(&backup, &export(&restored, &file("restored.jsonl")).await);

    let on_sqlite = shop(None);
    rapport_file(&on_sqlite, "restore", &file("original.jsonl")).await;
    assert_same(&backup, &export(&on_sqlite, &file("sqlite.jsonl")).await);

    let mut newer: Value = serde_json::from_str(backup.lines().next().unwrap()).unwrap();
    newer["migrations"]
        .as_array_mut()
        .unwrap()
        .push(9999.into());
    let text = format!("{newer}\n{}", backup.split_once('\n').unwrap().1);
    std::fs::write(file("newer.jsonl"), text).unwrap();
    let fresh = PostgresDatabase::create().await;
    let said = refused(&shop(Some(&fresh.url())), &file("newer.jsonl")).await;
    assert!(
        said.contains("newer rapport") && said.contains("migration 9999"),
        "{said}"
    );

    assert_new_ids_are_new(&restored, &backup, &file("after.jsonl")).await;
}

/// The backup files in `dir`, by name.
fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rapport-backup-"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn scheduled_backups_are_taken_on_the_clock_and_the_newest_kept() {
    let dir = shop(None);
    fill(&dir).await;
    let store = rapport_store::Store::open(&dir.database_url())
        .await
        .unwrap();
    let backups: PathBuf = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("notes.txt"), "not a backup").unwrap();
    let config = BackupConfig {
        every: Duration::hours(1),
        keep: 3,
        dir: backups.clone(),
    };
    let start = noon(3, 10);
    let clock = ManualClock::starting_at(start);
    let mut taken = Vec::new();
    for _ in 0..=(5 * 4) {
        if let Some(backup) = rapport_host::backup::take_if_due(&store, &config, clock.now())
            .await
            .unwrap()
        {
            taken.push(clock.now());
            let text = std::fs::read_to_string(&backup.path).unwrap();
            let (header, _) = text.split_once('\n').unwrap();
            let header: Value = serde_json::from_str(header).unwrap();
            let at: DateTime<Utc> = serde_json::from_value(header["created_at"].clone()).unwrap();
            assert_eq!(at, clock.now());
        }
        clock.advance(Duration::minutes(15));
    }
    let hours: Vec<DateTime<Utc>> = (0..6).map(|h| start + Duration::hours(h)).collect();
    assert_eq!(taken, hours, "one an hour, from the first look");
    let kept: Vec<String> = hours[3..]
        .iter()
        .map(|at| rapport_core::backup::file_name(*at))
        .collect();
    assert_eq!(backups_in(&backups), kept, "the newest three stay");
    assert!(backups.join("notes.txt").exists(), "other files stay");
    let again = rapport_host::backup::take_if_due(&store, &config, clock.now())
        .await
        .unwrap();
    assert!(
        again.is_none(),
        "a quarter past, a restart takes none before the next is due"
    );
    store.close().await;

    let daemon_backups = dir.path().join("daemon-backups");
    let mut daemon = TestShop::new()
        .sqlite()
        .listen(free_port())
        .section(
            "backup",
            [
                ("every", "1h".into()),
                ("keep", 2.into()),
                ("dir", "daemon-backups".into()),
            ],
        )
        .text(dir.path());
    daemon.push('\n');
    std::fs::write(dir.config(), daemon).unwrap();
    let mut running = dir.spawn_daemon();
    let appeared = wait_until(std::time::Duration::from_secs(30), || {
        daemon_backups.is_dir() && backups_in(&daemon_backups).len() == 1
    })
    .await;
    assert!(stop_gracefully(&mut running), "rapport run stops");
    assert!(appeared, "rapport run takes a backup at once");
    let text =
        std::fs::read_to_string(daemon_backups.join(&backups_in(&daemon_backups)[0])).unwrap();
    // The daemon runs on the system clock, so the thank-you that waited in March may have gone.
    assert_holds(&text, SHOP);
}
