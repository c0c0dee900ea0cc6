//! The klaviyo-sink plugin, run by the real host against the Klaviyo simulator on loopback: exact
//! profile, consent and event contents, `unique_id` idempotency, the vendor's error statuses
//! mapped to outcomes, and every request and response checked against the official OpenAPI spec
//! (`tests/fakes/specs/klaviyo/stable.json`).

use rapport_e2e::sink_calls::{forget, record, upsert};
use rapport_e2e::{loopback_services, plugin, scratch_secrets_file, vendor_spec};
use rapport_fakes::faults::Fault;
use rapport_fakes::klaviyo::{self, Exchange, KlaviyoSim};
use rapport_host::config::ConnectorConfig;
use rapport_host::connectors::Connector;
use rapport_sandbox::contract::wit::{
    Activity, Channel, ConnectorError, Consent, ConsentState, Identity, IdentityKind, Money,
    Outcome, Profile, ProfileTrait, Property, Purpose, TraitValue,
};
use rapport_sandbox::packages::PluginKind;
use serde_json::{json, Value};
use std::sync::OnceLock;

const LIST: &str = "Y6nRLr";
/// 2026-10-01T09:30:00Z
const CONSENTED: i64 = 1_790_847_000_000;
/// 2026-10-03T12:00:00Z
const ORDERED: i64 = 1_791_028_800_000;

async fn sink(sim: &KlaviyoSim, key: &str, list: Option<&str>) -> Connector {
    let host = loopback_services(&scratch_secrets_file(&[("klaviyo_key", key)]));
    let mut settings = toml::Table::new();
    settings.insert("api_base".into(), sim.base_url().into());
    if let Some(list) = list {
        settings.insert("list_id".into(), list.into());
    }
    let mut table = toml::Table::new();
    table.insert("id".into(), "klaviyo".into());
    table.insert(
        "plugin".into(),
        plugin("klaviyo-sink").display().to_string().into(),
    );
    table.insert("secrets".into(), vec!["klaviyo_key"].into());
    table.insert("config".into(), settings.into());
    let config: ConnectorConfig = table.try_into().expect("a connector config");
    Connector::load(&config, PluginKind::CrmSink, &host)
        .await
        .unwrap_or_else(|e| panic!("loading klaviyo-sink: {e}"))
}

fn identity(kind: IdentityKind, value: &str) -> Identity {
    Identity {
        kind,
        value: value.into(),
    }
}

fn marketing(channel: Channel, state: ConsentState, at: i64) -> Consent {
    Consent {
        channel,
        purpose: Purpose::Marketing,
        state,
        at,
        source: "pos-checkbox".into(),
    }
}

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".into(),
    }
}

fn ada() -> Profile {
    Profile {
        key: "p-ada".into(),
        identities: vec![
            identity(IdentityKind::Email, "ada@example.com"),
            identity(IdentityKind::Phone, "+14155550100"),
            identity(IdentityKind::VendorCustomer, "sq:C9"),
        ],
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        consents: vec![
            marketing(
                Channel::Email,
                ConsentState::Revoked,
                CONSENTED - 86_400_000,
            ),
            marketing(Channel::Email, ConsentState::Granted, CONSENTED),
            Consent {
                purpose: Purpose::Transactional,
                ..marketing(Channel::Sms, ConsentState::Granted, CONSENTED)
            },
        ],
        traits: vec![
            ProfileTrait {
                name: "orders_count".into(),
                value: TraitValue::Integer(3),
            },
            ProfileTrait {
                name: "net_spent".into(),
                value: TraitValue::Money(usd(12345)),
            },
            ProfileTrait {
                name: "last_order_at".into(),
                value: TraitValue::Time(ORDERED),
            },
        ],
    }
}

fn bob() -> Profile {
    Profile {
        key: "p-bob".into(),
        identities: vec![identity(IdentityKind::Email, "bob@example.com")],
        given_name: Some("Bob".into()),
        family_name: None,
        consents: vec![marketing(Channel::Email, ConsentState::Revoked, CONSENTED)],
        traits: vec![],
    }
}

fn cy() -> Profile {
    Profile {
        key: "p-cy".into(),
        identities: vec![identity(IdentityKind::Phone, "+447700900123")],
        given_name: None,
        family_name: None,
        consents: vec![],
        traits: vec![],
    }
}

fn placed_order(key: &str) -> Activity {
    Activity {
        idempotency_key: key.into(),
        profile_key: "p-ada".into(),
        identities: vec![identity(IdentityKind::Email, "ada@example.com")],
        name: "Placed Order".into(),
        occurred_at: ORDERED,
        value: Some(usd(4250)),
        properties: vec![
            Property {
                name: "order_id".into(),
                value: TraitValue::Text("R-1001".into()),
            },
            Property {
                name: "line_count".into(),
                value: TraitValue::Integer(2),
            },
        ],
    }
}

/// The official spec, with OpenAPI 3.0's `nullable: true` turned into JSON Schema's `null` type so a
/// plain JSON Schema validator reads it as OpenAPI means it.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = vendor_spec("klaviyo/stable.json");
        nullable_to_null(&mut spec["components"]);
        spec
    })
}

fn nullable_to_null(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                match map.get("type").cloned() {
                    Some(Value::String(ty)) => {
                        map.insert("type".into(), json!([ty, "null"]));
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
            map.values_mut().for_each(nullable_to_null);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_null),
        _ => {}
    }
}

/// What is wrong with `instance` according to `schema` (which may `$ref` into the spec's
/// components); empty if it is valid.
fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = schema.clone();
    root["components"] = spec()["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("the spec's schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let errors = violations(schema, instance);
    assert!(
        errors.is_empty(),
        "{what} does not match the official spec: {errors:#?}\n{instance:#}"
    );
}

fn operation(method: &str, path: &str) -> &'static Value {
    let op = &spec()["paths"][path][method.to_ascii_lowercase()];
    assert!(op.is_object(), "the spec has no {method} {path}");
    op
}

/// Checks one exchange against its operation: required `revision` header; for a POST its media
/// type and the request body schema, for a GET that every query parameter is one the operation
/// declares; and the response body schema for its status.
pub(crate) fn assert_exchange_matches_spec(exchange: &Exchange) {
    let op = operation(&exchange.method, &exchange.path);
    let what = format!(
        "{} {} ({})",
        exchange.method, exchange.path, op["operationId"]
    );
    assert_eq!(
        exchange.header("revision"),
        Some(klaviyo::REVISION),
        "{what}"
    );
    if exchange.method == "GET" {
        let declared: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for pair in exchange.query.iter().flat_map(|q| q.split('&')) {
            let name = pair.split('=').next().unwrap_or_default();
            assert!(
                declared.contains(&name),
                "{what}: query parameter {name:?} is not in the spec"
            );
        }
    } else {
        assert_eq!(
            exchange.header("content-type"),
            Some(klaviyo::MEDIA_TYPE),
            "{what}: requests carry the spec's media type"
        );
        let body_schema = &op["requestBody"]["content"][klaviyo::MEDIA_TYPE]["schema"];
        assert!(body_schema.is_object(), "{what} takes a body");
        let request = exchange.request.as_ref().expect("a JSON request body");
        assert_valid(body_schema, request, &format!("request of {what}"));
    }

    let status = exchange.status.to_string();
    let family = format!("{}XX", &status[..1]);
    let responses = &op["responses"];
    let declared = responses.get(&status).or_else(|| responses.get(&family));
    let declared = declared.unwrap_or_else(|| panic!("{what}: status {status} is not in the spec"));
    let declared = match declared["$ref"].as_str() {
        Some(r) => &spec()["components"]["responses"][r.rsplit('/').next().unwrap()],
        None => declared,
    };
    match &declared["content"][klaviyo::MEDIA_TYPE]["schema"] {
        Value::Null => assert!(
            exchange.response.is_none(),
            "{what}: {status} has no body in the spec"
        ),
        schema => {
            let response = exchange.response.as_ref().expect("a JSON response body");
            assert_valid(schema, response, &format!("{status} response of {what}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_consent_and_events_reach_klaviyo_as_the_spec_describes() {
    let sim = KlaviyoSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, klaviyo::API_KEY, Some(LIST)).await;

    let outcomes = upsert(&sink, vec![ada(), bob(), cy()]).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Ok; 3]);

    let held = sim
        .profile_by_email("ada@example.com")
        .expect("ada was imported");
    assert_eq!(held.phone_number.as_deref(), Some("+14155550100"));
    assert_eq!(held.external_id.as_deref(), Some("p-ada"));
    assert_eq!(held.first_name.as_deref(), Some("Ada"));
    assert_eq!(held.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(
        Value::Object(held.properties.clone()),
        json!({
            "orders_count": 3,
            "net_spent": 123.45,
            "net_spent_currency": "USD",
            "last_order_at": "2026-10-03T12:00:00Z",
        })
    );
    // The latest email choice is the grant, with the time it was given; SMS was only transactional.
    let email = held.email_marketing.clone().expect("ada's email consent");
    assert_eq!(email.consent, "SUBSCRIBED");
    assert_eq!(email.consented_at.as_deref(), Some("2026-10-01T09:30:00Z"));
    assert_eq!(held.sms_marketing, None);
    assert_eq!(sim.list_members(LIST), [held.id.clone()].into());

    let bob = sim
        .profile_by_email("bob@example.com")
        .expect("bob was imported");
    assert_eq!(bob.email_marketing.unwrap().consent, "UNSUBSCRIBED");
    assert_eq!(bob.first_name.as_deref(), Some("Bob"));
    assert_eq!(
        bob.last_name, None,
        "an unknown name is left out, never sent as null"
    );
    let cy = sim
        .profiles()
        .into_iter()
        .find(|p| p.external_id.as_deref() == Some("p-cy"))
        .unwrap();
    assert_eq!(
        (
            cy.phone_number.as_deref(),
            cy.email_marketing,
            cy.sms_marketing
        ),
        (Some("+447700900123"), None, None)
    );
    assert_eq!(sim.profiles().len(), 3);

    // A second import updates (200) rather than duplicates.
    assert_eq!(upsert(&sink, vec![ada()]).await.unwrap(), vec![Outcome::Ok]);
    assert_eq!(sim.profiles().len(), 3);

    // The same activity delivered twice (a retry) is one event.
    let key = "0b7c3f0e-5a3e-4f7e-9d59-3c1f9f6f2a10";
    for _ in 0..2 {
        assert_eq!(
            record(&sink, vec![placed_order(key)]).await.unwrap(),
            vec![Outcome::Ok]
        );
    }
    assert_eq!(sim.event_posts(key), 2);
    let events = sim.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.metric, "Placed Order");
    assert_eq!(event.unique_id.as_deref(), Some(key));
    assert_eq!(event.profile_id, held.id);
    assert_eq!(event.value, Some(json!(42.5)));
    assert_eq!(event.value_currency.as_deref(), Some("USD"));
    assert_eq!(event.time.as_deref(), Some("2026-10-03T12:00:00Z"));
    assert_eq!(
        Value::Object(event.properties.clone()),
        json!({"order_id": "R-1001", "line_count": 2})
    );

    // Forget: one deletion job per identifier Klaviyo can look up.
    forget(
        &sink,
        vec![
            identity(IdentityKind::Email, "bob@example.com"),
            identity(IdentityKind::LoyaltyId, "L-1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(sim.deletions(), vec![json!({"email": "bob@example.com"})]);
    assert!(sim.profile_by_email("bob@example.com").is_none());

    let exchanges = sim.exchanges();
    let paths: Vec<&str> = exchanges.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/profile-import",
            "/api/profile-import",
            "/api/profile-import",
            "/api/profile-subscription-bulk-create-jobs",
            "/api/profile-subscription-bulk-delete-jobs",
            "/api/profile-import",
            "/api/profile-subscription-bulk-create-jobs",
            "/api/events",
            "/api/events",
            "/api/data-privacy-deletion-jobs",
        ]
    );
    assert_eq!(
        exchanges.iter().map(|e| e.status).collect::<Vec<_>>(),
        [201, 201, 201, 202, 202, 200, 202, 202, 202, 202]
    );
    for exchange in &exchanges {
        assert_eq!(
            exchange.header("authorization"),
            Some("Klaviyo-API-Key pk_test_rapport"),
            "the host injects the key"
        );
        assert!(exchange.response_header("ratelimit-remaining").is_some());
        assert_exchange_matches_spec(exchange);
    }
    // The validation has teeth: an event without its metric is not what the spec allows.
    let mut event = exchanges[7].request.clone().unwrap();
    event["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("metric");
    let schema =
        &operation("POST", "/api/events")["requestBody"]["content"][klaviyo::MEDIA_TYPE]["schema"];
    assert!(!violations(schema, &event).is_empty());

    let subscribe = exchanges[3].request.as_ref().unwrap();
    assert_eq!(
        subscribe["data"]["attributes"]["profiles"]["data"],
        json!([{"type": "profile", "attributes": {
            "email": "ada@example.com",
            "subscriptions": {"email": {"marketing": {
                "consent": "SUBSCRIBED", "consented_at": "2026-10-01T09:30:00Z"}}},
        }}])
    );
    assert_eq!(subscribe["data"]["attributes"]["historical_import"], true);
    assert_eq!(
        subscribe["data"]["relationships"]["list"]["data"]["id"],
        LIST
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_list_consent_is_only_withdrawn() {
    let sim = KlaviyoSim::start().await.unwrap();
    let sink = sink(&sim, klaviyo::API_KEY, None).await;
    assert_eq!(
        upsert(&sink, vec![ada(), bob()]).await.unwrap(),
        vec![Outcome::Ok; 2]
    );
    assert_eq!(
        sim.profile_by_email("ada@example.com")
            .unwrap()
            .email_marketing,
        None
    );
    assert_eq!(
        sim.profile_by_email("bob@example.com")
            .unwrap()
            .email_marketing
            .unwrap()
            .consent,
        "UNSUBSCRIBED"
    );
    let unsubscribe = sim
        .exchanges()
        .into_iter()
        .find(|e| e.path.ends_with("delete-jobs"))
        .unwrap();
    assert!(unsubscribe.request.unwrap()["data"]
        .get("relationships")
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_errors_become_the_right_outcomes() {
    let sim = KlaviyoSim::start().await.unwrap();
    sim.add_list(LIST);
    let sink = sink(&sim, klaviyo::API_KEY, Some(LIST)).await;
    let two = || vec![placed_order("k-1"), placed_order("k-2")];

    // 429 with Retry-After: wait that long; the rest of the batch is not sent into the limit.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    assert_eq!(
        record(&sink, two()).await.unwrap(),
        vec![Outcome::RetryAfter(7000); 2]
    );
    assert_eq!(sim.exchanges().len(), 1);
    let throttled = &sim.exchanges()[0];
    assert_eq!(throttled.response_header("retry-after"), Some("7"));
    assert_exchange_matches_spec(throttled);

    // 5xx: transient, per item; the next item still goes through.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let outcomes = record(&sink, two()).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Transient(why) if why.contains("503")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Ok);

    // 4xx: rejected with Klaviyo's own reason.
    let mut bad = ada();
    bad.key = "p-bad".into();
    bad.identities = vec![identity(IdentityKind::Email, "not-an-email")];
    let outcomes = upsert(&sink, vec![bad, bob()]).await.unwrap();
    assert_eq!(
        outcomes[0],
        Outcome::Rejected(
            "Klaviyo HTTP 400: Invalid email address: \"not-an-email\". (invalid at /data/attributes/email)".into()
        )
    );
    assert_eq!(outcomes[1], Outcome::Ok);
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 404,
            retry_after: None,
        },
    );
    let outcomes = record(&sink, vec![placed_order("k-3")]).await.unwrap();
    assert_eq!(
        outcomes,
        vec![Outcome::Rejected(
            "Klaviyo HTTP 404: The resource does not exist. (not_found)".into()
        )]
    );

    // 429 without Retry-After: the default wait.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(
        upsert(&sink, vec![cy()]).await.unwrap(),
        vec![Outcome::RetryAfter(1000)]
    );

    // Every error answer is a JSON:API error document as the spec describes.
    for exchange in sim.exchanges().iter().filter(|e| e.status >= 400) {
        assert_exchange_matches_spec(exchange);
    }

    // A wrong key fails the whole call as an auth error.
    let wrong = sink_with_wrong_key(&sim).await;
    let error = upsert(&wrong, vec![ada()]).await.unwrap_err();
    let ConnectorError::Auth(why) = error else {
        panic!("expected an auth error, got {error:?}")
    };
    assert!(why.contains("401") && why.contains("klaviyo_key"), "{why}");
    assert!(why.contains("The private API key is not valid."), "{why}");
    for (sink, passes) in [(&wrong, false), (&sink, true)] {
        let plugin = sink.plugin();
        let check = tokio::task::spawn_blocking(move || plugin.check())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(check.is_ok(), passes, "{check:?}");
        assert!(passes || matches!(check, Err(ConnectorError::Auth(_))));
    }
}

async fn sink_with_wrong_key(sim: &KlaviyoSim) -> Connector {
    sink(sim, "pk_wrong", Some(LIST)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_subscription_job_fails_only_the_profiles_it_covered() {
    let sim = KlaviyoSim::start().await.unwrap();
    // The configured list does not exist at Klaviyo: both consent jobs are refused with 404.
    let sink = sink(&sim, klaviyo::API_KEY, Some("gone")).await;
    let outcomes = upsert(&sink, vec![ada(), bob(), cy()]).await.unwrap();
    let refused = Outcome::Rejected(
        "Klaviyo HTTP 404: List \"gone\" does not exist. (not_found at /data/relationships/list/data/id)".into(),
    );
    assert_eq!(outcomes, vec![refused.clone(), refused, Outcome::Ok]);
    assert_eq!(sim.profiles().len(), 3, "the imports themselves succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_refuses_what_klaviyo_refuses() {
    let sim = KlaviyoSim::start().await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/api/profile-import", sim.base_url());
    let body = json!({"data": {"type": "profile", "attributes": {"email": "x@example.com"}}});
    let send = |auth: Option<&str>, revision: Option<&str>, body: &Value| {
        let mut request = client
            .post(&url)
            .header("content-type", klaviyo::MEDIA_TYPE)
            .body(body.to_string());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(revision) = revision {
            request = request.header("revision", revision);
        }
        request.send()
    };
    let key = format!("Klaviyo-API-Key {}", klaviyo::API_KEY);
    let unauthenticated = send(None, Some(klaviyo::REVISION), &body).await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let no_revision = send(Some(&key), None, &body).await.unwrap();
    assert_eq!(no_revision.status(), 400);
    let error: Value = no_revision.json().await.unwrap();
    assert!(
        error["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("revision"),
        "{error}"
    );
    let no_identifier = json!({"data": {"type": "profile", "attributes": {"first_name": "X"}}});
    assert_eq!(
        send(Some(&key), Some(klaviyo::REVISION), &no_identifier)
            .await
            .unwrap()
            .status(),
        400
    );
    let historical_without_flag = json!({"data": {"type": "profile-subscription-bulk-create-job", "attributes": {
        "profiles": {"data": [{"type": "profile", "attributes": {"email": "x@example.com",
            "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": "2026-01-01T00:00:00Z"}}}}}]}}}});
    let job = client
        .post(format!(
            "{}/api/profile-subscription-bulk-create-jobs",
            sim.base_url()
        ))
        .header("authorization", &key)
        .header("revision", klaviyo::REVISION)
        .body(historical_without_flag.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), 400, "consented_at needs historical_import");
    let spec_checked: Vec<Exchange> = sim.exchanges();
    for exchange in spec_checked
        .iter()
        .filter(|e| e.header("revision").is_some())
    {
        let op = operation(&exchange.method, &exchange.path);
        let client_error = &spec()["components"]["responses"]["ClientError"]["content"]
            [klaviyo::MEDIA_TYPE]["schema"];
        assert!(op["responses"]["4XX"].is_object());
        assert_valid(
            client_error,
            exchange.response.as_ref().unwrap(),
            "a 4xx answer",
        );
    }

    // The burst limit: past it, 429 with Retry-After; before it, RateLimit headers count down.
    let mut statuses = Vec::new();
    for _ in 0..klaviyo::BURST_PER_SECOND + 5 {
        let answer = client
            .get(format!("{}/api/accounts", sim.base_url()))
            .header("authorization", &key)
            .header("revision", klaviyo::REVISION)
            .send()
            .await
            .unwrap();
        if answer.status() == 429 {
            assert_eq!(answer.headers()["retry-after"], "1");
        }
        statuses.push(answer.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 200);
}
