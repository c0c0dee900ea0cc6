//! Secrets scoped per connector, through the real binary: a secret granted to a connector but not
//! set stops startup naming both; a plugin whose manifest names a secret its connector is not
//! granted is refused at load, though the secret is set for another connector; and a new version
//! of a running sink's plugin that asks for a new secret and a new egress host is held, while the
//! old generation keeps delivering, until `rapport plugin approve` (which shows the difference)
//! lets the daemon take it.

use rapport_e2e::{
    free_port, output_text, plugin, stop_gracefully, wait_until, with_custom_section, ShopDir,
    TestShop,
};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::hubspot;
use rapport_fakes::shop::SampleShop;
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_secret_that_is_not_set_stops_startup_naming_it_and_its_connector() {
    let shop = TestShop::new()
        .sqlite()
        .csv_source("shop")
        .sink(
            "crm",
            &plugin("hubspot-sink"),
            [("api_base", "http://127.0.0.1:9".into())],
        )
        .write();
    let sync = shop.rapport(&["sync", "--dev"]).await;
    let text = output_text(&sync);
    assert!(!sync.status.success(), "{text}");
    assert!(
        text.contains("sink `crm`: secret `hubspot_token` is granted to it but not set"),
        "{text}"
    );
    assert!(text.contains("RAPPORT_SECRET_HUBSPOT_TOKEN"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_naming_a_secret_its_connector_is_not_granted_is_refused_at_load() {
    // The HubSpot token is set, and granted to the HubSpot sink; the hostile sink's manifest names
    // it too (for its own egress host), but its entry grants it nothing.
    let shop = TestShop::new()
        .sqlite()
        .secrets(&[("hubspot_token", hubspot::TOKEN)])
        .csv_source("shop")
        .sink(
            "crm",
            &plugin("hubspot-sink"),
            [("api_base", "http://127.0.0.1:9".into())],
        )
        .sink(
            "other",
            &plugin("hostile-sink"),
            [
                ("behaviour", "ok".into()),
                ("allowed_url", "http://127.0.0.1:9".into()),
            ],
        )
        .set("secrets", toml::Value::Array(Vec::new()))
        .write();
    let sync = shop.rapport(&["sync", "--dev"]).await;
    let text = output_text(&sync);
    assert!(!sync.status.success(), "{text}");
    assert!(
        text.contains(
            "sink `other`: plugin hostile-sink 0.1.0 names secret hubspot_token, which the config \
             does not grant to this connector"
        ),
        "{text}"
    );
    // The refused sink never started: the store has not registered it.
    assert_eq!(registered(&shop, "other").await, 0);
    assert_eq!(registered(&shop, "crm").await, 1);
}

/// How many sinks named `id` the shop's store has registered.
async fn registered(shop: &ShopDir, id: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&shop.database_url())
        .await
        .unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM sinks WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

/// Waits until the daemon has migrated the store and registered sink `crm` (a command started
/// beside it before then would migrate the same file at the same time).
async fn wait_for_daemon(shop: &ShopDir) {
    sqlx::any::install_default_drivers();
    for _ in 0..600 {
        if let Ok(mut conn) = sqlx::AnyConnection::connect(&shop.database_url()).await {
            let found: Result<i64, _> =
                sqlx::query_scalar("SELECT COUNT(*) FROM sinks WHERE id = 'crm'")
                    .fetch_one(&mut conn)
                    .await;
            let _ = conn.close().await;
            if found.is_ok_and(|n| n == 1) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon did not start");
}

/// The plugin digest the store records for sink `crm` (changes when a new generation goes live).
async fn live_digest(shop: &ShopDir) -> String {
    let mut conn = sqlx::AnyConnection::connect(&shop.database_url())
        .await
        .unwrap();
    let digest = sqlx::query_scalar("SELECT plugin_digest FROM sinks WHERE id = 'crm'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    digest
}

/// The `n`th batch of sales, its receipts numbered apart from the other batches'.
fn sample(n: usize) -> SampleShop {
    SampleShop::generate(3100 + n as u64, 6, 0).as_export(n, &format!("R{n:04}-"))
}

/// The activities a CRM receives for `sample`: its sales with a known buyer, and its refunds.
fn activities(sample: &SampleShop) -> usize {
    sample.attributed_sales().count()
        + sample
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count()
}

/// http-sink's manifest as version `version`, with `extra` appended (more secrets or egress).
fn http_sink_manifest(version: &str, extra: &str) -> String {
    let original = std::fs::read_to_string(plugin("http-sink").join("rapport.toml")).unwrap();
    let manifest = original.replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
        1,
    );
    assert_ne!(
        manifest, original,
        "http-sink's manifest has no version 0.1.0 line"
    );
    // Top-level keys must come before the first table: put `extra`'s `secrets` line first.
    let (keys, tables): (Vec<&str>, Vec<&str>) =
        extra.lines().partition(|line| line.starts_with("secrets"));
    let head_end = manifest.find("\n[").expect("a table in the manifest");
    format!(
        "{}\n{}\n{}\n{}\n",
        &manifest[..head_end],
        keys.join("\n"),
        &manifest[head_end..],
        tables.join("\n")
    )
}

/// Copies a new version of the plugin into the watched directory, as an operator might.
fn drop_in(dir: &Path, manifest: &str, wasm: &[u8]) {
    std::fs::write(dir.join("plugin.wasm"), wasm).unwrap();
    std::fs::write(dir.join("rapport.toml"), manifest).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_version_asking_for_a_new_secret_and_host_is_held_until_approved() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = ShopDir::new("");
    let installed = dir.path().join("plugins").join("http-sink");
    std::fs::create_dir_all(&installed).unwrap();
    for file in ["plugin.wasm", "rapport.toml"] {
        std::fs::copy(plugin("http-sink").join(file), installed.join(file)).unwrap();
    }
    // The operator grants `crm` the token (for a version that may need it), which version 0.1.0
    // does not ask for.
    TestShop::new()
        .sqlite()
        .listen(free_port())
        .secrets(&[("hubspot_token", "a-token")])
        .section("runtime", [("reload_debounce_ms", 50.into())])
        .section(
            "delivery",
            [
                ("backoff_base_ms", 50.into()),
                ("backoff_max_ms", 300.into()),
            ],
        )
        .csv_source("shop")
        .sink("crm", &installed, [])
        .channels(&[])
        .setting("url", crm.url().into())
        .set("secrets", toml::Value::Array(vec!["hubspot_token".into()]))
        .write_in(&dir);
    let log = dir.path().join("daemon.log");
    let mut daemon = dir.spawn_daemon_logging_to(&log);
    wait_for_daemon(&dir).await;

    let first = sample(1);
    dir.import("shop", &first.to_csv(), &["--dev"]).await;
    let expected = activities(&first);
    assert!(
        wait_until(Duration::from_secs(60), || crm.distinct_activities()
            >= expected)
        .await,
        "generation 1 delivers"
    );
    let old_digest = live_digest(&dir).await;

    // The next sales reach a CRM that refuses everything for now: they wait for retries.
    crm.faults().fail_randomly(
        1.0,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        7,
    );
    let second = sample(2);
    dir.import("shop", &second.to_csv(), &["--dev"]).await;
    let expected = expected + activities(&second);

    // Version 0.2.0 (another build) asks for the token and for a host never approved.
    let wasm = std::fs::read(plugin("http-sink").join("plugin.wasm")).unwrap();
    let wasm = with_custom_section(&wasm, "rapport-test-build", b"0.2.0");
    let manifest = http_sink_manifest(
        "0.2.0",
        "secrets = [\"hubspot_token\"]\n[[egress]]\nurl = \"https://collector.example.com\"\n\
         auth = { header = \"Authorization\", value = \"Bearer {secret:hubspot_token}\" }",
    );
    drop_in(&installed, &manifest, &wasm);
    let held = |text: &str| text.contains("held, generation 1 keeps running");
    assert!(
        wait_until(Duration::from_secs(30), || {
            held(&std::fs::read_to_string(&log).unwrap_or_default())
        })
        .await,
        "the new version is held: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("secret hubspot_token"), "{logged}");
    assert!(
        logged.contains("egress https://collector.example.com;")
            && logged.contains("secret hubspot_token sent to https://collector.example.com"),
        "{logged}"
    );

    // Held, the old generation keeps serving: once the CRM is back, it delivers what waited.
    crm.faults().fail_randomly(
        0.0,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        7,
    );
    assert!(
        wait_until(Duration::from_secs(60), || crm.distinct_activities()
            >= expected)
        .await,
        "generation 1 keeps delivering while the new version is held"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(live_digest(&dir).await, old_digest, "nothing new went live");

    // The operator looks, then approves.
    let config = dir.config().display().to_string();
    let look = run(&[
        "plugin",
        "approve",
        "--dev",
        "--dry-run",
        "--config",
        &config,
        "crm",
    ])
    .await;
    let text = output_text(&look);
    assert!(look.status.success(), "{text}");
    assert!(
        text.contains("sink crm: plugin http-sink 0.2.0 (DEV-UNSIGNED"),
        "{text}"
    );
    assert!(text.contains("  + secret hubspot_token"), "{text}");
    assert!(
        text.contains("  + egress https://collector.example.com\n")
            && text.contains("  + secret hubspot_token sent to https://collector.example.com\n"),
        "{text}"
    );
    assert!(text.contains("not approved (--dry-run)"), "{text}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        live_digest(&dir).await,
        old_digest,
        "a dry run approves nothing"
    );

    let approve = run(&["plugin", "approve", "--dev", "--config", &config, "crm"]).await;
    let text = output_text(&approve);
    assert!(approve.status.success(), "{text}");
    assert!(text.contains("approved"), "{text}");
    let mut digest = old_digest.clone();
    for _ in 0..150 {
        digest = live_digest(&dir).await;
        if digest != old_digest {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(digest, old_digest, "the approved version went live");
    let again = run(&["plugin", "approve", "--dev", "--config", &config, "crm"]).await;
    assert!(
        output_text(&again).contains("asks for nothing new"),
        "{}",
        output_text(&again)
    );

    // Once approved, commands that load the plugin from disk start again, and the new
    // generation delivers too.
    let third = sample(3);
    dir.import("shop", &third.to_csv(), &["--dev"]).await;
    let expected = expected + activities(&third);
    assert!(
        wait_until(Duration::from_secs(60), || crm.distinct_activities()
            >= expected)
        .await,
        "the approved generation delivers"
    );
    assert!(stop_gracefully(&mut daemon));
}

/// Runs `rapport <args>` to completion off the async runtime.
async fn run(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(rapport_e2e::rapport_bin());
    cmd.args(args).env_remove("DATABASE_URL");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}
