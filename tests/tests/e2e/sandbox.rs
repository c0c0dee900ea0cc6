//! The hostile-plugin suite: each misbehaviour is contained. The offending call gets an error naming
//! the plugin and the cause, the fault shows in the plugin's health, nothing forbidden leaves the
//! machine, and the host and the other plugins carry on.

use rapport_e2e::{
    plugin, scratch_secrets_file, secrets_file, secrets_section, TestShop, LOOPBACK_DEV,
};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::{Config, ConnectorConfig};
use rapport_host::connectors::{Connector, HostServices};
use rapport_sandbox::contract::wit::{Activity, Outcome, Profile};
use rapport_sandbox::packages::PluginKind;
use rapport_sandbox::runtime::health::HealthState;
use rapport_sandbox::runtime::plugin::{Fault, PluginError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An owner-only secrets file holding the token the hostile plugin's manifest names.
fn token_secrets() -> &'static Path {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| scratch_secrets_file(&[("hubspot_token", "test-token")]))
}

/// Host services as a config file with these extra sections would build them.
fn services(extra: &str) -> HostServices {
    let secrets = if extra.contains("[secrets]") {
        String::new()
    } else {
        secrets_section(token_secrets())
    };
    let text = format!(
        "[runtime]\nmemory_limit_mib = 32\ncall_timeout_ms = 500\n{extra}{secrets}[trust]\ndev = true\n"
    );
    let config = Config::parse(&text, Path::new(".")).unwrap();
    HostServices::from_config(&config).unwrap()
}

const LOOPBACK_ONLY: &str = "[network]\nallow_private = [\"127.0.0.1/32\"]\n";

async fn load_sink(host: &HostServices, name: &str, settings: &[(&str, &str)]) -> Connector {
    let config = ConnectorConfig {
        // The secret the hostile sink's manifest names, granted to it (http-sink names none).
        secrets: match name {
            "hostile-sink" => vec!["hubspot_token".into()],
            _ => Vec::new(),
        },
        config: settings
            .iter()
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
            .collect(),
        ..ConnectorConfig::new(format!("{name}-under-test"), plugin(name))
    };
    Connector::load(&config, PluginKind::CrmSink, host)
        .await
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn activity() -> Activity {
    Activity {
        idempotency_key: "a-1".into(),
        profile_key: "p-1".into(),
        identities: vec![],
        name: "Placed Order".into(),
        occurred_at: 1_790_845_200_000,
        value: None,
        properties: vec![],
    }
}

async fn record(sink: &Connector) -> Result<Vec<Outcome>, PluginError> {
    let plugin = sink.plugin();
    tokio::task::spawn_blocking(move || plugin.record_activities(&[activity()]))
        .await
        .unwrap()
        .map(|answer| answer.expect("the sink answers with outcomes"))
}

/// What a `send`-style hostile behaviour reported back through its outcome.
async fn send_report(sink: &Connector) -> String {
    let outcomes = record(sink).await.unwrap();
    match outcomes.as_slice() {
        [Outcome::Rejected(report)] => report.clone(),
        other => panic!("expected one rejected outcome carrying a report, got {other:?}"),
    }
}

async fn healthy_sink_still_delivers(host: &HostServices, crm: &CaptureServer) {
    let sink = load_sink(host, "http-sink", &[("url", &crm.url())]).await;
    let before = crm.captured().activities.len();
    assert_eq!(record(&sink).await.unwrap(), vec![Outcome::Ok]);
    assert_eq!(crm.captured().activities.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_fault_fails_only_its_call_with_a_named_cause() {
    let host = services(LOOPBACK_ONLY);
    let crm = CaptureServer::start().await.unwrap();
    let cases = [
        ("trap", Fault::Trap(String::new()), "trapped"),
        (
            "loop",
            Fault::Deadline(Duration::ZERO),
            "exceeded its time limit of 500 ms",
        ),
        (
            "grow-memory",
            Fault::Memory(0),
            "exceeded its memory limit of 32 MiB",
        ),
        ("recurse", Fault::StackOverflow, "overflowed its stack"),
        (
            "huge-result",
            Fault::Memory(0),
            "exceeded its memory limit of 32 MiB",
        ),
    ];
    for (behaviour, expected, message) in cases {
        let sink = load_sink(&host, "hostile-sink", &[("behaviour", behaviour)]).await;
        let error = record(&sink).await.expect_err(behaviour);
        assert_eq!(
            std::mem::discriminant(&error.fault),
            std::mem::discriminant(&expected),
            "{behaviour}: got {:?}",
            error.fault
        );
        let text = error.to_string();
        assert!(text.contains("plugin hostile-sink"), "{text}");
        assert!(text.contains("record-activities"), "{text}");
        assert!(text.contains(message), "{behaviour}: {text}");
        let health = sink.plugin().health();
        assert_eq!(
            health.faults_by_kind[error.fault.kind()],
            1,
            "{behaviour}: {health:?}"
        );
        assert!(health.last_fault.unwrap().contains(message));
        // The host is still up: the same plugin answers its next call, and other plugins deliver.
        let ok = load_sink(&host, "hostile-sink", &[("behaviour", "ok")]).await;
        assert_eq!(record(&ok).await.unwrap(), vec![Outcome::Ok]);
        healthy_sink_still_delivers(&host, &crm).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_outside_the_egress_allowlist_is_denied_before_connecting() {
    let host = services(LOOPBACK_ONLY);
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[("behaviour", "send"), ("target_url", &crm.url())],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(report.contains("Denied"), "{report}");
    assert!(
        report.contains("not in the plugin's egress allowlist"),
        "{report}"
    );
    assert!(report.contains("allowed: http://127.0.0.1:9"), "{report}");
    assert_eq!(
        crm.captured().requests,
        0,
        "a denied request reached the server"
    );
    let health = sink.plugin().health();
    assert_eq!(health.faults_by_kind["egress-denied"], 1, "{health:?}");
    assert_eq!(sink.plugin().context().stats.counts().denied, 1);
    healthy_sink_still_delivers(&host, &crm).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_name_that_resolves_to_a_private_address_is_refused() {
    let crm = CaptureServer::start().await.unwrap();
    let port = crm
        .url()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();

    // A name in the allowlist whose DNS answer points into the shop's network.
    let host = services(
        "[network]\nallow_private = [\"127.0.0.1/32\"]\nhosts = { \"crm.test\" = \"10.0.0.7\" }\n",
    );
    let url = format!("http://crm.test:{port}/hook");
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "send"),
            ("allowed_url", &url),
            ("target_url", &url),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(
        report.contains(
            "crm.test resolved to 10.0.0.7 (a private range), which the operator does not allow"
        ),
        "{report}"
    );

    // Loopback itself, when the operator allows no private range at all.
    let host = services("");
    let url = format!("http://localhost:{port}/hook");
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "send"),
            ("allowed_url", &url),
            ("target_url", &url),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(
        report.contains("Denied") && report.contains("(loopback)"),
        "{report}"
    );
    let literal = url.replace("localhost", "127.0.0.1");
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "send"),
            ("allowed_url", &literal),
            ("target_url", &literal),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(report.contains("address 127.0.0.1 is loopback"), "{report}");
    assert_eq!(
        crm.captured().requests,
        0,
        "a refused address was connected to"
    );
    assert_eq!(sink.plugin().health().faults_by_kind["egress-denied"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_credentials_reach_the_vendor_but_never_the_plugin() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secrets = secrets_file(dir.path(), &[("hubspot_token", "s3cr3t-token-value")]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!("{LOOPBACK_DEV}{}", secrets_section(&secrets));
    let refused = HostServices::from_config(&Config::parse(&text, Path::new(".")).unwrap())
        .err()
        .expect("a secrets file others can read is refused");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let host = services(&format!("{LOOPBACK_ONLY}{}", secrets_section(&secrets)));

    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "send"),
            ("allowed_url", &crm.url()),
            ("target_url", &crm.url()),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(report.contains("send result: status"), "{report}");
    let seen = crm.captured().seen;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer s3cr3t-token-value")
    );

    // Every host function, asked for the token: none gives it back.
    let prober = load_sink(
        &host,
        "hostile-sink",
        &[("behaviour", "read-secret"), ("allowed_url", &crm.url())],
    )
    .await;
    let report = send_report(&prober).await;
    assert!(
        !report.contains("s3cr3t"),
        "a secret leaked to the plugin: {report}"
    );
    assert!(report.contains("hubspot_token=None"), "{report}");
    assert!(report.contains("hmac=Ok("), "{report}");
    assert!(report.contains("env=[]"), "{report}");
    assert!(report.contains("fs=Err("), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_injection_is_refused_before_sending() {
    let host = services(LOOPBACK_ONLY);
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "header-injection"),
            ("allowed_url", &crm.url()),
            ("target_url", &crm.url()),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    assert!(
        report.contains("Denied") && report.contains("contains CR or LF"),
        "{report}"
    );
    assert_eq!(crm.captured().requests, 0);
    assert_eq!(sink.plugin().health().faults_by_kind["egress-denied"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_sends_is_capped_per_call() {
    let host = services(LOOPBACK_ONLY);
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(
        &host,
        "hostile-sink",
        &[
            ("behaviour", "send-flood"),
            ("flood_count", "300"),
            ("allowed_url", &crm.url()),
            ("target_url", &crm.url()),
        ],
    )
    .await;
    let report = send_report(&sink).await;
    // The manifest caps the plugin at 100 requests per call.
    assert_eq!(report, "flood: ok=100 denied=200 other=0");
    assert_eq!(crm.captured().requests, 100);
    let counts = sink.plugin().context().stats.counts();
    assert_eq!((counts.sent, counts.denied), (100, 200));
    assert_eq!(sink.plugin().health().faults_by_kind["egress-denied"], 1);
    healthy_sink_still_delivers(&host, &crm).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_faults_quarantine_a_plugin_and_a_passing_probe_releases_it() {
    // Lines before any table header extend the helper's `[runtime]` table.
    let host = services("degrade_after = 1\nquarantine_after = 2\nprobe_interval_ms = 300\n");
    let sink = load_sink(&host, "hostile-sink", &[("behaviour", "trap")]).await;
    record(&sink).await.unwrap_err();
    assert_eq!(sink.plugin().health().state, HealthState::Degraded);
    record(&sink).await.unwrap_err();
    assert_eq!(sink.plugin().health().state, HealthState::Quarantined);
    let calls = sink.plugin().health().calls;
    let refused = record(&sink).await.unwrap_err();
    assert!(
        matches!(refused.fault, Fault::Quarantined { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("is quarantined"), "{refused}");
    assert_eq!(
        sink.plugin().health().calls,
        calls,
        "a quarantined plugin must not be called"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    // Rested: probed with `check` (which passes), released, then called (and it traps again).
    let error = record(&sink).await.unwrap_err();
    assert!(matches!(error.fault, Fault::Trap(_)), "{error}");
    let health = sink.plugin().health();
    assert_eq!(health.state, HealthState::Degraded, "{health:?}");
    assert_eq!(health.consecutive_faults, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_reach_only_the_sink_that_was_called() {
    let host = services(LOOPBACK_ONLY);
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(&host, "http-sink", &[("url", &crm.url())]).await;
    let plugin = sink.plugin();
    let profile = Profile {
        key: "p-42".into(),
        identities: vec![],
        given_name: Some("Ana".into()),
        family_name: None,
        consents: vec![],
        traits: vec![],
    };
    let outcomes = tokio::task::spawn_blocking(move || plugin.upsert_profiles(&[profile]))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcomes, vec![Outcome::Ok]);
    assert_eq!(crm.captured().profiles["p-42"]["given_name"], "Ana");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_sink_keeps_its_work_and_does_not_hold_up_the_others() {
    use rapport_fakes::shop::SampleShop;
    use rapport_host::pipeline::Pipeline;

    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        // The hostile sink is granted the token its manifest names, which must then be set.
        .secrets(&[("hubspot_token", "test-token")])
        .section(
            "runtime",
            [
                ("call_timeout_ms", 300.into()),
                ("degrade_after", 1.into()),
                ("quarantine_after", 2.into()),
                ("probe_interval_ms", 600000.into()),
            ],
        )
        .section(
            "delivery",
            [
                ("max_attempts", 3.into()),
                ("backoff_base_ms", 1.into()),
                ("backoff_max_ms", 2.into()),
            ],
        )
        .csv_source("shop")
        .sink(
            "broken",
            &plugin("hostile-sink"),
            [("behaviour", "trap".into())],
        )
        .channels(&[])
        .http_sink("hook", &crm.url(), [])
        .text(dir.path());
    let config = Config::parse(&text, dir.path()).unwrap();
    let pipeline = Pipeline::start(config).await.unwrap();
    let shop = SampleShop::generate(3, 60, 0);
    pipeline
        .intake
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    let owed = pipeline
        .drain(Duration::from_millis(50), Duration::from_secs(60))
        .await
        .unwrap();

    let summary = pipeline.store.summary().await.unwrap();
    let hook = summary.sinks.iter().find(|s| s.sink == "hook").unwrap();
    let broken = summary.sinks.iter().find(|s| s.sink == "broken").unwrap();
    let expected = shop.attributed_sales().count()
        + shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .count();
    assert_eq!(hook.activities_delivered as usize, expected);
    assert_eq!(hook.waiting, 0);
    assert_eq!(crm.captured().activities.len(), expected);
    // Quarantine stopped the attempts before `max_attempts` could dead-letter anything.
    assert_eq!(
        broken.profiles_delivered + broken.activities_delivered + broken.dead,
        0
    );
    assert!(
        broken.waiting > 0 && owed == broken.waiting,
        "the broken sink's work must be kept"
    );
    let broken_plugin = pipeline
        .connectors
        .sinks
        .iter()
        .find(|s| s.id == "broken")
        .unwrap()
        .plugin();
    assert_eq!(broken_plugin.health().state, HealthState::Quarantined);
    let errors = pipeline.store.recent_errors("broken", 50).await.unwrap();
    assert!(
        errors.iter().any(|e| e.contains("quarantined")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn optional_fuel_bounds_a_call_deterministically() {
    // Lines before any table header extend the helper's `[runtime]` table.
    let host = services("fuel_per_call = 5000000\n");
    let sink = load_sink(&host, "hostile-sink", &[("behaviour", "loop")]).await;
    let error = record(&sink).await.unwrap_err();
    assert_eq!(error.fault, Fault::Fuel(5_000_000), "{error}");
    assert!(
        error
            .to_string()
            .contains("used up its fuel of 5000000 units"),
        "{error}"
    );
    let ok = load_sink(&host, "hostile-sink", &[("behaviour", "ok")]).await;
    assert_eq!(record(&ok).await.unwrap(), vec![Outcome::Ok]);
}
