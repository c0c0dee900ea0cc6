//! The queue mechanics through the outbox: leases, expired leases, retries, dead letters, the
//! order in which a person's items are claimed, and profile updates held while a poll runs.

use crate::common::{on_both, Db, Param};
use rapport_store::outbox::{self, NewWork, ProfileUpdates, HELD};
use rapport_store::{now_ms, Completion, OutboxRow};

const LEASE_MS: i64 = 60_000;

/// Status, attempts, next attempt, lease end and last error of an outbox item.
async fn item(db: &Db, id: i64) -> (String, i64, i64, Option<i64>, Option<String>) {
    let rows = db
        .rows(
            "SELECT status, attempts, next_attempt_at, lease_until, last_error FROM outbox
             WHERE id = $1",
            &[Param::Int(id)],
        )
        .await;
    let row = &rows[0];
    use sqlx::Row;
    (
        row.get("status"),
        row.get("attempts"),
        row.get("next_attempt_at"),
        row.get("lease_until"),
        row.get("last_error"),
    )
}

/// Claims up to `limit` of the `crm` sink's due items.
async fn claim(db: &Db, limit: usize) -> Vec<OutboxRow> {
    db.store
        .claim("crm", limit, LEASE_MS, now_ms())
        .await
        .unwrap()
}

/// Makes item `id` due now.
async fn make_due(db: &Db, id: i64) {
    db.run(
        "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2",
        &[Param::Int(now_ms() - 1), Param::Int(id)],
    )
    .await;
}

fn ids(claimed: &[OutboxRow]) -> Vec<i64> {
    claimed.iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn a_claim_leases_items_and_a_second_claim_leaves_them() {
    on_both(|db| async move {
        let due = now_ms() - 1_000;
        let a = db.queue_item("crm", "profile", 1, due).await;
        let b = db.queue_item("crm", "profile", 2, due).await;
        let other_sink = db.queue_item("mail", "profile", 1, due).await;
        let before = now_ms();
        let claimed = claim(&db, 10).await;
        let after = now_ms();
        assert_eq!(ids(&claimed), vec![a, b]);
        for id in [a, b] {
            let (status, attempts, next, lease, _) = item(&db, id).await;
            assert_eq!((status.as_str(), attempts, next), ("inflight", 0, due));
            let lease = lease.expect("a lease");
            assert!(before + LEASE_MS <= lease && lease <= after + LEASE_MS);
        }
        assert!(claim(&db, 10).await.is_empty());
        assert_eq!(item(&db, other_sink).await.0, "pending");
        assert_eq!(db.store.owed("crm").await.unwrap(), 2);
        db
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_is_released_and_claimed_again() {
    on_both(|db| async move {
        let a = db.queue_item("crm", "profile", 1, now_ms() - 1_000).await;
        assert_eq!(ids(&claim(&db, 10).await), [a]);
        // The worker died: its lease ran out a second ago.
        db.run(
            "UPDATE outbox SET lease_until = $1 WHERE id = $2",
            &[Param::Int(now_ms() - 1_000), Param::Int(a)],
        )
        .await;
        let claimed = claim(&db, 10).await;
        assert_eq!(ids(&claimed), [a]);
        assert_eq!(claimed[0].attempts, 0, "a lost lease uses no attempt");
        assert_eq!(item(&db, a).await.0, "inflight");
        db
    })
    .await;
}

#[tokio::test]
async fn a_retry_sets_the_next_time_attempts_and_error() {
    on_both(|db| async move {
        let a = db.queue_item("crm", "profile", 1, now_ms() - 1_000).await;
        let claimed = claim(&db, 10).await;
        let at = now_ms() + 3_600_000;
        let retry = Completion::Retry {
            at,
            error: "503 from the vendor".into(),
            throttled: false,
        };
        db.store
            .complete("crm", &[(claimed[0].clone(), retry)], now_ms())
            .await
            .unwrap();
        assert_eq!(
            item(&db, a).await,
            (
                "pending".to_string(),
                1,
                at,
                None,
                Some("503 from the vendor".into())
            )
        );
        assert!(claim(&db, 10).await.is_empty());
        assert_eq!(db.store.backlog("crm").await.unwrap(), (1, Some(at)));
        // Deferred: back in line without using an attempt.
        make_due(&db, a).await;
        let claimed = claim(&db, 10).await;
        let later = at + 1;
        let deferred = Completion::Deferred {
            at: later,
            reason: "quarantined".into(),
        };
        db.store
            .complete("crm", &[(claimed[0].clone(), deferred)], now_ms())
            .await
            .unwrap();
        assert_eq!(
            item(&db, a).await,
            (
                "pending".to_string(),
                1,
                later,
                None,
                Some("quarantined".into())
            )
        );
        db
    })
    .await;
}

#[tokio::test]
async fn a_dead_item_is_kept_as_a_dead_letter_with_its_reason() {
    on_both(|db| async move {
        let due = now_ms() - 1_000;
        let a = db.queue_item("crm", "activity", 1, due).await;
        let b = db.queue_item("crm", "activity", 2, due).await;
        let claimed = claim(&db, 10).await;
        db.store
            .complete(
                "crm",
                &[
                    (
                        claimed[0].clone(),
                        Completion::Dead("out of attempts".into()),
                    ),
                    (claimed[1].clone(), Completion::Delivered),
                ],
                now_ms(),
            )
            .await
            .unwrap();
        assert_eq!(
            item(&db, a).await,
            (
                "dead".to_string(),
                1,
                due,
                None,
                Some("out of attempts".into())
            )
        );
        assert_eq!(item(&db, b).await.0, "delivered");
        assert_eq!(item(&db, b).await.1, 1);
        let outcomes = db
            .rows(
                "SELECT outbox_id, outcome, detail, attempts FROM deliveries ORDER BY outbox_id",
                &[],
            )
            .await;
        use sqlx::Row;
        let outcomes: Vec<(i64, String, Option<String>, i64)> = outcomes
            .iter()
            .map(|r| {
                (
                    r.get("outbox_id"),
                    r.get("outcome"),
                    r.get("detail"),
                    r.get("attempts"),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![
                (a, "dead".into(), Some("out of attempts".into()), 1),
                (b, "ok".into(), None, 1)
            ]
        );
        assert_eq!(db.store.owed("crm").await.unwrap(), 0);
        db
    })
    .await;
}

#[tokio::test]
async fn a_persons_items_are_claimed_in_order_and_consent_changes_first() {
    on_both(|db| async move {
        let due = now_ms() - 1_000;
        let first = db.queue_item("crm", "profile", 1, due).await;
        let second = db.queue_item("crm", "activity", 1, due).await;
        let other = db.queue_item("crm", "profile", 2, due).await;
        let consent = db.queue_item("crm", "consent", 3, due).await;
        // Consent changes jump the queue.
        assert_eq!(ids(&claim(&db, 1).await), [consent]);
        let first_claim = claim(&db, 1).await;
        assert_eq!(ids(&first_claim), [first]);
        // Person 1's second item waits while their first is in flight; person 2's does not.
        let claimed = claim(&db, 10).await;
        assert_eq!(ids(&claimed), [other]);
        // Their first item is to be retried later: the second still waits behind it.
        let retry = Completion::Retry {
            at: now_ms() + 3_600_000,
            error: "timeout".into(),
            throttled: false,
        };
        db.store
            .complete("crm", &[(first_claim[0].clone(), retry)], now_ms())
            .await
            .unwrap();
        assert!(claim(&db, 10).await.is_empty());
        // Once it is through, the second goes.
        make_due(&db, first).await;
        assert_eq!(ids(&claim(&db, 10).await), [first, second]);
        db
    })
    .await;
}

/// Queues, in one transaction, the work of new events `(person, event)` for the `crm` sink: each
/// person's profile update, and an activity per event.
async fn queue_work(db: &Db, events: &[(i64, i64)], updates: ProfileUpdates) {
    let work: Vec<NewWork> = (events.iter())
        .map(|&(profile_id, event_id)| NewWork {
            profile_id,
            event_id,
            activity_key: Some(format!("activity:{event_id}")),
        })
        .collect();
    let mut tx = db.store.begin().await.unwrap();
    outbox::enqueue(&mut tx, &["crm".to_string()], &work, updates, now_ms())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The `crm` sink's items as (kind, person, event), in order.
fn items(claimed: &[OutboxRow]) -> Vec<(&'static str, i64, Option<i64>)> {
    (claimed.iter())
        .map(|c| (c.kind.as_str(), c.profile_id, c.event_id))
        .collect()
}

/// Delivers everything claimed.
async fn deliver(db: &Db, claimed: &[OutboxRow]) {
    let done: Vec<_> = (claimed.iter())
        .map(|c| (c.clone(), Completion::Delivered))
        .collect();
    db.store.complete("crm", &done, now_ms()).await.unwrap();
}

#[tokio::test]
async fn a_poll_holds_the_profile_updates_of_people_the_sink_knows_and_holds_up_nothing() {
    on_both(|db| async move {
        let (ada, bob) = (1, 2);
        // A poll's first page: neither was ever sent, so both profile updates go now.
        queue_work(&db, &[(ada, 10), (bob, 11)], ProfileUpdates::Held).await;
        let first = claim(&db, 10).await;
        assert_eq!(
            items(&first),
            [
                ("profile", ada, Some(10)),
                ("profile", bob, Some(11)),
                ("activity", ada, Some(10)),
                ("activity", bob, Some(11)),
            ]
        );
        deliver(&db, &first).await;

        // Later pages bring two more of Ada's sales: her update is held (one, for both), her
        // activities go.
        queue_work(&db, &[(ada, 12)], ProfileUpdates::Held).await;
        queue_work(&db, &[(ada, 13)], ProfileUpdates::Held).await;
        let held = db
            .rows(
                "SELECT id, next_attempt_at FROM outbox WHERE kind = 'profile' AND status = 'pending'",
                &[],
            )
            .await;
        assert_eq!(held.len(), 1);
        assert_eq!(sqlx::Row::get::<i64, _>(&held[0], "next_attempt_at"), HELD);
        let held_id: i64 = sqlx::Row::get(&held[0], "id");
        let pages = claim(&db, 10).await;
        assert_eq!(
            items(&pages),
            [("activity", ada, Some(12)), ("activity", ada, Some(13))]
        );
        deliver(&db, &pages).await;
        // Owed, but not due: nothing for a drain or a dry run to take.
        assert_eq!(db.store.backlog("crm").await.unwrap(), (1, None));
        assert!(db.store.peek_due("crm", now_ms()).await.unwrap().is_empty());

        // A live sale of Bob's is not held. The vendor refuses his update this time.
        queue_work(&db, &[(bob, 14)], ProfileUpdates::Due).await;
        let live = claim(&db, 10).await;
        assert_eq!(
            items(&live),
            [("profile", bob, Some(14)), ("activity", bob, Some(14))]
        );
        let refused = Completion::Rejected("no email".into());
        let outcomes = vec![
            (live[0].clone(), refused),
            (live[1].clone(), Completion::Delivered),
        ];
        db.store.complete("crm", &outcomes, now_ms()).await.unwrap();
        // So a poll does not hold his next one: the vendor may not know him.
        queue_work(&db, &[(bob, 15)], ProfileUpdates::Held).await;
        let retold = claim(&db, 10).await;
        assert_eq!(
            items(&retold),
            [("profile", bob, Some(15)), ("activity", bob, Some(15))]
        );
        deliver(&db, &retold).await;

        // The poll ends: Ada's one held update is due, and goes.
        let sinks = ["crm".to_string(), "mail".to_string()];
        assert_eq!(db.store.release_held_profiles(&sinks, now_ms()).await.unwrap(), 1);
        let released = claim(&db, 10).await;
        assert_eq!(ids(&released), [held_id]);
        assert_eq!(items(&released), [("profile", ada, Some(12))]);
        deliver(&db, &released).await;
        assert_eq!(db.store.owed("crm").await.unwrap(), 0);
        assert_eq!(db.store.release_held_profiles(&sinks, now_ms()).await.unwrap(), 0);
        db
    })
    .await;
}
