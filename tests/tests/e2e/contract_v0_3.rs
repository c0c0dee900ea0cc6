//! Contract 0.3 (`rapport:connector@0.3.0`) through the real host: a source built for 0.3 (the
//! test guest `source-v0-3`, built with the SDK's 0.3 prelude) is loaded, polled and heard by
//! webhook, and what it reports is stored as the canonical model says: a customer's birthday and
//! loyalty account, an order's vendor version, merged and deleted customers, privacy requests and
//! loyalty changes. Those people events start no activity at the sinks. A source built for 0.1 (the
//! test guest `source-v0-1`) keeps loading and working beside it, and a plugin built for a contract
//! the host does not run is refused by name.

use rapport_core::identity::Normalizer;
use rapport_core::profile::tiers::Tier;
use rapport_e2e::{plugin, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::lookup::find_one;
use rapport_host::pipeline::Pipeline;
use rapport_host::profiles::view::{self, ViewKind, ViewRules};
use rapport_sandbox::contract::Contract;
use rapport_sandbox::packages::PluginPackage;
use rapport_sandbox::runtime::{LoadError, Runtime};
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use std::time::Duration;

struct Shop {
    pipeline: Pipeline,
    pool: AnyPool,
    crm: CaptureServer,
    _dir: tempfile::TempDir,
}

/// A shop with the 0.3 source "facts" and an http-sink "crm".
async fn start() -> Shop {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .source("facts", &plugin("source-v0-3"), [])
        .http_sink("crm", &crm.url(), [])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    Shop {
        pipeline,
        pool,
        crm,
        _dir: dir,
    }
}

impl Shop {
    /// The stored event `id` of the source: its kind, object id and payload.
    async fn event(&self, id: &str) -> (String, String, Value) {
        let row = sqlx::query(
            "SELECT kind, object_id, payload FROM events
             WHERE source_id = 'facts' AND source_event_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("event {id} is stored: {e}"));
        let payload: String = row.get("payload");
        (
            row.get("kind"),
            row.get("object_id"),
            serde_json::from_str(&payload).unwrap(),
        )
    }
}

/// Jane as the host stores her, with `balance` points: the guest gives her birthday with its year
/// (1992), which the shop does not keep by default (`[privacy] keep_birth_year`).
fn jane(balance: i64) -> Value {
    json!({
        "identities": [
            {"kind": "vendor_customer", "value": "C-NEW"},
            {"kind": "email", "value": "jane@example.com"},
        ],
        "given_name": "Jane",
        "family_name": "Doe",
        "consents": [],
        "created_at": "2023-11-14T22:13:20Z",
        "birthday": {"month": 2, "day": 29, "year": null},
        "loyalty": {"id": "LA-1", "balance": balance, "lifetime": 450},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_3_source_reports_birthdays_loyalty_versions_merges_deletions_and_privacy_requests() {
    let shop = start().await;
    let (report, errors) = shop.pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((report.accepted, report.rejected), (7, 1), "{report:?}");

    // The customer, with her birthday (no year) and loyalty account.
    let (kind, _, customer) = shop.event("customer-C-NEW").await;
    assert_eq!(kind, "customer");
    let mut expected = jane(120);
    expected["type"] = json!("customer");
    assert_eq!(customer, expected);

    // The order, with Square's version, stored as its vendor version beside its update time.
    let (kind, object, order) = shop.event("order-O-1-v7").await;
    assert_eq!((kind.as_str(), object.as_str()), ("order", "O-1"));
    assert_eq!(order["version"], 7);
    assert_eq!(order["customer"]["loyalty"]["balance"], 120);
    let row = sqlx::query(
        "SELECT version, vendor_version FROM events
         WHERE source_id = 'facts' AND source_event_id = 'order-O-1-v7'",
    )
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    let (version, vendor): (i64, i64) = (row.get("version"), row.get("vendor_version"));
    assert_eq!((version, vendor), (1_700_000_000_000, 7));

    // The merge: the survivor, and the vendor ids it replaced.
    let (kind, object, merge) = shop.event("merge-C-NEW").await;
    assert_eq!(kind, "customers_merged");
    assert_eq!(object, "vendor_customer:facts:C-NEW");
    assert_eq!(merge["replaced"], json!(["C-OLD-1", "C-OLD-2"]));
    assert_eq!(merge["survivor"], jane(120));

    // The deletion, about the person it names.
    let (kind, object, deleted) = shop.event("deleted-C-GONE").await;
    assert_eq!(kind, "customer_deleted");
    assert_eq!(object, "vendor_customer:facts:C-GONE");
    assert_eq!(
        deleted["identities"],
        json!([
            {"kind": "vendor_customer", "value": "C-GONE"},
            {"kind": "email", "value": "gone@example.com"},
        ])
    );

    // Privacy requests, by the vendor's request id, with their kind.
    let (kind, object, request) = shop.event("privacy-PR-1").await;
    assert_eq!(
        (kind.as_str(), object.as_str()),
        ("privacy_request", "PR-1")
    );
    assert_eq!(request["kind"], "data_request");
    assert_eq!(
        request["identities"],
        json!([{"kind": "email", "value": "jane@example.com"}])
    );
    let (_, _, request) = shop.event("privacy-PR-2").await;
    assert_eq!(request["kind"], "redact");

    // The loyalty change: the account as it is now.
    let (kind, _, loyalty) = shop.event("loyalty-LA-1-80").await;
    assert_eq!(kind, "loyalty_changed");
    assert_eq!(
        loyalty["customer"]["loyalty"],
        json!({"id": "LA-1", "balance": 80, "lifetime": 450})
    );

    // Her loyalty number finds her, and the counter sees her points, her tier by the points she
    // ever earned and, in February, her birthday.
    let normalizer = Normalizer::new(shop.pipeline.config.shop.region, &Default::default());
    let store = &shop.pipeline.store;
    let found = find_one(store, &normalizer, "loyalty: la-1").await.unwrap();
    let tiers = [Tier {
        name: "member".into(),
        min_spend_minor: None,
        min_lifetime_points: Some(400),
    }];
    let february = ViewRules {
        tiers: &tiers,
        zone: chrono_tz::UTC,
        now: chrono::DateTime::parse_from_rfc3339("2027-02-10T12:00:00Z")
            .unwrap()
            .into(),
    };
    let loaded = view::load(store, found.id, ViewKind::Staff, &february)
        .await
        .unwrap();
    let staff = view::staff(&loaded, &february);
    assert_eq!(staff.first_name.as_deref(), Some("Jane"));
    assert_eq!(staff.loyalty_points, Some(80));
    assert_eq!(staff.loyalty_tier.as_deref(), Some("member"));
    assert_eq!(staff.birthday_this_month, Some(29));

    // 30 February does not exist: the event is refused, naming the field.
    let refused = shop.pipeline.store.rejected_inputs("facts").await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].locator, "event \"customer-feb30\"");
    assert_eq!(
        refused[0].reason,
        "customer.birthday.day = 30 is not a day of month 2 (1 to 29)"
    );

    // A webhook of a 0.3 source: the whole shop is to be erased.
    let report = shop
        .pipeline
        .intake
        .receive_push("facts", Vec::new(), b"PR-3".to_vec())
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    let (kind, object, request) = shop.event("privacy-PR-3").await;
    assert_eq!(
        (kind.as_str(), object.as_str()),
        ("privacy_request", "PR-3")
    );
    assert_eq!(request["kind"], "shop_redact");
    assert_eq!(request["identities"], json!([]));

    // Only the sale is an activity at the sink; the people events start none.
    shop.pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    let activities = shop.crm.captured().activities;
    let names: Vec<&str> = activities
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Placed Order"], "{activities:?}");
    let activity_work: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox o JOIN events e ON e.id = o.event_id
         WHERE o.kind = 'activity' AND e.kind <> 'order'",
    )
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    assert_eq!(activity_work, 0);

    // The next poll resumes after the first: nothing new.
    let (report, errors) = shop.pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.accepted, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_built_for_0_1_keeps_working_beside_0_3_sources() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .source("old", &plugin("source-v0-1"), [])
        .source("facts", &plugin("source-v0-3"), [])
        .http_sink("crm", &crm.url(), [])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.accepted, 2 + 7, "{report:?}");
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    // What 0.1 cannot say is absent: no birthday, no loyalty account, no vendor version (the
    // update time orders the order's versions).
    let row = sqlx::query(
        "SELECT payload, version, vendor_version FROM events
         WHERE source_id = 'old' AND source_event_id = 'order-O-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
    assert_eq!(
        payload["customer"],
        json!({
            "identities": [{"kind": "email", "value": "ana@example.com"}],
            "given_name": "Ana", "family_name": null, "consents": [],
            "created_at": "2023-11-14T22:13:20Z",
        })
    );
    assert!(payload.get("version").is_none(), "{payload}");
    let version: i64 = row.get("version");
    let vendor: Option<i64> = row.get("vendor_version");
    assert_eq!((version, vendor), (1_700_000_000_000, None));
    // Its sale reaches the sink like any other.
    pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    let names: Vec<String> = (crm.captured().activities.iter())
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Placed Order", "Placed Order"]);
}

#[test]
fn a_source_must_implement_the_world_of_the_version_its_manifest_names() {
    let runtime = Runtime::new(None).expect("runtime");
    let open = |name: &str| PluginPackage::open(&plugin(name)).expect("built package opens");
    // A 0.3 source and a 0.1 one load side by side.
    for name in ["source-v0-3", "source-v0-1"] {
        runtime
            .check_world(&open(name))
            .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    }
    // A 0.3 component declared as 0.1 (or 0.2), and a 0.1 component declared as 0.3, do not.
    for (name, declared) in [
        ("source-v0-3", Contract::V0_1),
        ("source-v0-3", Contract::V0_2),
        ("source-v0-1", Contract::V0_3),
    ] {
        let mut package = open(name);
        package.manifest.contract = declared;
        match runtime.check_world(&package) {
            Err(LoadError::World { contract, .. }) => assert_eq!(contract, declared),
            other => panic!("{name} declared as {declared}: {other:?}"),
        }
    }
    // A component built for a version no host runs is refused by name, with the ones this runs.
    let refusal = runtime
        .check_world(&open("future-sink"))
        .expect_err("a 0.9 component is refused")
        .to_string();
    assert!(
        refusal.contains(
            "plugin.wasm was built for rapport:connector@0.9.0, and this host runs \
             rapport:connector@0.1.0, rapport:connector@0.2.0, rapport:connector@0.3.0"
        ),
        "{refusal}"
    );
}
