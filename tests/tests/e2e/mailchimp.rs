//! The mailchimp-sink plugin, run by the real host against the Mailchimp simulator on loopback:
//! member hashes, consent-safe statuses, merge fields, tags, orders and events in the shapes of
//! VENDOR-NOTES.md, and the vendor's error statuses mapped to outcomes.

use base64::Engine;
use rapport_e2e::sink_calls::{consent_changes, forget, record, upsert};
use rapport_e2e::{loopback_services, plugin, scratch_secrets_file};
use rapport_fakes::faults::Fault;
use rapport_fakes::mailchimp::{self, MailchimpSim};
use rapport_host::config::ConnectorConfig;
use rapport_host::connectors::Connector;
use rapport_sandbox::contract::consent_feed::ConsentChange;
use rapport_sandbox::contract::wit::{
    Activity, Channel, ConnectorError, Consent, ConsentState, Identity, IdentityKind, Money,
    Outcome, Profile, ProfileTrait, Property, Purpose, TraitValue,
};
use rapport_sandbox::packages::PluginKind;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LIST: &str = "a1b2c3d4e5";
const STORE: &str = "pos-store";
/// 2026-10-01T09:30:00Z
const CONSENTED: i64 = 1_790_847_000_000;
/// 2026-10-03T12:00:00Z
const ORDERED: i64 = 1_791_028_800_000;
const JANE_HASH: &str = "0cba00ca3da1b283a57287bcceb17e35";

async fn sink_with(key: &str, settings: &[(&str, &str)]) -> Connector {
    sink_from(&plugin("mailchimp-sink"), key, settings).await
}

/// The plugin installed at `dir`, configured with `settings` and API key `key`.
async fn sink_from(dir: &Path, key: &str, settings: &[(&str, &str)]) -> Connector {
    let host = loopback_services(&scratch_secrets_file(&[("mailchimp_key", key)]));
    let mut config = toml::Table::new();
    for (k, v) in settings {
        config.insert(k.to_string(), v.to_string().into());
    }
    let mut table = toml::Table::new();
    table.insert("id".into(), "mailchimp".into());
    table.insert("plugin".into(), dir.display().to_string().into());
    table.insert("secrets".into(), vec!["mailchimp_key"].into());
    table.insert("config".into(), config.into());
    let config: ConnectorConfig = table.try_into().expect("a connector config");
    Connector::load(&config, PluginKind::CrmSink, &host)
        .await
        .unwrap_or_else(|e| panic!("loading mailchimp-sink: {e}"))
}

async fn sink(sim: &MailchimpSim, store: Option<&str>) -> Connector {
    let base = sim.api_base();
    let mut settings = vec![("api_base", base.as_str()), ("list_id", LIST)];
    settings.extend(store.map(|s| ("store_id", s)));
    sink_with(mailchimp::API_KEY, &settings).await
}

fn identity(kind: IdentityKind, value: &str) -> Identity {
    Identity {
        kind,
        value: value.into(),
    }
}

fn email_marketing(state: ConsentState, at: i64) -> Consent {
    Consent {
        channel: Channel::Email,
        purpose: Purpose::Marketing,
        state,
        at,
        source: "pos-checkbox".into(),
    }
}

fn person(key: &str, email: &str, consents: Vec<Consent>) -> Profile {
    Profile {
        key: key.into(),
        identities: vec![identity(IdentityKind::Email, email)],
        given_name: None,
        family_name: None,
        consents,
        traits: vec![],
    }
}

fn jane() -> Profile {
    Profile {
        identities: vec![
            identity(IdentityKind::Email, "Jane.Doe@Example.com"),
            identity(IdentityKind::Phone, "+14155550100"),
        ],
        given_name: Some("Jane".into()),
        family_name: Some("Doe".into()),
        traits: vec![
            ProfileTrait {
                name: "orders_count".into(),
                value: TraitValue::Integer(2),
            },
            ProfileTrait {
                name: "refunds_count".into(),
                value: TraitValue::Integer(0),
            },
        ],
        ..person(
            "p-jane",
            "",
            vec![
                email_marketing(ConsentState::Revoked, CONSENTED - 86_400_000),
                email_marketing(ConsentState::Granted, CONSENTED),
            ],
        )
    }
}

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".into(),
    }
}

fn text(name: &str, value: &str) -> Property {
    Property {
        name: name.into(),
        value: TraitValue::Text(value.into()),
    }
}

fn placed_order(key: &str, order_id: &str) -> Activity {
    Activity {
        idempotency_key: key.into(),
        profile_key: "p-jane".into(),
        identities: vec![identity(IdentityKind::Email, "jane.doe@example.com")],
        name: "Placed Order".into(),
        occurred_at: ORDERED,
        value: Some(usd(4250)),
        properties: vec![
            text("order_id", order_id),
            text("source", "square"),
            text("channel", "in-store"),
            Property {
                name: "line_count".into(),
                value: TraitValue::Integer(2),
            },
            text("products", "Latte, Croissant"),
        ],
    }
}

fn refund(key: &str) -> Activity {
    Activity {
        name: "Refunded Order".into(),
        value: Some(usd(350)),
        properties: vec![
            text("refund_id", "RF-9"),
            text("order_id", "R-1001"),
            text("reason", "cold coffee"),
        ],
        ..placed_order(key, "R-1001")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn members_are_keyed_by_the_md5_of_the_lowercase_email() {
    assert_eq!(
        mailchimp::subscriber_hash("jane.doe@example.com"),
        JANE_HASH
    );
    assert_eq!(
        mailchimp::subscriber_hash("Jane.Doe@Example.COM"),
        JANE_HASH
    );

    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, None).await;
    assert_eq!(
        upsert(&sink, vec![jane()]).await.unwrap(),
        vec![Outcome::Ok]
    );
    let seen = sim.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].path,
        format!("/3.0/lists/{LIST}/members/{JANE_HASH}")
    );
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("rapport:{}", mailchimp::API_KEY));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Basic {basic}").as_str()),
        "the host injects Basic auth with the key as password"
    );
    assert_eq!(
        seen[0].body,
        Some(json!({
            "email_address": "Jane.Doe@Example.com",
            "status_if_new": "subscribed",
            "merge_fields": {"FNAME": "Jane", "LNAME": "Doe", "PHONE": "+14155550100"},
        })),
        "a grant never sends `status`, which would overwrite an unsubscribe made at Mailchimp"
    );
    assert_eq!(
        seen[1].path,
        format!("/3.0/lists/{LIST}/members/{JANE_HASH}/tags")
    );
    assert_eq!(
        seen[1].body,
        Some(json!({"tags": [
            {"name": "customer", "status": "active"},
            {"name": "refunded", "status": "inactive"},
        ]}))
    );
    assert_eq!(seen[1].status, 204);

    // The simulator refuses a hash that is not md5(lowercase email).
    let client = reqwest::Client::new();
    let refused = client
        .put(format!(
            "{}/lists/{LIST}/members/{}",
            sim.api_base(),
            "0".repeat(32)
        ))
        .basic_auth("x", Some(mailchimp::API_KEY))
        .json(&json!({"email_address": "jane.doe@example.com", "status_if_new": "subscribed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["title"], "Invalid Resource");
    assert_eq!(problem["errors"][0]["field"], "email_address");
    for field in ["type", "title", "status", "detail", "instance"] {
        assert!(
            problem.get(field).is_some(),
            "problem+json has {field}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_decides_the_status_and_an_unsubscribe_is_never_undone() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, None).await;
    let tom = person("p-tom", "tom@example.com", vec![]);
    let ria = person(
        "p-ria",
        "ria@example.com",
        vec![email_marketing(ConsentState::Revoked, CONSENTED)],
    );
    let outcomes = upsert(&sink, vec![jane(), tom.clone(), ria.clone()])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![Outcome::Ok; 3]);

    let held = sim.member(LIST, "jane.doe@example.com").unwrap();
    assert_eq!(held.status, "subscribed", "granted: subscribed on creation");
    assert_eq!(
        Value::Object(held.merge_fields.clone()),
        json!({"FNAME": "Jane", "LNAME": "Doe", "PHONE": "+14155550100"})
    );
    assert_eq!(held.tags, ["customer".to_string()].into());
    assert_eq!(
        sim.member(LIST, "tom@example.com").unwrap().status,
        "transactional",
        "no choice: never subscribed"
    );
    assert_eq!(
        sim.member(LIST, "ria@example.com").unwrap().status,
        "unsubscribed"
    );
    assert_eq!(sim.member_count(LIST), 3);

    // Jane unsubscribes at Mailchimp; the host still holds her older grant: she stays unsubscribed.
    sim.set_status(LIST, "jane.doe@example.com", "unsubscribed");
    assert_eq!(
        upsert(&sink, vec![jane()]).await.unwrap(),
        vec![Outcome::Ok]
    );
    assert_eq!(
        sim.member(LIST, "jane.doe@example.com").unwrap().status,
        "unsubscribed"
    );

    // Ria, subscribed by some other route, revokes at the till: her latest choice overwrites.
    sim.set_status(LIST, "ria@example.com", "subscribed");
    assert_eq!(upsert(&sink, vec![ria]).await.unwrap(), vec![Outcome::Ok]);
    assert_eq!(
        sim.member(LIST, "ria@example.com").unwrap().status,
        "unsubscribed"
    );
    let last_put = sim
        .seen()
        .into_iter()
        .rev()
        .find(|s| s.method == "PUT")
        .unwrap();
    assert_eq!(last_put.body.unwrap()["status"], "unsubscribed");

    // Tom's later upsert without a choice leaves his status alone.
    sim.set_status(LIST, "tom@example.com", "pending");
    assert_eq!(upsert(&sink, vec![tom]).await.unwrap(), vec![Outcome::Ok]);
    assert_eq!(
        sim.member(LIST, "tom@example.com").unwrap().status,
        "pending"
    );

    // Mailchimp itself refuses to re-subscribe an unsubscribed member through the API.
    let refused = reqwest::Client::new()
        .put(format!(
            "{}/lists/{LIST}/members/{JANE_HASH}",
            sim.api_base()
        ))
        .basic_auth("x", Some(mailchimp::API_KEY))
        .json(&json!({"email_address": "jane.doe@example.com", "status": "subscribed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["title"], "Member In Compliance State");
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_go_to_the_store_and_other_activities_become_member_events() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    sim.add_store(STORE);
    let with_store = sink(&sim, Some(STORE)).await;
    assert_eq!(
        upsert(&with_store, vec![jane()]).await.unwrap(),
        vec![Outcome::Ok]
    );

    let order = placed_order("6f1c0d1e-0000-4000-8000-000000000001", "R-1001");
    for _ in 0..2 {
        // The second delivery is a retry: the order exists already, which counts as delivered.
        assert_eq!(
            record(&with_store, vec![order.clone()]).await.unwrap(),
            vec![Outcome::Ok]
        );
    }
    let orders = sim.orders(STORE);
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders["R-1001"],
        json!({
            "id": "R-1001",
            "customer": {"id": "p-jane", "email_address": "jane.doe@example.com", "opt_in_status": false},
            "currency_code": "USD",
            "order_total": 42.5,
            "processed_at_foreign": "2026-10-03T12:00:00Z",
            "financial_status": "paid",
            "lines": [{
                "id": "1",
                "product_id": "pos-sale",
                "product_variant_id": "pos-sale",
                "product_title": "Latte, Croissant",
                "quantity": 1,
                "price": 42.5,
            }],
        })
    );

    assert_eq!(
        record(
            &with_store,
            vec![refund("6f1c0d1e-0000-4000-8000-000000000002")]
        )
        .await
        .unwrap(),
        vec![Outcome::Ok]
    );
    let without_store = sink(&sim, None).await;
    let in_timeline = placed_order("6f1c0d1e-0000-4000-8000-000000000003", "R-1002");
    assert_eq!(
        record(&without_store, vec![in_timeline]).await.unwrap(),
        vec![Outcome::Ok]
    );
    let events = sim.member(LIST, "jane.doe@example.com").unwrap().events;
    assert_eq!(
        events,
        vec![
            json!({
                "name": "refunded_order",
                "occurred_at": "2026-10-03T12:00:00Z",
                "properties": {
                    "idempotency_key": "6f1c0d1e-0000-4000-8000-000000000002",
                    "value": "3.50",
                    "currency": "USD",
                    "refund_id": "RF-9",
                    "order_id": "R-1001",
                    "reason": "cold coffee",
                },
            }),
            json!({
                "name": "placed_order",
                "occurred_at": "2026-10-03T12:00:00Z",
                "properties": {
                    "idempotency_key": "6f1c0d1e-0000-4000-8000-000000000003",
                    "value": "42.50",
                    "currency": "USD",
                    "order_id": "R-1002",
                    "source": "square",
                    "channel": "in-store",
                    "line_count": "2",
                    "products": "Latte, Croissant",
                },
            }),
        ]
    );

    // Forget: the member is deleted permanently; someone Mailchimp never held is no error.
    forget(
        &with_store,
        vec![
            identity(IdentityKind::Email, "Jane.Doe@example.com"),
            identity(IdentityKind::Email, "nobody@example.com"),
            identity(IdentityKind::Phone, "+14155550100"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(sim.deleted(), vec![JANE_HASH.to_string()]);
    assert!(sim.member(LIST, "jane.doe@example.com").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_errors_become_the_right_outcomes() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, None).await;
    let people = || {
        vec![
            person("p-a", "a@example.com", vec![]),
            person("p-b", "b@example.com", vec![]),
        ]
    };

    // 429 without Retry-After (Mailchimp's connection limit): the default wait, batch held back.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(
        upsert(&sink, people()).await.unwrap(),
        vec![Outcome::RetryAfter(1000); 2]
    );
    assert_eq!(sim.seen().len(), 1);
    assert_eq!(sim.member_count(LIST), 0);

    // 5xx: transient for that item only.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    let outcomes = upsert(&sink, people()).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Transient(why) if why.contains("500")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Ok);

    // 4xx: rejected with Mailchimp's title and detail.
    let fake = person("p-fake", "not-an-email", vec![]);
    let outcomes = upsert(&sink, vec![fake]).await.unwrap();
    assert_eq!(
        outcomes,
        vec![Outcome::Rejected(
            "Mailchimp HTTP 400: Invalid Resource: not-an-email looks fake or invalid, please enter a real email address.".into()
        )]
    );
    let nobody = Activity {
        identities: vec![identity(IdentityKind::Email, "ghost@example.com")],
        ..refund("k-ghost")
    };
    assert_eq!(
        record(&sink, vec![nobody]).await.unwrap(),
        vec![Outcome::Rejected(
            "Mailchimp HTTP 404: Resource Not Found: The requested resource could not be found."
                .into()
        )]
    );
    let no_email = Profile {
        identities: vec![identity(IdentityKind::Phone, "+14155550100")],
        ..person("p-phone", "", vec![])
    };
    let outcomes = upsert(&sink, vec![no_email]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(why) if why.contains("email")),
        "{outcomes:?}"
    );

    // An unknown audience is refused for the item.
    let other = sink_with(
        mailchimp::API_KEY,
        &[("api_base", &sim.api_base()), ("list_id", "nope")],
    )
    .await;
    let outcomes = upsert(&other, people()).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(why) if why.contains("Resource Not Found")),
        "{outcomes:?}"
    );

    // A wrong key fails the whole call as an auth error.
    let wrong = sink_with(
        "bad-key-us21",
        &[("api_base", &sim.api_base()), ("list_id", LIST)],
    )
    .await;
    let error = upsert(&wrong, people()).await.unwrap_err();
    let ConnectorError::Auth(why) = error else {
        panic!("expected an auth error, got {error:?}")
    };
    assert!(
        why.contains("API Key Invalid") && why.contains("mailchimp_key"),
        "{why}"
    );
    let check = {
        let plugin = wrong.plugin();
        tokio::task::spawn_blocking(move || plugin.check())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(matches!(check, Err(ConnectorError::Auth(_))), "{check:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_data_centre_or_base_url_the_sink_says_what_to_set() {
    let sink = sink_with(mailchimp::API_KEY, &[("list_id", LIST)]).await;
    let error = upsert(&sink, vec![jane()]).await.unwrap_err();
    let ConnectorError::Config(why) = error else {
        panic!("expected a config error, got {error:?}")
    };
    assert!(why.contains("data_center") && why.contains("us21"), "{why}");
    let bad = sink_with(
        mailchimp::API_KEY,
        &[("list_id", LIST), ("data_center", "us21.evil.com/")],
    )
    .await;
    assert!(matches!(
        upsert(&bad, vec![jane()]).await,
        Err(ConnectorError::Config(_))
    ));
}

/// Reads the consent feed from `cursor` until it says nothing more is waiting; returns every change
/// read, the pages it took and the cursor to resume from.
async fn read_feed(
    sink: &Connector,
    mut cursor: Option<String>,
) -> (Vec<ConsentChange>, usize, Option<String>) {
    let (mut changes, mut pages) = (Vec::new(), 0);
    loop {
        let page = consent_changes(sink, cursor.clone()).await.unwrap();
        pages += 1;
        changes.extend(page.changes);
        cursor = page.cursor.or(cursor);
        if !page.more {
            return (changes, pages, cursor);
        }
        assert!(pages < 20, "the feed keeps saying more");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consent_feed_reports_every_unsubscribe_across_pages_and_only_unsubscribes() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, None).await;
    // 1,250 people unsubscribed within one second (an import at Mailchimp), 300 more over the
    // following minutes; 400 are subscribed and 20 bounced.
    let bulk = 1_790_000_000;
    let mut unsubscribed = BTreeMap::new();
    for n in 0..1250 {
        let email = format!("bulk{n}@example.com");
        sim.add_member(LIST, &email, "unsubscribed", bulk);
        unsubscribed.insert(email, bulk);
    }
    for n in 0..300 {
        let email = format!("later{n}@example.com");
        sim.add_member(LIST, &email, "unsubscribed", bulk + 60 + n);
        unsubscribed.insert(email, bulk + 60 + n);
    }
    for n in 0..400 {
        sim.add_member(
            LIST,
            &format!("keen{n}@example.com"),
            "subscribed",
            bulk + n,
        );
    }
    for n in 0..20 {
        sim.add_member(LIST, &format!("gone{n}@example.com"), "cleaned", bulk + n);
    }

    let (changes, pages, cursor) = read_feed(&sink, None).await;
    assert!(
        pages >= 3,
        "a full page of one second is paged by offset ({pages} pages)"
    );
    let mut read = BTreeMap::new();
    for change in &changes {
        let [identity] = change.identities.as_slice() else {
            panic!("one email per change: {:?}", change.identities)
        };
        assert_eq!(identity.kind, IdentityKind::Email);
        let email = identity.value.clone();
        assert_eq!(change.consent.channel, Channel::Email);
        assert_eq!(change.consent.purpose, Purpose::Marketing);
        assert_eq!(change.consent.state, ConsentState::Revoked);
        assert_eq!(change.consent.source, "crm-unsubscribe");
        assert_eq!(change.consent.at, unsubscribed[&email] * 1000, "{email}");
        assert!(
            !change.id.contains(&email) && !change.id.contains(&mailchimp::subscriber_hash(&email)),
            "the change id is evidence and names nobody: {}",
            change.id
        );
        // Re-reading a second is allowed (the host drops repeats by id); ids stay stable.
        if let Some(previous) = read.insert(change.id.clone(), email.clone()) {
            assert_eq!(previous, email);
        }
    }
    let emails: BTreeSet<&String> = read.values().collect();
    assert_eq!(
        emails,
        unsubscribed.keys().collect(),
        "every unsubscribe, and only those"
    );

    // Caught up: the next read brings nothing new, until someone else unsubscribes.
    let (again, _, cursor) = read_feed(&sink, cursor).await;
    assert!(
        again.iter().all(|c| read.contains_key(&c.id)),
        "nothing new"
    );
    sim.set_status_at(LIST, "keen7@example.com", "unsubscribed", bulk + 3600);
    let (news, _, _) = read_feed(&sink, cursor).await;
    let fresh: Vec<&ConsentChange> = news.iter().filter(|c| !read.contains_key(&c.id)).collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0].identities[0].value, "keen7@example.com");
    assert_eq!(fresh[0].consent.at, (bulk + 3600) * 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_1_manifest_runs_the_same_plugin_without_its_consent_feed() {
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let feeding = sink(&sim, None).await;
    assert!(feeding.plugin().has_consent_feed() && feeding.plugin().has_erasure());
    // The same component declared for 0.1 is run through 0.1's bindings: a sink like any other.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mailchimp-sink");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(
        plugin("mailchimp-sink").join("plugin.wasm"),
        copy.join("plugin.wasm"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(plugin("mailchimp-sink").join("rapport.toml")).unwrap();
    std::fs::write(
        copy.join("rapport.toml"),
        manifest.replace("rapport:connector@0.5.0", "rapport:connector@0.1.0"),
    )
    .unwrap();
    let base = sim.api_base();
    let settings = [("api_base", base.as_str()), ("list_id", LIST)];
    let plain = sink_from(&copy, mailchimp::API_KEY, &settings).await;
    assert!(!plain.plugin().has_consent_feed() && !plain.plugin().has_erasure());
    let refused = plain.plugin().consent_changes(None).unwrap_err();
    assert!(refused.to_string().contains("consent-feed"), "{refused}");
    let outcomes = upsert(&plain, vec![person("p-1", "ana@example.com", vec![])]).await;
    assert_eq!(outcomes, Ok(vec![Outcome::Ok]));
    assert!(sim.member(LIST, "ana@example.com").is_some());
}
