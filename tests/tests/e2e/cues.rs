//! Staff cues end to end, against `rapport run` on loopback: a shop whose past sales come from a
//! CSV export (what Ana and the other customers bought, so the product pairs are known) and whose
//! customers and loyalty accounts come from Square (Ana's birthday, this month, and her points).
//! `GET /api/cues` is checked field by field against values worked out by hand below, with a staff
//! token; and the tablet page `/staff` is driven in headless Chromium: log in with the staff
//! token, look Ana up by phone, see her cues. The screenshot is kept in
//! `target/test-artifacts/staff.png`.

use crate::browser;
use chrono::{Datelike, Duration, Utc};
use rapport_e2e::{free_port, plugin, stop_gracefully, ShopDir, TestShop};
use rapport_fakes::square::{self, SquareServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration as Wait, Instant};

const TOKEN: &str = "sq-cues-token";

/// `days` ago at noon, as the CSV export writes it.
fn ago(days: i64) -> String {
    let day = (Utc::now() - Duration::days(days)).date_naive();
    format!("{day}T12:00:00Z")
}

/// Ana buys a grinder 10 days ago and a latte 3 days ago; five others buy a grinder with filters,
/// five a latte. Twelve baskets: Grinder in 6, Filters in 5 (all with a Grinder), Latte in 6.
/// Grinder → Filters: confidence 5/6, lift (5/6) / (5/12) = 2. Ana has no filters: they are her
/// accessory. By spend her favoured category is equipment (40.00 against 4.00).
fn export() -> String {
    let header = "receipt_id,kind,refund_of,date,location,channel,customer_id,customer_email,customer_phone,customer_name,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";
    let ana = "C-1,ana@example.com,+14155550101,Ana Lima,yes";
    let mut rows = vec![
        format!(
            "S1,sale,,{},Main,in-store,{ana},,Grinder,equipment,1,40.00,40.00,USD,0,0,40.00",
            ago(10)
        ),
        format!(
            "S2,sale,,{},Main,in-store,{ana},,Latte,drinks,1,4.00,4.00,USD,0,0,4.00",
            ago(3)
        ),
    ];
    for n in 0..5 {
        let (sale, day) = (10 + n, ago(20 + n));
        rows.push(format!("S{sale},sale,,{day},Main,in-store,C-{sale},,,,,,Grinder,equipment,1,40.00,40.00,USD,0,0,45.00"));
        rows.push(format!("S{sale},sale,,{day},Main,in-store,C-{sale},,,,,,Filters,paper,1,5.00,5.00,USD,0,0,45.00"));
        let sale = 20 + n;
        rows.push(format!(
            "S{sale},sale,,{day},Main,in-store,C-{sale},,,,,,Latte,drinks,1,4.00,4.00,USD,0,0,4.00"
        ));
    }
    format!("{header}\n{}\n", rows.join("\n"))
}

struct Shop {
    dir: ShopDir,
    base: String,
    daemon: std::process::Child,
    _square: SquareServer,
}

impl Drop for Shop {
    fn drop(&mut self) {
        stop_gracefully(&mut self.daemon);
    }
}

/// The day of the month today (UTC, the shop's time zone): Ana's birthday.
fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

async fn start() -> Shop {
    let square = SquareServer::start(TOKEN).await.unwrap();
    let today = today();
    square.put_customer(json!({
        "id": "C-ANA", "created_at": "2026-01-01T10:00:00.000Z",
        "updated_at": "2026-01-01T10:00:00.000Z", "given_name": "Ana", "family_name": "Lima",
        "email_address": "ana@example.com", "phone_number": "+14155550101",
        "birthday": format!("0000-{:02}-{:02}", today.month(), today.day()),
        "preferences": {"email_unsubscribed": false}, "creation_source": "DIRECTORY", "version": 0,
    }));
    square.create_loyalty_account(
        "LA-1",
        "+14155550101",
        Some("C-ANA"),
        "2026-01-01T10:00:00Z",
    );
    square.adjust_loyalty_points("LA-1", 120, "2026-01-02T10:00:00Z");

    let port = free_port();
    let tiers = toml::Value::try_from(json!([
        {"name": "silver", "min_spend_minor": 1000},
        {"name": "gold", "min_lifetime_points": 100},
    ]))
    .unwrap();
    let dir = TestShop::new()
        .sqlite()
        .listen(port)
        .section("profiles", [("tiers", tiers)])
        .section(
            "pairs",
            [
                ("min_baskets", 10.into()),
                ("min_pair_baskets", 3.into()),
                ("min_support", 0.1.into()),
                ("min_confidence", 0.5.into()),
            ],
        )
        .secrets(&[("square_token", TOKEN), ("square_signature_key", "unused")])
        .csv_source("shop")
        .source(
            "square",
            &plugin("square-source"),
            [
                ("api_base", square.base_url().into()),
                ("location_ids", square::location_id("High Street").into()),
                (
                    "notification_url",
                    "https://example.com/hooks/square".into(),
                ),
            ],
        )
        .set("poll_interval_secs", 1.into())
        .http_sink("crm", "http://127.0.0.1:9/hook", [])
        .write();
    dir.import("shop", &export(), &["--history"]).await;
    let pairs = dir.rapport(&["pairs", "--json"]).await;
    assert!(
        pairs.status.success(),
        "{}",
        rapport_e2e::output_text(&pairs)
    );
    let daemon = dir.spawn_daemon();
    let shop = Shop {
        dir,
        base: format!("http://127.0.0.1:{port}"),
        daemon,
        _square: square,
    };
    let admin = shop.dir.token("admin", None).await;
    // Square's customers and loyalty accounts arrive by the first polls.
    let start = Instant::now();
    loop {
        let (status, view) = shop
            .get("/api/profiles?email=ana@example.com", Some(&admin))
            .await;
        if status == StatusCode::OK && view["loyalty_points"] == 120 {
            break;
        }
        assert!(
            start.elapsed() < Wait::from_secs(30),
            "Square's loyalty account never reached Ana: {status} {view}"
        );
        tokio::time::sleep(Wait::from_millis(100)).await;
    }
    shop
}

impl Shop {
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) => (
                response.status(),
                response.json().await.unwrap_or(Value::Null),
            ),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Value::Null),
        }
    }

    /// Opens a service issue on Ana's profile as staff.
    async fn open_issue(&self, admin: &str, staff: &str, title: &str) {
        let (_, marketer) = self
            .get(
                "/api/profiles?email=ana@example.com&view=marketer",
                Some(admin),
            )
            .await;
        let key = marketer["key"].as_str().unwrap();
        let response = reqwest::Client::new()
            .post(format!("{}/api/profiles/{key}/issues", self.base))
            .bearer_auth(staff)
            .json(&json!({ "open": title }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

/// The cue of `kind` in an answer of `/api/cues`.
fn cue(answer: &Value, kind: &str) -> String {
    answer["cues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} cue in {answer}"))["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn staff_get_cues_for_a_known_customer_and_the_tablet_page_shows_them() {
    // Unoptimised, the polls of the shop, the HTTP checks and the browser nest deeper than a test
    // thread's 2 MiB stack: the runtime runs on a thread of its own with room for them.
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(32 << 20)
                .enable_all()
                .build()
                .unwrap()
                .block_on(cues_and_page())
        })
        .unwrap()
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

async fn cues_and_page() {
    let shop = start().await;
    let staff = shop.dir.token("staff", None).await;
    let admin = shop.dir.token("admin", None).await;
    shop.open_issue(&admin, &staff, "grinder makes a noise")
        .await;

    let (status, body) = shop.get("/api/cues?identity=ana@example.com", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = shop.get("/api/cues", Some(&staff)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("`identity`"),
        "{body}"
    );
    let (status, body) = shop
        .get("/api/cues?identity=nobody@example.com", Some(&staff))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("nobody is known"),
        "{body}"
    );

    // By phone, email and loyalty number alike, with a staff token.
    let mut answers = Vec::new();
    for identity in ["%2B14155550101", "ana@example.com", "LA-1", "loyalty:la-1"] {
        let (status, answer) = shop
            .get(&format!("/api/cues?identity={identity}"), Some(&staff))
            .await;
        assert_eq!(status, StatusCode::OK, "{identity}: {answer}");
        answers.push(answer);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let ana = &answers[0];
    assert_eq!(ana["first_name"], "Ana");
    let kinds: Vec<&str> = (ana["cues"].as_array().unwrap().iter())
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "loyalty",
            "birthday",
            "service_issue",
            "last_visit",
            "accessory"
        ]
    );
    // 120 lifetime points reach gold (100); the balance is 120.
    assert_eq!(cue(ana, "loyalty"), "Ana: Gold member, 120 points");
    // Her birthday is today's day of this month.
    assert_eq!(
        cue(ana, "birthday"),
        "It is Ana's birthday today: wish them well and offer the birthday perk."
    );
    assert_eq!(
        cue(ana, "service_issue"),
        "Open service issue: \u{201c}grinder makes a noise\u{201d}. Ask how it is going."
    );
    assert_eq!(
        cue(ana, "last_visit"),
        "Ana last came in 3 days ago, and mostly buys equipment."
    );
    assert_eq!(
        cue(ana, "accessory"),
        "Suggest Filters: it goes well with the Grinder Ana bought."
    );
    assert_eq!(
        ana["suggestion"],
        json!({"by": "product", "item": "Filters", "because_of": "Grinder", "lift": 2.0})
    );
    let footer: Vec<&str> = (ana["receipt_footer"].as_array().unwrap().iter())
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        footer,
        [
            "Thank you, Ana!",
            "Gold member, 120 points.",
            "Happy birthday month: ask for a treat."
        ]
    );
    assert!(footer.len() <= 3 && footer.iter().all(|l| l.chars().count() <= 40));
    let text = ana.to_string();
    for detail in ["ana@example.com", "4155550101", "Lima", "LA-1", "C-1", "p-"] {
        assert!(!text.contains(detail), "the cues show {detail}: {text}");
    }

    tablet_page(&shop, &staff).await;
}

/// The tablet page in headless Chromium at a 10-inch tablet's 1280 × 800: the login form first,
/// then Ana looked up by phone.
async fn tablet_page(shop: &Shop, staff: &str) {
    if !browser::available() {
        return;
    }
    let mut page = browser::Browser::start(1280, 800).await;
    page.open(&format!("{}/staff", shop.base)).await;
    page.wait_for("document.querySelector('input[name=token]')")
        .await;
    assert_eq!(
        page.eval("location.pathname + location.search").await,
        "/login?next=/staff",
        "without a session the page sends staff to log in"
    );
    page.eval(&format!(
        "document.querySelector('input[name=token]').value = {}; document.querySelector('form').submit()",
        json!(staff)
    ))
    .await;
    // The script binds the form once the document is loaded.
    page.wait_for("document.readyState === 'complete' && document.getElementById('identity')")
        .await;
    assert_eq!(page.eval("location.pathname").await, "/staff");
    page.eval(
        "document.getElementById('identity').value = '+1 415 555 0101'; \
         document.getElementById('lookup').requestSubmit()",
    )
    .await;
    page.wait_for("document.querySelectorAll('#cues li').length > 0")
        .await;
    let shown = page
        .eval("[...document.querySelectorAll('#cues li')].map(li => [li.dataset.kind, li.textContent])")
        .await;
    assert_eq!(shown[0], json!(["loyalty", "Ana: Gold member, 120 points"]));
    assert_eq!(
        shown[4],
        json!([
            "accessory",
            "Suggest Filters: it goes well with the Grinder Ana bought."
        ])
    );
    assert_eq!(shown.as_array().unwrap().len(), 5, "{shown}");
    assert_eq!(
        page.eval("document.getElementById('name').textContent")
            .await,
        "Ana"
    );
    assert_eq!(
        page.eval("document.getElementById('footer').textContent")
            .await,
        "Thank you, Ana!\nGold member, 120 points.\nHappy birthday month: ask for a treat."
    );
    // Read on a tablet: the cues' type is at least 20 CSS pixels and the page needs no sideways
    // scrolling at 1280 pixels.
    let size = page
        .eval("parseFloat(getComputedStyle(document.querySelector('#cues li')).fontSize)")
        .await;
    assert!(size.as_f64().unwrap() >= 20.0, "{size}");
    assert_eq!(
        page.eval("document.documentElement.scrollWidth <= 1280")
            .await,
        true
    );
    page.keep_screenshot("staff.png").await;
    page.close().await;
}
