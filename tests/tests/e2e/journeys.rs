//! Journey messages end to end: a sample shop's export goes through the csv-source plugin, every
//! sale of a known customer triggers a `[[journey]]` message to an http-sink catch-hook, and the
//! host holds messages back for consent, quiet hours (America/New_York) and frequency caps.
//!
//! - Messages delayed by quiet hours wait, unattempted, until the quiet hours end, and the same
//!   people's other work is delivered meanwhile.
//! - A cap that drops sends each opted-in buyer exactly min(orders, max) messages; a cap that
//!   delays holds the rest until the oldest counted send leaves the window. Nobody who did not opt
//!   in receives one, and syncing again sends nothing twice.
//! - Bad journey and contact settings are refused with the key that is wrong.

use chrono::{DateTime, Duration as Span, Timelike, Utc};
use chrono_tz::America::New_York;
use rapport_e2e::{plugin, upload_csv, PostgresDatabase, TestShop};
use rapport_fakes::capture::{CaptureServer, Captured};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

const JOURNEY: &str = "Journey: thanks";
const EVERY_ORDER: &str = "every-order";
const FIRST_ORDER: &str = "first-order";
const DAY_MS: i64 = 24 * 3600 * 1000;
/// A hook nothing listens on, for configs that are only parsed.
const HOOK: &str = "http://127.0.0.1:1/hook";

/// A shop in New York with one csv-source and one http-sink "crm" posting to `url`. The sample
/// shop's sales are from October 2026, so the journey horizon reaches back ten years: these tests
/// are about what follows a sale that starts a journey (`facts` tests the horizon).
fn shop(url: &str) -> TestShop {
    TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "America/New_York".into())])
        .section("journeys", [("max_age", "3650d".into())])
        .csv_source("shop")
        .sink("crm", &plugin("http-sink"), [("url", url.into())])
}

/// `shop` with the journey "thanks" sending on `channel` through `sink` when `trigger` fires.
fn thanks(shop: TestShop, sink: &str, channel: &str, trigger: &str) -> TestShop {
    shop.journey("thanks", sink, channel, trigger)
}

/// A time of day in New York `offset` from `now`, to the minute, as the config writes it.
fn new_york_clock(now: DateTime<Utc>, offset: Span) -> String {
    (now + offset)
        .with_timezone(&New_York)
        .format("%H:%M")
        .to_string()
}

/// `t` without its seconds.
fn to_the_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0).unwrap().with_nanosecond(0).unwrap()
}

struct Run {
    pipeline: Pipeline,
    pool: AnyPool,
    shop: SampleShop,
    crm: CaptureServer,
    _dir: tempfile::TempDir,
}

/// Starts a pipeline on `database_url` (the config's SQLite file when `None`) with the journey
/// "thanks" on `trigger` and what `rules` adds (consent rules, or keys of the journey), uploads a sample shop's export and
/// delivers what is due.
async fn run(
    rules: impl FnOnce(TestShop) -> TestShop,
    trigger: &str,
    database_url: Option<String>,
) -> Run {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = rules(thanks(shop(&crm.url()), "crm", "email", trigger)).text(dir.path());
    let mut config = Config::parse(&text, dir.path()).unwrap();
    if let Some(url) = database_url {
        config.store.database_url = url;
    }
    let pipeline = Pipeline::start(config).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let shop = SampleShop::generate(61, 150, 0);
    upload(&pipeline, &shop).await;
    Run {
        pipeline,
        pool,
        shop,
        crm,
        _dir: dir,
    }
}

/// Uploads `shop` and delivers what is due; messages waiting for their time stay owed.
async fn upload(pipeline: &Pipeline, shop: &SampleShop) {
    upload_csv(pipeline, "shop", shop).await;
    pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(120))
        .await
        .unwrap();
}

/// A stored journey message.
#[derive(Debug)]
struct Message {
    order: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
}

/// Every journey message in the outbox, by the email of its person.
async fn messages(pool: &AnyPool) -> HashMap<String, Vec<Message>> {
    let mut by_person: HashMap<String, Vec<Message>> = HashMap::new();
    for row in sqlx::query(
        "SELECT i.value AS email, e.object_id, o.status, o.attempts, o.next_attempt_at,
                o.last_error, o.journey, o.channel
         FROM outbox o JOIN events e ON e.id = o.event_id
         JOIN identities i ON i.profile_id = o.profile_id AND i.kind = 'email'
         WHERE o.kind = 'message' ORDER BY o.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        assert_eq!(row.get::<String, _>("journey"), "thanks");
        assert_eq!(row.get::<String, _>("channel"), "email");
        by_person
            .entry(row.get("email"))
            .or_default()
            .push(Message {
                order: row.get("object_id"),
                status: row.get("status"),
                attempts: row.get("attempts"),
                next_attempt_at: row.get("next_attempt_at"),
                last_error: row.get("last_error"),
            });
    }
    by_person
}

/// Each customer's sales in the export, in order, by email; and whether they opted in.
fn buyers(shop: &SampleShop) -> BTreeMap<String, (bool, Vec<String>)> {
    let mut buyers: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
    for r in shop.receipts.iter().filter(|r| r.refund_of.is_none()) {
        let Some(c) = r.customer.map(|c| &shop.customers[c]) else {
            continue;
        };
        buyers
            .entry(c.email.clone())
            .or_insert_with(|| (c.marketing_opt_in == Some(true), Vec::new()))
            .1
            .push(r.id.clone());
    }
    buyers
}

fn email_of(item: &Value) -> String {
    item["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "email")
        .and_then(|i| i["value"].as_str())
        .expect("an email identity")
        .to_string()
}

/// The activities named `name` each person received, by email, in arrival order.
fn received(captured: &Captured, name: &str) -> HashMap<String, Vec<Value>> {
    let mut by_person: HashMap<String, Vec<Value>> = HashMap::new();
    for a in captured.activities.iter().filter(|a| a["name"] == name) {
        by_person.entry(email_of(a)).or_default().push(a.clone());
    }
    by_person
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_hours_delay_messages_to_their_end_and_block_nothing() {
    let now = Utc::now();
    let end = to_the_minute(now + Span::hours(2));
    let (start, stop) = (
        new_york_clock(now, Span::hours(-2)),
        new_york_clock(now, Span::hours(2)),
    );
    let run = run(|shop| shop.quiet_hours(&start, &stop), EVERY_ORDER, None).await;
    let captured = run.crm.captured();
    let stored = messages(&run.pool).await;
    let placed = received(&captured, "Placed Order");
    assert!(
        received(&captured, JOURNEY).is_empty(),
        "no message in quiet hours"
    );

    let buyers = buyers(&run.shop);
    let opted_in = buyers.values().filter(|(yes, _)| *yes).count();
    assert!(opted_in >= 5, "the sample has opted-in buyers");
    for (email, (opted_in, orders)) in &buyers {
        if !opted_in {
            // Never let into the journey: no consent to marketing by email.
            assert!(!stored.contains_key(email), "{email}");
            assert!(!placed.contains_key(email), "{email}");
            continue;
        }
        let theirs = &stored[email];
        assert_eq!(theirs.len(), orders.len(), "{email}: one message per order");
        for m in theirs {
            assert_eq!(m.status, "pending", "{email}: {m:?}");
            assert_eq!(m.attempts, 0, "{email}: {m:?}");
            assert_eq!(m.next_attempt_at, end.timestamp_millis(), "{email}: {m:?}");
            let why = m.last_error.as_deref().unwrap_or_default();
            assert!(why.starts_with("quiet hours until"), "{email}: {why}");
        }
        // Their profile and every sale reached the sink while their messages wait.
        assert!(
            captured.profiles.values().any(|p| email_of(p) == *email),
            "{email}"
        );
        let sales: Vec<&str> = placed[email]
            .iter()
            .map(|a| a["properties"]["order_id"].as_str().unwrap())
            .collect();
        assert_eq!(sales, *orders, "{email}");
    }

    let summary = run.pipeline.store.summary().await.unwrap();
    let waiting: usize = buyers
        .values()
        .filter(|(yes, _)| *yes)
        .map(|(_, o)| o.len())
        .sum();
    assert_eq!(summary.sinks[0].messages_delayed, waiting as i64);
    assert_eq!(summary.sinks[0].messages_delivered, 0);
    run.pipeline.store.close().await;
}

/// A cap of two messages a week that drops the rest: exactly min(orders, 2) each, the first two
/// orders; the rest suppressed with the cap's reason; nothing sent twice on a second sync.
async fn caps_drop_what_is_over(database_url: Option<String>) {
    let now = Utc::now();
    let (start, stop) = (
        new_york_clock(now, Span::hours(3)),
        new_york_clock(now, Span::hours(4)),
    );
    let consent = |shop: TestShop| {
        shop.quiet_hours(&start, &stop)
            .consent_cap("email", 2, 7, Some("drop"))
    };
    let run = run(consent, EVERY_ORDER, database_url).await;
    let buyers = buyers(&run.shop);
    assert!(
        buyers.values().any(|(yes, o)| *yes && o.len() > 2),
        "the sample has opted-in buyers over the cap"
    );
    let check = |captured: &Captured, stored: &HashMap<String, Vec<Message>>| {
        let sent = received(captured, JOURNEY);
        for (email, (opted_in, orders)) in &buyers {
            let theirs = sent.get(email).map(Vec::as_slice).unwrap_or_default();
            if !opted_in {
                assert!(theirs.is_empty(), "{email} did not opt in");
                continue;
            }
            let order_ids: Vec<&str> = theirs
                .iter()
                .map(|a| a["properties"]["order_id"].as_str().unwrap())
                .collect();
            let first_two: Vec<&str> = orders.iter().take(2).map(String::as_str).collect();
            assert_eq!(order_ids, first_two, "{email}");
            assert!(theirs
                .iter()
                .all(|a| a["properties"]["journey"] == "thanks"));
            for m in &stored[email] {
                let sent_it = first_two.contains(&m.order.as_str());
                let status = if sent_it { "delivered" } else { "suppressed" };
                assert_eq!(m.status, status, "{email}: {m:?}");
                if !sent_it {
                    let why = m.last_error.as_deref().unwrap_or_default();
                    assert!(why.starts_with("frequency cap"), "{email}: {why}");
                }
            }
        }
    };
    let captured = run.crm.captured();
    check(&captured, &messages(&run.pool).await);
    let dropped: usize = buyers
        .values()
        .filter(|(yes, _)| *yes)
        .map(|(_, o)| o.len().saturating_sub(2))
        .sum();
    let summary = run.pipeline.store.summary().await.unwrap();
    assert_eq!(summary.sinks[0].messages_dropped, dropped as i64);

    // The same export again: nothing new is queued, and nothing arrives twice.
    upload(&run.pipeline, &run.shop).await;
    let again = run.crm.captured();
    check(&again, &messages(&run.pool).await);
    assert_eq!(again.activities.len(), captured.activities.len());
    assert!(again.activity_arrivals.values().all(|n| *n == 1));
    run.pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_drop_what_is_over_on_sqlite() {
    caps_drop_what_is_over(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_drop_what_is_over_on_postgres() {
    let database = PostgresDatabase::create().await;
    caps_drop_what_is_over(Some(database.url())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delaying_cap_holds_messages_until_the_oldest_send_leaves_the_window() {
    let started = Utc::now().timestamp_millis();
    let consent = |shop: TestShop| shop.consent_cap("email", 2, 7, Some("delay"));
    let run = run(consent, EVERY_ORDER, None).await;
    let buyers = buyers(&run.shop);
    let sent = received(&run.crm.captured(), JOURNEY);
    let stored = messages(&run.pool).await;
    let mut delayed = 0;
    for (email, (_, orders)) in buyers.iter().filter(|(_, (yes, _))| *yes) {
        assert_eq!(
            sent.get(email).map_or(0, Vec::len),
            orders.len().min(2),
            "{email}"
        );
        let oldest_send: i64 = sqlx::query_scalar(
            "SELECT MIN(d.at) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
             JOIN identities i ON i.profile_id = o.profile_id AND i.kind = 'email'
             WHERE o.kind = 'message' AND d.outcome = 'ok' AND i.value = $1",
        )
        .bind(email)
        .fetch_one(&run.pool)
        .await
        .unwrap();
        for m in stored[email].iter().filter(|m| m.status == "pending") {
            delayed += 1;
            assert_eq!(m.attempts, 0, "{m:?}");
            // The two sends were approved after `started` and recorded by `oldest_send`.
            let until = m.next_attempt_at;
            assert!(
                (started + 7 * DAY_MS..=oldest_send + 7 * DAY_MS).contains(&until),
                "{email}: {m:?}"
            );
            let why = m.last_error.as_deref().unwrap_or_default();
            assert!(why.starts_with("frequency cap"), "{why}");
        }
    }
    assert!(delayed > 0, "the sample has buyers over the cap");

    // A week later (the sends moved eight days back, the held messages due now), two more go.
    sqlx::query("UPDATE deliveries SET at = at - $1")
        .bind(8 * DAY_MS)
        .execute(&run.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE kind = 'message' AND status = 'pending'",
    )
    .bind(Utc::now().timestamp_millis())
    .execute(&run.pool)
    .await
    .unwrap();
    run.pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(120))
        .await
        .unwrap();
    let sent = received(&run.crm.captured(), JOURNEY);
    for (email, (_, orders)) in buyers.iter().filter(|(_, (yes, _))| *yes) {
        assert_eq!(
            sent.get(email).map_or(0, Vec::len),
            orders.len().min(4),
            "{email}"
        );
    }
    run.pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_order_journey_sends_once_per_buyer_after_its_wait() {
    let wait = |shop: TestShop| shop.set("wait_minutes", 30.into());
    let run = run(wait, FIRST_ORDER, None).await;
    let buyers = buyers(&run.shop);
    let stored = messages(&run.pool).await;
    let sale_at: HashMap<&str, i64> = (run.shop.receipts.iter())
        .map(|r| (r.id.as_str(), r.at * 1000))
        .collect();
    let sent = received(&run.crm.captured(), JOURNEY);
    for (email, (opted_in, orders)) in &buyers {
        let theirs = sent.get(email).map(Vec::as_slice).unwrap_or_default();
        if !opted_in {
            // Never let into the journey: no consent to marketing by email.
            assert!(theirs.is_empty() && !stored.contains_key(email), "{email}");
            continue;
        }
        let [m] = stored[email].as_slice() else {
            panic!("{email}: {:?}", stored[email]);
        };
        assert_eq!(m.order, orders[0], "{email}: their first order");
        // Queued when its wait fell due (the sale's time and 30 minutes, long past) and then sent.
        assert!(m.next_attempt_at >= sale_at[orders[0].as_str()] + 30 * 60_000);
        assert_eq!(m.status, "delivered", "{email}");
        assert_eq!(theirs.len(), 1, "{email}");
        assert_eq!(theirs[0]["properties"]["order_id"], orders[0].as_str());
    }

    // A later export of the same customers' sales: none of them orders for the first time.
    let later = SampleShop::generate(61, 150, 0)
        .with_receipt_prefix("B")
        .shifted(7 * DAY_MS / 1000);
    upload(&run.pipeline, &later).await;
    let again = messages(&run.pool).await;
    assert_eq!(
        again.values().map(Vec::len).sum::<usize>(),
        stored.values().map(Vec::len).sum::<usize>()
    );
    run.pipeline.store.close().await;
}

#[test]
fn bad_journey_and_contact_settings_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let journey =
        |sink: &str, channel: &str, trigger: &str| thanks(shop(HOOK), sink, channel, trigger);
    let base = journey("crm", "email", FIRST_ORDER);
    assert!(Config::parse(&base.text(dir.path()), dir.path()).is_ok());
    for (shop, expected) in [
        (
            journey("mailer", "email", FIRST_ORDER),
            "sink \"mailer\" is not a configured [[sink]] id",
        ),
        (journey("crm", "fax", FIRST_ORDER), "fax"),
        (
            journey("crm", "sms", FIRST_ORDER),
            "channel \"sms\" is not one sink \"crm\" markets on",
        ),
        (journey("crm", "email", "on-sundays"), "on-sundays"),
        (
            thanks(
                shop(HOOK)
                    .set("retire", true.into())
                    .sink("new", Path::new("p"), []),
                "crm",
                "email",
                FIRST_ORDER,
            ),
            "sink \"crm\" is being retired",
        ),
        (
            base.clone()
                .journey("thanks", "crm", "email", "every-order"),
            "name \"thanks\" is used twice",
        ),
        (
            base.clone().quiet_hours("25:00", "08:00"),
            "consent.quiet_hours.start: \"25:00\" is not a time of day",
        ),
        (
            base.clone().consent_cap("email", 0, 7, None),
            "consent.cap (email): max must be between 1",
        ),
        (
            base.clone()
                .consent_cap("email", 2, 60, None)
                .section("retention", [("outbox", "30d".into())]),
            "per_days = 60 counts sends older than retention.outbox keeps",
        ),
    ] {
        let error = Config::parse(&shop.text(dir.path()), dir.path()).unwrap_err();
        assert!(error.contains(expected), "{expected:?} not in: {error}");
    }
}

#[test]
fn the_policy_names_journeys_quiet_hours_and_caps() {
    let dir = tempfile::tempdir().unwrap();
    let text = thanks(shop(HOOK), "crm", "email", FIRST_ORDER)
        .quiet_hours("21:00", "08:00")
        .consent_cap("email", 2, 7, Some("delay"))
        .text(dir.path());
    let config = Config::parse(&text, dir.path()).unwrap();
    let page = rapport_host::governance::policy::render(&config, &dir.path().join("rapport.toml"));
    for expected in [
        "\"thanks\": a message by email through \"crm\" after a customer's first order.",
        "No message is sent between 21:00 and 08:00 (America/New_York time)",
        "At most 2 email messages per customer in any 7 days; further ones wait",
    ] {
        assert!(page.contains(expected), "{expected:?} not in:\n{page}");
    }
    let without = Config::parse(&shop(HOOK).text(dir.path()), dir.path()).unwrap();
    let page = rapport_host::governance::policy::render(&without, &dir.path().join("rapport.toml"));
    assert!(!page.contains("Messages after a sale"), "{page}");
}
