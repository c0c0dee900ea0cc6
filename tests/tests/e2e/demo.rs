//! The README's main job: the demo shop's year end to end, and the daemon it leaves serving. The
//! test grades it by what the HubSpot simulator and the mailer hold and by what rapport's own API
//! answers with an admin token, each worked out here from the simulated year (its receipts, its
//! customers' choices, the twin records, the cancelled order), not from the demo's summary.
//! `rapport status` leads with the API's north star, and the dashboard, logged in to in headless
//! Chromium, shows it and drills from a segment to its people (screenshot:
//! `target/test-artifacts/demo-dashboard.png`).

use crate::browser::{self, Browser};
use crate::dashboard::{click, expected_cards, log_in, shown_cards};
use chrono::{DateTime, Duration};
use rapport_demo::{DemoOptions, DEFAULT_SEED, THANKS, WIN_BACK};
use rapport_e2e::{journey_message, rapport_bin, target_dir};
use rapport_fakes::hubspot;
use rapport_fakes::shop::Receipt;
use rapport_fakes::year::{Habit, YearShop};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 24 * 3600;

/// The person a receipt's buyer is: the twin's two records are one.
fn person(year: &YearShop, r: &Receipt) -> Option<usize> {
    let c = r.customer?;
    Some(match c == year.twin.phone_record {
        true => year.twin.email_record,
        false => c,
    })
}

fn refused(year: &YearShop, c: usize) -> bool {
    year.shop.customers[c].marketing_opt_in == Some(false)
}

/// Every sale of the year and of the live part.
fn sales(year: &YearShop) -> impl Iterator<Item = &Receipt> {
    (year.shop.receipts.iter())
        .filter(|r| r.refund_of.is_none())
        .chain(&year.live)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shop_runs_a_year_end_to_end_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let outcome = rapport_demo::run(DemoOptions {
        plugins: target_dir().join("plugins"),
        dir: work.clone(),
        seed: DEFAULT_SEED,
    })
    .await
    .unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert!(work.join("rapport.db").exists() && work.join("rapport.toml").exists());
    assert_eq!(
        (outcome.answers.duplicates, outcome.answers.refused),
        (1, 1)
    );
    // Each live sale, and the merge's creation and its two deletions.
    assert_eq!(outcome.answers.stored, outcome.year.live.len() + 3);

    let (year, crm) = (&outcome.year, &outcome.crm);
    let customers = &year.shop.customers;
    let twin = &year.twin;

    // HubSpot: per contact, their sales and refunds; the till record without an email reaches
    // HubSpot only through the merged person, with the sales made after the merge.
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for r in year.shop.receipts.iter().chain(&year.live) {
        match r.customer {
            Some(c) if c != twin.phone_record => {
                *expected.entry(customers[c].email.as_str()).or_default() += 1
            }
            _ => {}
        }
    }
    let mut held: BTreeMap<String, usize> = BTreeMap::new();
    for event in crm.events() {
        let email = event["email"]
            .as_str()
            .expect("every event names its contact");
        *held.entry(email.to_string()).or_default() += 1;
    }
    for (c, customer) in customers.iter().enumerate() {
        if c == twin.phone_record {
            continue;
        }
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
        assert_eq!(unsubscribed, refused(year, c), "{}", customer.email);
        let want = match refused(year, c) {
            true => 0,
            false => expected.get(customer.email.as_str()).copied().unwrap_or(0),
        };
        assert_eq!(events, want, "timeline events of {}", customer.email);
    }
    assert_eq!(crm.contact_count(), customers.len() - 1);
    let twin_email = customers[twin.email_record].email.as_str();
    let twin_phone = customers[twin.phone_record].phone.clone().unwrap();
    let merged_contact = crm.contact(twin_email).unwrap();
    assert!(
        merged_contact
            .properties
            .values()
            .any(|v| v.replace(' ', "") == twin_phone.replace(' ', "")),
        "HubSpot has the merged person's phone: {:?}",
        merged_contact.properties
    );

    // The mailer: a thank-you per live sale by someone who did not refuse; win-back notes only to
    // people who did not refuse and had not bought in the last week of the history.
    let captured = outcome.mailer.captured();
    let mut messages: BTreeSet<(String, String)> = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for a in &captured.activities {
        if keys.insert(a["idempotency_key"].to_string()) {
            if let Some(m) = journey_message(a) {
                assert!(
                    messages.insert(m),
                    "one message per person and journey here"
                );
            }
        }
    }
    let thanked: BTreeSet<(String, String)> = (year.live.iter())
        .filter_map(|r| person(year, r))
        .filter(|&c| !refused(year, c))
        .map(|c| (THANKS.to_string(), customers[c].email.clone()))
        .collect();
    let thanks: BTreeSet<_> = messages
        .iter()
        .filter(|(j, _)| j == THANKS)
        .cloned()
        .collect();
    assert_eq!(thanks, thanked);
    let today = year.now.div_euclid(DAY) * DAY;
    let mut last_sale: BTreeMap<String, i64> = BTreeMap::new();
    for r in year.shop.receipts.iter().filter(|r| r.refund_of.is_none()) {
        if let Some(c) = person(year, r) {
            let at = last_sale.entry(customers[c].email.clone()).or_default();
            *at = (*at).max(r.at);
        }
    }
    for (_, email) in messages.iter().filter(|(j, _)| j == WIN_BACK) {
        let c = customers.iter().position(|c| &c.email == email).unwrap();
        assert!(!refused(year, c), "{email} refused marketing");
        assert!(
            last_sale[email] < today - 7 * DAY,
            "{email} bought last week"
        );
        assert_ne!(year.habits[c], Habit::Weekly, "{email} is a weekly regular");
    }

    // rapport's own API, as the dashboard reads it, with an admin token.
    let served = outcome.served;
    let token = served.admin_token().await.unwrap();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("{}{path}", served.base_url))
            .bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{}", response.url());
            response.json::<Value>().await.unwrap()
        }
    };
    // The twin is one profile, found by either identity, holding both records' sales.
    let by_email = get(format!("/api/profiles?email={twin_email}&view=marketer")).await;
    let by_phone = get(format!(
        "/api/profiles?phone={}&view=marketer",
        twin_phone.replace(' ', "").replace('+', "%2B")
    ))
    .await;
    assert_eq!(by_email["key"], by_phone["key"]);
    let twin_sales = sales(year)
        .filter(|r| person(year, r) == Some(twin.email_record))
        .count();
    assert_eq!(by_email["orders"], twin_sales as i64);
    // The cancelled order was never a sale.
    let cancelled_by = year.cancellation.order.customer.unwrap();
    let cancelled = get(format!(
        "/api/profiles?email={}&view=marketer",
        customers[cancelled_by].email
    ))
    .await;
    assert_eq!(cancelled["orders"], 0);
    assert_eq!(cancelled["rfm"], Value::Null);

    // The year's figures: buyers and repeat buyers (two or more days with a sale), by person.
    let from = DateTime::from_timestamp(today - 365 * DAY, 0)
        .unwrap()
        .date_naive();
    let to = DateTime::from_timestamp(today, 0).unwrap().date_naive() + Duration::days(1);
    let metrics = get(format!("/api/metrics?from={from}&to={to}")).await;
    let mut days: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
    for r in sales(year) {
        if let Some(c) = person(year, r) {
            days.entry(c).or_default().insert(r.at.div_euclid(DAY));
        }
    }
    let repeat = days.values().filter(|d| d.len() >= 2).count();
    let current = &metrics["sales"]["current"];
    assert_eq!(current["buyers"], days.len() as u64);
    assert_eq!(
        days.len(),
        customers.len() - 2,
        "all but the cancelled buyer, the twin once"
    );
    assert_eq!(current["repeat_buyers"], repeat as u64);
    assert_eq!(metrics["segments"]["buyers"], days.len() as u64);
    assert_eq!(metrics["predicted_lifetime_value"]["status"], "available");
    // The store's people: every customer record, the twin's two as one.
    let summary = get("/api/summary".to_string()).await;
    assert_eq!(summary["profiles"], customers.len() as u64 - 1);

    // `rapport status` leads with the north-star numbers of the last 30 days: those of
    // `/api/metrics` for its default period.
    let last_30 = get("/api/metrics".to_string()).await;
    let config = work.join("rapport.toml");
    let status = |json: bool| {
        let mut cmd = std::process::Command::new(rapport_bin());
        cmd.arg("status").arg("--config").arg(&config);
        if json {
            cmd.arg("--json");
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let out = status(true).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let north_star = serde_json::from_slice::<Value>(&out.stdout).unwrap()["north_star"].clone();
    let (now, before) = (&last_30["sales"]["current"], &last_30["sales"]["previous"]);
    assert_eq!(north_star["period"], last_30["period"]);
    assert_eq!(
        north_star["repeat_purchase_rate"],
        json!({"current": now["repeat_purchase_rate"], "previous": before["repeat_purchase_rate"]})
    );
    assert_eq!(
        north_star["median_days_to_second_order"]["current"],
        now["second_order"]["median_days"]
    );
    assert_eq!(
        north_star["lifetime_value_per_buyer"]["current"],
        now["lifetime_value"]["mean_per_buyer"]
    );
    assert_eq!(
        north_star["predicted_lifetime_value"],
        last_30["predicted_lifetime_value"]
    );
    let out = status(false).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = now["repeat_purchase_rate"].as_f64().unwrap();
    assert!(
        text.starts_with("north star") && text.contains(&format!("{:.1}%", rate * 100.0)),
        "{text}"
    );

    // The dashboard on the served demo, in headless Chromium: its north star is the API's, and a
    // segment drills down to the API's people.
    if browser::available() {
        let segment = (last_30["segments"]["segments"].as_array().unwrap().iter())
            .find(|s| s["people"] != 0)
            .unwrap()["segment"]
            .as_str()
            .unwrap()
            .to_string();
        let people = get(format!("/api/segments/{segment}/people")).await;
        let keys: Vec<Value> = (people["people"].as_array().unwrap().iter())
            .map(|p| p["key"].clone())
            .collect();
        Box::pin(on_the_dashboard(
            &served.base_url,
            &token,
            &last_30,
            &segment,
            &keys,
        ))
        .await;
    }

    served.shutdown().await.unwrap();
}

/// Logs in to the served demo's dashboard, checks its north star against `metrics` (the API's
/// default period) and the `segment`'s people against `keys`, and keeps a screenshot.
async fn on_the_dashboard(base: &str, token: &str, metrics: &Value, segment: &str, keys: &[Value]) {
    let mut page = Browser::start(1280, 800).await;
    log_in(&mut page, base, token).await;
    assert_eq!(shown_cards(&mut page).await, expected_cards(metrics));
    click(&mut page, &format!("button[data-segment={segment}]")).await;
    page.wait_for("document.querySelector('#people tbody tr')")
        .await;
    let rows = page
        .eval("[...document.querySelectorAll('#people tbody tr')].map(tr => tr.dataset.key)")
        .await;
    assert_eq!(rows, json!(keys));
    page.eval("window.scrollTo(0, 0)").await;
    page.keep_screenshot("demo-dashboard.png").await;
    page.close().await;
}
