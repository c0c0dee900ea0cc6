//! The Shopify source on contract 0.3, end to end: the real wasm plugin, the real host pipeline and
//! the Shopify simulator, checked in what the host stored (the canonical payloads of the `events`
//! table). Shopify's mandatory privacy webhooks become privacy requests of their kind, each stored
//! once however often it is delivered, and a forged one is refused; a deleted customer is a
//! `customer_deleted`; SMS marketing consent lands on the customer; a line's category is its
//! product's `product_type`, read with one `products.json` request per poll page (none for a
//! product the orders cursor already knows) or per webhook, and a failed product read loses no
//! order. Every expected value is worked out by hand here, from what the test stages.

use crate::vendor_sales::{line, ms, sale, stored, Stored};
use rapport_e2e::{plugin, TestShop};
use rapport_fakes::shop::{Line, Receipt};
use rapport_fakes::shopify::{self, ShopifyServer};
use rapport_host::config::Config;
use rapport_host::ingest::push::PushError;
use rapport_host::ingest::IngestReport;
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};
use sqlx::AnyPool;
use std::collections::BTreeSet;
use tempfile::TempDir;

const TOKEN: &str = "shpat_v0_3_token";
const SECRET: &str = "test-client-secret";

/// A shop with the shopify-source "shopify" reading `server`, `page_limit` records a page.
async fn start(server: &ShopifyServer, page_limit: i64) -> (Pipeline, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .secrets(&[("shopify_token", TOKEN), ("shopify_webhook_secret", SECRET)])
        .source(
            "shopify",
            &plugin("shopify-source"),
            [
                ("api_base", server.base_url().into()),
                ("page_limit", toml::Value::Integer(page_limit)),
            ],
        )
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    (pipeline, dir)
}

async fn poll(pipeline: &Pipeline) -> IngestReport {
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.rejected, 0, "nothing the source read was refused");
    report
}

/// `resource` posted as Shopify would for `topic`, delivery `webhook_id`, signed with `secret`.
async fn push(
    pipeline: &Pipeline,
    secret: &str,
    topic: &str,
    webhook_id: &str,
    resource: &Value,
) -> Result<IngestReport, PushError> {
    let (headers, body) = shopify::webhook(secret, topic, webhook_id, resource);
    pipeline.intake.receive_push("shopify", headers, body).await
}

fn event<'a>(events: &'a [Stored], event_id: &str) -> &'a Stored {
    events
        .iter()
        .find(|e| e.event_id == event_id)
        .unwrap_or_else(|| {
            let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            panic!("no event {event_id} among {ids:?}")
        })
}

fn identity(kind: &str, value: &str) -> Value {
    json!({"kind": kind, "value": value})
}

/// A Shopify customer with an email, a phone and the given marketing consents.
fn customer(id: u64, email: &str, phone: &str, email_consent: Value, sms_consent: Value) -> Value {
    json!({
        "id": id, "email": email, "phone": phone, "first_name": "Ana", "last_name": "Silva",
        "created_at": "2026-09-01T06:00:00-04:00", "updated_at": "2026-09-05T06:00:00-04:00",
        "state": "enabled", "verified_email": true, "tags": "", "currency": "USD",
        "addresses": [], "tax_exemptions": [],
        "email_marketing_consent": email_consent, "sms_marketing_consent": sms_consent,
        "admin_graphql_api_id": format!("gid://shopify/Customer/{id}"),
    })
}

// ---- Privacy webhooks and deletions ----

const ANA: u64 = 7_100_000_000_301;
const ANA_EMAIL: &str = "ana.silva@example.com";
const ANA_PHONE: &str = "+442079460301";

/// A simulator holding Ana, who has placed one order.
async fn shop_with_ana() -> ShopifyServer {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    let not_asked = json!({"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null});
    let ana = customer(ANA, ANA_EMAIL, ANA_PHONE, not_asked.clone(), not_asked);
    server.put_customer(ana.clone());
    let sale = receipt(
        "R000300",
        "2026-10-05T10:00:00Z",
        vec![line("MUG-STONE", "Stoneware mug", 1, 1800)],
    );
    server.put_order(shopify::shopify_order(&sale, Some(ana), "USD"));
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_webhooks_are_stored_as_privacy_requests_once_each() {
    let server = shop_with_ana().await;
    let (pipeline, _dir) = start(&server, 50).await;
    let ana_ids = json!([
        identity("vendor_customer", &ANA.to_string()),
        identity("email", ANA_EMAIL),
        identity("phone", ANA_PHONE),
    ]);

    // customers/redact: no id in the body, so the request is the delivery's.
    let redact = server.customers_redact(ANA);
    assert_eq!(
        redact["orders_to_redact"],
        json!([shopify::shopify_id("R000300")])
    );
    let first = push(
        &pipeline,
        SECRET,
        "customers/redact",
        "wh-redact-1",
        &redact,
    )
    .await
    .unwrap();
    assert_eq!((first.accepted, first.duplicates), (1, 0));
    let again = push(
        &pipeline,
        SECRET,
        "customers/redact",
        "wh-redact-1",
        &redact,
    )
    .await
    .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1), "a redelivery");

    // customers/data_request: Shopify's request id, whatever delivery brings it.
    let request = server.customers_data_request(ANA, 9_999);
    let first = push(
        &pipeline,
        SECRET,
        "customers/data_request",
        "wh-dr-1",
        &request,
    )
    .await
    .unwrap();
    assert_eq!(first.accepted, 1);
    for delivery in ["wh-dr-1", "wh-dr-2"] {
        let again = push(
            &pipeline,
            SECRET,
            "customers/data_request",
            delivery,
            &request,
        )
        .await
        .unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 1), "{delivery}");
    }

    // shop/redact names nobody.
    let shop = shopify::shop_redact();
    push(&pipeline, SECRET, "shop/redact", "wh-shop-1", &shop)
        .await
        .unwrap();
    let again = push(&pipeline, SECRET, "shop/redact", "wh-shop-1", &shop)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));

    // A privacy webhook signed with another secret is refused, and nothing of it is stored.
    let forged = server.customers_redact(ANA);
    assert!(matches!(
        push(
            &pipeline,
            "forged-secret",
            "customers/redact",
            "wh-forged",
            &forged
        )
        .await,
        Err(PushError::Auth(_))
    ));

    let events = stored(&pipeline).await;
    let ids: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.event_id.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("wh-redact-1", "privacy_request"),
            ("data_request:9999", "privacy_request"),
            ("wh-shop-1", "privacy_request"),
        ]
    );
    let redact = event(&events, "wh-redact-1");
    assert_eq!(redact.object_id, "wh-redact-1");
    assert_eq!(
        redact.payload,
        json!({"type": "privacy_request", "id": "wh-redact-1", "kind": "redact", "identities": ana_ids})
    );
    let request = event(&events, "data_request:9999");
    assert_eq!(request.object_id, "9999");
    assert_eq!(
        request.payload,
        json!({"type": "privacy_request", "id": "9999", "kind": "data_request", "identities": ana_ids})
    );
    assert_eq!(
        event(&events, "wh-shop-1").payload,
        json!({"type": "privacy_request", "id": "wh-shop-1", "kind": "shop_redact", "identities": []})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_customer_is_stored_as_customer_deleted() {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    let (pipeline, _dir) = start(&server, 50).await;
    let ben: u64 = 7_100_000_000_302;
    let not_asked = json!({"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null});
    server.put_customer(customer(
        ben,
        "ben@example.com",
        "+442079460302",
        not_asked.clone(),
        not_asked,
    ));
    poll(&pipeline).await;

    let deleted = server.delete_customer(ben);
    let report = push(&pipeline, SECRET, "customers/delete", "wh-del-1", &deleted)
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    let again = push(&pipeline, SECRET, "customers/delete", "wh-del-1", &deleted)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));

    let events = stored(&pipeline).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["customer", "customer_deleted"]);
    let gone = event(&events, "customer:7100000000302:deleted");
    assert_eq!(
        gone.payload,
        json!({"type": "customer_deleted", "identities": [identity("vendor_customer", "7100000000302")]})
    );
}

// ---- SMS consent ----

#[tokio::test(flavor = "multi_thread")]
async fn sms_marketing_consent_lands_on_the_customer() {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    let (pipeline, _dir) = start(&server, 50).await;
    let (ana, ben) = (7_100_000_000_401_u64, 7_100_000_000_402_u64);
    let not_asked = json!({"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null});
    // Ana said yes to texts at 06:00 (UTC−4) on 2 September, and was never asked about email.
    server.put_customer(customer(
        ana,
        "ana@example.com",
        "+442079460401",
        not_asked,
        shopify::sms_marketing_consent(
            "subscribed",
            "single_opt_in",
            Some("2026-09-02T06:00:00-04:00"),
        ),
    ));
    // Ben subscribed to email at 08:00 on 3 September; his texts wait for a confirmation.
    server.put_customer(customer(
        ben,
        "ben@example.com",
        "+442079460402",
        json!({"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": "2026-09-03T08:00:00-04:00"}),
        shopify::sms_marketing_consent("pending", "confirmed_opt_in", None),
    ));
    poll(&pipeline).await;

    let events = stored(&pipeline).await;
    let consents = |event_id: &str| {
        let customer = &event(&events, event_id).payload;
        customer["consents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["channel"].as_str().unwrap().to_owned(),
                    c["purpose"].as_str().unwrap().to_owned(),
                    c["state"].as_str().unwrap().to_owned(),
                    ms(c["at"].as_str().unwrap()),
                    c["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let granted = |channel: &str, at: &str, source: &str| {
        (
            channel.to_owned(),
            "marketing".to_owned(),
            "granted".to_owned(),
            ms(at),
            source.to_owned(),
        )
    };
    assert_eq!(
        consents(&format!("customer:{ana}:2026-09-05T06:00:00-04:00")),
        [granted(
            "sms",
            "2026-09-02T10:00:00Z",
            "shopify-sms_marketing_consent:single_opt_in"
        )]
    );
    assert_eq!(
        consents(&format!("customer:{ben}:2026-09-05T06:00:00-04:00")),
        [granted(
            "email",
            "2026-09-03T12:00:00Z",
            "shopify-email_marketing_consent:single_opt_in"
        )],
        "a pending SMS opt-in records no choice"
    );

    // Ana stops the texts at 09:30 (UTC−4) on 1 October: a customers/update webhook.
    server.update_customer(ana, "2026-10-01T09:30:05-04:00", |c| {
        c["sms_marketing_consent"] = shopify::sms_marketing_consent(
            "unsubscribed",
            "single_opt_in",
            Some("2026-10-01T09:30:00-04:00"),
        );
    });
    let report = push(
        &pipeline,
        SECRET,
        "customers/update",
        "wh-sms-1",
        &server.customers()[0],
    )
    .await
    .unwrap();
    assert_eq!(report.accepted, 1);
    let events = stored(&pipeline).await;
    let revoked = &event(&events, "wh-sms-1").payload["consents"];
    assert_eq!(revoked.as_array().unwrap().len(), 1, "{revoked}");
    assert_eq!(
        (&revoked[0]["channel"], &revoked[0]["state"]),
        (&json!("sms"), &json!("revoked"))
    );
    assert_eq!(
        ms(revoked[0]["at"].as_str().unwrap()),
        ms("2026-10-01T13:30:00Z")
    );
}

// ---- Categories ----

/// A web sale at `date` (UTC), no tax or discount.
fn receipt(id: &str, date: &str, lines: Vec<Line>) -> Receipt {
    sale(id, date, lines, true, 0, 0)
}

fn bean(quantity: u32) -> Line {
    line("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", quantity, 1450)
}
fn mug() -> Line {
    line("MUG-STONE", "Stoneware mug", 1, 1800)
}
fn filters(quantity: u32) -> Line {
    line("FILTER-V60", "V60 paper filters x100", quantity, 650)
}
fn tea() -> Line {
    line("TEA-SEN-100", "Sencha 100g", 1, 990)
}
fn grinder() -> Line {
    line("GRINDER-HND", "Hand grinder", 1, 4900)
}

/// The catalogue: beans are "Coffee beans", the mug "Homeware", tea "Tea", the grinder "Brewing",
/// and the filters have no product type.
fn put_products(server: &ShopifyServer) {
    for (l, product_type) in [
        (bean(1), "Coffee beans"),
        (mug(), "Homeware"),
        (filters(1), ""),
        (tea(), "Tea"),
        (grinder(), "Brewing"),
    ] {
        server.put_product(shopify::shopify_product(
            &l,
            "USD",
            product_type,
            "2026-08-01T10:00:00-04:00",
        ));
    }
}

/// The `products.json` requests the simulator received: each one's status and the ids it asked.
fn product_reads(server: &ShopifyServer) -> Vec<(u16, BTreeSet<u64>)> {
    server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/products.json"))
        .map(|r| {
            assert_eq!(r.param("fields"), Some("id,product_type,updated_at"));
            let ids = r
                .param("ids")
                .unwrap()
                .split(',')
                .map(|id| id.parse().unwrap())
                .collect();
            (r.status, ids)
        })
        .collect()
}

fn ids(skus: &[&str]) -> BTreeSet<u64> {
    skus.iter().map(|sku| shopify::product_id(sku)).collect()
}

/// The categories of the lines of the stored order or refund `event_id`.
fn categories(events: &[Stored], event_id: &str) -> Vec<Option<String>> {
    event(events, event_id).payload["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["category"].as_str().map(str::to_owned))
        .collect()
}

fn named(categories: &[Option<&str>]) -> Vec<Option<String>> {
    categories.iter().map(|c| c.map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_carry_their_products_type_read_once_per_page_and_remembered() {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    put_products(&server);
    let (pipeline, _dir) = start(&server, 2).await;
    let order = |id: &str, date: &str, lines: Vec<Line>| {
        server.put_order(shopify::shopify_order(
            &receipt(id, date, lines),
            None,
            "USD",
        ));
        shopify::shopify_id(id)
    };
    let o1 = order("R000201", "2026-10-05T10:00:00Z", vec![bean(2), mug()]);
    let o2 = order("R000202", "2026-10-05T11:00:00Z", vec![filters(1), bean(1)]);
    let o3 = order("R000203", "2026-10-05T12:00:00Z", vec![mug(), filters(2)]);

    // Two pages ([o1, o2], [o3]): one products read for the first page's three products; the
    // second page's mug and filters are known by then.
    poll(&pipeline).await;
    assert_eq!(
        product_reads(&server),
        [(200, ids(&["BEAN-ETH-250", "MUG-STONE", "FILTER-V60"]))]
    );

    // The next poll reads o3 again (the watermark is inclusive) and the new o4: only the tea is
    // new.
    let o4 = order("R000204", "2026-10-06T10:00:00Z", vec![bean(1), tea()]);
    poll(&pipeline).await;
    assert_eq!(product_reads(&server).len(), 2);
    assert_eq!(product_reads(&server)[1], (200, ids(&["TEA-SEN-100"])));

    // The mug of o1 comes back (o1 changes at 10:00 UTC−4 on 7 October) and o5 sells another
    // mug: pages [o4, o1] and [o5], every product known, no products read at all.
    let mug_back = shopify::refund_lines(
        &server.order(o1).unwrap(),
        9_101,
        "2026-10-07T10:00:00-04:00",
        &[(1, 1)],
    );
    server.add_refund(mug_back);
    let o5 = order("R000205", "2026-10-07T16:00:00Z", vec![mug()]);
    poll(&pipeline).await;
    assert_eq!(
        product_reads(&server).len(),
        2,
        "no read for known products"
    );

    let events = stored(&pipeline).await;
    let coffee = Some("Coffee beans");
    let homeware = Some("Homeware");
    assert_eq!(
        categories(&events, &format!("order:{o1}:2026-10-05T06:00:00-04:00")),
        named(&[coffee, homeware])
    );
    assert_eq!(
        categories(&events, &format!("order:{o2}:2026-10-05T07:00:00-04:00")),
        named(&[None, coffee]),
        "the filters have no product type"
    );
    assert_eq!(
        categories(&events, &format!("order:{o3}:2026-10-05T08:00:00-04:00")),
        named(&[homeware, None])
    );
    assert_eq!(
        categories(&events, &format!("order:{o4}:2026-10-06T06:00:00-04:00")),
        named(&[coffee, Some("Tea")])
    );
    assert_eq!(
        categories(&events, &format!("order:{o1}:2026-10-07T10:00:00-04:00")),
        named(&[coffee, homeware])
    );
    assert_eq!(categories(&events, "refund:9101"), named(&[homeware]));
    assert_eq!(
        categories(&events, &format!("order:{o5}:2026-10-07T12:00:00-04:00")),
        named(&[homeware])
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "order").count(),
        6,
        "o1 twice, o2, o3, o4, o5"
    );

    // A webhook has no cursor: one read for the products of its order.
    let o6 = receipt("R000206", "2026-10-08T10:00:00Z", vec![grinder(), bean(1)]);
    let created = shopify::shopify_order(&o6, None, "USD");
    server.put_order(created.clone());
    let report = push(&pipeline, SECRET, "orders/create", "wh-o6", &created)
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        product_reads(&server)[2..],
        [(200, ids(&["GRINDER-HND", "BEAN-ETH-250"]))]
    );
    let events = stored(&pipeline).await;
    assert_eq!(
        categories(&events, "wh-o6"),
        named(&[Some("Brewing"), coffee])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_product_read_loses_no_order() {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    put_products(&server);
    let (pipeline, _dir) = start(&server, 50).await;
    let o7 = receipt("R000207", "2026-10-05T10:00:00Z", vec![bean(1)]);
    server.put_order(shopify::shopify_order(&o7, None, "USD"));
    let o7_event = format!(
        "order:{}:2026-10-05T06:00:00-04:00",
        shopify::shopify_id("R000207")
    );

    // Shopify unavailable for the product read: the poll step fails and stores nothing, and
    // the next poll reads the page again, with its categories.
    server.fail_next_products(1, 503);
    let (_, errors) = pipeline.poll_all_once().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(stored(&pipeline).await.is_empty());
    poll(&pipeline).await;
    let events = stored(&pipeline).await;
    assert_eq!(
        categories(&events, &o7_event),
        named(&[Some("Coffee beans")])
    );
    assert_eq!(
        product_reads(&server),
        [(503, ids(&["BEAN-ETH-250"])), (200, ids(&["BEAN-ETH-250"]))]
    );

    // A token without read_products: the order is stored without a category, and the product is
    // not remembered, so the next poll (which reads o8 again) asks for it again.
    let o8 = receipt("R000208", "2026-10-06T10:00:00Z", vec![tea()]);
    server.put_order(shopify::shopify_order(&o8, None, "USD"));
    server.fail_next_products(1, 403);
    let report = poll(&pipeline).await;
    assert_eq!(report.accepted, 1, "o8; o7 again is a duplicate");
    let o8_event = format!(
        "order:{}:2026-10-06T06:00:00-04:00",
        shopify::shopify_id("R000208")
    );
    assert_eq!(categories(&stored(&pipeline).await, &o8_event), [None]);
    poll(&pipeline).await;
    assert_eq!(
        product_reads(&server)[2..],
        [(403, ids(&["TEA-SEN-100"])), (200, ids(&["TEA-SEN-100"]))]
    );

    // A webhook whose product read fails transiently is refused as unavailable, so Shopify
    // delivers it again; the redelivery is stored with its category.
    let o9 = shopify::shopify_order(
        &receipt("R000209", "2026-10-07T10:00:00Z", vec![grinder()]),
        None,
        "USD",
    );
    server.fail_next_products(1, 503);
    assert!(matches!(
        push(&pipeline, SECRET, "orders/create", "wh-o9", &o9).await,
        Err(PushError::Unavailable(_))
    ));
    assert!(stored(&pipeline)
        .await
        .iter()
        .all(|e| e.event_id != "wh-o9"));
    let report = push(&pipeline, SECRET, "orders/create", "wh-o9", &o9)
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        categories(&stored(&pipeline).await, "wh-o9"),
        named(&[Some("Brewing")])
    );
}

// ---- The simulator ----

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_serves_products_by_ids_with_the_fields_asked() {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    put_products(&server);
    let http = reqwest::Client::new();
    let get = |query: String| {
        let request = http
            .get(format!("{}/products.json?{query}", server.base_url()))
            .header("X-Shopify-Access-Token", TOKEN);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let link = response
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, link, response.json::<Value>().await.unwrap())
        }
    };
    let (mug, tea) = (
        shopify::product_id("MUG-STONE"),
        shopify::product_id("TEA-SEN-100"),
    );
    let (status, _, body) = get(format!(
        "ids={mug}%2C{tea}%2C1&fields=id%2Cproduct_type%2Cupdated_at"
    ))
    .await;
    assert_eq!(status, 200);
    let mut expected = vec![
        json!({"id": mug, "product_type": "Homeware", "updated_at": "2026-08-01T10:00:00-04:00"}),
        json!({"id": tea, "product_type": "Tea", "updated_at": "2026-08-01T10:00:00-04:00"}),
    ];
    expected.sort_by_key(|p| p["id"].as_u64());
    assert_eq!(
        body,
        json!({"products": expected}),
        "by id, an unknown id ignored"
    );

    // Whole products otherwise, paged by id; a page_info request may not repeat `ids`.
    let (_, link, body) = get("limit=2".into()).await;
    assert_eq!(body["products"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["products"][0]["variants"][0]["product_id"],
        body["products"][0]["id"]
    );
    let link = link.expect("five products, two a page");
    let page_info = link
        .split("page_info=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let (status, _, _) = get(format!("limit=2&page_info={page_info}")).await;
    assert_eq!(status, 200);
    let (status, _, body) = get(format!("limit=2&page_info={page_info}&ids={mug}")).await;
    assert_eq!(status, 400, "{body}");
}

// ---- What the host does with Shopify's privacy requests ----

/// A shop reading `server` that also sends everyone to an http-sink "crm" at `crm`.
async fn start_with_crm(server: &ShopifyServer, crm: &str) -> (Pipeline, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .secrets(&[("shopify_token", TOKEN), ("shopify_webhook_secret", SECRET)])
        .source(
            "shopify",
            &plugin("shopify-source"),
            [("api_base", server.base_url().into())],
        )
        .http_sink("crm", crm, [])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    (pipeline, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_request_is_answered_in_a_file_and_a_redact_forgets_ana_at_home_and_at_the_sink() {
    let server = shop_with_ana().await;
    let crm = rapport_fakes::capture::CaptureServer::start()
        .await
        .unwrap();
    let (pipeline, dir) = start_with_crm(&server, &crm.url()).await;
    poll(&pipeline).await;
    let wait = std::time::Duration::from_secs(5);
    let limit = std::time::Duration::from_secs(60);
    pipeline.drain(wait, limit).await.unwrap();
    assert_eq!(crm.captured().profiles.len(), 1, "Ana is at the CRM");

    // The data request: what the shop holds on Ana, in a file named after the request.
    let request = server.customers_data_request(ANA, 9_999);
    push(
        &pipeline,
        SECRET,
        "customers/data_request",
        "wh-dr-1",
        &request,
    )
    .await
    .unwrap();
    let handled = pipeline.handle_privacy_requests().await.unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    let file = dir.path().join("data-requests").join("shopify-9999.json");
    assert_eq!(handled[0].file.as_deref(), Some(file.as_path()));
    let answer: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let people = answer["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{answer}");
    let ana = &people[0];
    assert_eq!(
        (ana["given_name"].clone(), ana["family_name"].clone()),
        (json!("Ana"), json!("Silva"))
    );
    let identities: BTreeSet<String> = (ana["identities"].as_array().unwrap().iter())
        .map(|i| {
            format!(
                "{}={}",
                i["kind"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        identities,
        BTreeSet::from([
            format!("email={ANA_EMAIL}"),
            format!("phone={ANA_PHONE}"),
            format!("vendor_customer=shopify:{ANA}"),
        ])
    );
    // One mug at $18.00.
    assert_eq!(ana["orders_count"], 1);
    assert_eq!(ana["net_spent"], json!({"minor": 1800, "currency": "USD"}));

    // The redact request forgets her: nothing in the store names her, and the CRM is told.
    push(
        &pipeline,
        SECRET,
        "customers/redact",
        "wh-redact-1",
        &server.customers_redact(ANA),
    )
    .await
    .unwrap();
    let handled = pipeline.handle_privacy_requests().await.unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert!(
        handled[0].outcome.starts_with("forgot 1 person (erasure "),
        "{handled:?}"
    );
    for who in [ANA_EMAIL, ANA_PHONE] {
        assert!(
            pipeline
                .store
                .find_profiles(&[rapport_store::PersonRef::Identity(
                    rapport_core::model::Identity {
                        kind: if who.contains('@') {
                            rapport_core::model::IdentityKind::Email
                        } else {
                            rapport_core::model::IdentityKind::Phone
                        },
                        value: who.to_string(),
                    }
                )])
                .await
                .unwrap()
                .is_empty(),
            "{who} names nobody"
        );
    }
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    for payload in &payloads {
        assert!(
            !payload.contains(ANA_EMAIL) && !payload.contains(ANA_PHONE),
            "{payload}"
        );
    }
    let pending = pipeline.drain_erasures(wait, limit).await.unwrap();
    assert_eq!(pending, 0);
    assert_eq!(
        crm.captured().forgets.len(),
        1,
        "the CRM was asked to forget her"
    );

    // The shop redact is acknowledged; every request was carried out once.
    push(
        &pipeline,
        SECRET,
        "shop/redact",
        "wh-shop-1",
        &shopify::shop_redact(),
    )
    .await
    .unwrap();
    let handled = pipeline.handle_privacy_requests().await.unwrap();
    assert!(
        handled[0].outcome.starts_with("acknowledged"),
        "{handled:?}"
    );
    let records = pipeline.store.privacy_requests().await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(
        records.iter().all(|r| r.handled_at.is_some()),
        "{records:?}"
    );
    assert!(pipeline.handle_privacy_requests().await.unwrap().is_empty());
}
