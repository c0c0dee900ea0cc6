//! Business metrics end to end: a shop on a SQLite file and a `ManualClock`, its sales coming in
//! through the csv-source plugin (last year's as history, March's live, each starting the
//! "thanks" journey) and the shopify-source plugin (an order paid, then cancelled), a refund, and
//! two identities of one person merged with `rapport identity merge`. Every figure of March
//! (beside the 31 days before it) is worked out by hand below and checked through
//! `GET /api/metrics` over real HTTP and through `rapport metrics --json`, which must agree; the
//! route refuses a request without a token (401) and names a bad date (400). On SQLite and on
//! PostgreSQL.
//!
//! The sales (at 12:00 UTC, the shop's time zone, unless said; USD):
//!
//! | who | history | March, live |
//! |---|---|---|
//! | Ana | 10 Jan 10.00 | 5 Mar 20.00, 8 Mar 15.00; 9 Mar refund of 5.00 on the 5 Mar sale |
//! | Ben | 15 Feb 30.00 (ben@) | 17 Mar 25.00 (ben.work@, merged into ben@ afterwards) |
//! | Cara | | 1 Mar 40.00 |
//! | Dan | | 3 Mar 12.00; 9 Mar at 13:00 a Shopify order paid, then cancelled: no sale |
//! | Eve | 1 Jan 2025 7.00 | 3 Mar 8.00 |

use chrono::{DateTime, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{
    admin_token, free_port, output_text, plugin, upload_receipts, PostgresDatabase, ShopDir,
    TestShop,
};
use rapport_fakes::server::{serve, Running};
use rapport_fakes::shop::SampleShop;
use rapport_fakes::shopify::{self, ShopifyServer};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SHOPIFY_TOKEN: &str = "shpat_test_token";
const SHOPIFY_SECRET: &str = "test-client-secret";

/// Noon UTC on a day of 2026.
fn noon(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap()
}

/// One receipt of one line: a sale, or a refund of `refund_of`; `who` is (customer id, email
/// local part).
fn receipt(
    id: &str,
    refund_of: Option<&str>,
    at: DateTime<Utc>,
    who: (&str, &str),
    cents: i64,
) -> String {
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let (customer, email) = who;
    format!(
        "{id},{},{},{},Main,in-store,{customer},{email}@example.com,,{email} Tester,yes,BEAN-1,House beans,coffee,1,{amount},{amount},USD,0,0,{amount}",
        if refund_of.is_some() { "refund" } else { "sale" },
        refund_of.unwrap_or(""),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

const ANA: (&str, &str) = ("C-1", "ana");
const BEN: (&str, &str) = ("C-2", "ben");
const BEN_WORK: (&str, &str) = ("C-3", "ben.work");
const CARA: (&str, &str) = ("C-4", "cara");
const DAN: (&str, &str) = ("C-5", "dan");
const EVE: (&str, &str) = ("C-6", "eve");

struct Shop {
    dir: ShopDir,
    pipeline: Pipeline,
    clock: ManualClock,
    base: String,
    _http: Running,
    _shopify: ShopifyServer,
    _postgres: Option<PostgresDatabase>,
}

impl Shop {
    /// A shop on a SQLite file, or on a fresh PostgreSQL database.
    async fn start(postgres: Option<PostgresDatabase>) -> Shop {
        let port = free_port();
        let shopify = ShopifyServer::start(SHOPIFY_TOKEN).await.unwrap();
        let shop = match &postgres {
            None => TestShop::new().sqlite(),
            Some(database) => TestShop::new().database(&database.url()),
        };
        let dir = shop
            .listen(port)
            .secrets(&[
                ("shopify_token", SHOPIFY_TOKEN),
                ("shopify_webhook_secret", SHOPIFY_SECRET),
            ])
            .marketing_without_choice("send")
            .csv_source("shop")
            .source(
                "shopify",
                &plugin("shopify-source"),
                [("api_base", shopify.base_url().into())],
            )
            .http_sink("crm", "http://127.0.0.1:9/hook", [])
            .channels(&["email"])
            .journey("thanks", "crm", "email", "every-order")
            .write();
        let clock = ManualClock::starting_at(noon(2, 28));
        let config = Config::load(&dir.config()).unwrap();
        let pipeline = Pipeline::start_with_clock(config, clock.shared())
            .await
            .unwrap();
        let http = serve(rapport_host::daemon::admin_router(&pipeline), port)
            .await
            .unwrap();
        Shop {
            dir,
            pipeline,
            clock,
            base: format!("http://127.0.0.1:{port}"),
            _http: http,
            _shopify: shopify,
            _postgres: postgres,
        }
    }

    /// Uploads `receipts` through the csv-source, as history or live at `at` (and lets in the
    /// journey waits that fell due).
    async fn upload(&self, at: Option<DateTime<Utc>>, receipts: &[String]) {
        upload_receipts(&self.pipeline, &self.clock, at, receipts).await;
    }

    /// Dan's Shopify order, placed at 13:00 on 9 March: paid, then cancelled half an hour later.
    async fn paid_then_cancelled(&self) {
        let sample = SampleShop::generate(5, 30, 0);
        let sale = (sample.valid_receipts())
            .find(|r| r.refund_of.is_none())
            .expect("a sale");
        let mut customer = shopify::shopify_customer(&sample, 0, &sample.customers[0], "USD");
        customer["email"] = json!("dan@example.com");
        customer["phone"] = Value::Null;
        let mut order = shopify::shopify_order(sale, Some(customer), "USD");
        order["email"] = json!("dan@example.com");
        order["contact_email"] = json!("dan@example.com");
        let placed_at = noon(3, 9) + chrono::Duration::hours(1);
        let placed = shopify::format_time(placed_at.timestamp_millis());
        for field in ["created_at", "processed_at", "updated_at"] {
            order[field] = json!(placed);
        }
        order["closed_at"] = Value::Null;
        self.clock.set(placed_at);
        self.webhook("orders/paid", "w1", &order).await;
        let cancelled_at = placed_at + chrono::Duration::minutes(30);
        let cancelled = shopify::format_time(cancelled_at.timestamp_millis());
        order["updated_at"] = json!(cancelled);
        order["cancelled_at"] = json!(cancelled);
        order["financial_status"] = json!("voided");
        self.clock.set(cancelled_at);
        self.webhook("orders/cancelled", "w2", &order).await;
        self.pipeline.run_journeys().await.unwrap();
    }

    async fn webhook(&self, topic: &str, id: &str, order: &Value) {
        let (headers, body) = shopify::webhook(SHOPIFY_SECRET, topic, id, order);
        (self.pipeline.intake)
            .receive_push("shopify", headers, body)
            .await
            .unwrap();
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

/// The shop of the table above, the merge made and the clock on 2 April.
async fn march(postgres: Option<PostgresDatabase>) -> Shop {
    let shop = Shop::start(postgres).await;
    shop.upload(
        None,
        &[
            receipt("H1", None, noon(1, 10), ANA, 1000),
            receipt("H2", None, noon(2, 15), BEN, 3000),
            receipt(
                "H3",
                None,
                noon(1, 1) - chrono::Duration::days(365),
                EVE,
                700,
            ),
        ],
    )
    .await;
    shop.upload(
        Some(noon(3, 1)),
        &[receipt("S1", None, noon(3, 1), CARA, 4000)],
    )
    .await;
    shop.upload(
        Some(noon(3, 3)),
        &[
            receipt("S2", None, noon(3, 3), DAN, 1200),
            receipt("S3", None, noon(3, 3), EVE, 800),
        ],
    )
    .await;
    shop.upload(
        Some(noon(3, 5)),
        &[receipt("S4", None, noon(3, 5), ANA, 2000)],
    )
    .await;
    shop.upload(
        Some(noon(3, 8)),
        &[receipt("S5", None, noon(3, 8), ANA, 1500)],
    )
    .await;
    shop.upload(
        Some(noon(3, 9)),
        &[receipt("R1", Some("S4"), noon(3, 9), ANA, 500)],
    )
    .await;
    shop.paid_then_cancelled().await;
    shop.upload(
        Some(noon(3, 17)),
        &[receipt("S6", None, noon(3, 17), BEN_WORK, 2500)],
    )
    .await;
    let merged = shop
        .dir
        .rapport(&[
            "identity",
            "merge",
            "ben@example.com",
            "ben.work@example.com",
        ])
        .await;
    assert!(merged.status.success(), "{}", output_text(&merged));
    shop.clock.set(noon(4, 2));
    shop
}

fn usd(minor: i64) -> Value {
    json!({"minor": minor, "currency": "USD"})
}

/// Checks every figure against the hand-worked values.
fn check(m: &Value) {
    assert_eq!(
        m["period"],
        json!({"from": "2026-03-01", "to": "2026-04-01"})
    );
    // 31 days before 1 March: from 29 January.
    assert_eq!(
        m["previous_period"],
        json!({"from": "2026-01-29", "to": "2026-03-01"})
    );
    let sales = &m["sales"]["current"];
    // Buyers in March: Ana, Ben (one person after the merge), Cara, Dan, Eve. Two March visits:
    // Ana only (5 and 8 Mar); Dan's 9 March order was cancelled, so he has one.
    assert_eq!(sales["buyers"], 5);
    assert_eq!(sales["repeat_buyers"], 1);
    assert_eq!(sales["repeat_purchase_rate"], 0.2);
    // Return visits in March and the days since the visit before: Ana 10 Jan → 5 Mar = 21 + 28 +
    // 5 = 54, 5 → 8 Mar = 3; Ben 15 Feb → 17 Mar = 13 + 17 = 30 (only as one person); Eve 1 Jan
    // 2025 → 3 Mar 2026 = 365 + 31 + 28 + 2 = 426. Mean (54 + 3 + 30 + 426) / 4 = 128.25.
    assert_eq!(sales["return_visits"], 4);
    assert_eq!(sales["mean_days_between_visits"], 128.25);
    // Second visits in March: Ana (54 days), Ben (30), Eve (426); median 54.
    let second = &sales["second_order"];
    assert_eq!(second["people"], 3);
    assert_eq!(second["median_days"], 54.0);
    assert_eq!(
        second["distribution"],
        json!([
            {"days": "0–7", "people": 0}, {"days": "8–30", "people": 1},
            {"days": "31–90", "people": 1}, {"days": "91–180", "people": 0},
            {"days": "181–365", "people": 0}, {"days": "366+", "people": 1},
        ])
    );
    // Net spend up to 1 April: Ana 10 + 20 + 15 − 5 = 40.00; Ben 30 + 25 = 55.00; Cara 40.00;
    // Dan 12.00 (the cancelled order is none); Eve 7 + 8 = 15.00. 162.00 over 5 buyers: 32.40.
    assert_eq!(sales["lifetime_value"]["net_spend"], usd(16_200));
    assert_eq!(sales["lifetime_value"]["mean_per_buyer"], usd(3_240));

    // 29 Jan – 28 Feb: Ben's first visit on 15 Feb only; his spend up to 1 March 30.00.
    let before = &m["sales"]["previous"];
    assert_eq!(
        (before["buyers"].clone(), before["repeat_buyers"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(before["repeat_purchase_rate"], 0.0);
    assert_eq!(before["return_visits"], 0);
    assert_eq!(before["mean_days_between_visits"], Value::Null);
    assert_eq!(before["second_order"]["people"], 0);
    assert_eq!(before["second_order"]["median_days"], Value::Null);
    assert_eq!(before["lifetime_value"]["mean_per_buyer"], usd(3_000));

    // Five customers by 31 March, three with two or more purchase days (Ana, Ben, Eve), one with
    // three (Ana): far below the minimum of 100, 30 and 10.
    assert_eq!(
        m["predicted_lifetime_value"],
        json!({
            "status": "not_available",
            "reason": "not enough history to predict from: 5 customers with a purchase of 100 \
                       needed (95 more); 3 customers who came back (2+ purchase days) of 30 \
                       needed (27 more); 1 customers with 3+ purchase days of 10 needed (9 more)"
        })
    );

    // No accessory journey: no suggestion to attach, and no product costs from any source.
    let attachment = &m["attachment"]["current"];
    assert_eq!(attachment["recipients"]["entries"], 0);
    assert_eq!(attachment["holdout"]["entries"], 0);
    assert_eq!(attachment["rate_lift"], Value::Null);
    assert_eq!(attachment["margin"], Value::Null);
    assert_eq!(
        attachment["margin_note"],
        "no product costs from the sources"
    );

    // "thanks" entries, one per live sale when it came in: Cara 1 Mar, Dan and Eve 3 Mar, Ana 5
    // and 8 Mar, Ben 17 Mar (none for history, for the refund, or for Dan's order cancelled
    // before the scheduler ran). Converted: Ana's 5 Mar entry, by her 8 Mar sale within the
    // seven-day window; Dan's 3 Mar entry lost the credit of his 9 Mar order when it was
    // cancelled. 1 of 6.
    assert_eq!(
        m["journeys"]["current"],
        json!([{"journey": "thanks", "entered": 6, "sent": 6, "held_out": 0, "converted": 1,
                "conversion_rate": 1.0 / 6.0}])
    );
    assert_eq!(
        m["journeys"]["previous"],
        json!([{"journey": "thanks", "entered": 0, "sent": 0, "held_out": 0, "converted": 0,
                "conversion_rate": null}])
    );
    assert_eq!(
        m["response_by_channel"]["current"],
        json!([{"channel": "email", "sent": 6, "converted": 1, "rate": 1.0 / 6.0}])
    );
    assert_eq!(m["response_by_channel"]["previous"], json!([]));
    assert_eq!(m["experiments"], json!([]));
    assert_eq!(m["top_pairs"], json!({"product": [], "category": []}));

    // Segments now. Last visits: Cara 1 Mar < Dan = Eve 3 Mar < Ana 8 Mar < Ben 17 Mar → R 1, 3,
    // 3, 4, 5. Visits: Cara = Dan 1 < Ben = Eve 2 < Ana 3 → F 2, 2, 4, 4, 5. Net spend: Dan 12 <
    // Eve 15 < Ana = Cara 40 < Ben 55 → M 1, 2, 4, 4, 5. FM = ⌈(F + M) / 2⌉: Ana 5, Ben 5, Cara
    // 3, Dan 2, Eve 3. Ana R4 and Ben R5 with FM 5: champions (95.00); Eve R3 FM3: loyal (15.00);
    // Dan R3 FM2: needs attention (12.00); Cara R1 FM3: hibernating (40.00).
    let segments = &m["segments"];
    assert_eq!(
        (segments["buyers"].clone(), segments["currency"].clone()),
        (json!(5), json!("USD"))
    );
    let people: Vec<(String, i64, i64)> = (segments["segments"].as_array().unwrap().iter())
        .filter(|s| s["people"] != 0)
        .map(|s| {
            (
                s["segment"].as_str().unwrap().to_string(),
                s["people"].as_i64().unwrap(),
                s["net_spend_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("champions".to_string(), 2, 9_500),
            ("loyal".to_string(), 1, 1_500),
            ("needs_attention".to_string(), 1, 1_200),
            ("hibernating".to_string(), 1, 4_000),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_business_metric_matches_the_hand_worked_figures() {
    every_metric(march(None).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_business_metric_matches_the_hand_worked_figures_on_postgres() {
    every_metric(march(Some(PostgresDatabase::create().await)).await).await;
}

async fn every_metric(shop: Shop) {
    let token = admin_token(&shop.pipeline.store).await;
    let query = "/api/metrics?from=2026-03-01&to=2026-04-01";

    let (status, body) = shop.get(query, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = shop.get("/api/metrics?from=2026-02-30", Some(&token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("from=\"2026-02-30\" is not a date"),
        "{body}"
    );
    let (status, body) = shop
        .get("/api/metrics?from=2026-03-01&to=2026-03-01", Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("must be before to"),
        "{body}"
    );

    let (status, over_http) = shop.get(query, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{over_http}");
    check(&over_http);

    let output = shop
        .dir
        .rapport(&[
            "metrics",
            "--from",
            "2026-03-01",
            "--to",
            "2026-04-01",
            "--json",
        ])
        .await;
    assert!(output.status.success(), "{}", output_text(&output));
    let from_cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    check(&from_cli);
    assert_eq!(
        from_cli, over_http,
        "the command line and the API say the same"
    );

    let text = shop
        .dir
        .rapport(&["metrics", "--from", "2026-03-01", "--to", "2026-04-01"])
        .await;
    let text = output_text(&text);
    assert!(
        text.contains("business metrics, 2026-03-01 – 2026-03-31"),
        "{text}"
    );
    assert!(text.contains("repeat purchase rate"), "{text}");
    assert!(
        text.contains("margin: no product costs from the sources"),
        "{text}"
    );

    let bad = shop.dir.rapport(&["metrics", "--from", "March"]).await;
    assert!(!bad.status.success());
    assert!(
        output_text(&bad).contains("--from"),
        "{}",
        output_text(&bad)
    );
}
