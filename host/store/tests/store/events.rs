//! The events table: an event already stored under its source event id is not stored again; one
//! version of an object is current, and superseding it leaves the next one current.

use crate::common::{on_both, Db, Param};
use chrono::{TimeZone, Utc};
use rapport_core::identity::MergeRules;
use rapport_core::model::{Customer, Identity, IdentityKind, OrderState, Payload, SalesChannel};
use rapport_store::events::{self, CurrentVersion, NewEvent};
use rapport_store::outbox::{self, NewWork, ProfileUpdates};
use rapport_store::profiles::{self, Named};
use sqlx::Row;

/// A customer record from the POS naming `email` (already normalised).
fn customer(email: &str) -> (Identity, Customer) {
    let identity = Identity {
        kind: IdentityKind::Email,
        value: email.into(),
    };
    let customer = Customer {
        identities: vec![identity.clone()],
        given_name: Some("Ana".into()),
        family_name: None,
        consents: Vec::new(),
        created_at: None,
        birthday: None,
        loyalty: None,
    };
    (identity, customer)
}

/// Stores customer event `id` naming `email` from source `pos`, dated 1 March 2020, with its
/// person and a profile update for sink `crm`, as the ingest service does; returns the event's
/// row id (`None` if it was stored before).
pub async fn store_customer(db: &Db, id: &str, email: &str) -> Option<i64> {
    let (identity, customer) = customer(email);
    let identities = [identity];
    let payload = serde_json::to_string(&Payload::Customer(customer.clone())).unwrap();
    let mut tx = db.store.begin_bulk().await.unwrap();
    let named = [Some(Named {
        identities: &identities,
        customer: &customer,
        evidence: format!("pos:{id}"),
    })];
    let people = profiles::resolve(&mut tx, &named, &MergeRules::default(), 1)
        .await
        .unwrap()
        .profiles;
    let object = format!("email:{email}");
    let at = Utc.with_ymd_and_hms(2020, 3, 1, 12, 0, 0).unwrap();
    let row = NewEvent {
        source_event_id: id,
        kind: "customer",
        object_id: &object,
        profile_id: people[0],
        amount_minor: None,
        currency: None,
        occurred_at: at.timestamp_millis(),
        payload: &payload,
        state: None,
        placed_at: None,
        version: None,
        vendor_version: None,
        current: true,
        channel: None,
        categories: None,
    };
    let stored = events::insert(&mut tx, "pos", &[row], 2).await.unwrap()[0];
    if let (Some(profile_id), Some(event_id)) = (people[0], stored) {
        let work = [NewWork {
            profile_id,
            event_id,
            activity_key: None,
        }];
        outbox::enqueue(&mut tx, &["crm".into()], &work, ProfileUpdates::Due, 2)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    stored
}

/// An order version of `order` (state, version) for person `profile_id`.
fn order<'a>(id: &'a str, order: &'a str, version: i64, state: OrderState) -> NewEvent<'a> {
    NewEvent {
        source_event_id: id,
        kind: "order",
        object_id: order,
        profile_id: None,
        amount_minor: Some(500),
        currency: Some("USD"),
        occurred_at: version,
        payload: "{}",
        state: Some(state),
        placed_at: Some(1),
        version: Some(version),
        vendor_version: None,
        current: false,
        channel: Some(SalesChannel::InStore),
        categories: Some("[]".into()),
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.rows(sql, &[]).await[0].get("n")
}

#[tokio::test]
async fn the_same_source_event_is_stored_once() {
    on_both(|db| async move {
        assert!(store_customer(&db, "cust-1", "ana.lopez@example.com")
            .await
            .is_some());
        assert_eq!(
            store_customer(&db, "cust-1", "ana.lopez@example.com").await,
            None
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM events").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM profiles").await, 1);
        let mut tx = db.store.begin().await.unwrap();
        let stored = events::stored_ids(&mut tx, "pos", &["cust-1", "cust-2"])
            .await
            .unwrap();
        assert_eq!(stored.into_iter().collect::<Vec<_>>(), ["cust-1"]);
        drop(tx);
        let source = db
            .rows(
                "SELECT source_event_id FROM events WHERE source_id = $1",
                &[Param::Text("pos")],
            )
            .await;
        assert_eq!(source[0].get::<String, _>("source_event_id"), "cust-1");
        db
    })
    .await;
}

#[tokio::test]
async fn one_version_is_current_and_superseding_it_hands_over() {
    on_both(|db| async move {
        let mut tx = db.store.begin().await.unwrap();
        let mut first = order("o1-v1", "o1", 10, OrderState::Completed);
        first.current = true;
        let ids = events::insert(
            &mut tx,
            "pos",
            &[first, order("o1-v0", "o1", 5, OrderState::Open)],
            1,
        )
        .await
        .unwrap();
        let current = events::current_versions(&mut tx, "pos", "order", &["o1", "o2"])
            .await
            .unwrap();
        assert_eq!(
            current.get("o1"),
            Some(&CurrentVersion {
                event_id: ids[0].unwrap(),
                source_event_id: "o1-v1".into(),
                version: Some(10),
                vendor_version: None,
                state: Some(OrderState::Completed),
                profile_id: None,
            })
        );
        assert_eq!(current.len(), 1);
        events::supersede(&mut tx, &[ids[0].unwrap()])
            .await
            .unwrap();
        let mut newer = order("o1-v2", "o1", 20, OrderState::Canceled);
        newer.current = true;
        events::insert(&mut tx, "pos", &[newer], 1).await.unwrap();
        let current = events::current_versions(&mut tx, "pos", "order", &["o1"])
            .await
            .unwrap();
        assert_eq!(current["o1"].source_event_id, "o1-v2");
        assert_eq!(current["o1"].state, Some(OrderState::Canceled));
        tx.commit().await.unwrap();
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM events WHERE superseded = 0").await,
            1
        );
        db
    })
    .await;
}
