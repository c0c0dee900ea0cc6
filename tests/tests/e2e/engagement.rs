//! Message engagement end to end: journey messages go through the klaviyo-sink plugin (contract
//! 0.5) to the Klaviyo simulator, whose flow emails each person ("Received Email"); the test marks
//! opens, clicks and a bounce there; the host reads them back through the plugin (`GET
//! /api/metrics`, `GET /api/events` paged by `links.next`) and counts them per journey, experiment
//! variant and channel — equal to what was marked, and unchanged by reading again. The same through
//! the mailchimp-sink plugin to the Mailchimp simulator, whose customer journey starts on the
//! sink's member event and emails each person; its opens, clicks and bounce are read from the
//! journey email's campaign report (`GET /reports`, `GET /reports/{id}/email-activity`). Both
//! times the experiment report gives each arm the same counts with their rates over the messages
//! sent to it, and the business metrics list them for the week of the sales. A sink built for
//! contract 0.4 still loads and simply reports no engagement.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rapport_core::clock::{Clock, ManualClock};
use rapport_core::metrics::period::Period;
use rapport_e2e::{plugin, TestShop, CSV_HEADER};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::mailchimp::{self, MailchimpSim};
use rapport_host::config::Config;
use rapport_host::engagement::{self, feed, EngagementCounts};
use rapport_host::experiments::{configured, experiment_report};
use rapport_host::metrics::business;
use rapport_host::pipeline::Pipeline;
use sqlx::{AnyPool, Row as _};
use std::collections::BTreeMap;
use std::time::Duration as Wait;

/// The people who buy, one sale each, all opted in to email marketing.
const PEOPLE: [&str; 6] = ["ana", "bob", "cat", "dan", "eve", "fay"];

/// 2026-03-02T10:00:00Z, when the sales happen.
fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// One sale of 5.00 to each of `PEOPLE`, at `at`.
fn sales(at: DateTime<Utc>) -> Vec<u8> {
    let mut out = format!("{CSV_HEADER}\n");
    let date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (n, who) in PEOPLE.iter().enumerate() {
        out.push_str(&format!(
            "R-{n},sale,,{date},High Street,in-store,C-{who},{who}@example.com,,{who} Tester,yes,CAKE-1,Banana bread,bakery,1,5.00,5.00,GBP,0.00,0.00,5.00\n"
        ));
    }
    out.into_bytes()
}

/// A shop sending the journey "thanks" (every order, no wait; an experiment of two variants and
/// no holdout) by email through `sink`, built by `sinks`.
fn config(dir: &std::path::Path, sinks: impl FnOnce(TestShop) -> TestShop) -> String {
    let variant =
        |name: &str| toml::Value::Table(toml::Table::from_iter([("name".to_owned(), name.into())]));
    let experiment = toml::Table::from_iter([
        ("name".to_owned(), "thanks-copy".into()),
        ("holdout".to_owned(), 0.0.into()),
        (
            "variants".to_owned(),
            toml::Value::Array(vec![variant("warm"), variant("short")]),
        ),
    ]);
    sinks(
        TestShop::new()
            .sqlite()
            .section("shop", [("time_zone", "UTC".into())])
            .section("journeys", [("max_age", "2d".into())])
            .csv_source("shop"),
    )
    .journey("thanks", "crm", "email", "every-order")
    .set("experiment", toml::Value::Table(experiment))
    .text(dir)
}

struct Shop {
    pipeline: Pipeline,
    pool: AnyPool,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

/// Starts the shop, uploads the sales and delivers the journey's messages.
async fn open(sinks: impl FnOnce(TestShop) -> TestShop) -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let text = config(dir.path(), sinks);
    let clock = ManualClock::starting_at(morning());
    let pipeline =
        Pipeline::start_with_clock(Config::parse(&text, dir.path()).unwrap(), clock.shared())
            .await
            .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    let report = (pipeline.intake)
        .receive_push("shop", headers, sales(morning()))
        .await
        .unwrap();
    assert_eq!(report.rejected, 0);
    clock.set(morning() + Duration::minutes(5));
    let owed = pipeline
        .drain(Wait::from_secs(1), Wait::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0, "every message is delivered");
    Shop {
        pipeline,
        pool,
        clock,
        _dir: dir,
    }
}

impl Shop {
    /// Each person's experiment arm.
    async fn arms(&self) -> BTreeMap<String, String> {
        sqlx::query(
            "SELECT i.value, a.arm FROM experiment_assignments a
             JOIN identities i ON i.profile_id = a.profile_id AND i.kind = 'email'",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    }

    async fn rows(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM message_engagement")
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .get(0)
    }

    /// The experiment report and the business metrics say what `expected` says: each arm's
    /// engagement, and its rates over the messages sent to the arm (one per person in it, counted
    /// here from `arms`); the metrics' lines of the week holding the sales.
    async fn reports(
        &self,
        expected: &BTreeMap<engagement::EngagementKey, EngagementCounts>,
        arms: &BTreeMap<String, String>,
    ) {
        let journeys = &self.pipeline.config.journeys;
        let experiment = configured(journeys).next().unwrap();
        let report = experiment_report(&self.pipeline.store, experiment)
            .await
            .unwrap();
        for arm in &report.arms {
            let key = (
                "thanks".to_string(),
                Some(arm.arm.clone()),
                "email".to_string(),
            );
            let counts = expected.get(&key).copied().unwrap_or_default();
            assert_eq!(arm.engagement, counts, "arm {}", arm.arm);
            let sent = arms.values().filter(|a| **a == arm.arm).count() as f64;
            assert_eq!(arm.sent as f64, sent);
            // Six people in two arms: now and then one arm gets nobody, and has no rates.
            let share = |n: u64| (sent > 0.0).then(|| n as f64 / sent);
            assert_eq!(arm.engagement_rates.open_rate, share(counts.opened));
            assert_eq!(arm.engagement_rates.click_rate, share(counts.clicked));
            assert_eq!(arm.engagement_rates.bounce_rate, share(counts.bounced));
        }
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let period = Period::new(day(1), day(8)).unwrap();
        let zone = chrono_tz::UTC;
        let metrics = business(&self.pipeline.store, journeys, zone, period, day(2))
            .await
            .unwrap();
        let lines: BTreeMap<engagement::EngagementKey, EngagementCounts> =
            (metrics.engagement.current.iter())
                .map(|l| {
                    (
                        (l.journey.clone(), l.arm.clone(), l.channel.clone()),
                        l.counts,
                    )
                })
                .collect();
        assert_eq!(&lines, expected);
        assert!(
            metrics.engagement.previous.is_empty(),
            "nothing the week before"
        );
    }

    async fn counts(&self) -> BTreeMap<engagement::EngagementKey, EngagementCounts> {
        let from = morning() - Duration::days(1);
        let to = morning() + Duration::days(1);
        engagement::per_journey(&self.pipeline.store, from, to)
            .await
            .unwrap()
    }

    /// Reads the sink's engagement once, as the daemon's poll does.
    /// Reading again, from the start (as after a lost cursor) and then from the cursor, records
    /// nothing new: the `recorded` events of the first read come back as duplicates, and the
    /// rows and the counts (`expected`) stay as they were.
    async fn reading_again_adds_nothing(
        &self,
        recorded: usize,
        expected: &BTreeMap<engagement::EngagementKey, EngagementCounts>,
    ) {
        let rows = self.rows().await;
        sqlx::query("DELETE FROM cursors WHERE stream = 'engagement'")
            .execute(&self.pool)
            .await
            .unwrap();
        let again = self.read().await;
        assert_eq!(again.recorded, 0);
        assert_eq!(again.duplicates, recorded);
        let caught_up = self.read().await;
        assert_eq!(caught_up.recorded, 0);
        assert_eq!(self.rows().await, rows);
        assert_eq!(&self.counts().await, expected);
    }

    async fn read(&self) -> feed::EngagementReport {
        let sink = self.pipeline.connectors.sinks[0].clone();
        let now = self.clock.now().timestamp_millis();
        feed::read_engagement(&self.pipeline.store, &sink, now)
            .await
            .unwrap()
    }
}

fn email(who: &str) -> String {
    format!("{who}@example.com")
}

#[tokio::test(flavor = "multi_thread")]
async fn klaviyo_engagement_is_counted_per_journey_variant_and_channel_once() {
    let sim = KlaviyoSim::start().await.unwrap();
    sim.add_flow("Journey: thanks");
    let base = sim.base_url();
    let shop = open(|shop| {
        shop.secrets(&[("klaviyo_key", klaviyo::API_KEY)]).sink(
            "crm",
            &plugin("klaviyo-sink"),
            [("api_base", base.into())],
        )
    })
    .await;
    assert!(shop.pipeline.connectors.sinks[0].plugin().has_engagement());
    let received = (sim.events().into_iter())
        .filter(|e| e.metric == "Received Email")
        .count();
    assert_eq!(received, PEOPLE.len(), "the flow emailed every buyer once");

    // What the test marks: opens by ana, bob (twice) and cat; clicks by ana and cat; dan's
    // email bounced; eve and fay did nothing but receive it.
    let later = |minutes: i64| (morning() + Duration::minutes(minutes)).timestamp_millis();
    let marks = [
        ("ana", "Opened Email", 30),
        ("ana", "Clicked Email", 31),
        ("bob", "Opened Email", 40),
        ("bob", "Opened Email", 90),
        ("cat", "Opened Email", 50),
        ("cat", "Clicked Email", 52),
        ("dan", "Bounced Email", 6),
    ];
    for (who, metric, minutes) in marks {
        assert!(sim.mark(&email(who), metric, later(minutes)).is_some());
    }
    shop.clock.set(morning() + Duration::hours(2));

    let first = shop.read().await;
    assert_eq!(first.recorded, PEOPLE.len() + marks.len());
    assert_eq!(
        first.linked, first.recorded,
        "every event is tied to its message"
    );

    let arms = shop.arms().await;
    assert_eq!(arms.len(), PEOPLE.len());
    let mut expected: BTreeMap<engagement::EngagementKey, EngagementCounts> = BTreeMap::new();
    for who in PEOPLE {
        let arm = arms[&email(who)].clone();
        let counts = expected
            .entry(("thanks".to_string(), Some(arm), "email".to_string()))
            .or_default();
        counts.delivered += 1;
        counts.opened += u64::from(["ana", "bob", "cat"].contains(&who));
        counts.clicked += u64::from(["ana", "cat"].contains(&who));
        counts.bounced += u64::from(who == "dan");
    }
    assert_eq!(shop.counts().await, expected);

    shop.reading_again_adds_nothing(first.recorded, &expected)
        .await;

    // A click marked now is read from the stored cursor and counted once more.
    assert!(sim
        .mark(&email("bob"), "Clicked Email", later(100))
        .is_some());
    let next = shop.read().await;
    assert_eq!(next.recorded, 1);
    let bob = (
        "thanks".to_string(),
        Some(arms[&email("bob")].clone()),
        "email".to_string(),
    );
    expected.get_mut(&bob).unwrap().clicked += 1;
    assert_eq!(shop.counts().await, expected);
    shop.reports(&expected, &arms).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mailchimp_engagement_is_counted_per_journey_variant_and_channel_once() {
    const LIST: &str = "a1b2c3d4e5";
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    // The journey message reaches Mailchimp as the member event `journey__thanks`, which starts
    // the customer journey that emails the person.
    let campaign = sim.add_journey(LIST, "journey__thanks");
    let base = sim.api_base();
    let shop = open(|shop| {
        shop.secrets(&[("mailchimp_key", mailchimp::API_KEY)]).sink(
            "crm",
            &plugin("mailchimp-sink"),
            [("api_base", base.into()), ("list_id", LIST.into())],
        )
    })
    .await;
    let loaded = shop.pipeline.connectors.sinks[0].plugin();
    assert!(loaded.has_engagement() && loaded.has_consent_feed() && loaded.has_erasure());
    let journeys = sim.journey_emails();
    assert_eq!(journeys.len(), 1);
    assert_eq!(
        journeys[0].recipients.len(),
        PEOPLE.len(),
        "the journey emailed every buyer once"
    );

    // What the test marks: opens by ana, bob (twice) and cat; clicks by ana and cat; dan's
    // email bounced; eve and fay did nothing with it.
    let later = |minutes: i64| (morning() + Duration::minutes(minutes)).timestamp_millis();
    let marks = [
        ("ana", "open", 30),
        ("ana", "click", 31),
        ("bob", "open", 40),
        ("bob", "open", 90),
        ("cat", "open", 50),
        ("cat", "click", 52),
        ("dan", "bounce", 6),
    ];
    for (who, action, minutes) in marks {
        assert!(sim.mark(&email(who), action, later(minutes)));
    }
    shop.clock.set(morning() + Duration::hours(2));

    let first = shop.read().await;
    assert_eq!(first.recorded, marks.len());
    assert_eq!(
        first.linked, first.recorded,
        "every activity is tied to its message"
    );
    let reads: Vec<String> = (sim.seen().into_iter())
        .filter(|s| s.method == "GET" && s.path.starts_with("/3.0/reports"))
        .map(|s| s.path)
        .collect();
    assert!(reads.contains(&format!("/3.0/reports/{campaign}/email-activity")));

    let arms = shop.arms().await;
    // Only arms with marks have counts: Mailchimp's email activity reports no deliveries.
    let mut expected: BTreeMap<engagement::EngagementKey, EngagementCounts> = BTreeMap::new();
    for who in ["ana", "bob", "cat", "dan"] {
        let arm = arms[&email(who)].clone();
        let counts = expected
            .entry(("thanks".to_string(), Some(arm), "email".to_string()))
            .or_default();
        counts.opened += u64::from(["ana", "bob", "cat"].contains(&who));
        counts.clicked += u64::from(["ana", "cat"].contains(&who));
        counts.bounced += u64::from(who == "dan");
    }
    assert_eq!(shop.counts().await, expected);

    shop.reading_again_adds_nothing(first.recorded, &expected)
        .await;

    // A click marked now is read from the stored cursor and counted once more.
    assert!(sim.mark(&email("bob"), "click", later(100)));
    let next = shop.read().await;
    assert_eq!(next.recorded, 1);
    let bob = (
        "thanks".to_string(),
        Some(arms[&email("bob")].clone()),
        "email".to_string(),
    );
    expected.get_mut(&bob).unwrap().clicked += 1;
    assert_eq!(shop.counts().await, expected);
    shop.reports(&expected, &arms).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_built_for_contract_0_4_still_loads_and_reports_no_engagement() {
    let sim = rapport_fakes::hubspot::HubSpotSim::start().await.unwrap();
    let base = sim.base_url();
    let shop = open(|shop| {
        shop.secrets(&[("hubspot_token", rapport_fakes::hubspot::TOKEN)])
            .sink("crm", &plugin("hubspot-sink"), [("api_base", base.into())])
    })
    .await;
    let manifest = std::fs::read_to_string(plugin("hubspot-sink").join("rapport.toml")).unwrap();
    assert!(manifest.contains("contract = \"rapport:connector@0.4.0\""));
    let sink = shop.pipeline.connectors.sinks[0].clone();
    assert!(sink.plugin().has_erasure() && !sink.plugin().has_engagement());
    assert_eq!(shop.read().await, feed::EngagementReport::default());
    assert_eq!(shop.rows().await, 0);
    assert!(shop.counts().await.is_empty());
}
