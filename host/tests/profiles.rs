//! Profiles kept current against a real SQLite file, through the ingest transaction and the
//! operator's merge and unmerge: values on a hand-computed history, and, for any sequence of sales,
//! order updates, cancellations, refunds, merges and unmerges, the kept facts equal a rebuild.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rapport_core::identity::Normalizer;
use rapport_core::journeys::Routes;
use rapport_core::model::{
    Customer, Event, Identity, IdentityKind, LineItem, Money, Order, OrderState, Payload, Quantity,
    Refund, SalesChannel,
};
use rapport_core::profile::facts::ProfileFacts;
use rapport_core::sales::ObjectVersion;
use rapport_host::config::Config;
use rapport_host::identity::graph;
use rapport_host::ingest::commit::{commit, IngestBatch, PreparedEvent};
use rapport_host::profiles::{rebuild, refresh};
use rapport_store::Store;
use std::collections::HashMap;

const SOURCE: &str = "pos";

struct Shop {
    store: Store,
    normalizer: Normalizer,
    routes: Routes,
    _dir: tempfile::TempDir,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse("", dir.path()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("rapport.db").display());
    Shop {
        store: Store::open(&url).await.unwrap(),
        normalizer: Normalizer::new(config.shop.region, &config.identity),
        routes: Routes {
            time_zone: chrono_tz::UTC,
            ..Routes::default()
        },
        _dir: dir,
    }
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(n)
}

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".to_owned().try_into().unwrap(),
    }
}

fn email(person: usize) -> String {
    format!("person{person}@example.com")
}

fn customer(person: usize) -> Customer {
    Customer {
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
    }
}

/// One version of an order.
struct OrderVersion {
    id: String,
    person: usize,
    state: OrderState,
    placed_day: i64,
    /// Orders the versions of one order.
    updated: i64,
    total: i64,
    channel: SalesChannel,
    category: String,
}

fn prepared(
    source_event_id: String,
    object_id: &str,
    payload: Payload,
    at: DateTime<Utc>,
) -> PreparedEvent {
    let identities = payload
        .customer()
        .map(|c| c.identities.clone())
        .unwrap_or_default();
    let amount = match &payload {
        Payload::Order(o) => Some(o.total.clone()),
        Payload::Refund(r) => Some(r.amount.clone()),
        _ => None,
    };
    PreparedEvent {
        version: ObjectVersion::of(&source_event_id, &payload),
        payload_json: serde_json::to_string(&payload).unwrap(),
        event: Event {
            source_event_id,
            occurred_at: at,
            payload,
        },
        object_id: object_id.to_owned(),
        identities,
        merged_from: Vec::new(),
        amount,
    }
}

fn order(v: &OrderVersion) -> PreparedEvent {
    let line = LineItem {
        sku: None,
        product: "thing".into(),
        category: Some(v.category.clone()),
        quantity: Quantity { units: 1, scale: 0 },
        unit_price: usd(v.total),
        total: usd(v.total),
    };
    let payload = Payload::Order(Order {
        id: v.id.clone(),
        customer: Some(customer(v.person)),
        location: None,
        channel: v.channel,
        state: v.state,
        lines: vec![line],
        subtotal: usd(v.total),
        tax: usd(0),
        discount: usd(0),
        total: usd(v.total),
        placed_at: day(v.placed_day),
        updated_at: day(v.placed_day) + Duration::seconds(v.updated),
        version: None,
    });
    prepared(
        format!("{}@{}", v.id, v.updated),
        &v.id,
        payload,
        day(v.placed_day),
    )
}

fn refund(id: &str, order_id: &str, person: usize, minor: i64, on: i64) -> PreparedEvent {
    let payload = Payload::Refund(Refund {
        id: id.into(),
        order_id: order_id.into(),
        customer: Some(customer(person)),
        amount: usd(minor),
        reason: None,
        lines: Vec::new(),
        created_at: day(on),
    });
    prepared(id.into(), id, payload, day(on))
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

    async fn facts_of(&self, person: usize) -> Option<ProfileFacts> {
        let id = self.profile_of(person).await;
        self.store.profile_facts(&[id]).await.unwrap().remove(&id)
    }

    /// Every profile's kept facts.
    async fn all_facts(&self) -> HashMap<i64, ProfileFacts> {
        let ids: Vec<i64> = (1..=64).collect();
        self.store.profile_facts(&ids).await.unwrap()
    }

    async fn merge(&self, a: usize, b: usize) -> Option<i64> {
        graph::merge(
            &self.store,
            &self.normalizer,
            &email(a),
            &email(b),
            "test",
            &[],
            chrono_tz::UTC,
        )
        .await
        .ok()
        .map(|m| m.merge_id)
    }
}

fn sale(
    id: &str,
    person: usize,
    placed_day: i64,
    total: i64,
    channel: SalesChannel,
    category: &str,
) -> OrderVersion {
    OrderVersion {
        id: id.to_owned(),
        person,
        state: OrderState::Completed,
        placed_day,
        updated: 0,
        total,
        channel,
        category: category.to_owned(),
    }
}

#[tokio::test]
async fn a_hand_computed_history_with_a_refund_a_cancellation_an_update_a_merge_and_an_unmerge() {
    use SalesChannel::{InStore, Online};
    let shop = shop().await;
    // Ana: sales on days 0, 0, 3 and 10; the day-3 sale is later cancelled; the day-10 sale is
    // updated to a higher total; one refund. Ben: two sales on days 5 and 20.
    shop.ingest(&[
        order(&sale("A1", 0, 0, 1000, InStore, "coffee")),
        order(&sale("A2", 0, 0, 500, Online, "mugs")),
        order(&sale("A3", 0, 3, 9000, InStore, "grinders")),
        order(&sale("A4", 0, 10, 2000, InStore, "coffee")),
        order(&sale("B1", 1, 5, 700, InStore, "tea")),
        order(&sale("B2", 1, 20, 1300, Online, "tea")),
    ])
    .await;
    let cancel = OrderVersion {
        state: OrderState::Canceled,
        updated: 60,
        ..sale("A3", 0, 3, 9000, InStore, "grinders")
    };
    let update = OrderVersion {
        updated: 60,
        ..sale("A4", 0, 10, 2400, InStore, "coffee")
    };
    shop.ingest(&[
        order(&cancel),
        order(&update),
        refund("R1", "A1", 0, 300, 11),
    ])
    .await;

    // Ana's counted sales: A1 1000 and A2 500 (day 0), A4 2400 (day 10); refund 300.
    let ana = shop.facts_of(0).await.unwrap();
    assert_eq!((ana.orders, ana.store_orders, ana.online_orders), (3, 2, 1));
    assert_eq!((ana.visits, ana.returns), (2, 1));
    assert_eq!(ana.net_spend_minor, 1000 + 500 + 2400 - 300);
    assert_eq!(ana.median_basket_minor, Some(1000));
    assert_eq!(ana.mean_days_between_visits, Some(10.0));
    assert_eq!(
        (ana.first_visit_at, ana.last_visit_at),
        (Some(day(0)), Some(day(10)))
    );

    // Ana and Ben merged: one buyer with visits on days 0, 5, 10, 20 (gaps 5, 5, 10).
    let merge = shop.merge(0, 1).await.unwrap();
    let survivor = shop.profile_of(0).await;
    assert_eq!(shop.profile_of(1).await, survivor);
    let both = shop
        .store
        .profile_facts(&[survivor])
        .await
        .unwrap()
        .remove(&survivor)
        .unwrap();
    assert_eq!((both.orders, both.visits, both.returns), (5, 4, 1));
    assert_eq!(both.net_spend_minor, 3600 + 2000);
    // Baskets 500, 700, 1000, 1300, 2400.
    assert_eq!(both.median_basket_minor, Some(1000));
    assert_eq!(both.mean_days_between_visits, Some(20.0 / 3.0));
    assert_eq!(both.median_days_between_visits, Some(5.0));
    assert_eq!(
        shop.all_facts().await.len(),
        1,
        "the absorbed profile has no facts of its own"
    );

    // Undone: each has their own facts again, as before the merge.
    graph::unmerge(&shop.store, &shop.normalizer, merge, &[], chrono_tz::UTC)
        .await
        .unwrap();
    assert_eq!(shop.facts_of(0).await.unwrap(), ana);
    let ben = shop.facts_of(1).await.unwrap();
    assert_eq!((ben.orders, ben.visits, ben.net_spend_minor), (2, 2, 2000));
    assert_eq!(
        ben.median_basket_minor,
        Some(1000),
        "the mean of 700 and 1300"
    );

    let kept = shop.all_facts().await;
    rebuild(&shop.store, chrono_tz::UTC).await.unwrap();
    assert_eq!(shop.all_facts().await, kept);
}

#[tokio::test]
async fn refreshing_a_profile_without_sales_removes_its_facts() {
    let shop = shop().await;
    shop.ingest(&[order(&sale("X1", 3, 0, 800, SalesChannel::InStore, "a"))])
        .await;
    let cancel = OrderVersion {
        state: OrderState::Canceled,
        updated: 5,
        ..sale("X1", 3, 0, 800, SalesChannel::InStore, "a")
    };
    shop.ingest(&[order(&cancel)]).await;
    assert_eq!(shop.facts_of(3).await, None);
    let id = shop.profile_of(3).await;
    let mut tx = shop.store.begin().await.unwrap();
    refresh(&mut tx, &[id, id], chrono_tz::UTC, 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(shop.facts_of(3).await, None);
}

/// One step of a shop's life.
#[derive(Debug, Clone)]
enum Step {
    /// A version of order `order` for `person` (completed or cancelled).
    Order {
        order: usize,
        person: usize,
        day: i64,
        total: i64,
        online: bool,
        cancelled: bool,
    },
    Refund {
        order: usize,
        person: usize,
        total: i64,
    },
    Merge {
        a: usize,
        b: usize,
    },
    /// Undo the latest merge still in force.
    Unmerge,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..6usize, 0..4usize, 0..60i64, 1..5000i64, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(order, person, day, total, online, cancelled)| Step::Order { order, person, day, total, online, cancelled }),
        1 => (0..6usize, 0..4usize, 1..800i64).prop_map(|(order, person, total)| Step::Refund { order, person, total }),
        1 => (0..4usize, 0..4usize).prop_map(|(a, b)| Step::Merge { a, b }),
        1 => Just(Step::Unmerge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn kept_facts_equal_a_rebuild_after_any_history(steps in prop::collection::vec(step(), 1..24)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let shop = shop().await;
            let mut merges: Vec<i64> = Vec::new();
            for (n, step) in steps.iter().enumerate() {
                let n = n as i64 + 1;
                match step {
                    Step::Order { order: o, person, day, total, online, cancelled } => {
                        let id = format!("O{o}");
                        let version = OrderVersion {
                            state: if *cancelled { OrderState::Canceled } else { OrderState::Completed },
                            updated: n,
                            ..sale(&id, *person, *day, *total, if *online { SalesChannel::Online } else { SalesChannel::InStore }, if o % 2 == 0 { "even" } else { "odd" })
                        };
                        shop.ingest(&[order(&version)]).await;
                    }
                    Step::Refund { order, person, total } => {
                        shop.ingest(&[refund(&format!("R{n}"), &format!("O{order}"), *person, *total, 61)]).await;
                    }
                    Step::Merge { a, b } => {
                        if let Some(id) = shop.merge(*a, *b).await {
                            merges.push(id);
                        }
                    }
                    Step::Unmerge => {
                        if let Some(id) = merges.pop() {
                            // Refused only when nothing can change; the facts must hold either way.
                            let _ = graph::unmerge(&shop.store, &shop.normalizer, id, &[], chrono_tz::UTC).await;
                        }
                    }
                }
            }
            let kept = shop.all_facts().await;
            rebuild(&shop.store, chrono_tz::UTC).await.unwrap();
            prop_assert_eq!(kept, shop.all_facts().await);
            Ok(())
        })?;
    }
}
