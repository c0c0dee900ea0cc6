//! Erasure work on the shared queue: the sinks' parts are claimed under a lease, retried, confirmed,
//! and counted in the backlog.

use crate::common::{on_both, Db, Param};
use crate::ingest::{customer_event, ingest};
use rapport_core::governance::erasure::{self, Held};
use rapport_core::model::{Identity, IdentityKind};
use rapport_store::{erasures, now_ms, scrub, ErasureItem, ErasureStatus, PersonRef};
use sqlx::Row;

const LEASE_MS: i64 = 60_000;

/// Stores a customer with this email and records their erasure for sinks `crm` and `mail`, as the
/// forget service does once the scrub is done: with the identifiers linked to their profile, as the
/// erasure rules plan it. Returns the erasure's id and when it was requested (between the two
/// times).
async fn forget(db: &Db, email: &str) -> (i64, i64, i64) {
    ingest(db, &[customer_event("c1", email)]).await;
    let found = db
        .store
        .find_profiles(&[PersonRef::Identity(Identity {
            kind: IdentityKind::Email,
            value: email.into(),
        })])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let before = now_ms();
    let mut tx = db.store.begin().await.unwrap();
    let identities = scrub::identities_of(&mut tx, found[0].id).await.unwrap();
    let held = Held {
        identities: &identities,
        ..Held::default()
    };
    let now = now_ms();
    let plan = erasure::plan(&held, email, &["crm".into(), "mail".into()], now);
    let erasure_id = erasures::record(&mut tx, &found[0].key, &plan, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (erasure_id, before, now_ms())
}

/// Status, attempts, next attempt, lease end and last error of a sink's part of an erasure.
async fn part(
    db: &Db,
    erasure: i64,
    sink: &str,
) -> (String, i64, i64, Option<i64>, Option<String>) {
    let rows = db
        .rows(
            "SELECT status, attempts, next_attempt_at, lease_until, last_error FROM erasure_sinks
             WHERE erasure_id = $1 AND sink_id = $2",
            &[Param::Int(erasure), Param::Text(sink)],
        )
        .await;
    let r = &rows[0];
    (
        r.get("status"),
        r.get("attempts"),
        r.get("next_attempt_at"),
        r.get("lease_until"),
        r.get("last_error"),
    )
}

/// Claims the `crm` sink's due erasure items.
async fn claim(db: &Db) -> Vec<ErasureItem> {
    db.store
        .claim_erasures("crm", None, LEASE_MS)
        .await
        .unwrap()
}

/// Sets when the `crm` sink's erasure items are next due.
async fn set_due(db: &Db, at: i64) {
    db.run(
        "UPDATE erasure_sinks SET next_attempt_at = $1 WHERE sink_id = 'crm'",
        &[Param::Int(at)],
    )
    .await;
}

fn sinks() -> Vec<String> {
    vec!["crm".into(), "mail".into()]
}

#[tokio::test]
async fn an_erasure_is_claimed_under_a_lease_retried_and_confirmed() {
    on_both(|db| async move {
        let email = "ana.lopez@example.com";
        let (erasure, requested_from, requested_to) = forget(&db, email).await;
        assert_eq!(db.store.erasure_backlog(&sinks()).await.unwrap().0, 2);

        let before = now_ms();
        let claimed = claim(&db).await;
        let after = now_ms();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].erasure_id, erasure);
        assert_eq!(claimed[0].attempts, 0);
        assert_eq!(
            claimed[0].identities,
            vec![Identity {
                kind: IdentityKind::Email,
                value: email.into()
            }]
        );
        let (status, attempts, next, lease, _) = part(&db, erasure, "crm").await;
        assert_eq!((status.as_str(), attempts), ("inflight", 0));
        assert!(requested_from <= next && next <= requested_to);
        let lease = lease.expect("a lease");
        assert!(before + LEASE_MS <= lease && lease <= after + LEASE_MS);
        // Leased: a second claim leaves it; the backlog still counts it, due when the lease ends,
        // but the other sink's part is due sooner.
        assert!(claim(&db).await.is_empty());
        let (pending, next_at) = db.store.erasure_backlog(&sinks()).await.unwrap();
        assert_eq!(pending, 2);
        let next_at = next_at.expect("a due time");
        assert!(requested_from <= next_at && next_at <= requested_to);
        assert_eq!(
            db.store.erasure_backlog(&["crm".into()]).await.unwrap(),
            (1, Some(lease))
        );
        let log = db.store.erasures(Some(erasure), 1).await.unwrap();
        let crm = &log[0].sinks[0];
        assert_eq!(
            (crm.sink.as_str(), crm.status),
            ("crm", ErasureStatus::Pending)
        );
        assert_eq!(crm.next_attempt_at, lease);

        // The sink is down: retried in an hour, with the error.
        let at = now_ms() + 3_600_000;
        db.store
            .retry_erasure(erasure, "crm", at, "503 from the vendor")
            .await
            .unwrap();
        assert_eq!(
            part(&db, erasure, "crm").await,
            (
                "pending".to_string(),
                1,
                at,
                None,
                Some("503 from the vendor".into())
            )
        );
        assert!(claim(&db).await.is_empty());
        assert_eq!(
            db.store.erasure_backlog(&["crm".into()]).await.unwrap(),
            (1, Some(at))
        );

        // Due again: claimed, and confirmed; the erasure waits for the other sink.
        set_due(&db, now_ms() - 1).await;
        let claimed = claim(&db).await;
        assert_eq!(claimed[0].attempts, 1);
        let confirmed_from = now_ms();
        assert!(!db.store.confirm_erasure(erasure, "crm").await.unwrap());
        let confirmed_to = now_ms();
        let (status, attempts, _, lease, error) = part(&db, erasure, "crm").await;
        assert_eq!(
            (status.as_str(), attempts, lease, error),
            ("confirmed", 2, None, None)
        );
        let log = db.store.erasures(Some(erasure), 1).await.unwrap();
        let confirmed_at = log[0].sinks[0].confirmed_at.expect("confirmed");
        assert!(confirmed_from <= confirmed_at && confirmed_at <= confirmed_to);
        assert_eq!(log[0].completed_at, None);
        assert_eq!(db.store.erasure_backlog(&sinks()).await.unwrap().0, 1);

        // The last sink confirms: the erasure is complete and the kept identifiers go.
        assert_eq!(
            db.store
                .claim_erasures("mail", Some(erasure), LEASE_MS)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(db.store.confirm_erasure(erasure, "mail").await.unwrap());
        assert_eq!(db.store.erasure_backlog(&sinks()).await.unwrap(), (0, None));
        let kept = db
            .rows("SELECT COUNT(*) AS n FROM erasure_identities", &[])
            .await;
        assert_eq!(kept[0].get::<i64, _>("n"), 0);
        let log = db.store.erasures(Some(erasure), 1).await.unwrap();
        assert!(log[0].completed_at.is_some());
        assert!(log[0]
            .sinks
            .iter()
            .all(|s| s.status == ErasureStatus::Confirmed));
        db
    })
    .await;
}

#[tokio::test]
async fn an_erasure_whose_worker_died_is_claimed_again_after_its_lease() {
    on_both(|db| async move {
        let (erasure, _, _) = forget(&db, "ben.okafor@example.com").await;
        assert_eq!(
            db.store
                .claim_erasures("mail", None, LEASE_MS)
                .await
                .unwrap()
                .len(),
            1
        );
        db.run(
            "UPDATE erasure_sinks SET lease_until = $1 WHERE sink_id = 'mail'",
            &[Param::Int(now_ms() - 1_000)],
        )
        .await;
        let claimed = db
            .store
            .claim_erasures("mail", None, LEASE_MS)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].erasure_id, claimed[0].attempts), (erasure, 0));
        assert_eq!(part(&db, erasure, "mail").await.0, "inflight");
        db
    })
    .await;
}

#[tokio::test]
async fn an_erasure_leased_the_old_way_is_retried_when_that_lease_ends() {
    on_both(|db| async move {
        let (erasure, _, _) = forget(&db, "chen.wei@example.com").await;
        // Before the lease column, a claim pushed next_attempt_at to the lease's end.
        let old_lease_end = now_ms() + 60_000;
        set_due(&db, old_lease_end).await;
        assert!(claim(&db).await.is_empty());
        assert_eq!(
            db.store.erasure_backlog(&["crm".into()]).await.unwrap(),
            (1, Some(old_lease_end))
        );
        set_due(&db, now_ms() - 1).await;
        let claimed = claim(&db).await;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].erasure_id, erasure);
        db
    })
    .await;
}
