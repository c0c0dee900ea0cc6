//! `rapport plugin test`, the connector conformance suite, run as the real binary with a
//! conformance config written here: our connectors pass it against the vendor simulators, and
//! each broken test plugin fails it with the right check named, and only that check.

use rapport_e2e::{output_text, plugin, rapport_bin, scratch_secrets_file};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::exports::ExportServer;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::mailchimp::{self, MailchimpSim};
use rapport_fakes::shop::SampleShop;
use rapport_fakes::shopify::ShopifyServer;
use rapport_fakes::square::{self, SquareServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One check of the suite's JSON output.
struct Check {
    check: String,
    verdict: String,
    detail: String,
}

/// What one run of `rapport plugin test` printed, and whether it exited zero.
struct Run {
    passed: bool,
    checks: Vec<Check>,
    text: String,
}

impl Run {
    /// The checks that failed.
    fn failed(&self) -> BTreeSet<&str> {
        (self.checks.iter())
            .filter(|c| c.verdict == "fail")
            .map(|c| c.check.as_str())
            .collect()
    }

    fn check(&self, name: &str) -> &Check {
        (self.checks.iter())
            .find(|c| c.check == name)
            .unwrap_or_else(|| panic!("no check {name:?} in\n{}", self.text))
    }

    /// The run passed: exit zero, no FAIL, and every check of `expected` ran and said ok.
    fn assert_passes(&self, expected: &[&str]) {
        assert!(
            self.passed && self.failed().is_empty(),
            "expected a pass:\n{}",
            self.text
        );
        for name in expected {
            assert_eq!(self.check(name).verdict, "ok", "{name}:\n{}", self.text);
        }
    }

    /// The run failed with exactly the checks `expected` failing.
    fn assert_fails_only(&self, expected: &[&str]) {
        assert!(!self.passed, "expected a non-zero exit:\n{}", self.text);
        assert_eq!(
            self.failed(),
            expected.iter().copied().collect(),
            "{}",
            self.text
        );
    }
}

/// The checks every source passes.
const SOURCE_CHECKS: [&str; 9] = [
    "describe",
    "check",
    "poll terminates",
    "cursor moves forward",
    "restart from cursor",
    "events valid",
    "no contact details in logs",
    "memory and time",
    "egress",
];

/// The checks every sink passes.
const SINK_CHECKS: [&str; 14] = [
    "describe",
    "check",
    "per-item outcomes",
    "idempotency keys",
    "http 401",
    "http 403",
    "http 429 with retry-after",
    "http 429 without retry-after",
    "http 5xx",
    "malformed answer",
    "forget idempotent",
    "no contact details in logs",
    "memory and time",
    "egress",
];

/// Writes `text` as a conformance config in a fresh directory, the secrets (if any) beside it.
fn conformance_config(text: &str, secrets: &[(&str, &str)]) -> PathBuf {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let mut text = text.to_string();
    if !secrets.is_empty() {
        let file = scratch_secrets_file(secrets);
        text = format!("secrets_file = {:?}\n{text}", file.display().to_string());
    }
    let path = dir.path().join("conformance.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `rapport plugin test` on built plugin `name` with the config at `config`.
async fn suite(name: &str, config: &Path, json: bool) -> Run {
    let dir = plugin(name);
    let mut args = vec![
        "plugin".to_string(),
        "test".into(),
        dir.display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    if json {
        args.push("--json".into());
    }
    let output = tokio::process::Command::new(rapport_bin())
        .args(&args)
        .output()
        .await
        .unwrap();
    let text = output_text(&output);
    let checks = match json {
        false => Vec::new(),
        true => {
            let lines: Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("the JSON output does not parse ({e}):\n{text}"));
            (lines.as_array().unwrap().iter())
                .map(|l| Check {
                    check: l["check"].as_str().unwrap().into(),
                    verdict: l["verdict"].as_str().unwrap().into(),
                    detail: l["detail"].as_str().unwrap().into(),
                })
                .collect()
        }
    };
    Run {
        passed: output.status.success(),
        checks,
        text,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_source_passes() {
    let shop = SampleShop::generate(3, 40, 0);
    let exports = ExportServer::start().await.unwrap();
    let url = exports.publish("sales.csv", shop.to_csv());
    let config = conformance_config(
        &format!(
            "base_url_key = \"export_url\"\n[settings]\nexport_url = {url:?}\nbatch_size = 7\n"
        ),
        &[],
    );
    let run = suite("csv-source", &config, true).await;
    run.assert_passes(&SOURCE_CHECKS);
    // csv-source takes uploads, unsigned: no webhook signature to check.
    assert_eq!(
        run.check("webhook signature").verdict,
        "skip",
        "{}",
        run.text
    );
    let steps = run.check("poll terminates").detail.clone();
    assert!(steps.contains("step(s)"), "{steps}");
}

#[tokio::test(flavor = "multi_thread")]
async fn square_source_passes() {
    const TOKEN: &str = "sq-conformance-token";
    let sim = SquareServer::start(TOKEN).await.unwrap();
    sim.load_shop(&SampleShop::generate(11, 60, 0));
    let config = conformance_config(
        &format!(
            "base_url_key = \"api_base\"\n[settings]\napi_base = {:?}\nlocation_ids = \"{},{}\"\n\
             notification_url = \"https://shop.example.com/webhooks/square\"\npage_limit = 10\n\
             [webhook]\nsignature_header = {:?}\n",
            sim.base_url(),
            square::location_id("High Street"),
            square::location_id("Market Hall"),
            square::SIGNATURE_HEADER
        ),
        &[
            ("square_token", TOKEN),
            ("square_signature_key", "conformance-key"),
        ],
    );
    let run = suite("square-source", &config, true).await;
    run.assert_passes(&SOURCE_CHECKS[..4]);
    run.assert_passes(&SOURCE_CHECKS[5..]);
    // Square's refunds are read from an inclusive watermark: a restart from the stored cursor
    // reads the boundary refund again (the host drops it by event id), and loses nothing.
    let restart = run.check("restart from cursor");
    assert!(
        ["ok", "warn"].contains(&restart.verdict.as_str()),
        "{}",
        run.text
    );
    assert!(!restart.detail.contains("lost (refund"), "{}", run.text);
    assert_eq!(run.check("webhook signature").verdict, "ok", "{}", run.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_source_passes() {
    const TOKEN: &str = "shpat_conformance";
    let sim = ShopifyServer::start(TOKEN).await.unwrap();
    sim.load_shop(&SampleShop::generate(7, 50, 0), "USD");
    let config = conformance_config(
        &format!(
            "base_url_key = \"api_base\"\n[settings]\napi_base = {:?}\npage_limit = 10\n\
             [webhook]\nsignature_header = \"X-Shopify-Hmac-Sha256\"\n",
            sim.base_url()
        ),
        &[
            ("shopify_token", TOKEN),
            ("shopify_webhook_secret", "conformance-secret"),
        ],
    );
    let run = suite("shopify-source", &config, true).await;
    run.assert_passes(&SOURCE_CHECKS);
    assert_eq!(run.check("webhook signature").verdict, "ok", "{}", run.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn hubspot_sink_passes() {
    let sim = HubSpotSim::start().await.unwrap();
    let config = conformance_config(
        &format!(
            "base_url_key = \"api_base\"\n[settings]\napi_base = {:?}\nsubscription_id = {}\n",
            sim.base_url(),
            hubspot::SUBSCRIPTION_ID
        ),
        &[("hubspot_token", hubspot::TOKEN)],
    );
    suite("hubspot-sink", &config, true)
        .await
        .assert_passes(&SINK_CHECKS);
    // The suite went through to the simulator: its test people are there, then forgotten.
    assert!(!sim.gdpr_deleted().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn klaviyo_sink_passes() {
    let sim = KlaviyoSim::start().await.unwrap();
    let config = conformance_config(
        &format!(
            "base_url_key = \"api_base\"\n[settings]\napi_base = {:?}\n",
            sim.base_url()
        ),
        &[("klaviyo_key", klaviyo::API_KEY)],
    );
    suite("klaviyo-sink", &config, true)
        .await
        .assert_passes(&SINK_CHECKS);
}

#[tokio::test(flavor = "multi_thread")]
async fn mailchimp_sink_passes() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list("a1b2c3d4e5");
    let config = conformance_config(
        &format!(
            "base_url_key = \"api_base\"\n[settings]\napi_base = {:?}\nlist_id = \"a1b2c3d4e5\"\n",
            sim.api_base()
        ),
        &[("mailchimp_key", mailchimp::API_KEY)],
    );
    suite("mailchimp-sink", &config, true)
        .await
        .assert_passes(&SINK_CHECKS);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_sink_passes() {
    let crm = CaptureServer::start().await.unwrap();
    let config = conformance_config(
        &format!(
            "base_url_key = \"url\"\n[settings]\nurl = {:?}\n",
            crm.url()
        ),
        &[],
    );
    suite("http-sink", &config, true)
        .await
        .assert_passes(&SINK_CHECKS);
    // Both sends of the same activities reached the catch-hook with the same keys.
    let captured = crm.captured();
    assert!(
        captured.activity_arrivals.values().all(|n| *n == 2),
        "{captured:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_whose_cursor_loops_fails_its_poll() {
    let config = conformance_config(
        "[poll]\nmax_steps = 40\n[webhook]\nsignature_header = \"x-signature\"\n",
        &[],
    );
    let run = suite("looping-source", &config, true).await;
    run.assert_fails_only(&["poll terminates", "cursor moves forward"]);
    let endless = &run.check("poll terminates").detail;
    assert!(endless.contains("after 40 steps"), "{endless}");
    let walk = &run.check("cursor moves forward").detail;
    assert!(walk.contains("step 3") && walk.contains("page-1"), "{walk}");
    assert_eq!(run.check("restart from cursor").verdict, "skip");
}

/// A catch-hook and a conformance config for broken-sink with `flaw`.
async fn broken_sink(flaw: &str) -> (CaptureServer, PathBuf) {
    let crm = CaptureServer::start().await.unwrap();
    let config = conformance_config(
        &format!(
            "base_url_key = \"url\"\n[settings]\nurl = {:?}\nflaw = {flaw:?}\n",
            crm.url()
        ),
        &[],
    );
    (crm, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_logs_emails_fails_the_log_check() {
    let (_crm, config) = broken_sink("logs-emails").await;
    let run = suite("broken-sink", &config, true).await;
    run.assert_fails_only(&["no contact details in logs"]);
    let detail = &run.check("no contact details in logs").detail;
    assert!(detail.contains("an email address"), "{detail}");
    // The suite names the line, never the address itself.
    assert!(!detail.contains("@example.com"), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_rejects_rate_limits_fails_both_429_checks() {
    let (_crm, config) = broken_sink("rejects-rate-limits").await;
    let run = suite("broken-sink", &config, true).await;
    run.assert_fails_only(&["http 429 with retry-after", "http 429 without retry-after"]);
    // The table for people names the same checks as FAIL.
    let table = suite("broken-sink", &config, false).await;
    assert!(!table.passed);
    let failing: Vec<&str> = (table.text.lines())
        .filter(|l| l.contains(" FAIL "))
        .collect();
    assert_eq!(failing.len(), 2, "{}", table.text);
    assert!(
        failing[0].starts_with("http 429 with retry-after"),
        "{}",
        table.text
    );
    assert!(
        failing[1].starts_with("http 429 without retry-after"),
        "{}",
        table.text
    );
}
