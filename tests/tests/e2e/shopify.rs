//! The Shopify source through the real host and the real wasm plugin, against the Shopify simulator
//! on loopback: simulator bodies checked against the official sample resources, money exact in
//! minor units for 0-, 2- and 3-decimal currencies.

use rapport_e2e::source_calls::{poll, webhook};
use rapport_e2e::{loopback_services, plugin, scratch_secrets_file, vendor_spec, TestShop};
use rapport_fakes::faults::Fault;
use rapport_fakes::shop::{Receipt, SampleShop};
use rapport_fakes::shopify::{self, ShopifyServer};
use rapport_host::config::{Config, ConnectorConfig};
use rapport_host::connectors::{Connector, HostServices};
use rapport_sandbox::contract::pos::{
    Channel, ConnectorError, ConsentState, Decimal, IdentityKind, OrderState, PosEvent, PosPayload,
    Purpose, SalesChannel,
};
use rapport_sandbox::packages::PluginKind;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TOKEN: &str = "shpat_test_token";
/// The client secret of VENDOR-NOTES' test vector.
const WEBHOOK_SECRET: &str = "test-client-secret";

/// The secrets shopify-source reads.
const SECRETS: [(&str, &str); 2] = [
    ("shopify_token", TOKEN),
    ("shopify_webhook_secret", WEBHOOK_SECRET),
];

fn secrets_file() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| scratch_secrets_file(&SECRETS))
}

fn services() -> HostServices {
    loopback_services(secrets_file())
}

/// The shopify-source pointed at `shop`'s Admin API.
async fn source(host: &HostServices, shop: &ShopifyServer, page_limit: u32) -> Connector {
    let text = format!(
        "id = \"shopify\"\nplugin = \"{}\"\nsecrets = [\"shopify_token\", \"shopify_webhook_secret\"]\n[config]\napi_base = \"{}\"\npage_limit = {page_limit}\n",
        plugin("shopify-source").display(),
        shop.base_url()
    );
    let config: ConnectorConfig = toml::from_str(&text).unwrap();
    Connector::load(&config, PluginKind::PosSource, host)
        .await
        .unwrap_or_else(|e| panic!("loading shopify-source: {e}"))
}

/// Polls `stream` until Shopify has no more; returns the events, the final cursor and the pages.
async fn poll_all(
    c: &Connector,
    stream: &str,
    mut cursor: Option<String>,
) -> (Vec<PosEvent>, Option<String>, usize) {
    let (mut events, mut pages) = (Vec::new(), 0);
    loop {
        let batch = poll(c, stream, cursor.clone()).await.unwrap();
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
        pages += 1;
        events.extend(batch.events);
        cursor = batch.cursor.or(cursor);
        if !batch.more {
            return (events, cursor, pages);
        }
    }
}

fn sample() -> SampleShop {
    SampleShop::generate(21, 60, 0)
}

fn sales(shop: &SampleShop) -> Vec<&Receipt> {
    shop.valid_receipts()
        .filter(|r| r.refund_of.is_none())
        .collect()
}

fn refunds(shop: &SampleShop) -> Vec<&Receipt> {
    shop.valid_receipts()
        .filter(|r| r.refund_of.is_some())
        .collect()
}

/// A started simulator holding the sample shop in `currency`.
async fn simulator(shop: &SampleShop, currency: &str) -> ShopifyServer {
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    server.load_shop(shop, currency);
    server
}

fn orders_requests(server: &ShopifyServer) -> Vec<shopify::ShopifyRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/orders.json"))
        .collect()
}

/// The JSON type of a value, for shape comparisons.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `ours` that the official sample has (non-null) holds the same JSON type, down
/// through objects and the first element of arrays.
fn assert_same_shape(path: &str, ours: &Value, sample: &Value) {
    match (ours, sample) {
        (Value::Object(o), Value::Object(s)) => {
            for (key, value) in o {
                if let Some(expected) = s.get(key).filter(|v| !v.is_null()) {
                    if value.is_null() {
                        continue;
                    }
                    let at = format!("{path}.{key}");
                    let (a, b) = (kind(value), kind(expected));
                    let numeric = matches!((a, b), ("integer", "float") | ("float", "integer"));
                    assert!(a == b || numeric, "{at} is {a} but the sample has {b}");
                    assert_same_shape(&at, value, expected);
                }
            }
        }
        (Value::Array(o), Value::Array(s)) => {
            if let (Some(first), Some(expected)) = (o.first(), s.first()) {
                assert_same_shape(&format!("{path}[0]"), first, expected);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simulator_bodies_match_the_official_sample_shapes() {
    let shop = sample();
    let server = simulator(&shop, "USD").await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", server.base_url()))
            .header("X-Shopify-Access-Token", TOKEN)
            .send()
    };
    let orders: Value = get("/orders.json?status=any&limit=250")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orders = orders["orders"].as_array().unwrap();
    assert_eq!(orders.len(), sales(&shop).len());

    let order_sample = vendor_spec("shopify/order.json")["order"].take();
    let list_sample = vendor_spec("shopify/orders.json")["orders"][0].take();
    let refund_sample = vendor_spec("shopify/refund.json")["refund"].take();
    let customer_sample = vendor_spec("shopify/customer.json")["customer"].take();
    let mut refunded = 0;
    for order in orders {
        assert_same_shape("order", order, &order_sample);
        assert_same_shape("order", order, &list_sample);
        for refund in order["refunds"].as_array().unwrap() {
            assert_same_shape("refund", refund, &refund_sample);
            refunded += 1;
        }
        if !order["customer"].is_null() {
            assert_same_shape("order.customer", &order["customer"], &customer_sample);
        }
        // The keys the connector relies on are there, as in the samples.
        for key in [
            "id",
            "currency",
            "created_at",
            "updated_at",
            "total_price",
            "subtotal_price",
            "total_tax",
            "total_discounts",
            "total_line_items_price",
            "line_items",
            "location_id",
            "source_name",
            "financial_status",
        ] {
            assert!(order.get(key).is_some(), "order lacks {key}");
            assert!(order_sample.get(key).is_some() || list_sample.get(key).is_some());
        }
    }
    assert_eq!(refunded, refunds(&shop).len());
    assert!(refunded > 0, "the sample shop has refunds");

    let customers: Value = get("/customers.json?limit=250")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for customer in customers["customers"].as_array().unwrap() {
        assert_same_shape("customer", customer, &customer_sample);
        let consent = &customer["email_marketing_consent"];
        assert!(consent["state"].is_string() && consent["opt_in_level"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_enforces_shopifys_rules() {
    let shop = sample();
    let server = simulator(&shop, "USD").await;
    let http = reqwest::Client::new();
    let call = |path: String, token: &'static str| {
        let request = http.get(format!("{}{path}", server.base_url()));
        async move {
            let response = request
                .header("X-Shopify-Access-Token", token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (status, headers, response.json::<Value>().await.unwrap())
        }
    };
    let (status, _, body) = call("/orders.json".into(), "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": shopify::INVALID_TOKEN}));

    // Without status=any only open orders are listed (all sample orders are closed).
    let (status, headers, body) = call("/orders.json?limit=5".into(), TOKEN).await;
    assert_eq!((status, body), (200, json!({"orders": []})));
    assert!(headers.get("x-shopify-shop-api-call-limit").is_some());

    let (status, headers, body) = call("/orders.json?limit=5&status=any".into(), TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(body["orders"].as_array().unwrap().len(), 5);
    let link = headers["link"].to_str().unwrap().to_owned();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let page_info = link
        .split("page_info=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();

    // A page_info request that repeats a filter is refused; with only limit it goes on.
    let (status, _, body) = call(
        format!("/orders.json?limit=5&page_info={page_info}&status=any"),
        TOKEN,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["errors"]["status"]
        .as_str()
        .unwrap()
        .starts_with("status cannot be passed when page_info is present"));
    let (status, headers, body) =
        call(format!("/orders.json?limit=5&page_info={page_info}"), TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(body["orders"].as_array().unwrap().len(), 5);
    let link = headers["link"].to_str().unwrap();
    assert!(link.contains("rel=\"previous\"") && link.contains("rel=\"next\""));

    let (status, _, body) = call("/orders.json?page_info=garbage".into(), TOKEN).await;
    assert_eq!(
        (status, body),
        (400, json!({"errors": {"page_info": "Invalid value."}}))
    );
    let (status, _, _) = call("/orders.json?limit=251&status=any".into(), TOKEN).await;
    assert_eq!(status, 400);

    // An injected 429 is Shopify's, with a fractional Retry-After.
    server.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
        },
    );
    let (status, headers, body) = call("/orders.json".into(), TOKEN).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2.0");
    assert_eq!(body, json!({"errors": shopify::RATE_LIMITED}));
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_pages_with_page_info_and_converts_money_by_currency_exponent() {
    let shop = sample();
    let host = services();
    for currency in ["USD", "JPY", "KWD"] {
        let server = simulator(&shop, currency).await;
        let c = source(&host, &server, 7).await;
        let (events, _, pages) = poll_all(&c, "orders", None).await;
        let sales = sales(&shop);
        assert_eq!(pages, sales.len().div_ceil(7), "{currency}");

        // The first request carries the filters, later ones only limit and page_info.
        let requests = orders_requests(&server);
        assert_eq!(requests.len(), pages);
        for (i, request) in requests.iter().enumerate() {
            assert_eq!(request.status, 200);
            let names: BTreeSet<&str> = request.params.iter().map(|(n, _)| n.as_str()).collect();
            if i == 0 {
                assert_eq!(names, BTreeSet::from(["limit", "status"]));
                assert_eq!(request.param("status"), Some("any"));
            } else {
                assert_eq!(names, BTreeSet::from(["limit", "page_info"]), "{request:?}");
            }
            assert_eq!(request.param("limit"), Some("7"));
        }

        let minor = |cents: i64| shopify::minor_units(cents, currency);
        let orders: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.payload {
                PosPayload::Order(o) => Some((e, o)),
                _ => None,
            })
            .collect();
        assert_eq!(orders.len(), sales.len());
        for (event, order) in orders {
            let r = sales
                .iter()
                .find(|r| shopify::shopify_id(&r.id).to_string() == order.id)
                .expect("a sale of the shop");
            let held = server.order(shopify::shopify_id(&r.id)).unwrap();
            assert_eq!(
                event.id,
                format!(
                    "order:{}:{}",
                    order.id,
                    held["updated_at"].as_str().unwrap()
                )
            );
            assert_eq!(order.total.currency, currency);
            assert_eq!(
                order.total.minor,
                minor(r.total_cents),
                "{currency} {}",
                r.id
            );
            assert_eq!(order.tax.minor, minor(r.tax_cents));
            assert_eq!(order.discount.minor, minor(r.discount_cents));
            assert_eq!(
                order.subtotal.minor,
                minor(r.total_cents - r.tax_cents + r.discount_cents)
            );
            assert_eq!(order.state, OrderState::Completed);
            let (channel, location) = if r.online {
                (SalesChannel::Online, None)
            } else {
                (
                    SalesChannel::InStore,
                    Some(shopify::location_id(&r.location).to_string()),
                )
            };
            assert_eq!((order.channel, order.location.clone()), (channel, location));
            let buyer = order.customer.as_ref().map(|c| {
                c.identities
                    .iter()
                    .map(|i| (i.kind, i.value.clone()))
                    .take(2)
                    .collect::<Vec<_>>()
            });
            let expected = r.customer.map(|i| {
                let c = &shop.customers[i];
                vec![
                    (
                        IdentityKind::VendorCustomer,
                        shopify::shopify_id(&c.id).to_string(),
                    ),
                    (IdentityKind::Email, c.email.clone()),
                ]
            });
            assert_eq!(buyer, expected, "{}", r.id);
            assert_eq!(order.lines.len(), r.lines.len());
            for (line, want) in order.lines.iter().zip(&r.lines) {
                assert_eq!(line.product, want.product);
                assert_eq!(line.sku.as_deref(), Some(want.sku.as_str()));
                let quantity = Decimal {
                    units: i64::from(want.quantity),
                    scale: 0,
                };
                assert_eq!(line.quantity, quantity);
                assert_eq!(line.unit_price.minor, minor(want.unit_cents));
                assert_eq!(
                    line.total.minor,
                    minor(want.unit_cents * i64::from(want.quantity))
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_minor_units_for_zero_two_and_three_decimal_currencies() {
    let host = services();
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    let shop = sample();
    let r = sales(&shop)[0];
    for (id, currency, total) in [
        (1u64, "JPY", "1500"),
        (2, "USD", "598.94"),
        (3, "KWD", "12.345"),
    ] {
        let mut order = shopify::shopify_order(r, None, currency);
        order["id"] = json!(id);
        order["total_price"] = json!(total);
        server.put_order(order);
    }
    let c = source(&host, &server, 250).await;
    let (events, _, _) = poll_all(&c, "orders", None).await;
    let totals: Vec<(String, i64, String)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            PosPayload::Order(o) => Some((o.id.clone(), o.total.minor, o.total.currency.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        totals,
        vec![
            ("1".into(), 1500, "JPY".into()),
            ("2".into(), 59894, "USD".into()),
            ("3".into(), 12345, "KWD".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_come_with_their_orders_and_are_linked_to_them() {
    let shop = sample();
    let server = simulator(&shop, "KWD").await;
    let host = services();
    let c = source(&host, &server, 250).await;
    let (events, _, _) = poll_all(&c, "orders", None).await;
    let expected = refunds(&shop);
    let got: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            PosPayload::Refund(r) => Some((e, r)),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (event, refund) in got {
        let r = expected
            .iter()
            .find(|r| shopify::shopify_id(&r.id).to_string() == refund.id)
            .unwrap();
        let order_id = shopify::shopify_id(r.refund_of.as_ref().unwrap()).to_string();
        assert_eq!(event.id, format!("refund:{}", refund.id));
        assert_eq!(refund.order_id, order_id);
        assert_eq!(
            (refund.amount.minor, refund.amount.currency.as_str()),
            (shopify::minor_units(r.total_cents, "KWD"), "KWD")
        );
        assert_eq!(refund.reason.as_deref(), Some("Returned goods"));
        assert_eq!(refund.lines.len(), 1);
        assert_eq!(
            refund.lines[0].sku.as_deref(),
            Some(r.lines[0].sku.as_str())
        );
        let buyer = refund.customer.as_ref().unwrap();
        let customer = &shop.customers[r.customer.unwrap()];
        assert_eq!(
            buyer.identities[0].value,
            shopify::shopify_id(&customer.id).to_string()
        );
        // The refunded order comes in the same batch, in its refunded version.
        let order = events
            .iter()
            .find(|e| matches!(&e.payload, PosPayload::Order(o) if o.id == order_id));
        let held = server.order(order_id.parse().unwrap()).unwrap();
        assert_eq!(held["financial_status"], "partially_refunded");
        assert_eq!(
            order.unwrap().id,
            format!("order:{order_id}:{}", held["updated_at"].as_str().unwrap())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_carry_identities_and_marketing_consent() {
    let shop = sample();
    let server = simulator(&shop, "USD").await;
    let host = services();
    let c = source(&host, &server, 9).await;
    let (events, _, pages) = poll_all(&c, "customers", None).await;
    assert_eq!(pages, shop.customers.len().div_ceil(9));
    assert_eq!(events.len(), shop.customers.len());
    for request in server.requests().iter().skip(1) {
        let names: BTreeSet<&str> = request.params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["limit", "page_info"]));
    }
    let mut seen_states = BTreeSet::new();
    for event in &events {
        let PosPayload::Customer(customer) = &event.payload else {
            panic!("not a customer")
        };
        let id = &customer.identities[0];
        assert_eq!(id.kind, IdentityKind::VendorCustomer);
        let want = shop
            .customers
            .iter()
            .find(|c| shopify::shopify_id(&c.id).to_string() == id.value)
            .unwrap();
        let value = |kind| {
            customer
                .identities
                .iter()
                .find(|i| i.kind == kind)
                .map(|i| i.value.clone())
        };
        assert_eq!(value(IdentityKind::Email), Some(want.email.clone()));
        assert_eq!(
            value(IdentityKind::Phone),
            want.phone.as_ref().map(|p| p.replace(' ', ""))
        );
        assert_eq!(
            format!(
                "{} {}",
                customer.given_name.as_deref().unwrap(),
                customer.family_name.as_deref().unwrap()
            ),
            want.name
        );
        let held = server
            .customers()
            .into_iter()
            .find(|c| c["id"].as_u64().map(|n| n.to_string()).as_ref() == Some(&id.value))
            .unwrap();
        let at = shopify::millis(held["updated_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            event.id,
            format!(
                "customer:{}:{}",
                id.value,
                held["updated_at"].as_str().unwrap()
            )
        );
        let expected_state = match want.marketing_opt_in {
            Some(true) => Some(ConsentState::Granted),
            Some(false) => Some(ConsentState::Revoked),
            None => None,
        };
        seen_states.insert(format!("{expected_state:?}"));
        let channels: Vec<Channel> = customer.consents.iter().map(|k| k.channel).collect();
        match expected_state {
            // not_subscribed: no choice was made, so no consent record.
            None => assert!(customer.consents.is_empty(), "{:?}", customer.consents),
            Some(state) => {
                let mut expected_channels = vec![Channel::Email];
                if want.phone.is_some() {
                    expected_channels.push(Channel::Sms);
                }
                assert_eq!(channels, expected_channels);
                for consent in &customer.consents {
                    assert_eq!(consent.state, state);
                    assert_eq!(consent.purpose, Purpose::Marketing);
                    assert_eq!(consent.at, at);
                    assert!(
                        consent.source.ends_with(":single_opt_in"),
                        "{}",
                        consent.source
                    );
                }
            }
        }
    }
    assert_eq!(seen_states.len(), 3, "the sample has every consent state");
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_resumes_at_the_cursor_and_later_polls_read_only_changes() {
    let shop = sample();
    let server = simulator(&shop, "USD").await;
    let host = services();
    let first = source(&host, &server, 10).await;
    let page1 = poll(&first, "orders", None).await.unwrap();
    assert!(page1.more);
    drop(first);

    // A new instance (as after a restart) resumes mid-query with the stored page_info.
    let second = source(&host, &server, 10).await;
    let (rest, end, _) = poll_all(&second, "orders", page1.cursor.clone()).await;
    let resumed = &orders_requests(&server)[1];
    assert!(resumed.param("page_info").is_some() && resumed.param("status").is_none());
    let order_ids = |events: &[PosEvent]| {
        events
            .iter()
            .filter(|e| matches!(e.payload, PosPayload::Order(_)))
            .map(|e| e.id.clone())
            .collect::<BTreeSet<_>>()
    };
    let mut seen = order_ids(&page1.events);
    seen.extend(order_ids(&rest));
    assert_eq!(seen.len(), server.orders().len(), "every order read once");

    // Later, one order is cancelled and one is new: the next query filters on the watermark
    // and reads them, and at most the boundary order again under the same event id.
    let before = orders_requests(&server).len();
    let changed = server.orders()[0]["id"].as_u64().unwrap();
    let at = "2026-11-20T08:00:00-04:00";
    server.update_order(changed, at, |o| o["cancelled_at"] = json!(at));
    let mut fresh = server.orders()[1].clone();
    fresh["id"] = json!(999_001u64);
    fresh["created_at"] = json!("2026-11-21T09:30:00-04:00");
    fresh["updated_at"] = json!("2026-11-21T09:30:00-04:00");
    fresh["refunds"] = json!([]);
    server.put_order(fresh);
    let (later, _, _) = poll_all(&second, "orders", end).await;
    let new_ids: BTreeSet<String> = order_ids(&later).difference(&seen).cloned().collect();
    assert_eq!(
        new_ids,
        BTreeSet::from([
            format!("order:{changed}:{at}"),
            "order:999001:2026-11-21T09:30:00-04:00".to_owned()
        ])
    );
    let cancelled = later.iter().find_map(|e| match &e.payload {
        PosPayload::Order(o) if o.id == changed.to_string() => Some(o.state),
        _ => None,
    });
    assert_eq!(cancelled, Some(OrderState::Canceled));
    let query = &orders_requests(&server)[before];
    let watermark = query.param("updated_at_min").expect("a watermark");
    let newest = shop
        .valid_receipts()
        .map(|r| shopify::shop_time(&r.date))
        .max_by_key(|t| shopify::millis(t));
    assert_eq!(Some(watermark.to_owned()), newest);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_verified_and_keyed_by_webhook_id() {
    let shop = sample();
    let server = simulator(&shop, "JPY").await;
    let host = services();
    let c = source(&host, &server, 50).await;
    let refunded = refunds(&shop)[0];
    let order_id = shopify::shopify_id(refunded.refund_of.as_ref().unwrap());
    let order = server.order(order_id).unwrap();

    // orders/updated: the order under the webhook id, its refund under its own id.
    let (headers, body) = shopify::webhook(WEBHOOK_SECRET, "orders/updated", "wh-order-1", &order);
    let push = webhook(&c, headers.clone(), body.clone()).await.unwrap();
    assert!(push.rejected.is_empty(), "{:?}", push.rejected);
    let ids: Vec<&str> = push.events.iter().map(|e| e.id.as_str()).collect();
    let refund_id = shopify::shopify_id(&refunded.id);
    assert_eq!(
        ids,
        vec!["wh-order-1".to_owned(), format!("refund:{refund_id}")]
    );
    let PosPayload::Order(o) = &push.events[0].payload else {
        panic!("not an order")
    };
    assert_eq!(
        (o.total.minor, o.total.currency.as_str()),
        (
            shopify::minor_units(
                sales(&shop)
                    .iter()
                    .find(|s| Some(&s.id) == refunded.refund_of.as_ref())
                    .unwrap()
                    .total_cents,
                "JPY"
            ),
            "JPY"
        )
    );

    // A replay is the same event.
    let replay = webhook(&c, headers, body).await.unwrap();
    assert_eq!(replay.events[0].id, "wh-order-1");

    // refunds/create: the bare refund, linked to its order.
    let refund = order["refunds"][0].clone();
    let (headers, body) =
        shopify::webhook(WEBHOOK_SECRET, "refunds/create", "wh-refund-1", &refund);
    let push = webhook(&c, headers, body).await.unwrap();
    assert_eq!(push.events.len(), 1);
    assert_eq!(push.events[0].id, "wh-refund-1");
    let PosPayload::Refund(r) = &push.events[0].payload else {
        panic!("not a refund")
    };
    assert_eq!(r.order_id, order_id.to_string());
    assert_eq!(
        r.amount.minor,
        shopify::minor_units(refunded.total_cents, "JPY")
    );

    // customers/update: consent changes arrive with the customer.
    let mut customer = server.customers()[0].clone();
    customer["email_marketing_consent"] = json!({
        "state": "unsubscribed", "opt_in_level": "confirmed_opt_in",
        "consent_updated_at": "2026-11-02T10:31:00-04:00",
    });
    let (headers, body) =
        shopify::webhook(WEBHOOK_SECRET, "customers/update", "wh-cust-1", &customer);
    let push = webhook(&c, headers, body).await.unwrap();
    let PosPayload::Customer(k) = &push.events[0].payload else {
        panic!("not a customer")
    };
    let email = k
        .consents
        .iter()
        .find(|k| k.channel == Channel::Email)
        .unwrap();
    assert_eq!(email.state, ConsentState::Revoked);
    assert_eq!(
        email.at,
        shopify::millis("2026-11-02T10:31:00-04:00").unwrap()
    );

    // A topic the source does not read gives nothing.
    let (headers, body) =
        shopify::webhook(WEBHOOK_SECRET, "products/update", "wh-p", &json!({"id": 1}));
    let push = webhook(&c, headers, body).await.unwrap();
    assert!(push.events.is_empty() && push.rejected.is_empty());

    // A wrong or missing signature is an auth failure; a signed non-JSON body is invalid.
    let (mut headers, body) = shopify::webhook("another-secret", "orders/create", "wh-x", &order);
    assert!(matches!(
        webhook(&c, headers.clone(), body.clone()).await,
        Err(ConnectorError::Auth(_))
    ));
    headers.retain(|(n, _)| n != "X-Shopify-Hmac-Sha256");
    assert!(matches!(
        webhook(&c, headers, body).await,
        Err(ConnectorError::Auth(_))
    ));
    let (mut headers, _) = shopify::webhook(WEBHOOK_SECRET, "orders/create", "wh-y", &order);
    let broken = b"{\"id\": 1, \"total_price\": ".to_vec();
    for (name, value) in headers.iter_mut() {
        if name == "X-Shopify-Hmac-Sha256" {
            *value = shopify::sign(WEBHOOK_SECRET, &broken);
        }
    }
    assert!(matches!(
        webhook(&c, headers, broken).await,
        Err(ConnectorError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vendor_notes_signature_vector_is_accepted() {
    let body = br#"{"event_id":"e1","type":"order.created"}"#.to_vec();
    assert_eq!(
        shopify::sign(WEBHOOK_SECRET, &body),
        "/MhJVAjo2QOXcXzMbRxNXV3GAdhpp1wH8YLrhpjuY40="
    );
    let server = ShopifyServer::start(TOKEN).await.unwrap();
    let host = services();
    let c = source(&host, &server, 50).await;
    let headers = vec![
        ("X-Shopify-Topic".to_owned(), "app/uninstalled".to_owned()),
        ("X-Shopify-Webhook-Id".to_owned(), "wh-vector".to_owned()),
        (
            "X-Shopify-Hmac-Sha256".to_owned(),
            "/MhJVAjo2QOXcXzMbRxNXV3GAdhpp1wH8YLrhpjuY40=".to_owned(),
        ),
    ];
    let push = webhook(&c, headers, body).await.unwrap();
    assert!(
        push.events.is_empty(),
        "the topic is not one the source reads"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_failures_map_to_connector_errors() {
    let shop = sample();
    let server = simulator(&shop, "USD").await;
    let host = services();
    let c = source(&host, &server, 10).await;

    server.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
        },
    );
    assert_eq!(
        poll(&c, "orders", None).await.unwrap_err(),
        ConnectorError::RateLimited(2000)
    );

    // Shopify always sends Retry-After; without one the SDK's default wait (1 s) applies.
    server.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(
        poll(&c, "orders", None).await.unwrap_err(),
        ConnectorError::RateLimited(1000)
    );

    for status in [500, 502, 503] {
        server.faults().fail_next(
            1,
            Fault::Status {
                status,
                retry_after: None,
            },
        );
        let error = poll(&c, "orders", None).await.unwrap_err();
        assert!(
            matches!(error, ConnectorError::Transient(_)),
            "{status}: {error:?}"
        );
    }

    server.faults().fail_next(1, Fault::Malformed);
    assert!(matches!(
        poll(&c, "orders", None).await,
        Err(ConnectorError::Invalid(_))
    ));

    // A wrong token is refused by the vendor: an auth failure with Shopify's reason.
    let wrong = ShopifyServer::start("another-token").await.unwrap();
    let c = source(&host, &wrong, 10).await;
    let Err(ConnectorError::Auth(reason)) = poll(&c, "orders", None).await else {
        panic!("a wrong token must be an auth failure")
    };
    assert!(
        reason.contains("Invalid API key or access token"),
        "{reason}"
    );

    // A page_info the vendor does not know is refused with its reason, not retried.
    let cursor =
        json!({"since": "2026-10-01T05:00:00-04:00", "page": "bm90LWEtdG9rZW4"}).to_string();
    let c = source(&host, &server, 10).await;
    let Err(ConnectorError::Invalid(reason)) = poll(&c, "orders", Some(cursor)).await else {
        panic!("an unknown page_info must be invalid")
    };
    assert!(reason.contains("page_info"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_ingests_orders_refunds_and_consent_end_to_end() {
    use rapport_fakes::capture::CaptureServer;
    use rapport_host::ingest::push::PushError;
    use rapport_host::pipeline::Pipeline;
    use std::time::Duration;

    let shop = sample();
    let server = simulator(&shop, "KWD").await;
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .secrets(&SECRETS)
        .source(
            "shopify",
            &plugin("shopify-source"),
            [
                ("api_base", server.base_url().into()),
                ("page_limit", 25.into()),
            ],
        )
        .http_sink("hook", &crm.url(), [])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    let (sales, refunds) = (sales(&shop), refunds(&shop));
    assert_eq!(report.rejected, 0);
    assert_eq!(
        report.accepted,
        sales.len() + refunds.len() + shop.customers.len()
    );
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);

    let captured = crm.captured();
    let named = |name: &str| {
        captured
            .activities
            .iter()
            .filter(|a| a["name"] == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let attributed = sales.iter().filter(|r| r.customer.is_some()).count();
    assert_eq!(named("Placed Order").len(), attributed);
    let refunded = named("Refunded Order");
    assert_eq!(refunded.len(), refunds.len());
    for activity in &refunded {
        let r = refunds
            .iter()
            .find(|r| {
                json!(shopify::shopify_id(&r.id).to_string()) == activity["properties"]["refund_id"]
            })
            .expect("a refund of the shop");
        assert_eq!(
            activity["properties"]["order_id"],
            json!(shopify::shopify_id(r.refund_of.as_ref().unwrap()).to_string())
        );
        assert_eq!(
            activity["value"],
            json!({"amount_minor": shopify::minor_units(r.total_cents, "KWD"), "currency": "KWD"})
        );
    }

    // A refunded customer's lifetime spend is their orders less their refunds, in fils, and their
    // Shopify consent reached the sink.
    let r = refunds[0];
    let buyer = r.customer.unwrap();
    let id = shopify::shopify_id(&shop.customers[buyer].id).to_string();
    let profile = captured
        .profiles
        .values()
        .find(|p| {
            p["identities"].as_array().unwrap().iter().any(|i| {
                i["kind"] == "vendor_customer" && i["value"] == json!(format!("shopify:{id}"))
            })
        })
        .expect("the refunded customer's profile (the host namespaces vendor ids by source)");
    let spent: i64 = sales
        .iter()
        .filter(|s| s.customer == Some(buyer))
        .map(|s| shopify::minor_units(s.total_cents, "KWD"))
        .sum::<i64>()
        - refunds
            .iter()
            .filter(|f| f.customer == Some(buyer))
            .map(|f| shopify::minor_units(f.total_cents, "KWD"))
            .sum::<i64>();
    assert_eq!(
        profile["traits"]["net_spent"],
        json!({"amount_minor": spent, "currency": "KWD"})
    );
    let state = match shop.customers[buyer].marketing_opt_in {
        Some(true) => json!("granted"),
        Some(false) => json!("revoked"),
        None => Value::Null,
    };
    let email = profile["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["channel"] == "email");
    assert_eq!(email.map_or(Value::Null, |k| k["state"].clone()), state);

    // A webhook and its redelivery: stored once. A forged one is refused.
    let customer = server.customers()[0].clone();
    let (headers, body) =
        shopify::webhook(WEBHOOK_SECRET, "customers/update", "wh-e2e-1", &customer);
    let first = pipeline
        .intake
        .receive_push("shopify", headers.clone(), body.clone())
        .await
        .unwrap();
    let again = pipeline
        .intake
        .receive_push("shopify", headers, body)
        .await
        .unwrap();
    assert_eq!(
        (first.accepted, again.accepted, again.duplicates),
        (1, 0, 1)
    );
    let (headers, body) = shopify::webhook("forged", "customers/update", "wh-e2e-2", &customer);
    assert!(matches!(
        pipeline.intake.receive_push("shopify", headers, body).await,
        Err(PushError::Auth(_))
    ));
}
