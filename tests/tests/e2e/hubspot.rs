//! The hubspot-sink plugin, run by the real host against the HubSpot simulator on loopback: exact
//! contact properties (money in major units), subscription statuses with their legal basis, custom
//! events (orders, refunds, journey messages) recorded once per `uuid`, 207 partial failures
//! mapped per contact, HubSpot's error statuses mapped to outcomes, and GDPR deletion. Request and response shapes are checked against
//! VENDOR-NOTES.md (HubSpot's spec files are not licensed for copying).

use rapport_e2e::plugin;
use rapport_e2e::sink_calls::{forget, record, upsert};
use rapport_fakes::faults::Fault;
use rapport_fakes::hubspot::{self, Exchange, HubSpotSim, RateLimitPolicy};
use rapport_host::config::{Config, ConnectorConfig};
use rapport_host::connectors::{Connector, HostServices};
use rapport_sandbox::contract::wit::{
    Activity, Channel, ConnectorError, Consent, ConsentState, Identity, IdentityKind, Money,
    Outcome, Profile, ProfileTrait, Property, Purpose, TraitValue,
};
use rapport_sandbox::packages::PluginKind;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// 2026-10-01T09:30:00Z
const CONSENTED: i64 = 1_790_847_000_000;
/// 2026-10-03T12:00:00Z
const ORDERED: i64 = 1_791_028_800_000;
const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

/// An owner-only secrets file holding `hubspot_token = token`.
fn secrets_file(token: &str) -> PathBuf {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("secrets.toml");
    std::fs::write(&path, format!("hubspot_token = \"{token}\"\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

async fn sink_with(sim: &HubSpotSim, token: &str, settings: &[(&str, toml::Value)]) -> Connector {
    let text = format!(
        "[network]\nallow_private = [\"127.0.0.1/32\"]\n[trust]\ndev = true\n[secrets]\nfile = \"{}\"\n",
        secrets_file(token).display()
    );
    let host = HostServices::from_config(&Config::parse(&text, Path::new(".")).unwrap()).unwrap();
    let mut config = toml::Table::new();
    config.insert("api_base".into(), sim.base_url().into());
    for (key, value) in settings {
        config.insert((*key).into(), value.clone());
    }
    let mut table = toml::Table::new();
    table.insert("id".into(), "hubspot".into());
    table.insert(
        "plugin".into(),
        plugin("hubspot-sink").display().to_string().into(),
    );
    table.insert("secrets".into(), vec!["hubspot_token"].into());
    table.insert("config".into(), config.into());
    let config: ConnectorConfig = table.try_into().expect("a connector config");
    Connector::load(&config, PluginKind::CrmSink, &host)
        .await
        .unwrap_or_else(|e| panic!("loading hubspot-sink: {e}"))
}

/// The sink with the simulator's token and marketing subscription.
async fn sink(sim: &HubSpotSim) -> Connector {
    sink_with(
        sim,
        hubspot::TOKEN,
        &[("subscription_id", hubspot::SUBSCRIPTION_ID.into())],
    )
    .await
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

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".into(),
    }
}

fn ada(orders: i64, spent: i64) -> Profile {
    Profile {
        key: "p-ada".into(),
        identities: vec![
            identity(IdentityKind::Email, ADA),
            identity(IdentityKind::Phone, "+14155550100"),
            identity(IdentityKind::VendorCustomer, "sq:C9"),
        ],
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        consents: vec![
            email_marketing(ConsentState::Revoked, CONSENTED - 86_400_000),
            email_marketing(ConsentState::Granted, CONSENTED),
            Consent {
                channel: Channel::Sms,
                ..email_marketing(ConsentState::Revoked, CONSENTED + 1)
            },
        ],
        traits: vec![
            ProfileTrait {
                name: "orders_count".into(),
                value: TraitValue::Integer(orders),
            },
            ProfileTrait {
                name: "net_spent".into(),
                value: TraitValue::Money(usd(spent)),
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
        identities: vec![identity(IdentityKind::Email, BOB)],
        given_name: Some("Bob".into()),
        family_name: None,
        consents: vec![email_marketing(ConsentState::Revoked, CONSENTED)],
        traits: vec![],
    }
}

fn phone_only() -> Profile {
    Profile {
        key: "p-cy".into(),
        identities: vec![identity(IdentityKind::Phone, "+447700900123")],
        given_name: None,
        family_name: None,
        consents: vec![],
        traits: vec![],
    }
}

fn text(name: &str, value: &str) -> Property {
    Property {
        name: name.into(),
        value: TraitValue::Text(value.into()),
    }
}

fn placed_order(key: &str) -> Activity {
    Activity {
        idempotency_key: key.into(),
        profile_key: "p-ada".into(),
        identities: vec![identity(IdentityKind::Email, ADA)],
        name: "Placed Order".into(),
        occurred_at: ORDERED,
        value: Some(usd(4250)),
        properties: vec![
            text("order_id", "R-1001"),
            Property {
                name: "line_count".into(),
                value: TraitValue::Integer(2),
            },
        ],
    }
}

fn refunded_order(key: &str) -> Activity {
    Activity {
        name: "Refunded Order".into(),
        value: Some(usd(1999)),
        properties: vec![text("refund_id", "RF-7"), text("order_id", "R-1001")],
        ..placed_order(key)
    }
}

/// The thank-you journey's message to Ada, in the experiment arm "warm".
fn journey_message(key: &str) -> Activity {
    Activity {
        name: "Journey: thanks".into(),
        value: None,
        properties: vec![
            text("journey", "thanks"),
            text("step", "every-order"),
            text("variant", "warm"),
        ],
        ..placed_order(key)
    }
}

fn exchanges(sim: &HubSpotSim, path_prefix: &str) -> Vec<Exchange> {
    sim.seen()
        .into_iter()
        .filter(|e| e.path.starts_with(path_prefix))
        .collect()
}

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Asserts the upsert request and its answer have VENDOR-NOTES' shape.
fn assert_upsert_shape(exchange: &Exchange) {
    assert_eq!(exchange.method, "POST");
    assert_eq!(
        exchange.authorization.as_deref(),
        Some(format!("Bearer {}", hubspot::TOKEN).as_str())
    );
    let request = exchange.request.as_ref().expect("a JSON request");
    for input in request["inputs"].as_array().expect("`inputs` is an array") {
        assert_eq!(input["idProperty"], "email", "{input}");
        assert!(input["id"].is_string(), "{input}");
        let properties = input["properties"].as_object().expect("properties object");
        assert!(
            properties.values().all(Value::is_string),
            "property values are strings: {input}"
        );
    }
    let response = exchange.response.as_ref().expect("a JSON answer");
    assert_eq!(response["status"], "COMPLETE");
    for result in response["results"]
        .as_array()
        .expect("`results` is an array")
    {
        assert!(result["id"].is_string() && result["properties"].is_object());
        assert!(result["createdAt"].is_string() && result["archived"].is_boolean());
    }
}

#[tokio::test]
async fn contacts_are_upserted_by_email_with_consent_and_then_updated() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink(&sim).await;

    let outcomes = upsert(&sink, vec![ada(3, 12345), bob(), phone_only()])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Rejected("no email: HubSpot contacts are keyed by email".into())
        ]
    );
    let created = sim.contact(ADA).expect("Ada is a contact");
    assert_eq!(
        created.properties,
        strings(&[
            ("email", ADA),
            ("firstname", "Ada"),
            ("lastname", "Lovelace"),
            ("phone", "+14155550100"),
            ("rapport_profile_key", "p-ada"),
            ("orders_count", "3"),
            ("net_spent", "123.45"),
            ("last_order_at", "2026-10-03"),
        ])
    );
    assert_eq!(
        sim.contact(BOB).unwrap().properties,
        strings(&[
            ("email", BOB),
            ("firstname", "Bob"),
            ("rapport_profile_key", "p-bob")
        ])
    );
    assert_eq!(sim.contact_count(), 2);
    let upserts = exchanges(&sim, "/crm/v3/objects/contacts/batch/upsert");
    assert_eq!(upserts.len(), 1, "one batch for the whole call");
    assert_eq!(upserts[0].status, 200);
    assert_upsert_shape(&upserts[0]);
    assert_eq!(
        upserts[0].response.as_ref().unwrap()["results"][0]["new"],
        true
    );

    let subscribed = sim
        .subscription_status(ADA, hubspot::SUBSCRIPTION_ID)
        .expect("Ada's latest choice, a grant, is sent");
    assert_eq!(subscribed.status, "SUBSCRIBED");
    assert_eq!(
        subscribed.legal_basis.as_deref(),
        Some("CONSENT_WITH_NOTICE")
    );
    assert_eq!(
        subscribed.legal_basis_explanation.as_deref(),
        Some("Opted in to marketing email via pos-checkbox at 2026-10-01T09:30:00Z")
    );
    let unsubscribed = sim
        .subscription_status(BOB, hubspot::SUBSCRIPTION_ID)
        .unwrap();
    assert_eq!(unsubscribed.status, "UNSUBSCRIBED");
    let statuses = exchanges(&sim, "/communication-preferences/v4/statuses/");
    assert_eq!(statuses.len(), 2);
    for exchange in &statuses {
        let body = exchange.request.as_ref().unwrap();
        assert_eq!(body["channel"], "EMAIL");
        assert!(body["statusState"].is_string());
        assert_eq!(body["subscriptionId"], json!(hubspot::SUBSCRIPTION_ID));
        assert!(body["subscriptionId"].is_i64(), "a number, not a string");
        assert!(body["legalBasis"].is_string() && body["legalBasisExplanation"].is_string());
        assert_eq!(exchange.status, 200);
    }
    assert_eq!(
        statuses[0].path,
        "/communication-preferences/v4/statuses/ada@example.com"
    );

    let id = created.id;
    assert_eq!(
        upsert(&sink, vec![ada(4, 20000)]).await.unwrap(),
        vec![Outcome::Ok]
    );
    let updated = sim.contact(ADA).unwrap();
    assert_eq!(updated.id, id, "the same contact, found by email");
    assert_eq!(updated.properties["orders_count"], "4");
    assert_eq!(updated.properties["net_spent"], "200.00");
    assert_eq!(sim.contact_count(), 2);
}

#[tokio::test]
async fn without_a_subscription_id_no_status_is_sent() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink_with(&sim, hubspot::TOKEN, &[]).await;
    assert_eq!(
        upsert(&sink, vec![ada(1, 100), bob()]).await.unwrap(),
        vec![Outcome::Ok, Outcome::Ok]
    );
    assert!(exchanges(&sim, "/communication-preferences").is_empty());
    assert_eq!(sim.contact_count(), 2);
}

#[tokio::test]
async fn a_refused_status_fails_only_the_profiles_it_concerned() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink_with(
        &sim,
        hubspot::TOKEN,
        &[
            ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
            ("legal_basis", "BECAUSE_WE_CAN".into()),
        ],
    )
    .await;
    let without_consent = Profile {
        consents: vec![],
        ..bob()
    };
    let outcomes = upsert(&sink, vec![ada(1, 100), without_consent])
        .await
        .unwrap();
    let Outcome::Rejected(reason) = &outcomes[0] else {
        panic!("Ada's status was refused: {outcomes:?}");
    };
    assert!(
        reason.contains("legalBasis must be one of") && reason.contains("VALIDATION_ERROR"),
        "{reason}"
    );
    assert_eq!(outcomes[1], Outcome::Ok);
}

#[tokio::test]
async fn events_are_recorded_once_per_uuid() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink(&sim).await;
    let placed = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let refunded = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    let outcomes = record(&sink, vec![placed_order(placed), refunded_order(refunded)])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![Outcome::Ok, Outcome::Ok]);
    assert_eq!(
        sim.event(placed).unwrap(),
        json!({
            "eventName": "pe_placed_order",
            "email": ADA,
            "occurredAt": "2026-10-03T12:00:00Z",
            "uuid": placed,
            "properties": {
                "order_id": "R-1001",
                "line_count": 2,
                "amount": "42.50",
                "currency": "USD",
            },
        })
    );
    let refund = sim.event(refunded).unwrap();
    assert_eq!(refund["eventName"], "pe_refunded_order");
    assert_eq!(refund["properties"]["amount"], "19.99");
    // Every journey message is the one journey event, which a HubSpot workflow branches on by
    // its `journey` property.
    let thanks = "5b7e1c2d-8f3a-4e6b-9c0d-1a2b3c4d5e6f";
    assert_eq!(
        record(&sink, vec![journey_message(thanks)]).await.unwrap(),
        vec![Outcome::Ok]
    );
    assert_eq!(
        sim.event(thanks).unwrap(),
        json!({
            "eventName": "pe_journey_message",
            "email": ADA,
            "occurredAt": "2026-10-03T12:00:00Z",
            "uuid": thanks,
            "properties": {"journey": "thanks", "step": "every-order", "variant": "warm"},
        })
    );
    for sent in exchanges(&sim, "/events/v3/send") {
        assert_eq!(sent.status, 204);
        assert!(sent.response.is_none(), "204 has no body");
    }

    let again = record(&sink, vec![placed_order(placed)]).await.unwrap();
    assert_eq!(again, vec![Outcome::Ok], "already recorded is delivered");
    assert_eq!(sim.event_arrivals(placed), 2);
    assert_eq!(sim.event_count(), 3, "recorded once");
    let repeat = exchanges(&sim, "/events/v3/send").pop().unwrap();
    assert_eq!(repeat.status, 409);
    assert_eq!(repeat.response.as_ref().unwrap()["category"], "CONFLICT");
    assert_eq!(
        sim.event(placed).unwrap()["properties"]["order_id"],
        "R-1001"
    );

    let anonymous = Activity {
        identities: vec![identity(IdentityKind::Phone, "+14155550100")],
        ..placed_order("3b241101-e2bb-4255-8caf-4136c566a962")
    };
    let unknown = Activity {
        name: "Visited Store".into(),
        ..placed_order("e7b2c3a4-1f2d-4c5b-9a8e-0d1c2b3a4f5e")
    };
    assert_eq!(
        record(&sink, vec![anonymous, unknown]).await.unwrap(),
        vec![
            Outcome::Rejected(
                "no email: HubSpot custom events are attached to contacts by email".into()
            ),
            Outcome::Rejected(
                "no HubSpot custom event is configured for activity \"Visited Store\"".into()
            ),
        ]
    );
    assert_eq!(sim.event_count(), 3);
}

#[tokio::test]
async fn a_partial_failure_rejects_exactly_the_failing_contacts() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink(&sim).await;
    let message = "Property values were not valid: Email address bob@example.com is invalid";
    sim.fail_upserts_of(BOB, message);

    let outcomes = upsert(&sink, vec![ada(1, 100), bob(), phone_only()])
        .await
        .unwrap();
    assert_eq!(outcomes[0], Outcome::Ok);
    assert_eq!(
        outcomes[1],
        Outcome::Rejected(format!("HubSpot HTTP 207: {message} (VALIDATION_ERROR)"))
    );
    assert!(matches!(outcomes[2], Outcome::Rejected(_)));
    assert!(sim.contact(ADA).is_some() && sim.contact(BOB).is_none());
    assert!(
        sim.subscription_status(BOB, hubspot::SUBSCRIPTION_ID)
            .is_none(),
        "no status for a contact HubSpot refused"
    );
    let upserted = exchanges(&sim, "/crm/v3/objects/contacts/batch/upsert").remove(0);
    assert_eq!(upserted.status, 207);
    assert_upsert_shape(&upserted);
    let answer = upserted.response.unwrap();
    assert_eq!(answer["numErrors"], 1);
    assert_eq!(answer["errors"][0]["status"], "error");
    assert_eq!(answer["errors"][0]["context"], json!({"ids": [BOB]}));
}

#[tokio::test]
async fn vendor_errors_become_the_right_outcomes() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink(&sim).await;
    let keys = ["a1", "a2"].map(|k| placed_order(&format!("{k}-5f0c-4e1a-9d3b-1a2b3c4d5e6f")));

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(
        record(&sink, keys.to_vec()).await.unwrap(),
        vec![Outcome::RetryAfter(1000), Outcome::RetryAfter(1000)],
        "a tenth of the ten-second window; the rest of the batch waits too"
    );
    let limited = sim.seen().pop().unwrap();
    assert_eq!(limited.status, 429);
    let body = limited.response.as_ref().unwrap();
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(
        body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert!(body["correlationId"].is_string());
    assert_eq!(
        limited.response_header("x-hubspot-ratelimit-interval-milliseconds"),
        Some("10000")
    );
    assert_eq!(
        limited.response_header("x-hubspot-ratelimit-remaining"),
        Some("0")
    );
    assert!(limited.response_header("x-hubspot-ratelimit-max").is_some());
    assert_eq!(sim.event_count(), 0);

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    assert_eq!(
        record(&sink, keys[..1].to_vec()).await.unwrap(),
        vec![Outcome::RetryAfter(7000)]
    );

    sim.set_rate_limit_policy(RateLimitPolicy::Daily);
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(
        upsert(&sink, vec![ada(1, 100), bob()]).await.unwrap(),
        vec![
            Outcome::RetryAfter(3_600_000),
            Outcome::RetryAfter(3_600_000)
        ],
        "the daily limit waits an hour"
    );
    assert_eq!(
        sim.seen().pop().unwrap().response.unwrap()["policyName"],
        "DAILY"
    );

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let outcomes = upsert(&sink, vec![ada(1, 100), bob()]).await.unwrap();
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Transient(_))),
        "{outcomes:?}"
    );

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 400,
            retry_after: None,
        },
    );
    assert_eq!(
        record(&sink, keys[..1].to_vec()).await.unwrap(),
        vec![Outcome::Rejected(
            "HubSpot HTTP 400: Invalid input (VALIDATION_ERROR)".into()
        )]
    );

    sim.faults().fail_next(1, Fault::Malformed);
    let Err(ConnectorError::Invalid(reason)) = upsert(&sink, vec![ada(1, 100)]).await else {
        panic!("a malformed answer is invalid");
    };
    assert!(reason.contains("not the expected JSON"), "{reason}");
    assert_eq!(
        sim.contact_count(),
        0,
        "no contact was stored by a faulty answer"
    );

    let wrong = sink_with(&sim, "pat-na1-revoked", &[]).await;
    let Err(ConnectorError::Auth(reason)) = upsert(&wrong, vec![ada(1, 100)]).await else {
        panic!("a refused token fails the whole call");
    };
    assert!(
        reason.contains("hubspot_token") && reason.contains("HTTP 401"),
        "{reason}"
    );
    assert!(matches!(
        record(&wrong, keys.to_vec()).await,
        Err(ConnectorError::Auth(_))
    ));
    let refused = sim.seen().pop().unwrap();
    assert_eq!(
        refused.response.unwrap()["category"],
        "INVALID_AUTHENTICATION"
    );
    assert_eq!(sim.contact_count(), 0);
    assert_eq!(sim.event_count(), 0);
}

#[tokio::test]
async fn forget_deletes_the_contact() {
    let sim = HubSpotSim::start().await.unwrap();
    let sink = sink(&sim).await;
    upsert(&sink, vec![ada(1, 100), bob()]).await.unwrap();
    assert!(sim
        .subscription_status(ADA, hubspot::SUBSCRIPTION_ID)
        .is_some());

    forget(
        &sink,
        vec![
            identity(IdentityKind::Email, ADA),
            identity(IdentityKind::Phone, "+14155550100"),
        ],
    )
    .await
    .unwrap();
    assert!(sim.contact(ADA).is_none() && sim.contact(BOB).is_some());
    assert!(sim
        .subscription_status(ADA, hubspot::SUBSCRIPTION_ID)
        .is_none());
    assert_eq!(sim.gdpr_deleted(), vec![ADA.to_string()]);
    let deletion = exchanges(&sim, "/crm/v3/objects/contacts/gdpr-delete").remove(0);
    assert_eq!(
        deletion.request.unwrap(),
        json!({"objectId": ADA, "idProperty": "email"})
    );
    assert_eq!(deletion.status, 204);

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 404,
            retry_after: None,
        },
    );
    forget(&sink, vec![identity(IdentityKind::Email, ADA)])
        .await
        .expect("already gone is done");

    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    assert!(matches!(
        forget(&sink, vec![identity(IdentityKind::Email, BOB)]).await,
        Err(ConnectorError::Transient(_))
    ));
    assert!(sim.contact(BOB).is_some());
}

#[tokio::test]
async fn the_simulator_refuses_what_hubspot_refuses() {
    let sim = HubSpotSim::start().await.unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", sim.base_url()))
            .bearer_auth(hubspot::TOKEN)
            .json(&body)
    };
    let input = |email: &str, properties: Value| json!({"idProperty": "email", "id": email, "properties": properties});

    let anonymous = client
        .post(format!("{}/events/v3/send", sim.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Authentication credentials not found"));

    let numeric = post(
        "/crm/v3/objects/contacts/batch/upsert",
        json!({"inputs": [input(ADA, json!({"orders_count": 3}))]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(numeric.status(), 400);
    let body: Value = numeric.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(body["message"].as_str().unwrap().contains("orders_count"));

    let too_many: Vec<Value> = (0..=hubspot::BATCH_LIMIT)
        .map(|n| input(&format!("p{n}@example.com"), json!({})))
        .collect();
    let oversized = post(
        "/crm/v3/objects/contacts/batch/upsert",
        json!({"inputs": too_many}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(oversized.status(), 400);
    assert_eq!(sim.contact_count(), 0);

    let event =
        json!({"eventName": "pe_placed_order", "email": ADA, "uuid": "u-1", "properties": {}});
    assert_eq!(
        post("/events/v3/send", event.clone())
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        post("/events/v3/send", event)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    let undefined = json!({"eventName": "pe_nothing", "email": ADA, "properties": {}});
    assert_eq!(
        post("/events/v3/send", undefined)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let unexplained = post(
        "/communication-preferences/v4/statuses/ada@example.com",
        json!({"channel": "EMAIL", "statusState": "SUBSCRIBED", "subscriptionId": hubspot::SUBSCRIPTION_ID}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        unexplained.status(),
        400,
        "a GDPR portal needs the legal basis"
    );
    assert!(sim
        .subscription_status(ADA, hubspot::SUBSCRIPTION_ID)
        .is_none());
}
