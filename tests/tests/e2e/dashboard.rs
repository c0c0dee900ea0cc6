//! The dashboard at `/` end to end: a shop on a SQLite file and a `ManualClock` whose sales come
//! in through the csv-source plugin (last year's as history, March's live, with a refund), and
//! whose CRM, a capture server behind the http-sink, rejects its first two requests (422 with
//! its own reason). Without a session `/` sends the browser to the login form, and the JSON routes
//! the drill-downs read refuse a request without a token (401). In headless Chromium at a
//! 10-inch tablet's 1280 × 800: log in with an admin token, check that every north-star number,
//! its previous period and its trend arrow, and the CRM's operations line, are what
//! `GET /api/metrics` and `GET /api/operations` (fetched by the test with the token) say; then
//! drill down from a segment to its people to one profile's marketer view, from the thank-you
//! journey to its experiment's arms, and from the CRM to its failing deliveries and the vendor's
//! reason. The screenshot is kept in
//! `target/test-artifacts/dashboard.png`.

use crate::browser::{self, Browser};
use chrono::{DateTime, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{admin_token, free_port, upload_receipts, ShopDir, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::server::{serve, Running};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PERIOD: &str = "from=2026-03-01&to=2026-04-01";

/// Noon UTC on a day of 2026.
fn noon(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap()
}

/// One receipt of one line by `who` (customer id, first name): a sale, or a refund of
/// `refund_of`.
fn receipt(
    id: &str,
    refund_of: Option<&str>,
    at: DateTime<Utc>,
    who: (&str, &str),
    cents: i64,
) -> String {
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let (customer, name) = who;
    let email = name.to_lowercase();
    format!(
        "{id},{},{},{},Main,in-store,{customer},{email}@example.com,,{name} Tester,yes,BEAN-1,House beans,coffee,1,{amount},{amount},USD,0,0,{amount}",
        if refund_of.is_some() { "refund" } else { "sale" },
        refund_of.unwrap_or(""),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

const ANA: (&str, &str) = ("C-1", "Ana");
const BEN: (&str, &str) = ("C-2", "Ben");
const CARA: (&str, &str) = ("C-3", "Cara");
const DAN: (&str, &str) = ("C-4", "Dan");
const EVE: (&str, &str) = ("C-5", "Eve");

/// The thank-you journey's experiment: half the people held out, the rest get "warm".
fn experiment() -> toml::Value {
    let warm = toml::Table::from_iter([("name".to_owned(), "warm".into())]);
    toml::Value::Table(toml::Table::from_iter([
        ("name".to_owned(), "thanks-test".into()),
        ("holdout".to_owned(), 0.5.into()),
        (
            "variants".to_owned(),
            toml::Value::Array(vec![toml::Value::Table(warm)]),
        ),
    ]))
}

struct Shop {
    _dir: ShopDir,
    pipeline: Pipeline,
    clock: ManualClock,
    base: String,
    _http: Running,
    _crm: CaptureServer,
}

impl Shop {
    async fn start() -> Shop {
        let port = free_port();
        let crm = CaptureServer::start().await.unwrap();
        let rejected = Fault::Status {
            status: 422,
            retry_after: None,
        };
        crm.faults().fail_next(2, rejected);
        let dir = TestShop::new()
            .sqlite()
            .listen(port)
            .marketing_without_choice("send")
            .csv_source("shop")
            .http_sink("crm", &crm.url(), [])
            .channels(&["email"])
            .journey("thanks", "crm", "email", "every-order")
            .set("experiment", experiment())
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
            _dir: dir,
            pipeline,
            clock,
            base: format!("http://127.0.0.1:{port}"),
            _http: http,
            _crm: crm,
        }
    }

    /// Uploads `receipts` through the csv-source, as history or live at `at`.
    async fn upload(&self, at: Option<DateTime<Utc>>, receipts: &[String]) {
        upload_receipts(&self.pipeline, &self.clock, at, receipts).await;
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

    /// `path`'s JSON with the admin token.
    async fn json(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

/// The shop with its sales delivered (the first two requests rejected) and the clock on
/// 2 April.
async fn march() -> Shop {
    let shop = Shop::start().await;
    shop.upload(
        None,
        &[
            receipt("H1", None, noon(1, 10), ANA, 1000),
            receipt("H2", None, noon(2, 15), BEN, 3000),
            receipt("H3", None, noon(2, 20), EVE, 700),
        ],
    )
    .await;
    let live = [
        (noon(3, 1), receipt("S1", None, noon(3, 1), CARA, 4000)),
        (noon(3, 3), receipt("S2", None, noon(3, 3), DAN, 1200)),
        (noon(3, 5), receipt("S3", None, noon(3, 5), ANA, 2000)),
        (noon(3, 8), receipt("S4", None, noon(3, 8), ANA, 1500)),
        (noon(3, 9), receipt("R1", Some("S3"), noon(3, 9), ANA, 500)),
        (noon(3, 17), receipt("S5", None, noon(3, 17), BEN, 2500)),
        (noon(3, 20), receipt("S6", None, noon(3, 20), EVE, 800)),
    ];
    for (at, sale) in live {
        shop.upload(Some(at), &[sale]).await;
    }
    shop.clock.set(noon(4, 2));
    shop.pipeline
        .drain(Duration::from_secs(60), Duration::from_secs(30))
        .await
        .unwrap();
    shop
}

/// What the page shows for a share: percent to one decimal, as `dashboard.js` rounds it.
fn rate(x: &Value) -> String {
    x.as_f64().map_or("—".into(), |x| {
        format!("{}%", (x * 1000.0).round() / 10.0)
    })
}

/// What the page shows for days.
fn days(x: &Value) -> String {
    x.as_f64().map_or("—".into(), |x| {
        format!("{} days", (x * 10.0).round() / 10.0)
    })
}

/// What the page shows for money (`{minor, currency}`).
fn money(m: &Value) -> String {
    match m["minor"].as_i64() {
        Some(minor) => format!(
            "{} {}.{:02}",
            m["currency"].as_str().unwrap(),
            minor / 100,
            minor % 100
        ),
        None => "—".into(),
    }
}

/// Which way a figure went: the page's `data-trend`.
fn trend(current: &Value, previous: &Value) -> &'static str {
    match (current.as_f64(), previous.as_f64()) {
        (Some(c), Some(p)) if c > p => "up",
        (Some(c), Some(p)) if c < p => "down",
        (Some(_), Some(_)) => "flat",
        _ => "none",
    }
}

/// Waits for `selector` in the page, then clicks it.
pub(crate) async fn click(page: &mut Browser, selector: &str) {
    let found = format!("document.querySelector({})", json!(selector));
    page.wait_for(&found).await;
    page.eval(&format!("{found}.click()")).await;
}

/// Opens the dashboard at `base`, is sent to the login form, logs in with `token` and waits for
/// the dashboard to be ready.
pub(crate) async fn log_in(page: &mut Browser, base: &str, token: &str) {
    page.open(&format!("{base}/")).await;
    page.wait_for("document.querySelector('input[name=token]')")
        .await;
    assert_eq!(
        page.eval("location.pathname + location.search").await,
        "/login?next=/"
    );
    page.eval(&format!(
        "document.querySelector('input[name=token]').value = {}; document.querySelector('form').submit()",
        json!(token)
    ))
    .await;
    page.wait_for("location.pathname === '/' && document.body.dataset.ready === 'true'")
        .await;
}

/// The north-star cards the page shows: each metric's shown value, arrow, and previous figure
/// or note.
pub(crate) async fn shown_cards(page: &mut Browser) -> Value {
    page.eval(
        "Object.fromEntries([...document.querySelectorAll('.card')].map(c => [c.dataset.metric, \
         [c.querySelector('.value').firstChild.textContent, \
          c.querySelector('.trend').dataset.trend, \
          c.querySelector('.previous, .note').textContent]]))",
    )
    .await
}

/// The north-star cards `metrics` make: each metric's shown value, arrow, and previous figure
/// (for the prediction, the fit it comes from, or why there is none).
pub(crate) fn expected_cards(metrics: &Value) -> Value {
    let (now, before) = (&metrics["sales"]["current"], &metrics["sales"]["previous"]);
    let figure = |show: fn(&Value) -> String, current: &Value, previous: &Value| {
        json!([
            show(current),
            trend(current, previous),
            format!("before: {}", show(previous))
        ])
    };
    let ltv = |s: &Value| s["lifetime_value"]["mean_per_buyer"].clone();
    let predicted = &metrics["predicted_lifetime_value"];
    let prediction = match predicted["status"].as_str() {
        Some("available") => json!([
            money(&predicted["mean_12_months"]),
            "none",
            format!(
                "{} customers, fit of {}",
                predicted["customers"],
                predicted["fit_as_of"].as_str().unwrap()
            )
        ]),
        _ => json!(["—", "none", predicted["reason"]]),
    };
    json!({
        "repeat_purchase_rate": figure(rate, &now["repeat_purchase_rate"], &before["repeat_purchase_rate"]),
        "mean_days_between_visits": figure(days, &now["mean_days_between_visits"], &before["mean_days_between_visits"]),
        "median_days_to_second_order": figure(days, &now["second_order"]["median_days"], &before["second_order"]["median_days"]),
        "lifetime_value": [money(&ltv(now)), trend(&ltv(now)["minor"], &ltv(before)["minor"]), format!("before: {}", money(&ltv(before)))],
        "predicted_lifetime_value": prediction,
    })
}

/// The operations line the page shows for the sink `crm` of `/api/operations`.
fn expected_line(crm: &Value) -> Value {
    let seconds = |s: &Value| match s.as_f64() {
        Some(s) if s < 1.0 => format!("{} ms", (s * 1000.0).round()),
        Some(s) => format!("{} s", (s * 10.0).round() / 10.0),
        None => "—".into(),
    };
    json!({
        "plugin": crm["plugin"], "health": crm["health"],
        "generation": crm["generation"].to_string(), "backlog": crm["backlog"].to_string(),
        "p50": seconds(&crm["latency"]["p50_seconds"]), "p99": seconds(&crm["latency"]["p99_seconds"]),
        "error_budget": rate(&crm["error_budget"]["remaining"]),
        "dead_letters": format!("{} failing", crm["dead_letters"]),
    })
}

/// What the test read from the API, for the page to show.
struct Seen {
    metrics: Value,
    operations: Value,
    failures: Vec<Value>,
    segment: String,
    keys: Vec<Value>,
    profile: Value,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_apis_numbers_and_drills_down() {
    let shop = Box::pin(march()).await;
    let token = admin_token(&shop.pipeline.store).await;

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirects
        .get(format!("{}/", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login?next=/");
    for route in [
        "/api/segments/champions/people",
        "/api/journeys",
        "/api/sinks/crm/failures",
    ] {
        let (status, body) = shop.get(route, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}: {body}");
    }
    let (status, _) = shop.get("/api/sinks/nowhere/failures", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = shop.get("/api/segments/vips/people", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let metrics = shop.json(&format!("/api/metrics?{PERIOD}"), &token).await;
    let operations = shop.json("/api/operations", &token).await;
    let failures = shop.json("/api/sinks/crm/failures", &token).await;
    let failures = failures["failures"].as_array().unwrap().clone();
    // The two rejected requests carried at least one delivery each; every one is listed.
    assert!(failures.len() >= 2, "{failures:?}");
    assert_eq!(
        json!(failures.len()),
        operations["sinks"][0]["dead_letters"]
    );
    for failure in &failures {
        assert_eq!(failure["status"], "rejected");
        let reason = failure["error"].as_str().unwrap();
        assert!(
            reason.contains("injected failure"),
            "the CRM's reason: {reason}"
        );
    }
    assert_eq!(
        shop.json("/api/journeys", &token).await,
        json!([{"journey": "thanks", "sink": "crm", "channel": "email", "experiment": "thanks-test"}])
    );
    // The first segment with people, and its people from the API.
    let segment = (metrics["segments"]["segments"].as_array().unwrap().iter())
        .find(|s| s["people"] != 0)
        .unwrap()["segment"]
        .as_str()
        .unwrap()
        .to_string();
    let people = shop
        .json(&format!("/api/segments/{segment}/people"), &token)
        .await;
    let keys: Vec<Value> = (people["people"].as_array().unwrap().iter())
        .map(|p| p["key"].clone())
        .collect();
    let segment_size = (metrics["segments"]["segments"].as_array().unwrap().iter())
        .find(|s| s["segment"] == segment.as_str())
        .unwrap()["people"]
        .clone();
    assert_eq!(json!(keys.len()), segment_size, "{people}");
    let first = keys[0].as_str().unwrap();
    let profile = shop
        .json(&format!("/api/profiles/{first}?view=marketer"), &token)
        .await;

    if !browser::available() {
        return;
    }
    let seen = Seen {
        metrics,
        operations,
        failures,
        segment,
        keys,
        profile,
    };
    Box::pin(in_the_browser(&shop, &token, &seen)).await;
}

/// The page in headless Chromium at 1280 × 800: the login, the numbers, the drill-downs.
async fn in_the_browser(shop: &Shop, token: &str, seen: &Seen) {
    let Seen {
        metrics,
        operations,
        failures,
        segment,
        keys,
        profile,
    } = seen;
    let mut page = Browser::start(1280, 800).await;
    log_in(&mut page, &shop.base, token).await;
    page.open(&format!("{}/?{PERIOD}", shop.base)).await;
    page.wait_for("location.search !== '' && document.body.dataset.ready === 'true'")
        .await;

    Box::pin(numbers(&mut page, metrics, operations, failures.len())).await;
    Box::pin(segment_to_profile(&mut page, segment, keys, profile)).await;
    Box::pin(journey_arms(&mut page, metrics)).await;
    Box::pin(failing_deliveries(&mut page, failures)).await;

    // Readable on the tablet: no sideways scrolling at 1280 pixels, figures at least 20 pixels.
    assert_eq!(
        page.eval("document.documentElement.scrollWidth <= 1280")
            .await,
        true
    );
    let size = page
        .eval("parseFloat(getComputedStyle(document.querySelector('.card .value')).fontSize)")
        .await;
    assert!(size.as_f64().unwrap() >= 20.0, "{size}");
    page.eval("window.scrollTo(0, 0)").await;
    page.keep_screenshot("dashboard.png").await;
    page.close().await;
}

/// The journey → its experiment's arms, as the metrics' report of it counts them.
async fn journey_arms(page: &mut Browser, metrics: &Value) {
    click(page, "button[data-journey=thanks]").await;
    page.wait_for("document.querySelector('#arms tbody tr')")
        .await;
    let arms = page
        .eval(
            "[...document.querySelectorAll('#arms tbody tr')].map(tr => \
             [...tr.querySelectorAll('td')].slice(0, 4).map(td => td.textContent))",
        )
        .await;
    let report = &metrics["experiments"][0];
    assert_eq!(report["experiment"], "thanks-test");
    let expected: Vec<Value> = (report["arms"].as_array().unwrap().iter())
        .map(|a| {
            let count = |field: &str| a[field].to_string();
            json!([
                a["arm"],
                count("people"),
                count("sent"),
                count("conversions")
            ])
        })
        .collect();
    assert_eq!(arms, json!(expected));
    let people: u64 = (report["arms"].as_array().unwrap().iter())
        .map(|a| a["people"].as_u64().unwrap())
        .sum();
    assert_eq!(
        people, 5,
        "everyone who bought live entered the journey once"
    );
}

/// The north-star numbers (shown value, the previous period's, the arrow) and the CRM's operations
/// line.
async fn numbers(page: &mut Browser, metrics: &Value, operations: &Value, failing: usize) {
    let shown = shown_cards(page).await;
    assert_eq!(
        metrics["predicted_lifetime_value"]["status"], "not_available",
        "a shop this small"
    );
    assert_eq!(shown, expected_cards(metrics));
    // Not all flat: the shop's March differs from the month before.
    assert_eq!(shown["repeat_purchase_rate"][1], "up", "{shown}");

    // The CRM's operations line.
    let crm = &operations["sinks"][0];
    assert_eq!(crm["sink"], "crm");
    let line = page
        .eval(
            "Object.fromEntries([...document.querySelectorAll('tr[data-connector=crm] td')].map(td => [td.dataset.field, td.textContent]))",
        )
        .await;
    assert_eq!(line, expected_line(crm));
    assert_eq!(crm["dead_letters"], json!(failing));
}

/// Segment → its people → one profile.
async fn segment_to_profile(page: &mut Browser, segment: &str, keys: &[Value], profile: &Value) {
    let first = keys[0].as_str().unwrap();
    click(page, &format!("button[data-segment={segment}]")).await;
    page.wait_for("document.querySelector('#people tbody tr')")
        .await;
    let rows = page
        .eval("[...document.querySelectorAll('#people tbody tr')].map(tr => tr.dataset.key)")
        .await;
    assert_eq!(rows, json!(keys));
    click(page, &format!("button[data-profile={first}]")).await;
    page.wait_for(&format!(
        "document.querySelector('#profile[data-key={first}]')"
    ))
    .await;
    let facts = page
        .eval(
            "Object.fromEntries([...document.querySelectorAll('#profile dd')].map(dd => [dd.dataset.fact, dd.textContent]))",
        )
        .await;
    assert_eq!(facts["Emails"], profile["emails"][0], "{facts}");
    assert_eq!(facts["Visits"], profile["visits"].to_string());
    assert_eq!(facts["Net spend"], money(&profile["net_spend"]));
    assert_eq!(
        page.eval("document.getElementById('detail-title').textContent")
            .await,
        format!(
            "{} {}",
            profile["given_name"].as_str().unwrap(),
            profile["family_name"].as_str().unwrap()
        )
    );
}

/// The CRM → its failing deliveries → the vendor's own reason.
async fn failing_deliveries(page: &mut Browser, failures: &[Value]) {
    click(page, "button[data-failures=crm]").await;
    page.wait_for("document.querySelector('#failures li')")
        .await;
    let reasons = page
        .eval("[...document.querySelectorAll('#failures .reason')].map(p => p.textContent)")
        .await;
    let expected: Vec<Value> = failures.iter().map(|f| f["error"].clone()).collect();
    assert_eq!(reasons, json!(expected));
}
