//! The merge tables: a merge moves the absorbed profile's rows (waiting work only) to the survivor
//! and records them by row id; undoing it moves them back. What a profile's standing says.

use crate::common::{on_both, Db, Param};
use crate::events::store_customer;
use rapport_core::identity::graph::{Absorption, GoingBack, RecordedMerge, Standing};
use rapport_core::model::{Identity, IdentityKind};
use rapport_store::{merges, now_ms, FoundProfile, NewMerge, PersonRef};
use sqlx::Row;

/// The profile holding this email.
async fn profile(db: &Db, email: &str) -> FoundProfile {
    let mut found = db
        .store
        .find_profiles(&[PersonRef::Identity(Identity {
            kind: IdentityKind::Email,
            value: email.into(),
        })])
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{email}");
    found.remove(0)
}

/// The profile each of these rows of `table` belongs to.
async fn owners(db: &Db, table: &str, ids: &[i64]) -> Vec<i64> {
    let mut owners = Vec::new();
    for id in ids {
        let rows = db
            .rows(
                &format!("SELECT profile_id FROM {table} WHERE id = $1"),
                &[Param::Int(*id)],
            )
            .await;
        owners.push(rows[0].get("profile_id"));
    }
    owners
}

async fn ids(db: &Db, sql: &str, profile: i64) -> Vec<i64> {
    db.rows(sql, &[Param::Int(profile)])
        .await
        .iter()
        .map(|r| r.get("id"))
        .collect()
}

#[tokio::test]
async fn a_merge_moves_waiting_rows_and_undoing_it_moves_them_back() {
    on_both(|db| async move {
        store_customer(&db, "c1", "ana@example.com").await;
        store_customer(&db, "c2", "bea@example.com").await;
        let (ana, bea) = (
            profile(&db, "ana@example.com").await,
            profile(&db, "bea@example.com").await,
        );
        let identity = ids(
            &db,
            "SELECT id FROM identities WHERE profile_id = $1",
            bea.id,
        )
        .await;
        let event = ids(&db, "SELECT id FROM events WHERE profile_id = $1", bea.id).await;
        // Bea's work: the profile update ingest queued, and one item in flight.
        let waiting = ids(&db, "SELECT id FROM outbox WHERE profile_id = $1", bea.id).await;
        let in_flight = db.queue_item("crm", "profile", bea.id, now_ms()).await;
        db.run(
            "UPDATE outbox SET status = 'inflight', lease_until = $1 WHERE id = $2",
            &[Param::Int(now_ms() + 60_000), Param::Int(in_flight)],
        )
        .await;

        let mut tx = db.store.begin().await.unwrap();
        assert_eq!(
            merges::standing(&mut tx, bea.id).await.unwrap(),
            Standing {
                id: bea.id,
                key: bea.key.clone(),
                forgotten: false,
                absorbed: None
            }
        );
        let merge = NewMerge {
            survivor: ana.id,
            absorbed: bea.id,
            reason: "operator: same person",
            evidence: "operator",
        };
        let (merge_id, consent_changed) = merges::merge(&mut tx, &merge, now_ms()).await.unwrap();
        assert!(!consent_changed);
        assert_eq!(
            merges::standing(&mut tx, bea.id).await.unwrap().absorbed,
            Some(Absorption {
                merge: merge_id,
                into: ana.key.clone()
            })
        );
        assert_eq!(
            merges::recorded(&mut tx, merge_id).await.unwrap(),
            Some(RecordedMerge {
                id: merge_id,
                survivor: ana.id,
                absorbed: bea.id,
                took_names: false,
                undone: false
            })
        );
        assert_eq!(merges::recorded(&mut tx, merge_id + 1).await.unwrap(), None);
        assert_eq!(
            merges::in_force_on(&mut tx, &[ana.id, bea.id])
                .await
                .unwrap(),
            vec![merge_id]
        );
        assert_eq!(
            merges::absorbed_by(&mut tx, ana.id).await.unwrap(),
            vec![bea.id]
        );
        tx.commit().await.unwrap();

        assert_eq!(owners(&db, "identities", &identity).await, vec![ana.id]);
        assert_eq!(owners(&db, "events", &event).await, vec![ana.id]);
        assert_eq!(owners(&db, "outbox", &waiting).await, vec![ana.id]);
        assert_eq!(owners(&db, "outbox", &[in_flight]).await, vec![bea.id]);
        let history = db.store.merge_history(bea.id).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            history[0]
                .moved
                .iter()
                .map(|(item, n)| (item.as_str(), *n))
                .collect::<Vec<_>>(),
            [("event", 1), ("identity", 1), ("outbox", 1)]
        );

        let mut tx = db.store.begin().await.unwrap();
        let now = now_ms();
        merges::record_going_back(&mut tx, merge_id, &GoingBack::default())
            .await
            .unwrap();
        merges::move_back(&mut tx, merge_id, ana.id, bea.id)
            .await
            .unwrap();
        merges::mark_undone(&mut tx, merge_id, bea.id, now)
            .await
            .unwrap();
        assert!(merges::in_force_on(&mut tx, &[ana.id, bea.id])
            .await
            .unwrap()
            .is_empty());
        assert!(
            merges::recorded(&mut tx, merge_id)
                .await
                .unwrap()
                .unwrap()
                .undone
        );
        assert_eq!(
            merges::standing(&mut tx, bea.id).await.unwrap().absorbed,
            None
        );
        tx.commit().await.unwrap();
        assert_eq!(owners(&db, "identities", &identity).await, vec![bea.id]);
        assert_eq!(owners(&db, "events", &event).await, vec![bea.id]);
        assert_eq!(owners(&db, "outbox", &waiting).await, vec![bea.id]);
        db
    })
    .await;
}

#[tokio::test]
async fn an_event_arrived_since_goes_back_with_its_waiting_work() {
    on_both(|db| async move {
        store_customer(&db, "c1", "ana@example.com").await;
        store_customer(&db, "c2", "bea@example.com").await;
        let (ana, bea) = (
            profile(&db, "ana@example.com").await,
            profile(&db, "bea@example.com").await,
        );
        let mut tx = db.store.begin().await.unwrap();
        let merge = NewMerge {
            survivor: ana.id,
            absorbed: bea.id,
            reason: "email",
            evidence: "pos:c3",
        };
        let (merge_id, _) = merges::merge(&mut tx, &merge, now_ms()).await.unwrap();
        tx.commit().await.unwrap();
        // An event reached the survivor since, with work waiting for it.
        store_customer(&db, "c3", "ana@example.com").await;
        let rows = db
            .rows(
                "SELECT id, profile_id FROM events WHERE source_event_id = $1",
                &[Param::Text("c3")],
            )
            .await;
        let event: i64 = rows[0].get("id");
        assert_eq!(rows[0].get::<i64, _>("profile_id"), ana.id);
        let work = db.queue_item("crm", "activity", ana.id, now_ms()).await;
        db.run(
            "UPDATE outbox SET event_id = $1 WHERE id = $2",
            &[Param::Int(event), Param::Int(work)],
        )
        .await;

        let mut tx = db.store.begin().await.unwrap();
        let back = GoingBack {
            events: vec![event],
            identities: Vec::new(),
        };
        merges::record_going_back(&mut tx, merge_id, &back)
            .await
            .unwrap();
        merges::move_back(&mut tx, merge_id, ana.id, bea.id)
            .await
            .unwrap();
        merges::return_work(&mut tx, ana.id, bea.id, &back.events)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(owners(&db, "events", &[event]).await, vec![bea.id]);
        assert_eq!(owners(&db, "outbox", &[work]).await, vec![bea.id]);
        db
    })
    .await;
}

#[tokio::test]
async fn a_forgotten_profiles_standing_says_so() {
    on_both(|db| async move {
        store_customer(&db, "c1", "ana@example.com").await;
        let ana = profile(&db, "ana@example.com").await;
        db.run(
            "INSERT INTO erasures (profile_key, requested_at) VALUES ($1, $2)",
            &[Param::Text(&ana.key), Param::Int(now_ms())],
        )
        .await;
        let mut tx = db.store.begin().await.unwrap();
        assert!(merges::standing(&mut tx, ana.id).await.unwrap().forgotten);
        drop(tx);
        db
    })
    .await;
}
