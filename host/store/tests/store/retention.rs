//! Retention: which records are past their period.

use crate::common::{on_both, Param};
use crate::events::store_customer;
use rapport_core::governance::retention::RecordClass;
use rapport_store::{now_ms, Completion};
use sqlx::Row;

#[tokio::test]
async fn finished_work_expires_by_its_last_due_time() {
    on_both(|db| async move {
        let mut ids = Vec::new();
        for (status, due) in [
            ("delivered", 100),
            ("suppressed", 200),
            ("delivered", 5_000),
            ("dead", 100),
            ("rejected", 300),
            ("discarded", 6_000),
            ("pending", 50),
            ("inflight", 50),
        ] {
            let id = db.queue_item("crm", "activity", 1, due).await;
            db.run(
                "UPDATE outbox SET status = $1 WHERE id = $2",
                &[Param::Text(status), Param::Int(id)],
            )
            .await;
            ids.push(id);
        }
        let expired = |class, after, limit| db.store.expired_records(class, 1_000, after, limit);
        assert_eq!(
            expired(RecordClass::DeliveredWork, 0, 10).await.unwrap(),
            [ids[0], ids[1]]
        );
        assert_eq!(
            expired(RecordClass::DeliveredWork, ids[0], 10)
                .await
                .unwrap(),
            [ids[1]]
        );
        assert_eq!(
            expired(RecordClass::DeliveredWork, 0, 1).await.unwrap(),
            [ids[0]]
        );
        assert_eq!(
            expired(RecordClass::DeadLetters, 0, 10).await.unwrap(),
            [ids[3], ids[4]]
        );
        db
    })
    .await;
}

#[tokio::test]
async fn an_events_details_expire_once_its_work_is_delivered() {
    on_both(|db| async move {
        // The event happened on 1 March 2020; the cutoff is now.
        store_customer(&db, "cust-1", "ana.lopez@example.com").await;
        let event: i64 = db.rows("SELECT id FROM events", &[]).await[0].get("id");
        let cutoff = now_ms();
        let details = || {
            db.store
                .expired_records(RecordClass::EventDetails, cutoff, 0, 10)
        };
        assert!(details().await.unwrap().is_empty(), "its work is pending");
        let claimed = db.store.claim("crm", 10, 60_000, now_ms()).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let done: Vec<_> = claimed
            .into_iter()
            .map(|item| (item, Completion::Delivered))
            .collect();
        db.store.complete("crm", &done, now_ms()).await.unwrap();
        assert_eq!(details().await.unwrap(), [event]);
        assert!(db
            .store
            .expired_records(RecordClass::EventDetails, 1_000, 0, 10)
            .await
            .unwrap()
            .is_empty());
        db
    })
    .await;
}
