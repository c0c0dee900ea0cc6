//! Experiments against a real SQLite file: sales ingested after journey entries are credited to
//! the latest entry whose window holds them (and lose the credit when cancelled), the report's
//! figures on a known dataset equal those worked out by hand, and a merge keeps the survivor's
//! older assignment while the absorbed person's entries follow them (and go back on unmerge).

use chrono::{DateTime, Duration, TimeZone, Utc};
use rapport_core::experiments::Experiment;
use rapport_core::identity::Normalizer;
use rapport_core::journeys::{Journey, Routes};
use rapport_core::model::{
    Customer, Event, Identity, IdentityKind, LineItem, Money, Order, OrderState, Payload, Quantity,
    SalesChannel,
};
use rapport_core::sales::ObjectVersion;
use rapport_host::config::Config;
use rapport_host::experiments::experiment_report;
use rapport_host::ingest::commit::{commit, IngestBatch, PreparedEvent};
use rapport_store::{experiments, Store};
use sqlx::{AnyPool, Row};

const SOURCE: &str = "pos";

/// A thank-you journey split between the holdout and variant A, with the default 7-day window.
const JOURNEY: &str = r#"
name = "thanks"
sink = "crm"
channel = "email"
trigger = "every-order"
[experiment]
name = "subject"
holdout = 0.5
variants = [{ name = "A", properties = { subject = "Thanks!" } }]
"#;

struct Shop {
    store: Store,
    /// The same file, for writing the scheduler's journey entries and reading the credits.
    sql: AnyPool,
    normalizer: Normalizer,
    routes: Routes,
    _dir: tempfile::TempDir,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse("", dir.path()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("rapport.db").display());
    let store = Store::open(&url).await.unwrap();
    let journey: Journey = toml::from_str(JOURNEY).unwrap();
    Shop {
        store,
        sql: AnyPool::connect(&url).await.unwrap(),
        normalizer: Normalizer::new(config.shop.region, &config.identity),
        routes: Routes {
            journeys: vec![journey],
            time_zone: chrono_tz::UTC,
            ..Routes::default()
        },
        _dir: dir,
    }
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(n)
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn email(person: usize) -> String {
    format!("person{person}@example.com")
}

/// Version `updated` of order `id` of `person`, placed at `placed`.
fn order(
    id: &str,
    person: usize,
    state: OrderState,
    placed: DateTime<Utc>,
    updated: i64,
) -> PreparedEvent {
    let usd = |minor| Money {
        minor,
        currency: "USD".to_owned().try_into().unwrap(),
    };
    let customer = Customer {
        identities: vec![Identity {
            kind: IdentityKind::Email,
            value: email(person),
        }],
        given_name: Some(format!("P{person}")),
        family_name: None,
        consents: Vec::new(),
        created_at: None,
        birthday: None,
        loyalty: None,
    };
    let payload = Payload::Order(Order {
        id: id.into(),
        customer: Some(customer.clone()),
        location: None,
        channel: SalesChannel::InStore,
        state,
        lines: vec![LineItem {
            sku: None,
            product: "beans".into(),
            category: None,
            quantity: Quantity { units: 1, scale: 0 },
            unit_price: usd(900),
            total: usd(900),
        }],
        subtotal: usd(900),
        tax: usd(0),
        discount: usd(0),
        total: usd(900),
        placed_at: placed,
        updated_at: placed + Duration::seconds(updated),
        version: None,
    });
    let source_event_id = format!("{id}@{updated}");
    PreparedEvent {
        version: ObjectVersion::of(&source_event_id, &payload),
        payload_json: serde_json::to_string(&payload).unwrap(),
        event: Event {
            source_event_id,
            occurred_at: placed,
            payload,
        },
        object_id: id.into(),
        identities: customer.identities,
        merged_from: Vec::new(),
        amount: Some(usd(900)),
    }
}

fn sale(id: &str, person: usize, placed: DateTime<Utc>) -> PreparedEvent {
    order(id, person, OrderState::Completed, placed, 0)
}

impl Shop {
    async fn ingest(&self, events: &[PreparedEvent]) {
        commit(
            &self.store,
            IngestBatch {
                source_id: SOURCE,
                origin: "test",
                cursor: None,
                events,
                rejected: &[],
                routes: &self.routes,
                merge_rules: self.normalizer.merge_rules(),
                history: true,
                profile_updates: rapport_store::outbox::ProfileUpdates::Due,
            },
        )
        .await
        .unwrap();
    }

    async fn profile_of(&self, person: usize) -> i64 {
        rapport_host::lookup::find_one(&self.store, &self.normalizer, &email(person))
            .await
            .unwrap()
            .id
    }

    /// An entry as the scheduler records it: person `person` entered "thanks" at `at` in `arm`.
    async fn enter(&self, person: usize, at: DateTime<Utc>, outcome: &str, arm: &str) -> i64 {
        let profile = self.profile_of(person).await;
        sqlx::query(
            "INSERT INTO journey_entries (journey, profile_id, entered_at, outcome, experiment,
                                          arm, channel)
             VALUES ('thanks', $1, $2, $3, 'subject', $4, 'email') RETURNING id",
        )
        .bind(profile)
        .bind(ms(at))
        .bind(outcome)
        .bind(arm)
        .fetch_one(&self.sql)
        .await
        .unwrap()
        .try_get("id")
        .unwrap()
    }

    /// The entry each sale of `order_id` (any version) is credited to.
    async fn credited(&self, order_id: &str) -> Vec<i64> {
        sqlx::query(
            "SELECT a.entry_id FROM attributions a JOIN events e ON e.id = a.event_id
             WHERE e.object_id = $1 ORDER BY a.entry_id",
        )
        .bind(order_id)
        .fetch_all(&self.sql)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("entry_id").unwrap())
        .collect()
    }

    fn experiment(&self) -> &Experiment {
        self.routes.journeys[0].experiment.as_ref().unwrap()
    }
}

#[tokio::test]
async fn the_report_on_a_known_dataset_gives_the_figures_worked_out_by_hand() {
    let shop = shop().await;
    // People 1–10 are held out, 11–20 get variant A, 21 was withdrawn; each bought on day 0,
    // before any entry, which credits nothing.
    let first: Vec<PreparedEvent> = (1..=21)
        .map(|p| sale(&format!("first-{p}"), p, day(0)))
        .collect();
    shop.ingest(&first).await;
    let mut entries = std::collections::HashMap::new();
    for person in 1..=10 {
        entries.insert(
            person,
            shop.enter(person, day(1), "holdout", "holdout").await,
        );
    }
    for person in 11..=20 {
        entries.insert(person, shop.enter(person, day(1), "sent", "A").await);
    }
    // Person 11 entered again on day 3: eleven messages sent to ten people.
    let again = shop.enter(11, day(3), "sent", "A").await;
    shop.enter(21, day(1), "withdrawn", "A").await;

    shop.ingest(&[
        // Holdout: 1 and 2 buy within the 7 days; 3 on day 8, the moment the window closes.
        sale("h1", 1, day(4)),
        sale("h2", 2, day(7)),
        sale("h3", 3, day(8)),
        // A: 11 on day 5 (both its entries hold it: the day-3 one is the latest), 12 and 13,
        // 14 (cancelled below), 15 twice (one person converted once); 21 was withdrawn.
        sale("a11", 11, day(5)),
        sale("a12", 12, day(2)),
        sale("a13", 13, day(8) - Duration::milliseconds(1)),
        sale("a14", 14, day(4)),
        sale("a15", 15, day(2)),
        sale("a15b", 15, day(6)),
        sale("w21", 21, day(2)),
    ])
    .await;
    // 14's order is cancelled: it is a sale no more, and loses its credit.
    shop.ingest(&[order("a14", 14, OrderState::Canceled, day(4), 60)])
        .await;

    assert_eq!(shop.credited("first-1").await, Vec::<i64>::new());
    assert_eq!(shop.credited("h1").await, [entries[&1]]);
    assert_eq!(shop.credited("h3").await, Vec::<i64>::new());
    assert_eq!(shop.credited("a11").await, [again], "last touch");
    assert_eq!(shop.credited("a13").await, [entries[&13]]);
    assert_eq!(shop.credited("a14").await, Vec::<i64>::new());
    assert_eq!(shop.credited("w21").await, Vec::<i64>::new());
    // Ingesting the same sale again credits nothing twice.
    shop.ingest(&[sale("a12", 12, day(2))]).await;
    assert_eq!(shop.credited("a12").await, [entries[&12]]);

    let report = experiment_report(&shop.store, shop.experiment())
        .await
        .unwrap();
    assert_eq!(report.baseline, "holdout");
    let [holdout, a] = &report.arms[..] else {
        panic!("{report:?}")
    };
    // Holdout: 10 people, nothing sent, 1 and 2 converted: 2/10 = 20%.
    assert_eq!(
        (holdout.people, holdout.sent, holdout.conversions),
        (10, 0, 2)
    );
    // A: 10 people, 11 messages, 11, 12, 13 and 15 converted: 4/10 = 40%.
    assert_eq!((a.people, a.sent, a.conversions), (10, 11, 4));
    let close = |actual: f64, expected: f64| {
        assert!(
            (actual - expected).abs() < 1e-5,
            "{actual} is not {expected}"
        )
    };
    close(a.rate.unwrap(), 0.4);
    // Wilson 4/10: z = 1.959964, z²/n = 0.3841459, denominator 1.3841459;
    // centre (0.4 + 0.1920730) / 1.3841459 = 0.4277533;
    // half 1.959964 / 1.3841459 × √(0.024 + 0.0096036) = 1.4160048 × 0.1833130 = 0.2595730;
    // [0.1681803, 0.6873263].
    let interval = a.interval.unwrap();
    close(interval.low, 0.168180);
    close(interval.high, 0.687326);
    // Wilson 2/10: centre (0.2 + 0.1920730) / 1.3841459 = 0.2832598;
    // half 1.4160048 × √(0.016 + 0.0096036) = 1.4160048 × 0.1600113 = 0.2265777;
    // [0.0566822, 0.5098375].
    let interval = holdout.interval.unwrap();
    close(interval.low, 0.056682);
    close(interval.high, 0.509838);
    // Lift (0.4 − 0.2) / 0.2 = +100%.
    close(a.lift.unwrap(), 1.0);
    // Pooled 6/20 = 0.3; se = √(0.3 × 0.7 × (1/10 + 1/10)) = √0.042 = 0.2049390;
    // z = 0.2 / 0.2049390 = 0.9759001; 1 − Φ(0.9759) = 0.1645570; p = 0.3291140.
    close(a.p_value.unwrap(), 0.329114);
    assert_eq!(
        a.sentence.as_deref(),
        Some(
            "A converts 40.0% vs 20.0% for the holdout (+100% lift); this difference is not yet \
             distinguishable from chance (p = 0.329); keep the experiment running."
        )
    );
}

#[tokio::test]
async fn a_merge_keeps_the_older_assignment_and_moves_the_absorbed_entries() {
    let shop = shop().await;
    shop.ingest(&[sale("o1", 1, day(0)), sale("o2", 2, day(0))])
        .await;
    let (older, younger) = (shop.profile_of(1).await, shop.profile_of(2).await);
    let mut tx = shop.store.begin().await.unwrap();
    // The older profile was assigned A later than the younger was held out; the younger alone
    // is in "other".
    let kept = experiments::assignment(&mut tx, "subject", older, "A", 200)
        .await
        .unwrap();
    assert_eq!(kept, "A");
    experiments::assignment(&mut tx, "subject", younger, "holdout", 100)
        .await
        .unwrap();
    experiments::assignment(&mut tx, "other", younger, "B", 300)
        .await
        .unwrap();
    // Asked again, with another arm, the first assignment stands.
    let again = experiments::assignment(&mut tx, "subject", older, "holdout", 400)
        .await
        .unwrap();
    assert_eq!(again, "A");
    tx.commit().await.unwrap();
    let entry = shop.enter(2, day(1), "holdout", "holdout").await;
    // The older profile, in A, was sent the variant's message the same day.
    shop.enter(1, day(1), "sent", "A").await;
    shop.ingest(&[sale("o3", 2, day(2))]).await;
    assert_eq!(shop.credited("o3").await, [entry]);

    let merged = rapport_host::identity::graph::merge(
        &shop.store,
        &shop.normalizer,
        &email(1),
        &email(2),
        "same person",
        &[],
        chrono_tz::UTC,
    )
    .await
    .unwrap();
    let assignments = |profile: i64| {
        let sql = shop.sql.clone();
        async move {
            sqlx::query(
                "SELECT experiment, arm, assigned_at FROM experiment_assignments
                 WHERE profile_id = $1 ORDER BY experiment",
            )
            .bind(profile)
            .fetch_all(&sql)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.try_get::<String, _>("experiment").unwrap(),
                    r.try_get::<String, _>("arm").unwrap(),
                    r.try_get::<i64, _>("assigned_at").unwrap(),
                )
            })
            .collect::<Vec<_>>()
        }
    };
    // The survivor (the older profile) keeps the older assignment, the holdout from 100, and
    // takes "other"; the absorbed profile keeps none.
    assert_eq!(
        assignments(older).await,
        [
            ("other".to_string(), "B".to_string(), 300),
            ("subject".to_string(), "holdout".to_string(), 100)
        ]
    );
    assert_eq!(assignments(younger).await, []);
    let mut tx = shop.store.begin().await.unwrap();
    let kept = experiments::assignment(&mut tx, "subject", older, "A", 500)
        .await
        .unwrap();
    assert_eq!(kept, "holdout");
    tx.commit().await.unwrap();
    let owner = |table: &'static str, column: &'static str, id: i64| {
        let sql = shop.sql.clone();
        async move {
            sqlx::query(&format!(
                "SELECT profile_id FROM {table} WHERE {column} = $1"
            ))
            .bind(id)
            .fetch_one(&sql)
            .await
            .unwrap()
            .try_get::<i64, _>("profile_id")
            .unwrap()
        }
    };
    let sale_event: i64 = sqlx::query("SELECT event_id FROM attributions WHERE entry_id = $1")
        .bind(entry)
        .fetch_one(&shop.sql)
        .await
        .unwrap()
        .try_get("event_id")
        .unwrap();
    assert_eq!(owner("journey_entries", "id", entry).await, older);
    assert_eq!(owner("attributions", "event_id", sale_event).await, older);
    // The merged person's report counts them once, in the arm they are kept in (the holdout),
    // with the sale credited to the holdout entry; the message A's variant sent still counts as
    // sent in A.
    let report = experiment_report(&shop.store, shop.experiment())
        .await
        .unwrap();
    let arm = |name: &str| report.arms.iter().find(|a| a.arm == name).unwrap();
    let holdout = arm("holdout");
    assert_eq!(
        (holdout.people, holdout.sent, holdout.conversions),
        (1, 0, 1)
    );
    let a = arm("A");
    assert_eq!((a.people, a.sent, a.conversions), (0, 1, 0));

    // Undone, the entry and its credited sale go back to the person who entered.
    rapport_host::identity::graph::unmerge(
        &shop.store,
        &shop.normalizer,
        merged.merge_id,
        &[],
        chrono_tz::UTC,
    )
    .await
    .unwrap();
    assert_eq!(owner("journey_entries", "id", entry).await, younger);
    assert_eq!(owner("attributions", "event_id", sale_event).await, younger);
}
