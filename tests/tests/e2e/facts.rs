//! Facts a shop can trust, end to end through the shopify-source plugin, its webhooks and its
//! simulator, into an http-sink catch-hook:
//! - an open order waits; once completed it is a sale (counted, "Placed Order" at its own time, a
//!   journey message); cancelled, it is reversed ("Cancelled Order", totals corrected, the pending
//!   message withdrawn);
//! - the vendor's newer version wins whatever the arrival order, through polls and webhooks;
//! - history (a first sync, `import --history`, sales older than the horizon) starts no journey,
//!   while one fresh sale starts one.

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use rapport_e2e::{plugin, upload_csv, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_fakes::shopify::{self, ShopifyServer};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use std::time::Duration;

const TOKEN: &str = "shpat_test_token";
const WEBHOOK_SECRET: &str = "test-client-secret";
/// The journey every test shop has: a thank-you an hour after each sale.
const THANKS: &str = "Journey: thanks";

struct Shop {
    pipeline: Pipeline,
    pool: AnyPool,
    shopify: ShopifyServer,
    crm: CaptureServer,
    sample: SampleShop,
    _dir: tempfile::TempDir,
}

/// A shop with a shopify-source, a csv-source "csv", an http-sink "crm" and the journey "thanks"
/// (every order, an hour after it).
async fn start() -> Shop {
    let shopify = ShopifyServer::start(TOKEN).await.unwrap();
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .secrets(&[
            ("shopify_token", TOKEN),
            ("shopify_webhook_secret", WEBHOOK_SECRET),
        ])
        .marketing_without_choice("send")
        .source(
            "shopify",
            &plugin("shopify-source"),
            [("api_base", shopify.base_url().into())],
        )
        .csv_source("csv")
        .sink("crm", &plugin("http-sink"), [("url", crm.url().into())])
        .journey("thanks", "crm", "email", "every-order")
        .set("wait_minutes", 60.into())
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    Shop {
        pipeline,
        pool,
        shopify,
        crm,
        sample: SampleShop::generate(5, 30, 0),
        _dir: dir,
    }
}

/// Shopify's time format for `t`.
fn shopify_time(t: DateTime<Utc>) -> String {
    shopify::format_time(t.timestamp_millis())
}

impl Shop {
    /// The sample shop's `n`th sale as a paid Shopify order, bought by the sample shop's first
    /// customer, placed at `placed`, last changed at `updated`, with `change` applied.
    fn order(
        &self,
        n: usize,
        placed: DateTime<Utc>,
        updated: DateTime<Utc>,
        change: impl FnOnce(&mut Value),
    ) -> Value {
        let receipt = self
            .sample
            .valid_receipts()
            .filter(|r| r.refund_of.is_none())
            .nth(n)
            .expect("a sale");
        let customer = shopify::shopify_customer(&self.sample, 0, &self.sample.customers[0], "USD");
        let mut order = shopify::shopify_order(receipt, Some(customer), "USD");
        order["created_at"] = json!(shopify_time(placed));
        order["processed_at"] = json!(shopify_time(placed));
        order["closed_at"] = Value::Null;
        order["updated_at"] = json!(shopify_time(updated));
        change(&mut order);
        order
    }

    /// Posts `order` as Shopify's `topic` webhook, delivery `id`.
    async fn webhook(&self, topic: &str, id: &str, order: &Value) {
        let (headers, body) = shopify::webhook(WEBHOOK_SECRET, topic, id, order);
        self.pipeline
            .intake
            .receive_push("shopify", headers, body)
            .await
            .unwrap();
    }

    /// Delivers everything due.
    async fn deliver(&self) {
        self.pipeline
            .drain(Duration::from_secs(5), Duration::from_secs(60))
            .await
            .unwrap();
    }

    /// The names of the activities the CRM received for order `id`, in arrival order, each with
    /// its time.
    fn activities_of(&self, id: &Value) -> Vec<(String, String)> {
        let id = id.to_string();
        self.crm
            .captured()
            .activities
            .iter()
            .filter(|a| a["properties"]["order_id"].as_str() == Some(id.trim_matches('"')))
            .filter(|a| a["name"] != THANKS)
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["occurred_at"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Journey messages in the outbox as `(status, last error)`.
    async fn messages(&self) -> Vec<(String, Option<String>)> {
        sqlx::query("SELECT status, last_error FROM outbox WHERE kind = 'message' ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("status"), r.get("last_error")))
            .collect()
    }

    /// When each journey wait (a message not yet due) falls due, in order.
    async fn waits(&self) -> Vec<i64> {
        sqlx::query("SELECT due_at FROM journey_due ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("due_at"))
            .collect()
    }

    /// The traits the CRM holds for the one person it knows.
    fn traits(&self) -> Value {
        let profiles = self.crm.captured().profiles;
        assert_eq!(profiles.len(), 1, "{profiles:?}");
        profiles.into_values().next().unwrap()["traits"].clone()
    }
}

/// `t` as the http-sink writes times.
fn written(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The order's total in cents, from Shopify's decimal string of dollars.
fn total_cents(order: &Value) -> i64 {
    let (dollars, cents) = order["total_price"]
        .as_str()
        .unwrap()
        .split_once('.')
        .unwrap();
    dollars.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// How many sales (not refunds) a sample shop's export holds.
fn sales(shop: &SampleShop) -> usize {
    shop.valid_receipts()
        .filter(|r| r.refund_of.is_none())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_order_waits_a_completed_one_counts_and_a_cancelled_one_is_reversed() {
    let shop = start().await;
    let placed = (Utc::now() - Span::minutes(20)).with_nanosecond_zero();
    let open = shop.order(0, placed, placed, |o| {
        o["financial_status"] = json!("pending");
    });
    let id = open["id"].clone();
    shop.webhook("orders/create", "w1", &open).await;
    shop.deliver().await;
    assert_eq!(shop.activities_of(&id), []);
    assert_eq!(shop.traits()["orders_count"], 0);
    assert_eq!(shop.messages().await, []);

    // Paid ten minutes later: a sale placed when the order was, not when it was paid.
    let paid = shop.order(0, placed, placed + Span::minutes(10), |_| {});
    shop.webhook("orders/paid", "w2", &paid).await;
    shop.deliver().await;
    assert_eq!(
        shop.activities_of(&id),
        [("Placed Order".to_string(), written(placed))]
    );
    let traits = shop.traits();
    assert_eq!(traits["orders_count"], 1);
    assert_eq!(traits["net_spent"]["amount_minor"], total_cents(&paid));
    assert_eq!(traits["last_order_at"], written(placed));
    // The thank-you waits for its hour after the sale's own time.
    assert_eq!(
        shop.waits().await,
        [(placed + Span::hours(1)).timestamp_millis()]
    );
    assert_eq!(shop.messages().await, []);

    // Cancelled before the thank-you went: reversed, and the thank-you withdrawn.
    let cancelled_at = placed + Span::minutes(15);
    let cancelled = shop.order(0, placed, cancelled_at, |o| {
        o["cancelled_at"] = json!(shopify_time(cancelled_at));
        o["financial_status"] = json!("voided");
    });
    shop.webhook("orders/cancelled", "w3", &cancelled).await;
    shop.deliver().await;
    assert_eq!(
        shop.activities_of(&id),
        [
            ("Placed Order".to_string(), written(placed)),
            ("Cancelled Order".to_string(), written(cancelled_at)),
        ]
    );
    let traits = shop.traits();
    assert_eq!(traits["orders_count"], 0);
    assert!(traits.get("last_order_at").is_none(), "{traits}");
    assert!(
        shop.waits().await.is_empty(),
        "the thank-you's wait is withdrawn"
    );
    assert_eq!(shop.messages().await, []);
    assert!(shop
        .crm
        .captured()
        .activities
        .iter()
        .all(|a| a["name"] != THANKS));

    let summary = shop.pipeline.store.summary().await.unwrap();
    assert_eq!(summary.orders, 1);
    assert_eq!(
        (
            summary.orders_by_state.open,
            summary.orders_by_state.completed,
            summary.orders_by_state.canceled
        ),
        (0, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newer_vendor_version_wins_whatever_the_arrival_order() {
    let shop = start().await;
    // The first sync (history) finds nothing, so later polls are live.
    shop.pipeline.poll_all_once().await;
    let placed = (Utc::now() - Span::hours(3)).with_nanosecond_zero();
    let paid = shop.order(1, placed, placed + Span::minutes(5), |_| {});
    let cancelled_at = placed + Span::minutes(30);
    let cancelled = shop.order(1, placed, cancelled_at, |o| {
        o["cancelled_at"] = json!(shopify_time(cancelled_at));
        o["financial_status"] = json!("refunded");
    });
    let id = paid["id"].clone();

    // The poll sees the cancelled order; the webhook for the earlier payment arrives after it.
    shop.shopify.put_order(cancelled.clone());
    let (report, errors) = shop.pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(report.accepted >= 1);
    shop.webhook("orders/paid", "late", &paid).await;
    shop.deliver().await;
    assert_eq!(shop.activities_of(&id), []);
    assert_eq!(shop.traits()["orders_count"], 0);
    assert_eq!(shop.messages().await, []);
    let summary = shop.pipeline.store.summary().await.unwrap();
    assert_eq!((summary.orders, summary.orders_by_state.canceled), (1, 1));

    // The other way round: a webhook brings the newer version, a poll then returns an older one.
    let placed = placed + Span::minutes(1);
    let second_paid = shop.order(2, placed, placed + Span::minutes(40), |_| {});
    let second_open = shop.order(2, placed, placed + Span::minutes(10), |o| {
        o["financial_status"] = json!("pending");
    });
    let second = second_paid["id"].clone();
    shop.webhook("orders/paid", "w-second", &second_paid).await;
    shop.shopify.put_order(second_open);
    let (_, errors) = shop.pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    shop.deliver().await;
    assert_eq!(
        shop.activities_of(&second),
        [("Placed Order".to_string(), written(placed))]
    );
    assert_eq!(shop.traits()["orders_count"], 1);
    let summary = shop.pipeline.store.summary().await.unwrap();
    assert_eq!((summary.orders, summary.orders_by_state.completed), (2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_fills_profiles_and_starts_no_journey_while_a_fresh_sale_starts_one() {
    let shop = start().await;
    // A first sync of recent sales is history.
    let recent = (Utc::now() - Span::hours(5)).with_nanosecond_zero();
    shop.shopify
        .put_order(shop.order(0, recent, recent, |_| {}));
    let (report, errors) = shop.pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(report.accepted >= 1);

    // A year of exports imported as history, and the same shop's old sales uploaded plainly (older
    // than the horizon): none starts a journey.
    let year = SampleShop::generate(8, 365, 0);
    let plain = SampleShop::generate(9, 40, 0).as_export(1, "P");
    let csv = year.to_csv().into_bytes();
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    let imported = shop
        .pipeline
        .intake
        .receive_history("csv", headers, csv)
        .await
        .unwrap();
    assert_eq!(imported.rejected, 0);
    upload_csv(&shop.pipeline, "csv", &plain).await;
    shop.deliver().await;
    assert_eq!(shop.messages().await, []);
    assert!(shop.waits().await.is_empty(), "history starts no journey");
    let summary = shop.pipeline.store.summary().await.unwrap();
    assert_eq!(
        summary.orders_by_state.completed as usize,
        sales(&year) + sales(&plain) + 1
    );
    // The sinks are owed every known buyer's sale as an activity, history or not.
    let placed_orders: i64 = sqlx::query(
        "SELECT COUNT(*) FROM outbox o JOIN events e ON e.id = o.event_id
         WHERE o.kind = 'activity' AND e.kind = 'order'",
    )
    .fetch_one(&shop.pool)
    .await
    .unwrap()
    .get(0);
    let attributed = |shop: &SampleShop| shop.attributed_sales().count();
    assert_eq!(
        placed_orders as usize,
        attributed(&year) + attributed(&plain) + 1
    );
    assert!(shop.crm.captured().profiles.len() > 100);

    // One fresh sale through a webhook: one thank-you.
    let now = Utc::now().with_nanosecond_zero();
    shop.webhook("orders/create", "fresh", &shop.order(3, now, now, |_| {}))
        .await;
    let hour = Span::hours(1).num_milliseconds();
    assert_eq!(shop.waits().await, [now.timestamp_millis() + hour]);
}

/// Drops sub-second precision, as Shopify's times have none.
trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).unwrap()
    }
}
