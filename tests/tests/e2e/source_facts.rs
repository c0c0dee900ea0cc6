//! Facts a shop can trust, end to end: the Square and Shopify sources through the real host, the
//! real wasm plugins and the simulators, checked in what the host stored (the canonical payloads
//! of the `events` table). An order has a state and the sale's own time apart from `updated_at`;
//! every version of an order is its own event; goods given back are a refund with their lines,
//! stored once however it is read; money is exact in minor units for 0-, 2- and 3-decimal
//! currencies; by polling and by webhooks alike. Every expected value is worked out by hand here,
//! from the orders the test stages.

use crate::vendor_sales::{line, ms, sale, stored, Stored};
use rapport_e2e::{plugin, TestShop};
use rapport_fakes::shop::{Line, Receipt};
use rapport_fakes::shopify::{self, ShopifyServer};
use rapport_fakes::square::{self, SquareServer};
use rapport_host::config::Config;
use rapport_host::ingest::IngestReport;
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};

use tempfile::TempDir;

const SQUARE_TOKEN: &str = "sq-facts-token";
const SIGNATURE_KEY: &str = "test-signature-key";
const NOTIFICATION_URL: &str = "https://example.com/hooks/square";
const SHOPIFY_TOKEN: &str = "shpat_facts_token";
const SHOPIFY_SECRET: &str = "test-client-secret";

/// A sale at the High Street till at `date` (UTC). Amounts are minor units as the simulators
/// take them (cents, yen, and for Shopify's KWD three times as many fils: see each test).
fn receipt(id: &str, date: &str, lines: Vec<Line>, tax: i64, discount: i64) -> Receipt {
    sale(id, date, lines, false, tax, discount)
}

/// Starts a pipeline (no daemon: it polls only when asked) for `shop` in a fresh directory.
async fn start(shop: TestShop) -> (Pipeline, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = shop.text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    (pipeline, dir)
}

async fn poll(pipeline: &Pipeline) -> IngestReport {
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.rejected, 0, "nothing the sources read was refused");
    report
}

/// The payload stored under `event_id`.
fn event<'a>(events: &'a [Stored], event_id: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e.event_id == event_id)
        .unwrap_or_else(|| {
            let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            panic!("no event {event_id} among {ids:?}")
        })
        .payload
}

fn money(minor: i64, currency: &str) -> Value {
    json!({"minor": minor, "currency": currency})
}

/// An order payload: its state, the sale's time, the version's time and its total.
fn assert_order(p: &Value, state: &str, placed_at: &str, updated_at: &str, total: Value) {
    assert_eq!(p["type"], "order", "{p}");
    assert_eq!(p["state"], state, "{p}");
    assert_eq!(
        ms(p["placed_at"].as_str().unwrap()),
        ms(placed_at),
        "placed_at of {p}"
    );
    assert_eq!(
        ms(p["updated_at"].as_str().unwrap()),
        ms(updated_at),
        "updated_at of {p}"
    );
    assert_eq!(p["total"], total, "{p}");
}

/// A line as the contract's canonical payload holds it (whole quantities).
fn stored_line(sku: &str, product: &str, quantity: i64, unit: Value, total: Value) -> Value {
    json!({
        "sku": sku, "product": product, "category": null,
        "quantity": {"units": quantity, "scale": 0}, "unit_price": unit, "total": total,
    })
}

// ---- Square ----

fn square_shop(square: &SquareServer) -> TestShop {
    TestShop::new()
        .sqlite()
        .secrets(&[
            ("square_token", SQUARE_TOKEN),
            ("square_signature_key", SIGNATURE_KEY),
        ])
        .source(
            "square",
            &plugin("square-source"),
            [
                ("api_base", square.base_url().into()),
                ("location_ids", square::location_id("High Street").into()),
                ("notification_url", NOTIFICATION_URL.into()),
            ],
        )
}

/// A signed Square notification delivered through the host, as Square's sender would.
async fn square_push(pipeline: &Pipeline, note: &Value) -> IngestReport {
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, note);
    pipeline
        .intake
        .receive_push("square", headers, body)
        .await
        .unwrap()
}

/// USD: two bags at $14.50 and a mug at $18.00, 8% tax ($3.76): $50.76.
fn square_sale_a() -> Receipt {
    receipt(
        "SQ-A",
        "2026-10-05T10:00:00Z",
        vec![
            line("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", 2, 1450),
            line("MUG-STONE", "Stoneware mug", 1, 1800),
        ],
        376,
        0,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn square_orders_carry_their_state_and_sale_time_version_by_version_when_polled() {
    let square = SquareServer::start(SQUARE_TOKEN).await.unwrap();
    let (pipeline, _dir) = start(square_shop(&square)).await;

    // A: a draft (USD) opened, then paid seven minutes after it was created.
    let a = square_sale_a();
    square.put_order(square::unpaid_order(&a, "USD", Some("CUST-A"), "DRAFT"));
    // B: KWD 12.345 (12345 fils) open, then cancelled.
    let b = receipt(
        "SQ-B",
        "2026-10-05T09:30:00Z",
        vec![line("GRINDER-HND", "Hand grinder", 1, 12_345)],
        0,
        0,
    );
    square.put_order(square::unpaid_order(&b, "KWD", None, "OPEN"));
    // C: ¥1,500 paid at the till at once; ¥500 of it is refunded the next day against the sale.
    let c = receipt(
        "SQ-C",
        "2026-10-05T09:00:00Z",
        vec![line("TEA-SEN-100", "Sencha 100g", 3, 500)],
        0,
        0,
    );
    square.put_order(square::sale_order(&c, "JPY", Some("CUST-C")));
    poll(&pipeline).await;

    square.transition("SQ-A", "OPEN", "2026-10-05T10:01:00.000Z");
    poll(&pipeline).await;
    square.transition("SQ-A", "COMPLETED", "2026-10-05T10:07:00.000Z");
    square.transition("SQ-B", "CANCELED", "2026-10-05T10:30:00.000Z");
    square.refund(json!({
        "id": "RF-C", "status": "COMPLETED", "location_id": square::location_id("High Street"),
        "amount_money": {"amount": 500, "currency": "JPY"}, "payment_id": "PSQ-C",
        "order_id": "SQ-C", "reason": "Too strong", "destination_type": "CARD",
        "created_at": "2026-10-06T09:00:00.000Z", "updated_at": "2026-10-06T09:00:00.000Z",
    }));
    poll(&pipeline).await;
    poll(&pipeline).await;

    let events = stored(&pipeline).await;
    // Each version Square committed is its own event, with the state it had then. A draft and an
    // open order are placed when created; a paid one when it closed; `updated_at` is the
    // version's own time.
    let usd = |minor| money(minor, "USD");
    assert_order(
        event(&events, "order:SQ-A:v1"),
        "open",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:00:00Z",
        usd(5076),
    );
    assert_order(
        event(&events, "order:SQ-A:v2"),
        "open",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:01:00Z",
        usd(5076),
    );
    let paid = event(&events, "order:SQ-A:v3");
    assert_order(
        paid,
        "completed",
        "2026-10-05T10:07:00Z",
        "2026-10-05T10:07:00Z",
        usd(5076),
    );
    assert_eq!(paid["tax"], usd(376));
    assert_eq!(paid["subtotal"], usd(4700));
    assert_eq!(
        paid["lines"],
        json!([
            stored_line(
                "BEAN-ETH-250",
                "Ethiopia Yirgacheffe 250g",
                2,
                usd(1450),
                usd(2900)
            ),
            stored_line("MUG-STONE", "Stoneware mug", 1, usd(1800), usd(1800)),
        ])
    );
    assert_eq!(
        paid["customer"]["identities"],
        json!([{"kind": "vendor_customer", "value": "CUST-A"}])
    );
    // A cancelled order is no sale: it keeps its creation time, not the cancellation's.
    assert_order(
        event(&events, "order:SQ-B:v1"),
        "open",
        "2026-10-05T09:30:00Z",
        "2026-10-05T09:30:00Z",
        money(12_345, "KWD"),
    );
    assert_order(
        event(&events, "order:SQ-B:v2"),
        "canceled",
        "2026-10-05T09:30:00Z",
        "2026-10-05T10:30:00Z",
        money(12_345, "KWD"),
    );
    // The refund made the sale a new version: still sold at 09:00, updated the next day.
    assert_order(
        event(&events, "order:SQ-C:v1"),
        "completed",
        "2026-10-05T09:00:00Z",
        "2026-10-05T09:00:00Z",
        money(1500, "JPY"),
    );
    assert_order(
        event(&events, "order:SQ-C:v2"),
        "completed",
        "2026-10-05T09:00:00Z",
        "2026-10-06T09:00:00Z",
        money(1500, "JPY"),
    );
    let refund = event(&events, "refund:RF-C");
    assert_eq!(
        (&refund["order_id"], &refund["amount"]),
        (&json!("SQ-C"), &money(500, "JPY"))
    );
    // Nothing else: one event per version and the one refund, each read once.
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "order:SQ-A:v1",
            "order:SQ-A:v2",
            "order:SQ-A:v3",
            "order:SQ-B:v1",
            "order:SQ-B:v2",
            "order:SQ-C:v1",
            "order:SQ-C:v2",
            "refund:RF-C",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_square_return_of_one_of_two_items_is_one_refund_with_its_line_by_poll_and_webhook() {
    let square = SquareServer::start(SQUARE_TOKEN).await.unwrap();
    let (pipeline, _dir) = start(square_shop(&square)).await;
    square.put_order(square::sale_order(&square_sale_a(), "USD", Some("CUST-A")));
    // The mug comes back two days later: Square records a return order and refunds the card.
    square.return_lines(&square::Return {
        sale_id: "SQ-A",
        return_order_id: "RET-A",
        refund_id: "RF-A",
        at: "2026-10-07T12:00:00.000Z",
        lines: &[(1, 1)],
        reason: "Chipped",
    });

    // The order search reads the return order, the refunds list reads its refund: one refund.
    let first = poll(&pipeline).await;
    let again = poll(&pipeline).await;
    assert_eq!(again.accepted, 0, "a second poll reads nothing new");
    let events = stored(&pipeline).await;
    let refunds: Vec<&Stored> = events.iter().filter(|e| e.kind == "refund").collect();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(first.accepted, 2, "the sale and the refund");
    let refund = refunds[0];
    assert_eq!(
        (refund.event_id.as_str(), refund.object_id.as_str()),
        ("refund:RET-A:RET-A-R0", "RET-A:RET-A-R0")
    );
    let usd = |minor| money(minor, "USD");
    assert_eq!(
        refund.payload,
        json!({
            "type": "refund", "id": "RET-A:RET-A-R0", "order_id": "SQ-A",
            "customer": {
                "identities": [{"kind": "vendor_customer", "value": "CUST-A"}],
                "given_name": null, "family_name": null, "consents": [], "created_at": null,
            },
            "amount": usd(1800), "reason": "Chipped",
            "lines": [stored_line("MUG-STONE", "Stoneware mug", 1, usd(1800), usd(1800))],
            "created_at": refund.payload["created_at"],
        })
    );
    assert_eq!(
        ms(refund.payload["created_at"].as_str().unwrap()),
        ms("2026-10-07T12:00:00Z")
    );
    // The return order is no sale: only the sale is an order.
    let orders: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "order")
        .map(|e| e.object_id.as_str())
        .collect();
    assert_eq!(orders, ["SQ-A"]);

    // The notifications of the return order and of its refund report the same refund again:
    // the host already has it.
    let note = square.order_notification("order.created", "RET-A", "evt-ret-1");
    let report = square_push(&pipeline, &note).await;
    assert_eq!((report.accepted, report.duplicates), (0, 1));
    let note = square.refund_notification("refund.created", "RF-A", "evt-ret-2");
    let report = square_push(&pipeline, &note).await;
    assert_eq!((report.accepted, report.duplicates), (0, 1));
    assert_eq!(stored(&pipeline).await.len(), events.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn square_notifications_report_each_version_and_returns_as_the_poll_does() {
    let square = SquareServer::start(SQUARE_TOKEN).await.unwrap();
    let (pipeline, _dir) = start(square_shop(&square)).await;
    // KWD 4.350 (4350 fils) × 2 and 5.400 × 1, 1.128 tax: 15.228.
    let d = receipt(
        "SQ-D",
        "2026-10-08T15:00:00Z",
        vec![
            line("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", 2, 4350),
            line("MUG-STONE", "Stoneware mug", 1, 5400),
        ],
        1128,
        0,
    );
    square.put_order(square::unpaid_order(&d, "KWD", Some("CUST-D"), "OPEN"));
    let pushed = square_push(
        &pipeline,
        &square.order_notification("order.created", "SQ-D", "evt-d-1"),
    )
    .await;
    assert_eq!(pushed.accepted, 1);
    square.transition("SQ-D", "COMPLETED", "2026-10-08T15:20:00.000Z");
    square_push(
        &pipeline,
        &square.order_notification("order.updated", "SQ-D", "evt-d-2"),
    )
    .await;
    square.return_lines(&square::Return {
        sale_id: "SQ-D",
        return_order_id: "RET-D",
        refund_id: "RF-D",
        at: "2026-10-09T10:00:00.000Z",
        lines: &[(0, 1)],
        reason: "Wrong roast",
    });
    let pushed = square_push(
        &pipeline,
        &square.refund_notification("refund.created", "RF-D", "evt-d-3"),
    )
    .await;
    assert_eq!(pushed.accepted, 1);

    let events = stored(&pipeline).await;
    let kwd = |minor| money(minor, "KWD");
    assert_order(
        event(&events, "evt-d-1"),
        "open",
        "2026-10-08T15:00:00Z",
        "2026-10-08T15:00:00Z",
        kwd(15_228),
    );
    let paid = event(&events, "evt-d-2");
    assert_order(
        paid,
        "completed",
        "2026-10-08T15:20:00Z",
        "2026-10-08T15:20:00Z",
        kwd(15_228),
    );
    assert_eq!(paid["lines"][0]["unit_price"], kwd(4350));
    assert_eq!(paid["tax"], kwd(1128));
    let refund = event(&events, "refund:RET-D:RET-D-R0");
    assert_eq!(refund["order_id"], "SQ-D");
    assert_eq!(refund["amount"], kwd(4350));
    assert_eq!(
        refund["lines"],
        json!([stored_line(
            "BEAN-ETH-250",
            "Ethiopia Yirgacheffe 250g",
            1,
            kwd(4350),
            kwd(4350)
        )])
    );
    assert_eq!(events.len(), 3);

    // Polled afterwards, the same refund is the same event; the order versions come again
    // under the ids the poll gives them (the host keeps both paths' copies of one version).
    poll(&pipeline).await;
    let polled = stored(&pipeline).await;
    let refunds = polled.iter().filter(|e| e.kind == "refund").count();
    assert_eq!(refunds, 1);
    assert_order(
        event(&polled, "order:SQ-D:v2"),
        "completed",
        "2026-10-08T15:20:00Z",
        "2026-10-08T15:20:00Z",
        kwd(15_228),
    );
}

// ---- Shopify ----

fn shopify_shop(server: &ShopifyServer) -> TestShop {
    TestShop::new()
        .sqlite()
        .secrets(&[
            ("shopify_token", SHOPIFY_TOKEN),
            ("shopify_webhook_secret", SHOPIFY_SECRET),
        ])
        .source(
            "shopify",
            &plugin("shopify-source"),
            [("api_base", server.base_url().into())],
        )
}

/// Two bags and a mug, bought at 06:00 in the shop's zone (UTC−4). The simulator writes KWD with
/// three times the receipt's minor units so the third decimal is used: bags 4.350, mug 5.400,
/// tax 1.128, total 15.228.
fn shopify_sale_k() -> Receipt {
    receipt(
        "R000101",
        "2026-10-05T10:00:00Z",
        vec![
            line("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", 2, 1450),
            line("MUG-STONE", "Stoneware mug", 1, 1800),
        ],
        376,
        0,
    )
}

/// Sencha at ¥990 and two slices of cake at ¥375: ¥1,740, no tax.
fn shopify_sale_j() -> Receipt {
    receipt(
        "R000102",
        "2026-10-05T09:00:00Z",
        vec![
            line("TEA-SEN-100", "Sencha 100g", 1, 990),
            line("CAKE-BANANA", "Banana bread slice", 2, 375),
        ],
        0,
        0,
    )
}

/// A hand grinder at $49.00, 8% tax ($3.92), $2.00 off: $50.92.
fn shopify_sale_u() -> Receipt {
    receipt(
        "R000103",
        "2026-10-05T09:30:00Z",
        vec![line("GRINDER-HND", "Hand grinder", 1, 4900)],
        392,
        200,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_orders_carry_state_sale_time_exact_money_and_refunded_lines_when_polled() {
    let server = ShopifyServer::start(SHOPIFY_TOKEN).await.unwrap();
    let (pipeline, _dir) = start(shopify_shop(&server)).await;
    let (k, j, u) = (
        shopify::shopify_id("R000101"),
        shopify::shopify_id("R000102"),
        shopify::shopify_id("R000103"),
    );
    server.put_order(shopify::unpaid_order(
        &shopify_sale_k(),
        None,
        "KWD",
        "pending",
    ));
    // J was rung up at the till while offline at 04:55 and reached Shopify at 05:00 (UTC−4).
    let mut offline = shopify::shopify_order(&shopify_sale_j(), None, "JPY");
    offline["processed_at"] = json!("2026-10-05T04:55:00-04:00");
    server.put_order(offline);
    // U was authorised and archived (closed) by the merchant without the payment being captured.
    let mut archived = shopify::unpaid_order(&shopify_sale_u(), None, "USD", "authorized");
    archived["closed_at"] = archived["created_at"].clone();
    server.put_order(archived);
    poll(&pipeline).await;

    server.pay_order(k, "2026-10-05T06:10:00-04:00");
    poll(&pipeline).await;
    let sencha = shopify::refund_lines(
        &server.order(j).unwrap(),
        9_001,
        "2026-10-07T10:00:00-04:00",
        &[(0, 1)],
    );
    server.add_refund(sencha);
    server.cancel_order(k, "2026-10-06T08:00:00-04:00", "customer");
    poll(&pipeline).await;

    let events = stored(&pipeline).await;
    let kwd = |minor| money(minor, "KWD");
    let jpy = |minor| money(minor, "JPY");
    let usd = |minor| money(minor, "USD");
    assert_order(
        event(&events, &format!("order:{k}:2026-10-05T06:00:00-04:00")),
        "open",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:00:00Z",
        kwd(15_228),
    );
    let paid = event(&events, &format!("order:{k}:2026-10-05T06:10:00-04:00"));
    assert_order(
        paid,
        "completed",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:10:00Z",
        kwd(15_228),
    );
    assert_eq!(
        (&paid["tax"], &paid["subtotal"], &paid["discount"]),
        (&kwd(1128), &kwd(14_100), &kwd(0))
    );
    assert_eq!(
        paid["lines"],
        json!([
            stored_line(
                "BEAN-ETH-250",
                "Ethiopia Yirgacheffe 250g",
                2,
                kwd(4350),
                kwd(8700)
            ),
            stored_line("MUG-STONE", "Stoneware mug", 1, kwd(5400), kwd(5400)),
        ])
    );
    assert_order(
        event(&events, &format!("order:{k}:2026-10-06T08:00:00-04:00")),
        "canceled",
        "2026-10-05T10:00:00Z",
        "2026-10-06T12:00:00Z",
        kwd(15_228),
    );

    // The offline sale happened at the till, before Shopify created it; the refund is a later
    // version of the same sale.
    assert_order(
        event(&events, &format!("order:{j}:2026-10-05T05:00:00-04:00")),
        "completed",
        "2026-10-05T08:55:00Z",
        "2026-10-05T09:00:00Z",
        jpy(1740),
    );
    assert_order(
        event(&events, &format!("order:{j}:2026-10-07T10:00:00-04:00")),
        "completed",
        "2026-10-05T08:55:00Z",
        "2026-10-07T14:00:00Z",
        jpy(1740),
    );
    let refund = event(&events, "refund:9001");
    assert_eq!(refund["order_id"], json!(j.to_string()));
    assert_eq!(refund["amount"], jpy(990));
    assert_eq!(
        ms(refund["created_at"].as_str().unwrap()),
        ms("2026-10-07T14:00:00Z")
    );
    assert_eq!(
        refund["lines"],
        json!([stored_line(
            "TEA-SEN-100",
            "Sencha 100g",
            1,
            jpy(990),
            jpy(990)
        )])
    );

    // Authorised, not captured: open though archived, $50.92 exactly.
    let authorised = event(&events, &format!("order:{u}:2026-10-05T05:30:00-04:00"));
    assert_order(
        authorised,
        "open",
        "2026-10-05T09:30:00Z",
        "2026-10-05T09:30:00Z",
        usd(5092),
    );
    assert_eq!(
        (
            &authorised["discount"],
            &authorised["tax"],
            &authorised["subtotal"]
        ),
        (&usd(200), &usd(392), &usd(4900))
    );
    assert_eq!(
        events.len(),
        7,
        "three versions of K, two of J, U, the refund"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_webhooks_report_each_version_and_the_refunded_lines() {
    let server = ShopifyServer::start(SHOPIFY_TOKEN).await.unwrap();
    let (pipeline, _dir) = start(shopify_shop(&server)).await;
    let k = shopify::shopify_id("R000101");
    let push = |topic: &str, id: &str, resource: Value| {
        let (headers, body) = shopify::webhook(SHOPIFY_SECRET, topic, id, &resource);
        let intake = pipeline.intake.clone();
        async move { intake.receive_push("shopify", headers, body).await.unwrap() }
    };
    server.put_order(shopify::unpaid_order(
        &shopify_sale_k(),
        None,
        "KWD",
        "authorized",
    ));
    push("orders/create", "wh-k-1", server.order(k).unwrap()).await;
    server.pay_order(k, "2026-10-05T06:10:00-04:00");
    push("orders/paid", "wh-k-2", server.order(k).unwrap()).await;
    let mug = shopify::refund_lines(
        &server.order(k).unwrap(),
        9_002,
        "2026-10-06T09:00:00-04:00",
        &[(1, 1)],
    );
    server.add_refund(mug.clone());
    push("refunds/create", "wh-k-3", mug).await;
    server.cancel_order(k, "2026-10-06T09:30:00-04:00", "customer");
    let cancelled = push("orders/cancelled", "wh-k-4", server.order(k).unwrap()).await;
    assert_eq!(
        cancelled.accepted, 2,
        "the cancelled order and its embedded refund"
    );

    let events = stored(&pipeline).await;
    let kwd = |minor| money(minor, "KWD");
    assert_order(
        event(&events, "wh-k-1"),
        "open",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:00:00Z",
        kwd(15_228),
    );
    assert_order(
        event(&events, "wh-k-2"),
        "completed",
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:10:00Z",
        kwd(15_228),
    );
    assert_order(
        event(&events, "wh-k-4"),
        "canceled",
        "2026-10-05T10:00:00Z",
        "2026-10-06T13:30:00Z",
        kwd(15_228),
    );
    // The refund arrived bare (refunds/create) and again inside the cancelled order: one refund
    // object, with the same lines and amount either way.
    let refunds: Vec<&Stored> = events.iter().filter(|e| e.kind == "refund").collect();
    assert_eq!(
        refunds
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["wh-k-3", "refund:9002"]
    );
    for refund in refunds {
        assert_eq!(refund.object_id, "9002");
        assert_eq!(refund.payload["order_id"], json!(k.to_string()));
        assert_eq!(refund.payload["amount"], kwd(5400));
        assert_eq!(
            refund.payload["lines"],
            json!([stored_line(
                "MUG-STONE",
                "Stoneware mug",
                1,
                kwd(5400),
                kwd(5400)
            )])
        );
    }
}
