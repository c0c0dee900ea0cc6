//! The README's main job: the demo shop end to end at its default size. The test grades it by what
//! the HubSpot simulator holds, worked out here from the simulated shop, not by the demo's own
//! summary.

use rapport_demo::{DemoOptions, DEFAULT_SALES};
use rapport_e2e::target_dir;
use rapport_fakes::hubspot;
use rapport_fakes::shop::Receipt;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shop_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let outcome = rapport_demo::run(DemoOptions {
        plugins: target_dir().join("plugins"),
        dir: work.clone(),
        sales: DEFAULT_SALES,
    })
    .await
    .unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert!(work.join("rapport.db").exists() && work.join("rapport.toml").exists());
    assert_eq!(
        (outcome.answers.duplicates, outcome.answers.refused),
        (1, 1)
    );
    assert_eq!(outcome.answers.stored, outcome.fresh_sales.len());

    let (shop, crm) = (&outcome.history, &outcome.crm);
    // Per buyer's email: their sales and refunds in the history, and their fresh sales.
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    let receipts: Vec<&Receipt> = shop
        .valid_receipts()
        .chain(outcome.fresh_sales.iter())
        .collect();
    for receipt in &receipts {
        if let Some(c) = receipt.customer {
            *expected
                .entry(shop.customers[c].email.as_str())
                .or_default() += 1;
        }
    }
    let mut held: BTreeMap<String, usize> = BTreeMap::new();
    for event in crm.events() {
        let email = event["email"]
            .as_str()
            .expect("every event names its contact");
        *held.entry(email.to_string()).or_default() += 1;
    }
    for customer in &shop.customers {
        let contact = crm.contact(&customer.email);
        assert!(
            contact.is_some(),
            "{} is not a HubSpot contact",
            customer.email
        );
        let unsubscribed = crm
            .subscription_status(&customer.email, hubspot::SUBSCRIPTION_ID)
            .is_some_and(|s| s.status == "UNSUBSCRIBED");
        let events = held.get(&customer.email).copied().unwrap_or(0);
        if customer.marketing_opt_in == Some(false) {
            assert!(unsubscribed, "{} refused marketing", customer.email);
            assert_eq!(
                events, 0,
                "{} refused: none of their purchases go",
                customer.email
            );
        } else {
            assert!(!unsubscribed, "{} never refused", customer.email);
            let want = expected.get(customer.email.as_str()).copied().unwrap_or(0);
            assert_eq!(events, want, "timeline events of {}", customer.email);
        }
    }
    assert_eq!(crm.contact_count(), shop.customers.len());
    assert!(
        held.keys()
            .all(|email| shop.customers.iter().any(|c| &c.email == email)),
        "an event names someone who is not the shop's customer"
    );
}
