//! `rapport check`, the go-live check, run as the real binary: a healthy shop (signed csv-source and
//! hubspot-sink packages, the sink against the HubSpot simulator) passes with every line ok, and
//! each broken part fails its own line clearly while the other lines still run; an unsigned plugin
//! warns, and one asking for more than was approved fails.

use rapport_e2e::{
    install_signed, output_text, plugin, secrets_file, PostgresDatabase, ShopDir, TestShop,
};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::shop::SampleShop;
use serde_json::Value;
use std::process::Output;

/// A shop whose sink talks to `sim` with `token`, its store in `database` (a URL), running signed
/// packages of csv-source and hubspot-sink that its trust store trusts (no development mode).
fn shop(sim: &HubSpotSim, token: &str, database: &str) -> ShopDir {
    let dir = ShopDir::new("");
    let (plugins, trust) = install_signed(dir.path(), &["csv-source", "hubspot-sink"]);
    TestShop::new()
        .section(
            "trust",
            [
                ("dev", false.into()),
                ("store", trust.display().to_string().into()),
            ],
        )
        .database(database)
        .source("shop", &plugins.join("csv-source"), [])
        .sink(
            "crm",
            &plugins.join("hubspot-sink"),
            [("api_base", sim.base_url().into())],
        )
        .secrets(&[("hubspot_token", token)])
        .write_in(&dir);
    dir
}

/// A healthy shop on SQLite with a few sales taken in (so the database exists and holds times).
async fn healthy(sim: &HubSpotSim) -> ShopDir {
    let dir = shop(sim, hubspot::TOKEN, "sqlite://rapport.db");
    dir.import("shop", &SampleShop::generate(7, 6, 0).to_csv(), &[])
        .await;
    dir
}

/// Runs `rapport check --json`; returns the output and its lines.
async fn check(dir: &ShopDir) -> (Output, Vec<Value>) {
    let output = dir.rapport(&["check", "--json"]).await;
    let lines: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json prints a JSON array ({e}): {}",
            output_text(&output)
        )
    });
    (output, lines)
}

/// The verdict and detail of line `name`.
fn line(lines: &[Value], name: &str) -> (String, String) {
    let line = lines
        .iter()
        .find(|l| l["check"] == name)
        .unwrap_or_else(|| panic!("no line {name:?} in {lines:#?}"));
    (
        line["verdict"].as_str().unwrap().to_string(),
        line["detail"].as_str().unwrap().to_string(),
    )
}

/// Asserts that the check failed (exit 1) and line `name` says `fail` with every one of `texts`.
fn assert_fails(output: &Output, lines: &[Value], name: &str, texts: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{}", output_text(output));
    let (verdict, detail) = line(lines, name);
    assert_eq!(verdict, "fail", "{name}: {detail}");
    for text in texts {
        assert!(
            detail.contains(text),
            "{name} should say {text:?}: {detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_shop_passes_every_line() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    let (output, lines) = check(&dir).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let names: Vec<&str> = lines.iter().map(|l| l["check"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "config",
            "secrets",
            "database",
            "plugin shop",
            "plugin crm",
            "clock",
            "disk"
        ]
    );
    for l in &lines {
        assert_eq!(l["verdict"], "ok", "{l:#}");
    }
    let (_, database) = line(&lines, "database");
    assert!(
        database.contains("migrations applied") && database.contains("integrity ok"),
        "{database}"
    );
    let (_, crm) = line(&lines, "plugin crm");
    assert!(
        crm.contains("hubspot-sink") && crm.contains("check ok"),
        "{crm}"
    );
    let (_, clock) = line(&lines, "clock");
    assert!(
        clock.contains("shop time zone UTC") && clock.contains("newest recorded"),
        "{clock}"
    );
    let (_, disk) = line(&lines, "disk");
    assert!(disk.contains("free"), "{disk}");

    let table = dir.rapport(&["check"]).await;
    assert!(table.status.success(), "{}", output_text(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("plugin crm"))
        .unwrap_or_else(|| panic!("a row for plugin crm: {text}"));
    assert!(row.contains(" ok "), "{row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_fails_naming_it_and_its_connector() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    secrets_file(dir.path(), &[("unrelated", "x")]);
    let (output, lines) = check(&dir).await;
    assert_fails(
        &output,
        &lines,
        "secrets",
        &["`crm`", "hubspot-sink", "`hubspot_token` is not set"],
    );
    assert_eq!(line(&lines, "plugin crm").0, "skip");
    assert_eq!(line(&lines, "plugin shop").0, "ok");
    assert_eq!(line(&lines, "database").0, "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secrets_file_others_can_read_fails() {
    use std::os::unix::fs::PermissionsExt;
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    let file = dir.path().join("secrets.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (output, lines) = check(&dir).await;
    assert_fails(&output, &lines, "secrets", &["mode 644", "chmod 600"]);
    assert_eq!(line(&lines, "database").0, "ok");
    assert_eq!(line(&lines, "disk").0, "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_database_file_fails() {
    use sqlx::Connection;
    use std::io::{Seek, SeekFrom, Write};
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    // Everything into the database file itself, out of the write-ahead log.
    let mut conn = sqlx::SqliteConnection::connect(&dir.database_url())
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let path = dir.path().join("rapport.db");
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16 * 4096, "a database of some pages: {len} bytes");
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
    file.write_all(&[0xA5; 3 * 4096]).unwrap();
    drop(file);
    let (output, lines) = check(&dir).await;
    assert_fails(&output, &lines, "database", &["rapport.db"]);
    let (_, detail) = line(&lines, "database");
    assert!(
        detail.contains("integrity") || detail.contains("malformed"),
        "{detail}"
    );
    assert_eq!(
        line(&lines, "plugin crm").0,
        "ok",
        "the other lines still run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_this_rapport_does_not_know_fails() {
    use sqlx::Connection;
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    let mut conn = sqlx::SqliteConnection::connect(&dir.database_url())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, X'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let (output, lines) = check(&dir).await;
    assert_fails(
        &output,
        &lines,
        "database",
        &["unknown to this rapport: 9999"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_refusing_the_token_fails_the_plugin_line() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = shop(&sim, "pat-na1-wrong", "sqlite://rapport.db");
    let (output, lines) = check(&dir).await;
    assert_fails(&output, &lines, "plugin crm", &["hubspot-sink", "auth"]);
    assert_eq!(line(&lines, "secrets").0, "ok");
    assert_eq!(line(&lines, "plugin shop").0, "ok");
    assert_eq!(line(&lines, "database").0, "warn", "no database yet");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_behind_the_store_fails_with_both_times() {
    use sqlx::Connection;
    let sim = HubSpotSim::start().await.unwrap();
    let dir = healthy(&sim).await;
    let future = chrono::Utc::now() + chrono::Duration::days(2);
    let mut conn = sqlx::SqliteConnection::connect(&dir.database_url())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET ingested_at = $1 WHERE id = (SELECT MAX(id) FROM events)")
        .bind(future.timestamp_millis())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (output, lines) = check(&dir).await;
    let recorded = future.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let now = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_fails(
        &output,
        &lines,
        "clock",
        &["went backwards", &recorded, &now, "shop time zone UTC"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_that_does_not_parse_fails_and_skips_the_rest() {
    let dir = ShopDir::new("[store\ndatabase_url = 1\n");
    let (output, lines) = check(&dir).await;
    assert_fails(&output, &lines, "config", &["rapport.toml", "line 1"]);
    for name in ["secrets", "database", "plugins", "clock", "disk"] {
        assert_eq!(line(&lines, name).0, "skip", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_shop_on_postgres_passes_with_its_disk_not_applicable() {
    let database = PostgresDatabase::create().await;
    let sim = HubSpotSim::start().await.unwrap();
    let dir = shop(&sim, hubspot::TOKEN, &database.url());
    dir.import("shop", &SampleShop::generate(8, 4, 0).to_csv(), &[])
        .await;
    let (output, lines) = check(&dir).await;
    assert!(output.status.success(), "{}", output_text(&output));
    for l in &lines {
        assert_eq!(l["verdict"], "ok", "{l:#}");
    }
    let (_, db) = line(&lines, "database");
    assert!(
        db.contains("postgresql") && db.contains("migrations applied"),
        "{db}"
    );
    let (_, disk) = line(&lines, "disk");
    assert!(disk.contains("n/a") && disk.contains("server"), "{disk}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_plugin_warns_and_one_asking_for_more_than_approved_fails() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = ShopDir::new("");
    let crm = dir.path().join("plugins/hubspot-sink");
    std::fs::create_dir_all(&crm).unwrap();
    for file in ["plugin.wasm", "rapport.toml"] {
        std::fs::copy(plugin("hubspot-sink").join(file), crm.join(file)).unwrap();
    }
    TestShop::new()
        .sqlite()
        .csv_source("shop")
        .sink("crm", &crm, [("api_base", sim.base_url().into())])
        .secrets(&[("hubspot_token", hubspot::TOKEN)])
        .write_in(&dir);
    // The first start (this import) approves what each plugin asks for.
    dir.import("shop", &SampleShop::generate(7, 6, 0).to_csv(), &[])
        .await;
    let (output, lines) = check(&dir).await;
    assert!(
        output.status.success(),
        "a warning is no failure: {}",
        output_text(&output)
    );
    for name in ["plugin shop", "plugin crm"] {
        let (verdict, detail) = line(&lines, name);
        assert_eq!(verdict, "warn", "{name}: {detail}");
        assert!(
            detail.contains("DEV-UNSIGNED") && detail.contains("check ok"),
            "{detail}"
        );
    }

    // A new version asks for a destination never approved: the go-live check fails it, by name.
    let manifest = crm.join("rapport.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text + "\n[[egress]]\nurl = \"https://collector.example.com\"\n",
    )
    .unwrap();
    let (output, lines) = check(&dir).await;
    assert_fails(
        &output,
        &lines,
        "plugin crm",
        &[
            "https://collector.example.com",
            "rapport plugin approve",
            "crm",
        ],
    );
    assert_eq!(
        line(&lines, "plugin shop").0,
        "warn",
        "the other lines still run"
    );
}
