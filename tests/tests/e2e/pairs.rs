//! Source × sink pairs end to end through the host, against simulators: what the CRM holds afterwards
//! must match the shop exactly — people, consent, sales, refunds and money.

use rapport_e2e::{plugin, TestShop};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::shop::SampleShop;
use rapport_fakes::square::{self, SquareServer};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const SQUARE_TOKEN: &str = "square-pair-token";

/// A shop whose plugins read `secrets`.
fn shop_config(secrets: &[(&str, &str)]) -> TestShop {
    // The sample shops rely on the soft opt-in for their buyers (Square records only refusals):
    // customers who never chose are sent, those who refused reach the CRM as their refusal alone.
    // The square-source is granted both secrets its manifest names, so both must be set, though
    // only the token is used when it polls.
    TestShop::new()
        .sqlite()
        .secrets(secrets)
        .secrets(&[("square_signature_key", "pair-signature-key")])
        .marketing_without_choice("send")
}

/// `config` with the square-source reading both of the simulator's locations.
fn square_source(config: TestShop, square: &SquareServer) -> TestShop {
    let locations = format!(
        "{},{}",
        square::location_id("High Street"),
        square::location_id("Market Hall"),
    );
    config.source(
        "square",
        &plugin("square-source"),
        [
            ("api_base", square.base_url().into()),
            ("location_ids", locations.into()),
        ],
    )
}

/// Starts `shop` in `dir` and syncs once.
async fn sync(dir: &Path, shop: &TestShop) -> Pipeline {
    let pipeline = Pipeline::start(Config::parse(&shop.text(dir), dir).unwrap())
        .await
        .unwrap();
    let report = pipeline
        .sync_once(Duration::from_secs(5), Duration::from_secs(120))
        .await
        .unwrap();
    assert!(report.poll_errors.is_empty(), "{:?}", report.poll_errors);
    assert_eq!(report.still_waiting, 0);
    pipeline
}

fn cents(value: &serde_json::Value) -> i64 {
    (value.as_f64().expect("a number") * 100.0).round() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn square_to_klaviyo_holds_every_customer_sale_refund_and_opt_out() {
    let shop = SampleShop::generate(31, 90, 0);
    let square = SquareServer::start(SQUARE_TOKEN).await.unwrap();
    square.load_shop(&shop);
    let klaviyo = KlaviyoSim::start().await.unwrap();
    klaviyo.add_list("LIST1");
    let dir = tempfile::tempdir().unwrap();
    let config = square_source(
        shop_config(&[
            ("square_token", SQUARE_TOKEN),
            ("klaviyo_key", klaviyo::API_KEY),
        ]),
        &square,
    )
    .sink(
        "klaviyo",
        &plugin("klaviyo-sink"),
        [
            ("api_base", klaviyo.base_url().into()),
            ("list_id", "LIST1".into()),
        ],
    );
    sync(dir.path(), &config).await;

    // One profile per customer, named as in the POS unless they refused marketing.
    let profiles = klaviyo.profiles();
    let by_email: BTreeMap<String, _> = profiles
        .iter()
        .map(|p| (p.email.clone().expect("every customer has an email"), p))
        .collect();
    let customers: BTreeSet<String> = shop.customers.iter().map(|c| c.email.clone()).collect();
    assert_eq!(by_email.keys().cloned().collect::<BTreeSet<_>>(), customers);
    for c in &shop.customers {
        let p = by_email[&c.email];
        let (given, family) = c.name.split_once(' ').unwrap();
        // Those who refused are sent as their refusal alone, without their names.
        let named = (c.marketing_opt_in != Some(false)).then_some((given, family));
        assert_eq!(p.first_name.as_deref().zip(p.last_name.as_deref()), named);
        // A customer who opted out at the POS is unsubscribed at Klaviyo; nobody is subscribed
        // without an explicit opt-in.
        let state = p.email_marketing.as_ref().map(|m| m.consent.as_str());
        if c.marketing_opt_in == Some(false) {
            assert_eq!(state, Some("UNSUBSCRIBED"), "{}", c.email);
        } else {
            assert_ne!(state, Some("SUBSCRIBED"), "{}", c.email);
        }
    }

    // Every attributed sale and refund, once, with its money, on the buyer's profile.
    let email_of: BTreeMap<&str, &str> = profiles
        .iter()
        .map(|p| (p.id.as_str(), p.email.as_deref().unwrap()))
        .collect();
    let mut sales = BTreeMap::new();
    let mut refunds = BTreeMap::new();
    for e in klaviyo.events() {
        assert_eq!(e.value_currency.as_deref(), Some("GBP"));
        let buyer = email_of[e.profile_id.as_str()].to_string();
        let amount = cents(e.value.as_ref().unwrap());
        let unique = e.unique_id.clone().unwrap();
        assert_eq!(
            klaviyo.event_posts(&unique),
            1,
            "event {unique} posted more than once"
        );
        match e.metric.as_str() {
            "Placed Order" => {
                let id = e.properties["order_id"].as_str().unwrap().to_string();
                assert!(sales.insert(id, (amount, buyer)).is_none());
            }
            "Refunded Order" => {
                let id = e.properties["refund_id"].as_str().unwrap().to_string();
                assert!(refunds.insert(id, (amount, buyer)).is_none());
            }
            other => panic!("unexpected metric {other}"),
        }
    }
    let buyer =
        |r: &rapport_fakes::shop::Receipt| shop.customers[r.customer.unwrap()].email.clone();
    let expected_sales: BTreeMap<String, (i64, String)> = shop
        .attributed_sales()
        .filter(|r| !shop.buyer_opted_out(r))
        .map(|r| (r.id.clone(), (r.total_cents, buyer(r))))
        .collect();
    let expected_refunds: BTreeMap<String, (i64, String)> = shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_some() && !shop.buyer_opted_out(r))
        .map(|r| (r.id.clone(), (r.total_cents, buyer(r))))
        .collect();
    assert_eq!(sales, expected_sales);
    assert_eq!(refunds, expected_refunds);
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_to_mailchimp_holds_every_member_with_the_right_status_and_every_order() {
    use rapport_fakes::mailchimp::{self, MailchimpSim};
    use rapport_fakes::shopify::{self, ShopifyServer};

    let shop = SampleShop::generate(44, 90, 0);
    let shopify = ShopifyServer::start("shpat_pair").await.unwrap();
    shopify.load_shop(&shop, "USD");
    let mailchimp = MailchimpSim::start().await.unwrap();
    mailchimp.add_list("L1");
    mailchimp.add_store("S1");
    let dir = tempfile::tempdir().unwrap();
    let config = shop_config(&[
        ("shopify_token", "shpat_pair"),
        ("shopify_webhook_secret", "whsec"),
        ("mailchimp_key", mailchimp::API_KEY),
    ])
    .source(
        "shopify",
        &plugin("shopify-source"),
        [("api_base", shopify.base_url().into())],
    )
    .sink(
        "mailchimp",
        &plugin("mailchimp-sink"),
        [
            ("api_base", mailchimp.api_base().into()),
            ("list_id", "L1".into()),
            ("store_id", "S1".into()),
        ],
    );
    sync(dir.path(), &config).await;

    // Every customer is a member, with the status their own choice allows: never subscribed
    // without an opt-in.
    assert_eq!(mailchimp.member_count("L1"), shop.customers.len());
    for c in &shop.customers {
        let m = mailchimp
            .member("L1", &c.email)
            .unwrap_or_else(|| panic!("{} missing", c.email));
        let expected = match c.marketing_opt_in {
            Some(true) => "subscribed",
            Some(false) => "unsubscribed",
            None => "transactional",
        };
        assert_eq!(m.status, expected, "{}", c.email);
        // Those who refused are sent as their refusal alone, without their names.
        if c.marketing_opt_in != Some(false) {
            let (first, last) = c.name.split_once(' ').unwrap();
            assert_eq!(m.merge_fields["FNAME"], first);
            assert_eq!(m.merge_fields["LNAME"], last);
        }
    }

    // Every attributed sale is an order in the store, with its total, on its buyer.
    let orders = mailchimp.orders("S1");
    let expected: BTreeMap<String, (i64, String)> = shop
        .attributed_sales()
        .filter(|r| !shop.buyer_opted_out(r))
        .map(|r| {
            let buyer = shop.customers[r.customer.unwrap()].email.clone();
            (
                shopify::shopify_id(&r.id).to_string(),
                (r.total_cents, buyer),
            )
        })
        .collect();
    let held: BTreeMap<String, (i64, String)> = orders
        .iter()
        .map(|(id, o)| {
            let buyer = o["customer"]["email_address"].as_str().unwrap().to_string();
            (id.clone(), (cents(&o["order_total"]), buyer))
        })
        .collect();
    assert_eq!(held, expected);

    // Every refund is an event on its buyer.
    let mut refunds_by_buyer: BTreeMap<String, usize> = BTreeMap::new();
    for r in shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_some() && !shop.buyer_opted_out(r))
    {
        *refunds_by_buyer
            .entry(shop.customers[r.customer.unwrap()].email.clone())
            .or_default() += 1;
    }
    for (email, count) in refunds_by_buyer {
        let events = mailchimp.member("L1", &email).unwrap().events;
        let refunds = events
            .iter()
            .filter(|e| e["name"].as_str().unwrap().contains("refund"))
            .count();
        assert_eq!(refunds, count, "{email}: {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn square_to_hubspot_holds_every_contact_opt_out_sale_and_refund() {
    use rapport_fakes::hubspot::{self, HubSpotSim};

    let shop = SampleShop::generate(52, 90, 0);
    let square = SquareServer::start(SQUARE_TOKEN).await.unwrap();
    square.load_shop(&shop);
    let crm = HubSpotSim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = square_source(
        shop_config(&[
            ("square_token", SQUARE_TOKEN),
            ("hubspot_token", hubspot::TOKEN),
        ]),
        &square,
    )
    .sink(
        "hubspot",
        &plugin("hubspot-sink"),
        [
            ("api_base", crm.base_url().into()),
            ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
        ],
    );
    sync(dir.path(), &config).await;

    // A contact per customer, with the POS's names; opt-outs recorded as unsubscribed.
    assert_eq!(crm.contact_count(), shop.customers.len());
    for c in &shop.customers {
        let contact = crm
            .contact(&c.email)
            .unwrap_or_else(|| panic!("{} missing", c.email));
        let (first, last) = c.name.split_once(' ').unwrap();
        let names = |field: &str| contact.properties.get(field).map(String::as_str);
        if c.marketing_opt_in == Some(false) {
            assert_eq!((names("firstname"), names("lastname")), (None, None));
        } else {
            assert_eq!(
                (names("firstname"), names("lastname")),
                (Some(first), Some(last))
            );
        }
        let status = crm.subscription_status(&c.email, hubspot::SUBSCRIPTION_ID);
        if c.marketing_opt_in == Some(false) {
            assert_eq!(
                status.map(|s| s.status),
                Some("UNSUBSCRIBED".to_string()),
                "{}",
                c.email
            );
        } else {
            assert!(
                status.is_none_or(|s| s.status != "SUBSCRIBED"),
                "{} subscribed without opt-in",
                c.email
            );
        }
    }

    // Every attributed sale and refund as a timeline event on its buyer, with its amount.
    let mut held = BTreeMap::new();
    for e in crm.events() {
        let id = e["properties"]
            .get("refund_id")
            .or_else(|| e["properties"].get("order_id"))
            .and_then(|v| v.as_str())
            .unwrap()
            .to_string();
        let amount: f64 = e["properties"]["amount"].as_str().map_or_else(
            || e["properties"]["amount"].as_f64().unwrap(),
            |s| s.parse().unwrap(),
        );
        let uuid = e["uuid"].as_str().unwrap();
        assert_eq!(
            crm.event_arrivals(uuid),
            1,
            "event {uuid} arrived more than once"
        );
        let entry = (
            e["eventName"].as_str().unwrap().to_string(),
            (amount * 100.0).round() as i64,
            e["email"].as_str().unwrap().to_string(),
        );
        assert!(held.insert(id, entry).is_none());
    }
    let buyer =
        |r: &rapport_fakes::shop::Receipt| shop.customers[r.customer.unwrap()].email.clone();
    let mut expected = BTreeMap::new();
    for r in shop.attributed_sales().filter(|r| !shop.buyer_opted_out(r)) {
        expected.insert(
            r.id.clone(),
            ("pe_placed_order".to_string(), r.total_cents, buyer(r)),
        );
    }
    for r in shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_some() && !shop.buyer_opted_out(r))
    {
        expected.insert(
            r.id.clone(),
            ("pe_refunded_order".to_string(), r.total_cents, buyer(r)),
        );
    }
    assert_eq!(held, expected);

    // An order changed at the till (a new version, a new total) counts once, at its latest total,
    // in its buyer's figures, and records no second sale.
    let changed = shop
        .attributed_sales()
        .find(|r| !shop.buyer_opted_out(r))
        .unwrap();
    let new_total = changed.total_cents + 1_000;
    square.update_order(&changed.id, "2026-11-20T12:00:00.000Z", |o| {
        o["total_money"]["amount"] = serde_json::json!(new_total)
    });
    sync(dir.path(), &config).await;
    let email = buyer(changed);
    let theirs = |r: &&rapport_fakes::shop::Receipt| buyer(r) == email;
    let orders = shop.attributed_sales().filter(theirs).count();
    let spent: i64 = shop
        .attributed_sales()
        .filter(theirs)
        .map(|r| r.total_cents)
        .sum::<i64>()
        + (new_total - changed.total_cents)
        - shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_some())
            .filter(theirs)
            .map(|r| r.total_cents)
            .sum::<i64>();
    let contact = crm.contact(&email).unwrap();
    assert_eq!(contact.properties["orders_count"], orders.to_string());
    let net_spent: f64 = contact.properties["net_spent"].parse().unwrap();
    assert_eq!((net_spent * 100.0).round() as i64, spent, "{email}");
    assert_eq!(crm.events().len(), expected.len());
}
