//! A year of shop life on an injected clock, in seconds: a csv-source shop whose sales are uploaded
//! as they happen, journeys of five kinds to an http-sink catch-hook, and the clock moved an hour at
//! a time. Each message is checked against the hour worked out by hand from the sales below:
//!
//! - welcome (first order, no wait): the first live sale of each opted-in person without history;
//! - thanks (every order, an hour later), an experiment with a 30% holdout and two variants: one
//!   per sale to people in a variant, with its subject; none to the holdout, whose entries are
//!   recorded; none for a refunded sale, nor after consent is withdrawn; none in quiet hours
//!   (21:00–08:00), delayed to their end; arms stable across a restart;
//! - beans (replenishment of coffee, typical 30 days): due one interval after the last coffee —
//!   the person's own mean gap once they have two purchase days; a new purchase moves it;
//! - silver (loyalty tier at 50.00 spent): when the sale that crosses it is stored;
//! - lens (accessory: a line at 40.00 or more, three days on): the grinder's partner in the mined
//!   baskets that the buyer has not bought;
//! - never for history (an import of last year), never for someone who did not opt in, and the
//!   cap of two messages a week per person always holds.

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use rapport_core::clock::{Clock, ManualClock};
use rapport_e2e::{journey_message, plugin, TestShop, CSV_HEADER};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row as _};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration as Wait;

/// The first day of the simulated year, 00:00 UTC (a Monday).
fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap() + Duration::days(n)
}

fn at(n: i64, hour: u32, minute: u32) -> DateTime<Utc> {
    day(n) + Duration::hours(i64::from(hour)) + Duration::minutes(i64::from(minute))
}

/// One receipt line of the export: a sale (or a refund of `refund_of`) of one product.
struct Line<'a> {
    id: &'a str,
    refund_of: Option<&'a str>,
    placed: DateTime<Utc>,
    customer: &'a str,
    opt_in: bool,
    category: &'a str,
    cents: i64,
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn csv(rows: &[Line]) -> Vec<u8> {
    let mut out = format!("{CSV_HEADER}\n");
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        *totals.entry(r.id).or_default() += r.cents;
    }
    for r in rows {
        // `category` names the product: its sku, name and category.
        let product = match r.category {
            "coffee" => ("BEAN-1", "House beans 250g", "coffee"),
            "grinder" => ("GRND-1", "Hand grinder", "brewing"),
            "filters" => ("FILT-1", "Paper filters", "brewing"),
            _ => ("CAKE-1", "Banana bread", "bakery"),
        };
        let amount = money(r.cents);
        let total = money(totals[r.id]);
        out.push_str(&format!(
            "{},{},{},{},High Street,in-store,{},{}@example.com,,{} Tester,{},{},{},{},1,{amount},{amount},GBP,0.00,0.00,{total}\n",
            r.id,
            if r.refund_of.is_some() { "refund" } else { "sale" },
            r.refund_of.unwrap_or(""),
            r.placed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.customer,
            r.customer,
            r.customer,
            if r.opt_in { "yes" } else { "no" },
            product.0,
            product.1,
            product.2,
        ));
    }
    out.into_bytes()
}

fn sale<'a>(
    id: &'a str,
    placed: DateTime<Utc>,
    customer: &'a str,
    category: &'a str,
    cents: i64,
) -> Line<'a> {
    Line {
        id,
        refund_of: None,
        placed,
        customer,
        opt_in: customer != "zed",
        category,
        cents,
    }
}

/// The arm the experiment puts a person in, worked out here from its definition: the first 8 bytes
/// of sha256("thanks-copy\n" + profile key) as a point in [0, 1); below 0.3 the holdout, then the
/// rest split evenly, "warm" first.
fn expected_arm(profile_key: &str) -> &'static str {
    let digest = Sha256::digest(format!("thanks-copy\n{profile_key}").as_bytes());
    let bits = u64::from_be_bytes(digest[..8].try_into().unwrap());
    let point = (bits >> 11) as f64 / (1u64 << 53) as f64;
    match point {
        p if p < 0.3 => "holdout",
        p if (p - 0.3) / 0.7 < 0.5 => "warm",
        _ => "short",
    }
}

fn config_text(dir: &std::path::Path, crm: &str) -> String {
    let variant = |name: &str, subject: &str| {
        toml::Value::Table(toml::Table::from_iter([
            ("name".to_owned(), name.into()),
            (
                "properties".to_owned(),
                toml::Value::Table(toml::Table::from_iter([(
                    "subject".to_owned(),
                    subject.into(),
                )])),
            ),
        ]))
    };
    let experiment = toml::Table::from_iter([
        ("name".to_owned(), "thanks-copy".into()),
        ("holdout".to_owned(), 0.3.into()),
        (
            "variants".to_owned(),
            toml::Value::Array(vec![
                variant("warm", "Thank you, truly"),
                variant("short", "Thanks"),
            ]),
        ),
    ]);
    let silver = toml::Table::from_iter([
        ("name".to_owned(), "silver".into()),
        ("min_spend_minor".to_owned(), 5_000.into()),
    ]);
    TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "UTC".into())])
        .section("journeys", [("max_age", "2d".into())])
        .section(
            "profiles",
            [(
                "tiers",
                toml::Value::Array(vec![toml::Value::Table(silver)]),
            )],
        )
        .quiet_hours("21:00", "08:00")
        .consent_cap("email", 2, 7, Some("drop"))
        .csv_source("shop")
        .sink("crm", &plugin("http-sink"), [("url", crm.into())])
        .journey("welcome", "crm", "email", "first-order")
        .journey("thanks", "crm", "email", "every-order")
        .set("wait_minutes", 60.into())
        .set("experiment", toml::Value::Table(experiment))
        .journey("beans", "crm", "email", "replenishment")
        .set("categories", toml::Value::Array(vec!["coffee".into()]))
        .set("typical_days", 30.into())
        .journey("silver", "crm", "email", "tier-change")
        .journey("lens", "crm", "email", "accessory")
        .set("min_price_minor", 4_000.into())
        .set("wait_minutes", (3 * 24 * 60).into())
        .set("max_age_days", 5.into())
        .section(
            "pairs",
            [("min_baskets", 5.into()), ("min_pair_baskets", 2.into())],
        )
        .text(dir)
}

struct Year {
    pipeline: Pipeline,
    clock: ManualClock,
    crm: CaptureServer,
    pool: AnyPool,
    /// When each message was first seen at the CRM: (journey, email, hour it arrived, properties).
    seen: Vec<(String, String, DateTime<Utc>, Value)>,
    counted: usize,
}

impl Year {
    async fn upload(&self, rows: &[Line<'_>], history: bool) {
        let headers = vec![("content-type".to_string(), "text/csv".to_string())];
        let intake = &self.pipeline.intake;
        let report = match history {
            true => intake.receive_history("shop", headers, csv(rows)).await,
            false => intake.receive_push("shop", headers, csv(rows)).await,
        }
        .unwrap();
        assert_eq!(report.rejected, 0);
    }

    /// Delivers what is due now, and notes the journey messages that arrived.
    async fn deliver(&mut self) {
        self.pipeline
            .drain(Wait::ZERO, Wait::from_secs(30))
            .await
            .unwrap();
        let captured = self.crm.captured();
        for activity in &captured.activities[self.counted..] {
            let Some((journey, email)) = journey_message(activity) else {
                continue;
            };
            let now = self.clock.now();
            self.seen
                .push((journey, email, now, activity["properties"].clone()));
        }
        self.counted = captured.activities.len();
    }

    /// Moves the clock to each whole hour up to `until`, delivering at each.
    async fn run_until(&mut self, until: DateTime<Utc>) {
        while self.clock.now() < until {
            let now = self.clock.now();
            let hour = now - Duration::seconds(i64::from(now.minute() * 60 + now.second()));
            self.clock.set((hour + Duration::hours(1)).min(until));
            self.deliver().await;
        }
    }

    async fn profile_key(&self, customer: &str) -> String {
        sqlx::query(
            "SELECT p.key FROM profiles p JOIN identities i ON i.profile_id = p.id
             WHERE i.kind = 'email' AND i.value = $1",
        )
        .bind(format!("{customer}@example.com"))
        .fetch_one(&self.pool)
        .await
        .unwrap()
        .get(0)
    }

    /// The journeys a customer is waiting in.
    async fn waits(&self, customer: &str) -> Vec<String> {
        sqlx::query(
            "SELECT d.journey FROM journey_due d JOIN identities i ON i.profile_id = d.profile_id
             WHERE i.kind = 'email' AND i.value = $1 ORDER BY d.journey",
        )
        .bind(format!("{customer}@example.com"))
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    }

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

    fn received(&self, journey: &str, customer: &str) -> Vec<DateTime<Utc>> {
        let email = format!("{customer}@example.com");
        (self.seen.iter())
            .filter(|(j, e, _, _)| j == journey && *e == email)
            .map(|(_, _, at, _)| *at)
            .collect()
    }
}

async fn start(text: &str, dir: &std::path::Path, clock: &ManualClock) -> Pipeline {
    Pipeline::start_with_clock(Config::parse(text, dir).unwrap(), clock.shared())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_year_of_shop_life_fires_each_journey_for_the_right_people_at_the_right_time() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &crm.url());
    let clock = ManualClock::starting_at(at(0, 9, 0));
    let pipeline = start(&text, dir.path(), &clock).await;
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let mut year = Year {
        pipeline,
        clock: clock.clone(),
        crm,
        pool,
        seen: Vec::new(),
        counted: 0,
    };

    // Last year's export for ana: history fills her profile and starts nothing.
    year.upload(
        &[
            sale("H1", at(-100, 10, 0), "ana", "coffee", 1_000),
            sale("H2", at(-35, 10, 0), "ana", "coffee", 1_000),
        ],
        true,
    )
    .await;
    year.deliver().await;
    assert!(
        year.seen.is_empty(),
        "history starts no journey: {:?}",
        year.seen
    );

    // Day 0, 10:00: everyone buys coffee (zed never opted in).
    let people = ["ana", "ben", "cat", "dan", "eve", "zed"];
    let ids: Vec<String> = people.iter().map(|p| format!("S0-{p}")).collect();
    year.clock.set(at(0, 10, 0));
    let rows: Vec<Line> = people
        .iter()
        .zip(&ids)
        .map(|(p, id)| sale(id, at(0, 10, 0), p, "coffee", 3_000))
        .collect();
    year.upload(&rows, false).await;
    year.deliver().await;
    let mut keys = BTreeMap::new();
    for p in people {
        keys.insert(p, year.profile_key(p).await);
    }
    let arm = |p: &str| expected_arm(&keys[p]);
    // In a variant: the one whose sales below must be thanked; check the split is not degenerate.
    let in_variant: Vec<&str> = people[..5]
        .iter()
        .copied()
        .filter(|p| arm(p) != "holdout")
        .collect();
    assert!(!in_variant.is_empty(), "someone is in a variant");

    // Day 20, 10:00: ben and dan buy coffee again (ben's 30.00 + 30.00 crosses silver at 50.00;
    // so does dan's). Day 25: dan once more. Day 28: eve again.
    year.run_until(at(20, 10, 0)).await;
    year.upload(
        &[
            sale("S20-ben", at(20, 10, 0), "ben", "coffee", 3_000),
            sale("S20-dan", at(20, 10, 0), "dan", "coffee", 3_000),
        ],
        false,
    )
    .await;
    year.deliver().await;
    year.run_until(at(25, 10, 0)).await;
    year.upload(
        &[sale("S25-dan", at(25, 10, 0), "dan", "coffee", 1_000)],
        false,
    )
    .await;
    year.deliver().await;
    year.run_until(at(28, 10, 0)).await;
    year.upload(
        &[sale("S28-eve", at(28, 10, 0), "eve", "coffee", 1_000)],
        false,
    )
    .await;
    year.deliver().await;

    // Day 59: what sells together is worked out (history: four baskets of a grinder and filters,
    // two of a grinder alone, by other customers). Day 60, 10:00: ben buys a grinder (45.00, over
    // the accessory's 40.00): three days later the filters are suggested.
    year.run_until(at(59, 10, 0)).await;
    let mut baskets = Vec::new();
    for (n, id) in ["P1", "P2", "P3", "P4", "P5", "P6"].iter().enumerate() {
        let buyer = ["hal", "ian", "jo", "kim", "lou", "max"][n];
        baskets.push(sale(id, at(-10, 12, 0), buyer, "grinder", 4_500));
        if n < 4 {
            baskets.push(sale(id, at(-10, 12, 0), buyer, "filters", 600));
        }
    }
    year.upload(&baskets, true).await;
    let pairs = &year.pipeline.config.pairs;
    rapport_host::pairs::recompute(&year.pipeline.store, pairs, year.clock.now())
        .await
        .unwrap();
    year.run_until(at(60, 10, 0)).await;
    year.upload(
        &[sale("S60-ben", at(60, 10, 0), "ben", "grinder", 4_500)],
        false,
    )
    .await;
    year.deliver().await;

    // Day 100: a restart; then the quiet-hours sale at 20:30 by the first person in a variant.
    year.run_until(at(100, 9, 0)).await;
    let arms_before = year.arms().await;
    year.pipeline.store.close().await;
    year.pipeline = start(&text, dir.path(), &clock).await;
    let night = in_variant[0];
    year.run_until(at(100, 20, 0)).await;
    year.clock.set(at(100, 20, 30));
    year.upload(
        &[sale("S100-night", at(100, 20, 30), night, "cake", 500)],
        false,
    )
    .await;
    year.deliver().await;

    // Day 150: cat buys cake at 10:00 and it is refunded at 10:30, before the thank-you.
    year.run_until(at(150, 10, 0)).await;
    year.upload(
        &[sale("S150-cat", at(150, 10, 0), "cat", "cake", 500)],
        false,
    )
    .await;
    year.clock.set(at(150, 10, 30));
    let refund = Line {
        id: "R150-cat",
        refund_of: Some("S150-cat"),
        ..sale("R150-cat", at(150, 10, 30), "cat", "cake", 500)
    };
    year.upload(&[refund], false).await;
    year.deliver().await;

    // Day 200: eve buys cake at 10:00, and her thank-you waits for 11:00; at 10:30 she buys again
    // and now refuses marketing: the revocation withdraws both waits at once, and nothing goes.
    year.run_until(at(200, 10, 0)).await;
    year.upload(
        &[sale("S200-eve", at(200, 10, 0), "eve", "cake", 500)],
        false,
    )
    .await;
    assert_eq!(year.waits("eve").await, ["thanks"]);
    year.clock.set(at(200, 10, 30));
    let refusing = Line {
        opt_in: false,
        ..sale("S200b-eve", at(200, 10, 30), "eve", "cake", 500)
    };
    year.upload(&[refusing], false).await;
    assert!(
        year.waits("eve").await.is_empty(),
        "a revocation withdraws the waits on its channel"
    );
    year.deliver().await;
    year.run_until(at(365, 0, 0)).await;

    // Arms: as the hash says, the same after the restart, and only for people let in.
    let arms = year.arms().await;
    assert_eq!(
        arms_before
            .iter()
            .filter(|(k, _)| arms.contains_key(*k))
            .count(),
        arms_before.len()
    );
    for (email, kept) in &arms {
        let person = email.trim_end_matches("@example.com");
        assert_eq!(kept, arm(person), "{email}");
        assert_eq!(
            arms_before.get(email).unwrap_or(kept),
            kept,
            "{email}: stable across restart"
        );
    }
    assert!(
        !arms.contains_key("zed@example.com"),
        "no consent, not in the experiment"
    );

    // welcome: the first live sale of everyone opted in except ana, who bought last year.
    for p in ["ben", "cat", "dan", "eve"] {
        assert_eq!(year.received("welcome", p), [at(0, 10, 0)], "{p}");
    }
    assert!(year.received("welcome", "ana").is_empty());

    // thanks: an hour after each sale for people in a variant, with their variant's subject;
    // the night sale at 21:30 waits for 08:00; never for the refunded or the refusing sale. Dan's
    // day-25 thank-you would be his third message in a week (day 20: silver and a thank-you): the
    // cap drops it.
    let thanked_at = |p: &str| -> Vec<DateTime<Utc>> {
        let mut expected = vec![at(0, 11, 0)];
        match p {
            "ben" => expected.extend([at(20, 11, 0), at(60, 11, 0)]),
            "dan" => expected.extend([at(20, 11, 0), at(25, 11, 0)]),
            "eve" => expected.push(at(28, 11, 0)),
            _ => {}
        }
        if p == night {
            expected.push(at(101, 8, 0));
        }
        expected.sort();
        expected
    };
    for p in &people[..5] {
        let got = year.received("thanks", p);
        let mut sent = thanked_at(p);
        sent.retain(|t| !(*p == "dan" && *t == at(25, 11, 0)));
        match arm(p) {
            "holdout" => assert!(got.is_empty(), "{p} is held out: {got:?}"),
            _ => assert_eq!(got, sent, "{p}"),
        }
    }
    for (journey, email, _, properties) in &year.seen {
        if journey == "thanks" {
            let person = email.trim_end_matches("@example.com");
            let subject = if arm(person) == "warm" {
                "Thank you, truly"
            } else {
                "Thanks"
            };
            assert_eq!(properties["subject"], subject, "{email}");
            assert_eq!(properties["variant"], arm(person), "{email}");
        }
    }
    let holdout_entries: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM journey_entries WHERE journey = 'thanks' AND outcome = 'holdout'",
    )
    .fetch_one(&year.pool)
    .await
    .unwrap();
    let held: usize = people[..5]
        .iter()
        .filter(|p| arm(p) == "holdout")
        .map(|p| thanked_at(p).len())
        .sum();
    assert_eq!(
        holdout_entries as usize, held,
        "each holdout sale recorded as would-have-received"
    );

    // beans: one interval after the last coffee. ana: history days -100, -35, 0 → gaps 65 and
    // 35, mean 50 → day 50. ben: days 0, 20 → day 40. cat: day 0 only → typical 30. dan: days 0,
    // 20, 25 → mean 12.5 days → day 37 22:00. eve: days 0, 28 → day 56. zed: never.
    assert_eq!(year.received("beans", "ana"), [at(50, 10, 0)]);
    assert_eq!(year.received("beans", "ben"), [at(40, 10, 0)]);
    assert_eq!(year.received("beans", "cat"), [at(30, 10, 0)]);
    // 37 22:00 falls in quiet hours: it waits for 08:00.
    assert_eq!(year.received("beans", "dan"), [at(38, 8, 0)]);
    assert_eq!(year.received("beans", "eve"), [at(56, 10, 0)]);
    assert!(year.received("beans", "zed").is_empty());

    // silver: ben and dan cross 50.00 with their day-20 sale; ana has 20.00 of history + 30.00
    // on day 0, which crosses too.
    assert_eq!(year.received("silver", "ana"), [at(0, 10, 0)]);
    assert_eq!(year.received("silver", "ben"), [at(20, 10, 0)]);
    assert_eq!(year.received("silver", "dan"), [at(20, 10, 0)]);
    for p in ["cat", "eve", "zed"] {
        assert!(year.received("silver", p).is_empty(), "{p}");
    }

    // lens: ben's grinder, three days on, suggests the filters he has not bought (the only partner
    // of the grinder in the baskets); nobody else bought anything at 40.00 or more.
    assert_eq!(year.received("lens", "ben"), [at(63, 10, 0)]);
    let lens = year.seen.iter().find(|(j, ..)| j == "lens").unwrap();
    assert_eq!(lens.3["suggested_product"], "FILT-1");
    assert_eq!(lens.3["bought"], "GRND-1");
    assert_eq!(year.seen.iter().filter(|(j, ..)| j == "lens").count(), 1);

    // The cap: never more than two messages to one person in seven days.
    let mut by_person: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (_, email, at, _) in &year.seen {
        by_person.entry(email).or_default().push(*at);
    }
    for (email, times) in &by_person {
        for t in times {
            let in_week = times
                .iter()
                .filter(|u| **u <= *t && *t - **u < Duration::days(7))
                .count();
            assert!(in_week <= 2, "{email}: {times:?}");
        }
    }
    let distinct: HashSet<_> = year.seen.iter().map(|(j, e, at, _)| (j, e, at)).collect();
    assert_eq!(distinct.len(), year.seen.len(), "nothing sent twice");
    year.pipeline.store.close().await;
}
