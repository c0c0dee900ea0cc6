//! Hot reload through the real daemon: plugin packages installed into the watched plugins directory
//! with `rapport plugin install` while sales flow. Twenty swaps lose and repeat nothing; a version
//! that traps on every call is rolled back automatically and loses nothing; one built for a
//! contract the host does not run is refused while the old version keeps running; disable, enable
//! and rollback work through the CLI.

use rapport_e2e::{
    free_port, output_text, plugin, stop_gracefully, with_custom_section, ShopDir, TestShop,
};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SALES_PER_UPLOAD: usize = 500;

/// A daemon whose sink `crm` runs http-sink from a plugins directory of its own, watched for
/// new versions, in front of a catch-hook CRM.
struct Shop {
    crm: CaptureServer,
    dir: ShopDir,
    port: u16,
    daemon: Child,
    http: reqwest::Client,
    /// An admin token, for the admin API and the source's webhook.
    token: String,
}

impl Shop {
    async fn start() -> Shop {
        let crm = CaptureServer::start().await.unwrap();
        let port = free_port();
        let dir = ShopDir::new("");
        let plugins = dir.path().join("plugins");
        let installed = plugins.join("http-sink");
        std::fs::create_dir_all(&installed).unwrap();
        for file in ["plugin.wasm", "rapport.toml"] {
            std::fs::copy(plugin("http-sink").join(file), installed.join(file)).unwrap();
        }
        TestShop::new()
            .sqlite()
            .listen(port)
            .section(
                "delivery",
                [
                    ("backoff_base_ms", 100.into()),
                    ("backoff_max_ms", 1000.into()),
                ],
            )
            .csv_source("shop")
            .sink("crm", &installed, [])
            .channels(&[])
            .setting("url", crm.url().into())
            .setting("batch_size", 200.into())
            .write_in(&dir);
        let token = dir.token("admin", None).await;
        let daemon = dir.spawn_daemon();
        let shop = Shop {
            crm,
            dir,
            port,
            daemon,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        shop.wait_for_sink("the daemon to start", |_| true).await;
        shop
    }

    fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Packs a component under `manifest` with `rapport plugin pack`, as `name.rpk`.
    async fn pack(&self, name: &str, manifest: &str, wasm: &[u8]) -> PathBuf {
        let work = self.dir.path().join(name);
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("rapport.toml"), manifest).unwrap();
        std::fs::write(work.join("plugin.wasm"), wasm).unwrap();
        let package = self.dir.path().join(format!("{name}.rpk"));
        let output = run_rapport(&[
            "plugin",
            "pack",
            "--manifest",
            &work.join("rapport.toml").display().to_string(),
            "--wasm",
            &work.join("plugin.wasm").display().to_string(),
            "--out",
            &package.display().to_string(),
        ])
        .await;
        assert!(output.status.success(), "{}", output_text(&output));
        package
    }

    /// Installs a package into the watched plugins directory, as an operator would.
    async fn install(&self, package: &Path) {
        let output = run_rapport(&[
            "plugin",
            "install",
            "--dev",
            "--plugins",
            &self.plugins_dir().display().to_string(),
            &package.display().to_string(),
        ])
        .await;
        assert!(output.status.success(), "{}", output_text(&output));
    }

    /// The admin API's report on the `crm` sink, if the daemon answers.
    async fn sink(&self) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/api/plugins", self.port);
        let reports: Value = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        reports
            .as_array()?
            .iter()
            .find(|r| r["connector"] == "crm")
            .cloned()
    }

    /// Waits (up to two minutes) until the sink's report satisfies `done`, and returns it.
    async fn wait_for_sink(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < Duration::from_secs(120) {
            if let Some(report) = self.sink().await {
                if done(&report) {
                    return report;
                }
                last = Some(report);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gave up waiting for {what}; last report: {last:#?}");
    }

    /// Uploads a generated export through the source's webhook until the daemon acknowledges it.
    /// A started shop whose first upload the sink has begun to deliver, with that upload.
    async fn delivering() -> (Shop, Vec<SampleShop>) {
        let shop = Shop::start().await;
        let shops = vec![shop.upload(0).await];
        shop.wait_for_sink("the first deliveries", |r| {
            r["health"]["calls"].as_u64() > Some(1)
        })
        .await;
        (shop, shops)
    }

    async fn upload(&self, n: usize) -> SampleShop {
        let shop = SampleShop::generate(7000 + n as u64, SALES_PER_UPLOAD, 0)
            .as_export(n, &format!("R{n:04}-"));
        let url = format!("http://127.0.0.1:{}/webhooks/shop", self.port);
        let body = shop.to_csv();
        loop {
            match self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return shop,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the CRM holds `expected` distinct activities, then stops the daemon and checks
    /// that each arrived exactly once.
    async fn finish(mut self, expected: usize) -> CaptureServer {
        let start = Instant::now();
        while self.crm.distinct_activities() < expected
            && start.elapsed() < Duration::from_secs(300)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give a duplicate, if one were coming, the time to arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            stop_gracefully(&mut self.daemon),
            "rapport did not stop cleanly"
        );
        let captured = self.crm.captured();
        assert_eq!(
            captured.activity_arrivals.len(),
            expected,
            "activities lost (or unexpected ones arrived)"
        );
        let repeated: Vec<_> = captured
            .activity_arrivals
            .iter()
            .filter(|(_, &n)| n > 1)
            .collect();
        assert!(repeated.is_empty(), "activities sent twice: {repeated:?}");
        self.crm
    }
}

async fn run_rapport(args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(rapport_e2e::rapport_bin());
    command.args(args).env_remove("DATABASE_URL");
    tokio::task::spawn_blocking(move || command.output().expect("run rapport"))
        .await
        .unwrap()
}

/// Activities the CRM should receive for these exports.
fn expected(shops: &[SampleShop]) -> usize {
    shops
        .iter()
        .map(|s| {
            s.attributed_sales().count()
                + s.valid_receipts().filter(|r| r.refund_of.is_some()).count()
        })
        .sum()
}

fn http_sink_manifest(version: &str) -> String {
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
    manifest
}

fn http_sink_wasm() -> Vec<u8> {
    std::fs::read(plugin("http-sink").join("plugin.wasm")).unwrap()
}

fn generation(report: &Value) -> u64 {
    report["generation"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_swaps_under_load_lose_nothing_and_repeat_nothing() {
    let shop = Arc::new(Shop::start().await);
    // Two builds of the sink: the same code, the second with a custom section (another digest, so
    // another compiled component) and another version.
    let builds = [
        shop.pack("a", &http_sink_manifest("0.1.1"), &http_sink_wasm())
            .await,
        shop.pack(
            "b",
            &http_sink_manifest("0.1.2"),
            &with_custom_section(&http_sink_wasm(), "rapport-test-build", b"b"),
        )
        .await,
    ];
    let swapping = Arc::new(AtomicBool::new(true));
    // Two vendors' worth of uploads at once, as fast as the daemon acknowledges them.
    let feeders: Vec<_> = (0..2)
        .map(|feeder| {
            let (shop, swapping) = (shop.clone(), swapping.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while swapping.load(Ordering::SeqCst) {
                    sent.push(shop.upload(feeder * 1000 + sent.len()).await);
                }
                sent
            })
        })
        .collect();
    let start = Instant::now();
    for swap in 0..20u64 {
        shop.install(&builds[swap as usize % 2]).await;
        let report = shop
            .wait_for_sink("the new generation", |r| generation(r) == swap + 2)
            .await;
        assert!(report["last_refusal"]["generation"].is_null(), "{report:#}");
    }
    swapping.store(false, Ordering::SeqCst);
    let mut shops = Vec::new();
    for feeder in feeders {
        shops.extend(feeder.await.unwrap());
    }
    let elapsed = start.elapsed();
    let report = shop.sink().await.unwrap();
    assert!(generation(&report) >= 21, "{report:#}");
    assert_eq!(report["version"], "0.1.2");
    assert_eq!(report["kept"].as_array().unwrap().len(), 3, "{report:#}");
    let expected = expected(&shops);
    let summary: Value = shop
        .http
        .get(format!("http://127.0.0.1:{}/api/summary", shop.port))
        .bearer_auth(&shop.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: i64 = ["orders", "refunds", "customer_updates"]
        .iter()
        .map(|kind| summary[kind].as_i64().unwrap())
        .sum();
    eprintln!(
        "20 swaps in {:.1} s while {} sales were uploaded: {events} events stored ({:.0}/s); \
         {expected} activities expected",
        elapsed.as_secs_f64(),
        shops.len() * SALES_PER_UPLOAD,
        events as f64 / elapsed.as_secs_f64()
    );
    let shop = Arc::into_inner(shop).expect("the feeder is done with the shop");
    shop.finish(expected).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_built_for_an_unknown_contract_is_refused_and_the_old_one_keeps_running() {
    let (shop, mut shops) = Shop::delivering().await;
    // Someone copies a build made for rapport:connector@0.9.0 over the installed plugin (install
    // itself would refuse it); its manifest claims a contract this host runs.
    let installed = shop.plugins_dir().join("http-sink");
    std::fs::write(
        installed.join("plugin.wasm"),
        std::fs::read(plugin("future-sink").join("plugin.wasm")).unwrap(),
    )
    .unwrap();
    std::fs::write(installed.join("rapport.toml"), http_sink_manifest("0.9.0")).unwrap();
    let report = shop
        .wait_for_sink("the refusal", |r| !r["last_refusal"].is_null())
        .await;
    let refusal = report["last_refusal"].to_string();
    assert!(
        refusal.contains("built for rapport:connector@0.9.0")
            && refusal.contains(
                "rapport:connector@0.1.0, rapport:connector@0.2.0, rapport:connector@0.3.0, \
                 rapport:connector@0.4.0, rapport:connector@0.5.0"
            ),
        "{report:#}"
    );
    assert_eq!(
        (generation(&report), &report["version"]),
        (1, &Value::from("0.1.0"))
    );
    for n in 1..3 {
        shops.push(shop.upload(n).await);
    }
    shop.finish(expected(&shops)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_that_traps_is_rolled_back_and_loses_nothing() {
    let (shop, mut shops) = Shop::delivering().await;
    // A "new version" of http-sink that passes its check probe and traps on every delivery: the
    // hostile test sink's component under an http-sink manifest whose `behaviour` defaults to trap.
    let broken_manifest = r#"
id = "http-sink"
version = "0.2.0"
kind = "crm-sink"
contract = "rapport:connector@0.1.0"
[config.url]
type = "url"
required = true
[config.batch_size]
type = "integer"
default = "100"
[config.behaviour]
type = "string"
default = "trap"
[[egress]]
url = "{config:url}"
"#;
    let wasm = std::fs::read(plugin("hostile-sink").join("plugin.wasm")).unwrap();
    let broken = shop.pack("broken", broken_manifest, &wasm).await;
    shop.install(&broken).await;
    for n in 1..4 {
        shops.push(shop.upload(n).await);
    }
    let report = shop
        .wait_for_sink("the automatic rollback", |r| !r["last_rollback"].is_null())
        .await;
    let rollback = &report["last_rollback"];
    assert_eq!(
        (&rollback["from"], &rollback["to"], &rollback["automatic"]),
        (&Value::from(2), &Value::from(1), &Value::from(true)),
        "{report:#}"
    );
    let reason = rollback["reason"].as_str().unwrap();
    assert!(
        reason.contains("generation 2 rolled back") && reason.contains("trapped"),
        "{reason}"
    );
    assert_eq!(generation(&report), 1);
    assert_eq!(report["version"], "0.1.0");
    shop.finish(expected(&shops)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_enable_and_rollback_through_the_cli() {
    let shop = Shop::start().await;
    let cli = |args: &'static [&'static str]| shop.dir.rapport(args);
    let list = cli(&["plugin", "list"]).await;
    assert!(list.status.success(), "{}", output_text(&list));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("sink crm: plugin http-sink 0.1.0 generation 1"),
        "{text}"
    );

    let disabled = cli(&["plugin", "disable", "http-sink"]).await;
    assert!(disabled.status.success(), "{}", output_text(&disabled));
    assert!(String::from_utf8_lossy(&disabled.stdout).contains("crm: disabled"));
    let shops = vec![shop.upload(0).await];
    let expected = expected(&shops);
    let summary_url = format!("http://127.0.0.1:{}/api/summary", shop.port);
    let start = Instant::now();
    loop {
        let summary: Value = shop
            .http
            .get(&summary_url)
            .bearer_auth(&shop.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if summary["sinks"][0]["waiting"].as_i64() >= Some(expected as i64) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{summary:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Queued, and the disabled sink takes none of it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(shop.crm.captured().requests, 0);
    let list = cli(&["plugin", "list"]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains("DISABLED"));

    let enabled = cli(&["plugin", "enable", "crm"]).await;
    assert!(enabled.status.success(), "{}", output_text(&enabled));
    assert!(String::from_utf8_lossy(&enabled.stdout).contains("crm: enabled"));

    let next = shop
        .pack("next", &http_sink_manifest("0.3.0"), &http_sink_wasm())
        .await;
    shop.install(&next).await;
    shop.wait_for_sink("generation 2", |r| generation(r) == 2)
        .await;
    let back = cli(&["plugin", "rollback", "crm"]).await;
    assert!(back.status.success(), "{}", output_text(&back));
    assert!(
        String::from_utf8_lossy(&back.stdout).contains("crm: generation 1 is live again (was 2)"),
        "{}",
        output_text(&back)
    );
    let report = shop.sink().await.unwrap();
    assert_eq!(
        (generation(&report), &report["version"]),
        (1, &Value::from("0.1.0"))
    );
    assert_eq!(report["last_rollback"]["automatic"], false);
    let forward = cli(&["plugin", "rollback", "crm", "--to", "2"]).await;
    assert!(forward.status.success(), "{}", output_text(&forward));
    assert_eq!(generation(&shop.sink().await.unwrap()), 2);
    let missing = cli(&["plugin", "rollback", "crm", "--to", "7"]).await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("generation 7 is not kept"),
        "{}",
        output_text(&missing)
    );
    let unknown = cli(&["plugin", "disable", "nosuch"]).await;
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no connector or plugin is named `nosuch`"),
        "{}",
        output_text(&unknown)
    );
    shop.finish(expected).await;
}
