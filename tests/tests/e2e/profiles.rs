//! Profiles end to end, against `rapport run` on loopback and the command line: a hand-computed
//! history imported through the csv-source (a refund, two sales on one day, in store and online,
//! categories, a loyalty tier from config), read back as the staff view (no contact detail) and
//! the marketer view, looked up by email and phone, with service issues opened and closed, and the
//! shop's RFM segments worked out by hand; on SQLite and on PostgreSQL.

use chrono::{Duration, Utc};
use rapport_e2e::{
    free_port, output_text, stop_gracefully, wait_until, PostgresDatabase, ShopDir, TestShop,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration as Wait;

/// `days` ago at noon, as the CSV export writes it.
fn ago(days: i64) -> String {
    let day = (Utc::now() - Duration::days(days)).date_naive();
    format!("{day}T12:00:00Z")
}

/// The export: Ana buys on days -40 (in store and online), -20 (two lines, part refunded) and -5;
/// Ben once on day -90; Cara once on day -2.
fn export() -> String {
    let header = "receipt_id,kind,refund_of,date,location,channel,customer_id,customer_email,customer_phone,customer_name,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";
    let ana = "C-1,ana@example.com,+14155550101,Ana Lima,yes";
    let rows = [
        format!("S1,sale,,{},Main,in-store,{ana},,Latte,coffee,1,12.00,12.00,USD,0,0,12.00", ago(40)),
        format!("S2,sale,,{},Web,online,{ana},,Mug,mugs,1,8.00,8.00,USD,0,0,8.00", ago(40)),
        format!("S3,sale,,{},Main,in-store,{ana},,Beans,beans,1,20.00,20.00,USD,0,0,24.50", ago(20)),
        format!("S3,sale,,{},Main,in-store,{ana},,Espresso,coffee,1,4.50,4.50,USD,0,0,24.50", ago(20)),
        format!("R1,refund,S3,{},Main,in-store,{ana},,Beans,beans,1,5.00,5.00,USD,0,0,5.00", ago(19)),
        format!("S4,sale,,{},Main,in-store,{ana},,Espresso,coffee,1,4.50,4.50,USD,0,0,4.50", ago(5)),
        format!("S5,sale,,{},Main,in-store,C-2,ben@example.com,,Ben Okafor,no,,Tea tin,tea,1,30.00,30.00,USD,0,0,30.00", ago(90)),
        format!("S6,sale,,{},Main,in-store,C-3,cara@example.com,,Cara,,,Tea,tea,1,2.00,2.00,USD,0,0,2.00", ago(2)),
    ];
    format!("{header}\n{}\n", rows.join("\n"))
}

struct Shop {
    dir: ShopDir,
    base: String,
    daemon: std::process::Child,
    _postgres: Option<PostgresDatabase>,
}

/// The store a test shop runs on.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn start(backend: Backend) -> Shop {
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresDatabase::create().await),
    };
    let shop = match &postgres {
        None => TestShop::new().sqlite(),
        Some(database) => TestShop::new().database(&database.url()),
    };
    let port = free_port();
    let tiers = toml::Value::try_from(json!([
        {"name": "silver", "min_spend_minor": 1000},
        {"name": "gold", "min_spend_minor": 4000},
    ]))
    .unwrap();
    let dir = shop
        .listen(port)
        .section("profiles", [("tiers", tiers)])
        .csv_source("shop")
        .http_sink("crm", "http://127.0.0.1:9/hook", [])
        .write();
    dir.import("shop", &export(), &["--history"]).await;
    let daemon = dir.spawn_daemon();
    assert!(
        wait_until(Wait::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok())
        .await,
        "the daemon listens"
    );
    Shop {
        dir,
        base: format!("http://127.0.0.1:{port}"),
        daemon,
        _postgres: postgres,
    }
}

impl Shop {
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

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.dir.rapport(&all).await;
        assert!(output.status.success(), "{}", output_text(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        stop_gracefully(&mut self.daemon);
    }
}

#[tokio::test]
async fn the_marketer_view_holds_the_hand_computed_facts() {
    marketer_view_and_segments(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_marketer_view_holds_the_hand_computed_facts_on_postgres() {
    marketer_view_and_segments(Backend::Postgres).await;
}

async fn marketer_view_and_segments(backend: Backend) {
    let shop = start(backend).await;
    let ana = shop
        .cli_json(&["profile", "show", "ana@example.com", "--view", "marketer"])
        .await;
    assert_eq!(ana["given_name"], "Ana");
    assert_eq!(ana["family_name"], "Lima");
    assert_eq!(ana["emails"], json!(["ana@example.com"]));
    assert_eq!(ana["phones"], json!(["+14155550101"]));
    assert_eq!(ana["orders"], 4);
    assert_eq!(
        (ana["store_orders"].clone(), ana["online_orders"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(ana["visits"], 3, "two sales on day -40 are one visit");
    assert_eq!(ana["returns"], 1);
    // 12.00 + 8.00 + 24.50 + 4.50 − 5.00.
    assert_eq!(ana["net_spend"], json!({"minor": 4400, "currency": "USD"}));
    // Baskets 4.50, 8.00, 12.00, 24.50: the mean of the middle two.
    assert_eq!(
        ana["typical_basket"],
        json!({"minor": 1000, "currency": "USD"})
    );
    // Visit days −40, −20, −5: gaps 20 and 15.
    assert_eq!(ana["mean_days_between_visits"], 17.5);
    assert_eq!(ana["median_days_between_visits"], 17.5);
    assert_eq!(
        ana["favoured_categories"],
        json!([
            {"category": "coffee", "spend_minor": 2100},
            {"category": "beans", "spend_minor": 2000},
            {"category": "mugs", "spend_minor": 800},
        ])
    );
    assert_eq!(ana["opted_in"], json!(["email"]));
    // Three buyers. Last visits −90 (Ben), −5 (Ana), −2 (Cara) → R 1, 3, 5; visits 1, 3, 1 →
    // F 2, 5, 2 (Ben and Cara tie at mid-rank 1/3); spend 30.00, 44.00, 2.00 → M 3, 5, 1.
    // Ana R3 FM5: loyal; Ben R1 FM3: hibernating; Cara R5 FM2: promising.
    assert_eq!(
        ana["rfm"],
        json!({"recency": 3, "frequency": 5, "monetary": 5, "segment": "loyal"})
    );
    assert_eq!(ana["last_visit"].as_str().unwrap()[..10], ago(5)[..10]);
    assert_eq!(
        ana["predictions"],
        Value::Null,
        "no fit: three buyers are far below the minimum"
    );

    let segments = shop.cli_json(&["segments"]).await;
    assert_eq!(segments["buyers"], 3);
    assert_eq!(segments["currency"], "USD");
    let people: Vec<(String, i64, i64)> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["people"] != 0)
        .map(|s| {
            (
                s["segment"].as_str().unwrap().to_owned(),
                s["people"].as_i64().unwrap(),
                s["net_spend_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("loyal".into(), 1, 4400),
            ("promising".into(), 1, 200),
            ("hibernating".into(), 1, 3000)
        ]
    );
    assert_eq!(segments["segments"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn staff_see_a_short_view_without_contact_details_and_keep_service_issues() {
    staff_view_and_issues(Backend::Sqlite).await;
}

#[tokio::test]
async fn staff_see_a_short_view_without_contact_details_and_keep_service_issues_on_postgres() {
    staff_view_and_issues(Backend::Postgres).await;
}

async fn staff_view_and_issues(backend: Backend) {
    let shop = start(backend).await;
    let staff = shop.dir.token("staff", None).await;
    let admin = shop.dir.token("admin", None).await;

    let (status, _) = shop.get("/api/profiles?email=ana@example.com", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = shop
        .get(
            "/api/profiles?phone=%2B14155550101&view=marketer",
            Some(&staff),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = shop.get("/api/segments", Some(&staff)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = shop
        .get("/api/profiles?email=ana@example.com&phone=1", Some(&staff))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = shop
        .get("/api/profiles?email=nobody@example.com", Some(&staff))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, marketer) = shop
        .get(
            "/api/profiles?email=ana@example.com&view=marketer",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{marketer}");
    let key = marketer["key"].as_str().unwrap().to_owned();

    let issues = format!("/api/profiles/{key}/issues");
    let (status, opened) = shop
        .post(&issues, &staff, json!({"open": "grinder returned twice"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let (status, body) = shop.post(&issues, &staff, json!({"open": "  "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = shop.post(&issues, &staff, json!({"reopen": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, view) = shop
        .get(
            "/api/profiles?phone=%2B14155550101&view=staff",
            Some(&staff),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let fields: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "birthday_this_month",
            "favoured_category",
            "first_name",
            "last_visit",
            "loyalty_points",
            "loyalty_tier",
            "open_issues",
            "opted_in"
        ]
    );
    assert_eq!(view["first_name"], "Ana");
    assert_eq!(view["last_visit"], ago(5)[..10]);
    assert_eq!(
        view["loyalty_tier"], "gold",
        "44.00 net reaches gold (40.00)"
    );
    assert_eq!(view["loyalty_points"], Value::Null);
    assert_eq!(view["favoured_category"], "coffee");
    assert_eq!(view["birthday_this_month"], Value::Null);
    assert_eq!(view["opted_in"], json!(["email"]));
    assert_eq!(view["open_issues"][0]["title"], "grinder returned twice");
    assert_eq!(view["open_issues"][0]["opened_by"], "staff");
    let text = view.to_string();
    for detail in ["ana@example.com", "4155550101", "Lima", "C-1"] {
        assert!(
            !text.contains(detail),
            "the staff view shows {detail}: {text}"
        );
    }

    let id = opened["id"].as_i64().unwrap();
    let (status, _) = shop.post(&issues, &staff, json!({"close": id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = shop.post(&issues, &staff, json!({"close": id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "closed already");
    let (_, view) = shop
        .get(&format!("/api/profiles/{key}"), Some(&staff))
        .await;
    assert_eq!(view["open_issues"], json!([]));
    let (_, marketer) = shop
        .get(&format!("/api/profiles/{key}?view=marketer"), Some(&admin))
        .await;
    assert_eq!(marketer["issues"][0]["title"], "grinder returned twice");
    assert!(marketer["issues"][0]["closed_at"].is_string());

    // Ben, 30.00: silver; Cara, 2.00: no tier, and no first name beyond what she gave.
    let (_, ben) = shop
        .get("/api/profiles?email=ben@example.com", Some(&staff))
        .await;
    assert_eq!(ben["loyalty_tier"], "silver");
    assert_eq!(ben["opted_in"], json!([]), "Ben said no");
    let (_, cara) = shop
        .get("/api/profiles?email=cara@example.com", Some(&admin))
        .await;
    assert_eq!(cara["loyalty_tier"], Value::Null);
    let (status, segments) = shop.get("/api/segments", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(segments["buyers"], 3);
}
