//! The Square source through the real host and the real wasm plugin, against the Square simulator
//! on loopback: both sides checked against Square's official OpenAPI document.

use rapport_e2e::source_calls::{poll, webhook};
use rapport_e2e::{loopback_services, plugin, scratch_secrets_file, vendor_spec};
use rapport_fakes::faults::Fault;
use rapport_fakes::shop::SampleShop;
use rapport_fakes::square::{self, SquareServer};
use rapport_host::config::ConnectorConfig;
use rapport_host::connectors::{Connector, HostServices};
use rapport_sandbox::contract::pos::{
    ConnectorError, ConsentState, Decimal, IdentityKind, PosEvent, PosPayload, SalesChannel,
};
use rapport_sandbox::packages::PluginKind;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TOKEN: &str = "sq-test-token";
/// The signature key and notification URL of VENDOR-NOTES' test vector.
const SIGNATURE_KEY: &str = "test-signature-key";
const NOTIFICATION_URL: &str = "https://example.com/hooks/square";

fn secrets_file() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        scratch_secrets_file(&[
            ("square_token", TOKEN),
            ("square_signature_key", SIGNATURE_KEY),
        ])
    })
}

fn services() -> HostServices {
    loopback_services(secrets_file())
}

/// The square-source, pointed at `square`, reading both sample-shop locations.
async fn source(host: &HostServices, square: &SquareServer, page_limit: u32) -> Connector {
    let locations = format!(
        "{},{}",
        square::location_id("High Street"),
        square::location_id("Market Hall")
    );
    let text = format!(
        "id = \"square\"\nplugin = \"{}\"\nsecrets = [\"square_token\", \"square_signature_key\"]\n[config]\napi_base = \"{}\"\nlocation_ids = \"{locations}\"\nnotification_url = \"{NOTIFICATION_URL}\"\npage_limit = {page_limit}\n",
        plugin("square-source").display(),
        square.base_url()
    );
    let config: ConnectorConfig = toml::from_str(&text).unwrap();
    Connector::load(&config, PluginKind::PosSource, host)
        .await
        .unwrap_or_else(|e| panic!("loading square-source: {e}"))
}

/// Polls `stream` until Square has no more; returns the events, the final cursor and the pages.
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

/// Checks `instance` against `#/components/schemas/<name>` of Square's spec.
fn assert_schema(name: &str, instance: &Value) {
    let errors = schema_errors(name, instance);
    assert!(
        errors.is_empty(),
        "{name} is not valid per Square's spec: {errors:#?}\n{instance:#}"
    );
}

/// Why `instance` does not match `#/components/schemas/<name>` of Square's spec, made strict: an
/// object schema with `properties` refuses properties it does not list.
fn schema_errors(name: &str, instance: &Value) -> Vec<String> {
    static COMPONENTS: OnceLock<Value> = OnceLock::new();
    let components = COMPONENTS.get_or_init(|| {
        let mut components = vendor_spec("square/api.json")["components"].take();
        forbid_unknown_properties(&mut components);
        components
    });
    let document =
        json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
    let validator = jsonschema::validator_for(&document).expect("the spec compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn forbid_unknown_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("type") == Some(&json!("object"))
                && map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            map.values_mut().for_each(forbid_unknown_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unknown_properties),
        _ => {}
    }
}

fn search_requests(square: &SquareServer, path: &str) -> Vec<square::SquareRequest> {
    square
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

fn shop() -> SampleShop {
    SampleShop::generate(11, 60, 0)
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_reads_every_order_across_pages_exactly() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let c = source(&host, &square, 7).await;
    let (events, _, pages) = poll_all(&c, "orders", None).await;

    let sales: Vec<_> = shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_none())
        .collect();
    assert_eq!(pages, sales.len().div_ceil(7));
    assert_eq!(events.len(), sales.len());
    let mut previous = i64::MIN;
    for event in &events {
        let PosPayload::Order(order) = &event.payload else {
            panic!("not an order: {event:?}")
        };
        let r = sales
            .iter()
            .find(|r| r.id == order.id)
            .expect("a sale of the shop");
        let version = if shop
            .receipts
            .iter()
            .any(|x| x.refund_of.as_deref() == Some(&r.id))
        {
            2
        } else {
            1
        };
        assert_eq!(event.id, format!("order:{}:v{version}", r.id));
        assert!(event.occurred_at >= previous, "orders come oldest first");
        previous = event.occurred_at;
        assert_eq!(order.total.minor, r.total_cents);
        assert_eq!(order.total.currency, "GBP");
        assert_eq!(order.tax.minor, r.tax_cents);
        assert_eq!(order.discount.minor, r.discount_cents);
        assert_eq!(
            order.subtotal.minor,
            r.total_cents - r.tax_cents + r.discount_cents
        );
        assert_eq!(
            order.location.as_deref(),
            Some(square::location_id(&r.location).as_str())
        );
        let channel = if r.online {
            SalesChannel::Online
        } else {
            SalesChannel::InStore
        };
        assert_eq!(order.channel, channel, "{}", r.id);
        let buyer = order.customer.as_ref().map(|c| c.identities.clone());
        let expected = r.customer.map(|i| {
            vec![rapport_sandbox::contract::wit::Identity {
                kind: IdentityKind::VendorCustomer,
                value: shop.customers[i].id.clone(),
            }]
        });
        assert_eq!(buyer, expected, "{}", r.id);
        assert_eq!(order.lines.len(), r.lines.len());
        for (line, want) in order.lines.iter().zip(&r.lines) {
            assert_eq!(line.product, want.product);
            assert_eq!(line.sku.as_deref(), Some(want.sku.as_str()));
            assert_eq!(
                line.quantity,
                Decimal {
                    units: i64::from(want.quantity),
                    scale: 0
                }
            );
            assert_eq!(line.unit_price.minor, want.unit_cents);
            assert_eq!(line.total.minor, want.unit_cents * i64::from(want.quantity));
        }
    }

    // Every search carried the same query, with Square's version header; later pages add the
    // cursor of the page before; every request is valid per the spec.
    let searches = search_requests(&square, "/v2/orders/search");
    assert_eq!(searches.len(), pages);
    let query = |r: &square::SquareRequest| {
        let mut body = r.body.clone().unwrap();
        body.as_object_mut().unwrap().remove("cursor");
        body
    };
    for (i, request) in searches.iter().enumerate() {
        assert_schema("SearchOrdersRequest", request.body.as_ref().unwrap());
        assert_eq!(query(request), query(&searches[0]));
        assert_eq!(
            request.body.as_ref().unwrap().get("cursor").is_some(),
            i > 0
        );
        assert!(request.square_version.is_some());
    }
    assert_eq!(
        searches[0].body.as_ref().unwrap()["query"]["sort"],
        json!({"sort_field": "UPDATED_AT", "sort_order": "ASC"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_at_the_cursor_and_later_polls_read_only_changes() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let first = source(&host, &square, 10).await;
    let page1 = poll(&first, "orders", None).await.unwrap();
    let page2 = poll(&first, "orders", page1.cursor.clone()).await.unwrap();
    assert!(page2.more);
    drop(first);

    // A new instance (as after a restart) resumes with the stored cursor.
    let second = source(&host, &square, 10).await;
    let (rest, end, _) = poll_all(&second, "orders", page2.cursor.clone()).await;
    let ids = |events: &[PosEvent]| events.iter().map(|e| e.id.clone()).collect::<BTreeSet<_>>();
    let mut seen = ids(&page1.events);
    seen.extend(ids(&page2.events));
    let total = page1.events.len() + page2.events.len() + rest.len();
    seen.extend(ids(&rest));
    assert_eq!(seen.len(), total, "no order was read twice");
    assert_eq!(seen.len(), square.orders().len(), "every order was read");

    // Later: one order changes and one is new. The next poll reads them (and at most the
    // boundary order again, under the same event id).
    let changed = square.orders()[0]["id"].as_str().unwrap().to_owned();
    square.update_order(&changed, "2026-11-20T12:00:00.000Z", |o| {
        o["state"] = json!("CANCELED")
    });
    let mut fresh = square.orders()[1].clone();
    fresh["id"] = json!("NEWORDER1");
    fresh["created_at"] = json!("2026-11-21T09:30:00.000Z");
    fresh["updated_at"] = json!("2026-11-21T09:30:00.000Z");
    fresh["version"] = json!(1);
    square.put_order(fresh);
    let (later, _, _) = poll_all(&second, "orders", end).await;
    let new_ids: BTreeSet<String> = ids(&later).difference(&seen).cloned().collect();
    let version = square.order(&changed).unwrap()["version"].as_i64().unwrap();
    assert_eq!(
        new_ids,
        BTreeSet::from([
            format!("order:{changed}:v{version}"),
            "order:NEWORDER1:v1".to_owned()
        ])
    );
    assert!(
        later.len() <= 3,
        "only changes and the boundary order: {later:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_are_linked_to_their_orders() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let c = source(&host, &square, 2).await;
    let (events, _, _) = poll_all(&c, "refunds", None).await;
    let refunds: Vec<_> = shop
        .receipts
        .iter()
        .filter(|r| r.refund_of.is_some())
        .collect();
    assert!(!refunds.is_empty());
    assert_eq!(events.len(), refunds.len());
    for event in &events {
        let PosPayload::Refund(refund) = &event.payload else {
            panic!("not a refund")
        };
        let r = refunds.iter().find(|r| r.id == refund.id).unwrap();
        assert_eq!(event.id, format!("refund:{}", r.id));
        assert_eq!(&refund.order_id, r.refund_of.as_ref().unwrap());
        assert_eq!(
            (refund.amount.minor, refund.amount.currency.as_str()),
            (r.total_cents, "GBP")
        );
        assert_eq!(refund.reason.as_deref(), Some("Returned goods"));
        // The order Square holds lists the refund too.
        let order = square.order(&refund.order_id).unwrap();
        assert_eq!(order["refunds"][0]["id"], json!(r.id));
    }
    let lists = search_requests(&square, "/v2/refunds");
    assert!(lists[0]
        .query
        .as_deref()
        .unwrap()
        .contains("sort_field=UPDATED_AT"));
    assert!(lists[1].query.as_deref().unwrap().contains("cursor="));
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_carry_their_identities_and_email_opt_outs() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let c = source(&host, &square, 7).await;
    let (events, _, pages) = poll_all(&c, "customers", None).await;
    assert_eq!(pages, shop.customers.len().div_ceil(7));
    assert_eq!(events.len(), shop.customers.len());
    for event in &events {
        let PosPayload::Customer(customer) = &event.payload else {
            panic!("not a customer")
        };
        let id = &customer.identities[0];
        assert_eq!(id.kind, IdentityKind::VendorCustomer);
        let want = shop.customers.iter().find(|c| c.id == id.value).unwrap();
        let value = |kind| {
            customer
                .identities
                .iter()
                .find(|i| i.kind == kind)
                .map(|i| i.value.clone())
        };
        assert_eq!(value(IdentityKind::Email), Some(want.email.clone()));
        assert_eq!(value(IdentityKind::Phone), want.phone.clone());
        assert_eq!(
            format!(
                "{} {}",
                customer.given_name.as_deref().unwrap(),
                customer.family_name.as_deref().unwrap()
            ),
            want.name
        );
        let revoked = customer
            .consents
            .iter()
            .any(|k| k.state == ConsentState::Revoked);
        assert_eq!(revoked, want.marketing_opt_in == Some(false), "{}", want.id);
        assert!(event.id.starts_with(&format!("customer:{}:", want.id)));
    }
    for request in search_requests(&square, "/v2/customers/search") {
        assert_schema("SearchCustomersRequest", request.body.as_ref().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_speaks_squares_schemas_and_rules() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", square.base_url());
    let call = |request: reqwest::RequestBuilder| async move {
        let response = request
            .bearer_auth(TOKEN)
            .header("Square-Version", "2025-01-23")
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    let location = square::location_id("High Street");
    let query = json!({"filter": {"date_time_filter": {"updated_at": {"start_at": "2026-10-05T00:00:00Z"}}},
                       "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}});
    let (status, page) = call(
        http.post(url("/v2/orders/search"))
            .json(&json!({"location_ids": [location], "query": query, "limit": 5})),
    )
    .await;
    assert_eq!(status, 200);
    assert_schema("SearchOrdersResponse", &page);
    assert_eq!(page["orders"].as_array().unwrap().len(), 5);
    let order = &page["orders"][0];
    assert_schema("Order", order);
    // The check has teeth: a decimal amount or an unknown field is refused.
    assert!(!schema_errors("Money", &json!({"amount": "5.50", "currency": "GBP"})).is_empty());
    assert!(!schema_errors("Order", &json!({"location_id": "L1", "totl_money": {}})).is_empty());
    let cursor = page["cursor"].as_str().unwrap();

    // The same query with the cursor continues; a changed query with it is refused.
    let (status, next) =
        call(http.post(url("/v2/orders/search")).json(
            &json!({"location_ids": [location], "query": query, "limit": 5, "cursor": cursor}),
        ))
        .await;
    assert_eq!(status, 200);
    assert_ne!(next["orders"][0]["id"], page["orders"][0]["id"]);
    let mut changed = query.clone();
    changed["filter"]["date_time_filter"]["updated_at"]["start_at"] = json!("2026-10-06T00:00:00Z");
    let (status, refused) = call(
        http.post(url("/v2/orders/search"))
            .json(&json!({"location_ids": [location], "query": changed, "cursor": cursor})),
    )
    .await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (400, Some("INVALID_CURSOR"))
    );
    assert_schema("SearchOrdersResponse", &refused);

    // The sort field must match the date filter's field.
    let mismatched = json!({"filter": {"date_time_filter": {"updated_at": {"start_at": "2026-10-05T00:00:00Z"}}}, "sort": {"sort_field": "CREATED_AT"}});
    let (status, refused) = call(
        http.post(url("/v2/orders/search"))
            .json(&json!({"location_ids": [location], "query": mismatched})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["errors"][0]["category"], "INVALID_REQUEST_ERROR");
    assert!(refused["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("must match"));
    let eleven: Vec<String> = (0..11).map(|i| format!("L{i}")).collect();
    let (status, refused) = call(
        http.post(url("/v2/orders/search"))
            .json(&json!({"location_ids": eleven})),
    )
    .await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (400, Some("ARRAY_LENGTH_TOO_LONG"))
    );

    let id = order["id"].as_str().unwrap();
    let (status, one) = call(http.get(url(&format!("/v2/orders/{id}")))).await;
    assert_eq!(status, 200);
    assert_schema("RetrieveOrderResponse", &one);
    let (status, missing) = call(http.get(url("/v2/orders/NOPE"))).await;
    assert_eq!(
        (status, missing["errors"][0]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, batch) = call(
        http.post(url("/v2/orders/batch-retrieve"))
            .json(&json!({"order_ids": [id, "NOPE"]})),
    )
    .await;
    assert_eq!(
        (status, batch["orders"].as_array().unwrap().len()),
        (200, 1)
    );
    assert_schema("BatchRetrieveOrdersResponse", &batch);
    assert_schema(
        "BatchRetrieveOrdersRequest",
        &json!({"order_ids": [id, "NOPE"]}),
    );

    let (status, customers) = call(
        http.post(url("/v2/customers/search"))
            .json(&json!({"limit": 3, "query": {"sort": {"field": "CREATED_AT", "order": "ASC"}}})),
    )
    .await;
    assert_eq!(
        (status, customers["customers"].as_array().unwrap().len()),
        (200, 3)
    );
    assert_schema("SearchCustomersResponse", &customers);
    let (status, refunds) = call(http.get(url("/v2/refunds?sort_order=ASC&limit=2"))).await;
    assert_eq!(status, 200);
    assert_schema("ListPaymentRefundsResponse", &refunds);
    let (status, refused) = call(http.get(url("/v2/refunds?colour=blue"))).await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (400, Some("UNKNOWN_QUERY_PARAMETER"))
    );

    // Without the token: Square's 401.
    let response = http
        .post(url("/v2/orders/search"))
        .json(&json!({"location_ids": [location]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0],
        json!({"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED", "detail": "This request could not be authorized."})
    );

    // An injected 429 is Square's RATE_LIMITED, without Retry-After.
    square.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    let response = http
        .get(url(&format!("/v2/orders/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "RATE_LIMITED");
    assert_schema("RetrieveOrderResponse", &body);

    // Orders in each state, and the return order and refund of a return, are Square's shapes.
    let sale = shop
        .valid_receipts()
        .find(|r| r.refund_of.is_none())
        .unwrap();
    let mut draft = square::unpaid_order(sale, "KWD", Some("C1"), "DRAFT");
    draft["id"] = json!("DRAFT1");
    assert_schema("Order", &draft);
    square.put_order(draft);
    square.transition("DRAFT1", "OPEN", "2026-11-01T10:00:00.000Z");
    assert_schema("Order", &square.order("DRAFT1").unwrap());
    square.transition("DRAFT1", "COMPLETED", "2026-11-01T10:05:00.000Z");
    assert_schema("Order", &square.order("DRAFT1").unwrap());
    let back = square.return_lines(&square::Return {
        sale_id: "DRAFT1",
        return_order_id: "RETURN1",
        refund_id: "REFUND1",
        at: "2026-11-03T16:00:00.000Z",
        lines: &[(0, 1)],
        reason: "Changed their mind",
    });
    assert_schema("Order", &back);
    let refund = square.refunds().into_iter().find(|r| r["id"] == "REFUND1");
    assert_schema("PaymentRefund", &refund.unwrap());
}

#[test]
fn the_signature_matches_the_vendor_test_vector() {
    assert_eq!(
        square::sign(
            SIGNATURE_KEY,
            NOTIFICATION_URL,
            br#"{"event_id":"e1","type":"order.created"}"#
        ),
        "uysxa6YdKpqdzC14hpEX/5tPjVZAga+esUwscUDXHvE="
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_webhooks_become_events_and_forgeries_are_refused() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let c = source(&host, &square, 50).await;

    // The test vector's signature passes the plugin's check (the body is then too thin to read).
    let vector = br#"{"event_id":"e1","type":"order.created"}"#.to_vec();
    let headers = vec![(
        square::SIGNATURE_HEADER.to_owned(),
        "uysxa6YdKpqdzC14hpEX/5tPjVZAga+esUwscUDXHvE=".to_owned(),
    )];
    assert!(matches!(
        webhook(&c, headers, vector).await,
        Err(ConnectorError::Invalid(_))
    ));

    // order.updated carries no order: the plugin fetches the new version.
    let id = square.orders()[3]["id"].as_str().unwrap().to_owned();
    square.update_order(&id, "2026-11-02T14:31:00.000Z", |o| {
        o["state"] = json!("CANCELED")
    });
    let note = square.order_notification("order.updated", &id, "evt-order-1");
    assert_schema("OrderUpdatedEvent", &note);
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    let push = webhook(&c, headers.clone(), body.clone()).await.unwrap();
    assert_eq!(push.events.len(), 1);
    assert_eq!(push.events[0].id, "evt-order-1");
    let PosPayload::Order(order) = &push.events[0].payload else {
        panic!("not an order")
    };
    assert_eq!(order.id, id);
    assert_eq!(
        order.state,
        rapport_sandbox::contract::wit::OrderState::Canceled
    );
    assert_eq!(
        order.total.minor,
        square.order(&id).unwrap()["total_money"]["amount"]
            .as_i64()
            .unwrap()
    );
    assert!(
        search_requests(&square, &format!("/v2/orders/{id}")).len() == 1,
        "the order was fetched"
    );

    // A redelivery is the same event.
    let again = webhook(&c, headers, body).await.unwrap();
    assert_eq!(again.events[0].id, "evt-order-1");

    // refund.created and customer.updated carry their objects.
    let refund_id = square.refunds()[0]["id"].as_str().unwrap().to_owned();
    let note = square.refund_notification("refund.created", &refund_id, "evt-refund-1");
    assert_schema("RefundCreatedEvent", &note);
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    let push = webhook(&c, headers, body).await.unwrap();
    let PosPayload::Refund(refund) = &push.events[0].payload else {
        panic!("not a refund")
    };
    assert_eq!(
        (push.events[0].id.as_str(), refund.id.as_str()),
        ("evt-refund-1", refund_id.as_str())
    );
    assert_eq!(
        refund.order_id,
        square.refunds()[0]["order_id"].as_str().unwrap()
    );
    let customer_id = shop.customers[0].id.clone();
    let note = square.customer_notification("customer.updated", &customer_id, "evt-customer-1");
    assert_schema("CustomerUpdatedEvent", &note);
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    let push = webhook(&c, headers, body).await.unwrap();
    let PosPayload::Customer(customer) = &push.events[0].payload else {
        panic!("not a customer")
    };
    assert_eq!(customer.identities[0].value, customer_id);

    // A wrong key, a body changed after signing, or no signature: Auth.
    let note = square.order_notification("order.updated", &id, "evt-order-2");
    let (headers, body) = square::signed_delivery("not-the-key", NOTIFICATION_URL, &note);
    assert!(matches!(
        webhook(&c, headers, body).await,
        Err(ConnectorError::Auth(_))
    ));
    let (headers, mut body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    body.push(b' ');
    assert!(matches!(
        webhook(&c, headers, body.clone()).await,
        Err(ConnectorError::Auth(_))
    ));
    assert!(matches!(
        webhook(&c, Vec::new(), body).await,
        Err(ConnectorError::Auth(_))
    ));

    // Signed but malformed: Invalid.
    let garbage = b"{\"event_id\": ".to_vec();
    let headers = vec![(
        square::SIGNATURE_HEADER.to_owned(),
        square::sign(SIGNATURE_KEY, NOTIFICATION_URL, &garbage),
    )];
    assert!(matches!(
        webhook(&c, headers, garbage).await,
        Err(ConnectorError::Invalid(_))
    ));

    // The delivery helper posts like Square's sender (here to the simulator, which wants a token).
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    let (status, _) = square::deliver(
        &format!("{}/v2/orders/search", square.base_url()),
        &headers,
        &body,
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_outages_and_refused_tokens_map_to_connector_errors() {
    let shop = shop();
    let square = SquareServer::start(TOKEN).await.unwrap();
    square.load_shop(&shop);
    let host = services();
    let c = source(&host, &square, 10).await;

    square.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    );
    match poll(&c, "orders", None).await {
        Err(ConnectorError::RateLimited(ms)) => assert!((2000..3000).contains(&ms), "{ms}"),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    square.faults().fail_next(
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    assert!(matches!(
        poll(&c, "refunds", None).await,
        Err(ConnectorError::Transient(_))
    ));
    square.faults().fail_next(1, Fault::Malformed);
    assert!(matches!(
        poll(&c, "customers", None).await,
        Err(ConnectorError::Invalid(_))
    ));
    // After the faults, the same poll succeeds.
    assert!(!poll(&c, "orders", None).await.unwrap().events.is_empty());

    // A Square that does not know the token: Auth, with Square's reason.
    let stranger = SquareServer::start("another-token").await.unwrap();
    let c = source(&host, &stranger, 10).await;
    match poll(&c, "orders", None).await {
        Err(ConnectorError::Auth(reason)) => assert!(reason.contains("UNAUTHORIZED"), "{reason}"),
        other => panic!("expected Auth, got {other:?}"),
    }
}
