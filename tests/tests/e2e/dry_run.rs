//! `rapport sync --dry-run` against the real hubspot-sink and the HubSpot simulator: with sales
//! imported (an opted-out buyer, a phone-only one), the dry run reaches the simulator not at all
//! and leaves the store as it was; then a real `rapport sync` sends exactly what the dry run said
//! it would (the same contacts, consents and events), and what the dry run said would be withheld
//! or refused is what the outbox records as suppressed or rejected.

use crate::shadow::{events, export, held, shop, upserted, ANA, BEN, CARA};
use rapport_e2e::{output_text, ShopDir};
use rapport_fakes::hubspot::HubSpotSim;
use rapport_store::{LetterStatus, Store};
use serde_json::Value;
use std::collections::BTreeSet;

/// What the store says about the shop and sink `crm`: the summary, the backlog and the dead
/// letters, as one value to compare.
async fn store_state(dir: &ShopDir) -> Value {
    let store = Store::open(&dir.database_url()).await.unwrap();
    let summary = serde_json::to_value(store.summary().await.unwrap()).unwrap();
    let (backlog, next) = store.backlog("crm").await.unwrap();
    let rejected = store
        .dead_letters(Some("crm"), LetterStatus::Rejected, 1000)
        .await
        .unwrap()
        .len();
    let shadow = store.shadow_requests("crm", 1000).await.unwrap().len();
    store.close().await;
    serde_json::json!({
        "summary": summary, "backlog": backlog, "next": next, "rejected": rejected, "shadow": shadow,
    })
}

/// The (kind, person) of the dry run's items with `verdict`.
fn items(sink: &Value, verdict: &str) -> BTreeSet<(String, String)> {
    (sink["items"].as_array().unwrap().iter())
        .filter(|i| i["verdict"] == verdict)
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap().to_owned();
            (text("kind"), text("person"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_sends_and_records_nothing_and_a_real_sync_then_sends_exactly_what_it_said() {
    let sim = HubSpotSim::start().await.unwrap();
    let dir = shop(&sim, "live").write();
    dir.import("shop", &export(), &[]).await;
    let before = store_state(&dir).await;

    let dry = dir.rapport(&["sync", "--dry-run", "--json"]).await;
    assert!(dry.status.success(), "{}", output_text(&dry));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert!(sim.seen().is_empty(), "{:?}", sim.seen());
    assert_eq!(
        store_state(&dir).await,
        before,
        "the dry run changed the store"
    );
    let text = dir.rapport(&["sync", "--dry-run"]).await;
    let text = output_text(&text);
    assert!(
        text.contains("sink crm (live)") && text.contains("would send"),
        "{text}"
    );

    let sink = &report["sinks"][0];
    assert_eq!(sink["sink"], "crm");
    assert_eq!(
        sink["first"],
        serde_json::json!([]),
        "the sink was backfilled"
    );
    let bodies: Vec<Value> = (sink["requests"].as_array().unwrap().iter())
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap_or(Value::Null))
        .collect();
    let consents: BTreeSet<String> = (sink["requests"].as_array().unwrap().iter())
        .filter_map(|r| {
            r["url"]
                .as_str()?
                .split("/statuses/")
                .nth(1)
                .map(str::to_owned)
        })
        .collect();
    let emails = BTreeSet::from([ANA.to_string(), BEN.to_string(), CARA.to_string()]);
    assert_eq!(upserted(&bodies), emails);
    assert_eq!(consents, emails);
    // Cara refused marketing: her sale is withheld, her contact gets her consent only.
    let withheld = items(sink, "withheld");
    assert_eq!(withheld.len(), 1, "{withheld:?}");
    assert!(withheld.iter().all(|(kind, _)| kind == "activity"));
    assert_eq!(sink["withheld"], 1);
    // Dee has no email: HubSpot's plugin refuses her contact, her consent and her sale.
    let refused = items(sink, "refused_by_plugin");
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!((sink["items"].as_array().unwrap().iter())
        .filter(|i| i["verdict"] == "refused_by_plugin")
        .all(|i| i["reason"].as_str().unwrap().starts_with("no email")));
    assert_eq!(sink["changed"], 3);

    // The real sync sends exactly what the dry run said.
    let sync = dir.rapport(&["sync"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
    let (contacts, sent_events) = held(&sim);
    assert_eq!(contacts, upserted(&bodies));
    assert_eq!(sent_events, events(&bodies));
    let sent_consents: BTreeSet<String> = (sim.seen().iter())
        .filter_map(|e| e.path.split("/statuses/").nth(1).map(str::to_owned))
        .collect();
    assert_eq!(sent_consents, consents);
    let store = Store::open(&dir.database_url()).await.unwrap();
    let summary = store.summary().await.unwrap();
    let crm = summary.sinks.iter().find(|s| s.sink == "crm").unwrap();
    assert_eq!(crm.withheld, 1);
    let rejected: BTreeSet<(String, String)> = (store
        .dead_letters(Some("crm"), LetterStatus::Rejected, 100)
        .await
        .unwrap()
        .into_iter())
    .map(|d| (d.kind, d.profile_key))
    .collect();
    assert_eq!(rejected, refused);
    store.close().await;
}
