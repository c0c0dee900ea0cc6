//! Hostile plugins are contained: a trap, an endless loop, a memory bomb or runaway recursion fails
//! only the call it happens in, with an error naming the plugin and the cause; `send` outside the
//! manifest's egress rules is denied before anything leaves the machine; the host and the other
//! plugins carry on.

use rapport_e2e::plugin;
use rapport_fakes::capture::CaptureServer;
use rapport_host::capabilities::http::{HttpEgress, HttpLimits};
use rapport_host::config::ConnectorConfig;
use rapport_host::connectors::Connector;
use rapport_host::packages::PluginKind;
use rapport_host::runtime::bindings::wit::{Activity, Outcome, Profile};
use rapport_host::runtime::plugin::{Fault, PluginError};
use rapport_host::runtime::{CallLimits, Runtime};
use std::sync::Arc;
use std::time::Duration;

const LIMITS: CallLimits = CallLimits {
    memory_bytes: 32 << 20,
    deadline: Duration::from_millis(500),
};

async fn load_sink(runtime: &Arc<Runtime>, name: &str, settings: &[(&str, &str)]) -> Connector {
    let config = ConnectorConfig {
        id: format!("{name}-under-test"),
        plugin: plugin(name),
        poll_interval_secs: 60,
        config: settings
            .iter()
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
            .collect(),
    };
    let http = HttpEgress::new(HttpLimits::default()).unwrap();
    Connector::load(&config, PluginKind::CrmSink, runtime, &http, LIMITS)
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
    let plugin = sink.plugin.clone();
    tokio::task::spawn_blocking(move || plugin.record_activities(&[activity()]))
        .await
        .unwrap()
        .map(|answer| answer.expect("hostile sink answers with outcomes"))
}

async fn healthy_sink_still_delivers(runtime: &Arc<Runtime>, crm: &CaptureServer) {
    let sink = load_sink(runtime, "http-sink", &[("url", &crm.url())]).await;
    let before = crm.captured().activities.len();
    assert_eq!(record(&sink).await.unwrap(), vec![Outcome::Ok]);
    assert_eq!(crm.captured().activities.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_fault_fails_only_its_call_with_a_named_cause() {
    let runtime = Arc::new(Runtime::new(None).unwrap());
    let crm = CaptureServer::start().await.unwrap();
    let cases = [
        ("trap", Fault::Trap(String::new()), "trapped"),
        (
            "loop",
            Fault::Deadline(LIMITS.deadline),
            "exceeded its time limit of 500 ms",
        ),
        (
            "grow-memory",
            Fault::Memory(LIMITS.memory_bytes),
            "exceeded its memory limit of 32 MiB",
        ),
        ("recurse", Fault::StackOverflow, "overflowed its stack"),
    ];
    for (behaviour, expected, message) in cases {
        let sink = load_sink(&runtime, "hostile-sink", &[("behaviour", behaviour)]).await;
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
        // The host is still up: the same plugin answers its next call, and other plugins deliver.
        let ok = load_sink(&runtime, "hostile-sink", &[("behaviour", "ok")]).await;
        assert_eq!(record(&ok).await.unwrap(), vec![Outcome::Ok]);
        healthy_sink_still_delivers(&runtime, &crm).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_outside_the_egress_allowlist_is_denied_before_connecting() {
    let runtime = Arc::new(Runtime::new(None).unwrap());
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(
        &runtime,
        "hostile-sink",
        &[("behaviour", "send"), ("target_url", &crm.url())],
    )
    .await;
    let outcomes = record(&sink).await.unwrap();
    let [Outcome::Rejected(report)] = outcomes.as_slice() else {
        panic!("expected one rejected outcome carrying the send result, got {outcomes:?}");
    };
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
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_reach_only_the_sink_that_was_called() {
    let runtime = Arc::new(Runtime::new(None).unwrap());
    let crm = CaptureServer::start().await.unwrap();
    let sink = load_sink(&runtime, "http-sink", &[("url", &crm.url())]).await;
    let plugin = sink.plugin.clone();
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
    let captured = crm.captured();
    assert_eq!(captured.profiles["p-42"]["given_name"], "Ana");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_faulty_sink_keeps_its_work_and_does_not_hold_up_the_others() {
    use rapport_fakes::shop::SampleShop;
    use rapport_host::config::Config;
    use rapport_host::pipeline::Pipeline;

    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[store]
database_url = "sqlite://rapport.db"
[runtime]
call_timeout_ms = 300
[[source]]
id = "shop"
plugin = "{csv}"
[[sink]]
id = "broken"
plugin = "{hostile}"
[sink.config]
behaviour = "trap"
[[sink]]
id = "hook"
plugin = "{sink}"
[sink.config]
url = "{hook}"
"#,
        csv = plugin("csv-source").display(),
        hostile = plugin("hostile-sink").display(),
        sink = plugin("http-sink").display(),
        hook = crm.url(),
    );
    let config = Config::parse(&text, dir.path()).unwrap();
    let pipeline = Pipeline::start(config).await.unwrap();
    let shop = SampleShop::generate(3, 60, 0);
    pipeline
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    let owed = pipeline
        .drain(Duration::ZERO, Duration::from_secs(60))
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
    assert_eq!(broken.profiles_delivered + broken.activities_delivered, 0);
    assert!(
        broken.waiting > 0 && owed == broken.waiting,
        "the broken sink's work must be kept"
    );
    let errors = pipeline.store.recent_errors("broken", 5).await.unwrap();
    assert!(
        errors
            .iter()
            .all(|e| e.contains("plugin hostile-sink") && e.contains("trapped")),
        "{errors:?}"
    );
}
