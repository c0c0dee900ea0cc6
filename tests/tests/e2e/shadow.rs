//! Shadow sinks: the real hubspot-sink plugin in `mode = "shadow"` in front of the HubSpot
//! simulator. A sync of customers, sales, a refund, an opted-out buyer and a phone-only buyer
//! reaches the simulator not at all; the stored requests are what the plugin would have sent (the
//! upserts naming each emailed customer, a custom event per sale and refund, no credential), and
//! the phone-only person is refused with the plugin's own reason. Switched to live, the sink is
//! sent everything it had only pretended to send.

use rapport_e2e::{csv_export, drain_all, plugin, ShopDir, TestShop};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_store::shadow::ShadowRequest;
use rapport_store::LetterStatus;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

pub(crate) const ANA: &str = "ana@example.com";
pub(crate) const BEN: &str = "ben@example.com";
pub(crate) const CARA: &str = "cara@example.com";
/// Why HubSpot's plugin refuses a person without email.
pub(crate) const NO_EMAIL: &str = "no email: HubSpot contacts are keyed by email";

/// The export: Ana buys twice (S1, S2) and is part refunded (R1 of S1); Ben buys once (S3); Cara,
/// who refused marketing, once (S4); Dee, known only by phone, once (S5).
pub(crate) fn export() -> String {
    let at = "2026-03-02T10:00:00Z";
    let ana = format!("C-1,{ANA},,Ana Lima,yes");
    let rows = [
        format!("S1,sale,,{at},Main,in-store,{ana},B-1,Beans,beans,1,12.00,12.00,GBP,0,0,12.00"),
        format!("S2,sale,,{at},Main,in-store,{ana},M-1,Mug,mugs,1,8.00,8.00,GBP,0,0,8.00"),
        format!("R1,refund,S1,{at},Main,in-store,{ana},B-1,Beans,beans,1,5.00,5.00,GBP,0,0,5.00"),
        format!("S3,sale,,{at},Main,in-store,C-2,{BEN},,Ben Okafor,yes,T-1,Tea,tea,1,30.00,30.00,GBP,0,0,30.00"),
        format!("S4,sale,,{at},Main,in-store,C-3,{CARA},,Cara Diaz,no,T-1,Tea,tea,1,2.00,2.00,GBP,0,0,2.00"),
        format!("S5,sale,,{at},Main,in-store,C-4,,+447700900123,Dee Evans,yes,T-1,Tea,tea,1,6.00,6.00,GBP,0,0,6.00"),
    ];
    csv_export(&rows)
}

/// The shop: a csv-source `shop` and the hubspot-sink `crm` in front of `sim`, in `mode`.
pub(crate) fn shop(sim: &HubSpotSim, mode: &str) -> TestShop {
    TestShop::new()
        .sqlite()
        .region("GB")
        .csv_source("shop")
        .sink(
            "crm",
            &plugin("hubspot-sink"),
            [
                ("api_base", sim.base_url().into()),
                ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
            ],
        )
        .set("mode", mode.into())
        .secrets(&[("hubspot_token", hubspot::TOKEN)])
}

/// The emails of the contact upserts among `bodies` (HubSpot's batch upsert inputs, by email).
pub(crate) fn upserted(bodies: &[Value]) -> BTreeSet<String> {
    bodies
        .iter()
        .filter_map(|b| b["inputs"].as_array())
        .flatten()
        .filter_map(|input| input["id"].as_str().map(str::to_owned))
        .collect()
}

/// The custom events among `bodies`: (event name, email, order or refund id).
pub(crate) fn events(bodies: &[Value]) -> BTreeSet<(String, String, String)> {
    bodies
        .iter()
        .filter(|b| b.get("eventName").is_some())
        .map(|b| {
            let properties = &b["properties"];
            let id = properties
                .get("refund_id")
                .or_else(|| properties.get("order_id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                b["eventName"].as_str().unwrap_or_default().to_owned(),
                b["email"].as_str().unwrap_or_default().to_owned(),
                id.to_owned(),
            )
        })
        .collect()
}

/// What the simulator holds: the contacts' emails and the custom events, as [`upserted`] and
/// [`events`] read them from requests.
pub(crate) fn held(sim: &HubSpotSim) -> (BTreeSet<String>, BTreeSet<(String, String, String)>) {
    let contacts = (sim.contacts().into_iter())
        .filter_map(|c| c.properties.get("email").cloned())
        .collect();
    (contacts, events(&sim.events()))
}

/// What the shop's sales and refund make: a placed-order event for each sale of those who did not
/// refuse marketing and have an email, and a refunded-order event for Ana's refund.
pub(crate) fn expected_events() -> BTreeSet<(String, String, String)> {
    let placed = |email: &str, id: &str| ("pe_placed_order".into(), email.into(), id.into());
    BTreeSet::from([
        placed(ANA, "S1"),
        placed(ANA, "S2"),
        placed(BEN, "S3"),
        ("pe_refunded_order".into(), ANA.into(), "R1".into()),
    ])
}

async fn start(dir: &ShopDir) -> Pipeline {
    Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap()
}

fn bodies(requests: &[ShadowRequest]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_pilot_sends_nothing_stores_what_it_would_send_and_goes_live_with_all_of_it() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = shop(&sim, "shadow").write();
    dir.import("shop", &export(), &[]).await;
    let pipeline = start(&dir).await;
    drain_all(&pipeline, Duration::from_secs(60)).await;

    // Nothing reached the vendor: not one request.
    assert!(sim.seen().is_empty(), "{:?}", sim.seen());

    // The plugin ran for real: its requests are stored, without the token the host would add.
    let requests = pipeline.store.shadow_requests("crm", 1000).await.unwrap();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(r.url.starts_with(&sim.base_url()), "{}", r.url);
        assert!(
            !r.headers
                .iter()
                .any(|(name, value)| name.eq_ignore_ascii_case("authorization")
                    || value.contains(hubspot::TOKEN)),
            "{:?}",
            r.headers
        );
    }
    let bodies = bodies(&requests);
    // Cara refused marketing: her contact carries her consent only, and her sale is withheld.
    assert_eq!(
        upserted(&bodies),
        BTreeSet::from([ANA.to_string(), BEN.to_string(), CARA.to_string()])
    );
    assert_eq!(events(&bodies), expected_events());
    let consents: BTreeSet<&str> = (requests.iter())
        .filter_map(|r| {
            r.url
                .split("/communication-preferences/v4/statuses/")
                .nth(1)
        })
        .collect();
    assert_eq!(consents, BTreeSet::from([ANA, BEN, CARA]));

    // Dee, known by phone only, was refused by the plugin with its reason (profile, consent and
    // sale).
    let rejected = (pipeline.store)
        .dead_letters(Some("crm"), LetterStatus::Rejected, 100)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(rejected
        .iter()
        .any(|r| r.error.as_deref() == Some(NO_EMAIL)));
    assert!((rejected.iter()).all(|r| r.error.as_deref().unwrap_or("").starts_with("no email")));
    let status = dir.rapport(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("sink crm (SHADOW"), "{text}");
    let listed = dir
        .rapport(&["pilot", "requests", "--sink", "crm", "--json"])
        .await;
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), requests.len().min(50));
    pipeline.store.close().await;
    drop(pipeline);

    // Live: the vendor is sent everything the shadow run only captured, once.
    shop(&sim, "live").write_in(&dir);
    let pipeline = start(&dir).await;
    drain_all(&pipeline, Duration::from_secs(60)).await;
    let (contacts, events) = held(&sim);
    assert_eq!(
        contacts,
        BTreeSet::from([ANA.to_string(), BEN.to_string(), CARA.to_string()])
    );
    assert_eq!(events, expected_events());
    assert!(sim.seen().iter().all(|e| e.authorization.is_some()));
    let after = pipeline.store.shadow_requests("crm", 1000).await.unwrap();
    assert_eq!(after.len(), requests.len(), "a live sink captures nothing");
    pipeline.store.close().await;
}
