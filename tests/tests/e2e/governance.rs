//! Data governance end to end: a sink receives only the person fields its config names, on
//! profiles and on activities.

use rapport_e2e::TestShop;
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// A shop whose csv-source `shop` names `source_fields` (if any), with two http-sinks: `full`,
/// unrestricted, and `minimal`, sent only `fields`.
fn shop(source_fields: Option<&[&str]>, full: &str, minimal: &str, fields: &[&str]) -> TestShop {
    let shop = TestShop::new().sqlite().csv_source("shop");
    let shop = match source_fields {
        Some(names) => shop.fields(names),
        None => shop,
    };
    shop.http_sink("full", full, [])
        .http_sink("minimal", minimal, [])
        .fields(fields)
}

fn identity_kinds(record: &Value) -> BTreeSet<String> {
    record["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["kind"].as_str().expect("kind").to_string())
        .collect()
}

fn trait_names(profile: &Value) -> BTreeSet<String> {
    profile["traits"]
        .as_object()
        .expect("traits")
        .keys()
        .cloned()
        .collect()
}

fn property_names(activity: &Value) -> BTreeSet<String> {
    activity["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_sink_receives_only_the_fields_its_config_names() {
    let full = CaptureServer::start().await.unwrap();
    let minimal = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = shop(
        None,
        &full.url(),
        &minimal.url(),
        &["email", "orders_count"],
    )
    .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let shop = SampleShop::generate(5, 90, 0);
    pipeline
        .intake
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
    let (full, minimal) = (full.captured(), minimal.captured());
    assert!(!minimal.profiles.is_empty());
    assert_eq!(full.profiles.len(), minimal.profiles.len());
    assert_eq!(full.activities.len(), minimal.activities.len());

    // The unrestricted sink gets everything the host knows, so the sample has something to withhold.
    let everything: BTreeSet<String> = full.profiles.values().flat_map(identity_kinds).collect();
    assert!(everything.contains("phone") && everything.contains("vendor_customer"));
    assert!(full.profiles.values().any(|p| p["given_name"].is_string()));
    assert!(full
        .profiles
        .values()
        .any(|p| trait_names(p).contains("net_spent")));

    let email_only: BTreeSet<String> = ["email".to_string()].into();
    for (key, profile) in &minimal.profiles {
        assert!(
            identity_kinds(profile).is_subset(&email_only),
            "{key}: {profile}"
        );
        assert!(
            profile["given_name"].is_null() && profile["family_name"].is_null(),
            "{key}: {profile}"
        );
        assert_eq!(
            trait_names(profile),
            ["orders_count".to_string()].into(),
            "{key}"
        );
        // Consents always go with the profile: they keep the vendor from marketing to a refusal.
        assert_eq!(profile["consents"], full.profiles[key]["consents"], "{key}");
    }
    assert!(minimal
        .profiles
        .values()
        .any(|p| !p["consents"].as_array().unwrap().is_empty()));
    for activity in &minimal.activities {
        assert!(
            identity_kinds(activity).is_subset(&email_only),
            "{activity}"
        );
        // What was bought, where, and why it was refunded are fields too; the ids stay.
        let properties = property_names(activity);
        for withheld in ["products", "location", "reason"] {
            assert!(!properties.contains(withheld), "{withheld}: {activity}");
        }
        assert!(
            properties.contains("order_id") && properties.contains("source"),
            "{activity}"
        );
    }
    let sent_in_full: BTreeSet<String> = full.activities.iter().flat_map(property_names).collect();
    // (The sample's exports give no refund reasons: the rule for them is minimise's unit test.)
    for sent in ["products", "location"] {
        assert!(
            sent_in_full.contains(sent),
            "{sent} goes to the unrestricted sink"
        );
    }
    pipeline.store.close().await;
}

#[test]
fn an_unknown_field_or_fields_on_a_source_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let error = Config::parse(
        &shop(
            None,
            "http://127.0.0.1:1/",
            "http://127.0.0.1:2/",
            &["email", "shoe_size"],
        )
        .text(dir.path()),
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("shoe_size"), "{error}");
    assert!(
        error.contains("orders_count"),
        "the error lists the known fields: {error}"
    );

    let on_source = shop(
        Some(&["email"]),
        "http://127.0.0.1:1/",
        "http://127.0.0.1:2/",
        &["email"],
    )
    .text(dir.path());
    let error = Config::parse(&on_source, dir.path())
        .unwrap_err()
        .to_string();
    assert!(error.contains("fields applies to sinks only"), "{error}");
}
