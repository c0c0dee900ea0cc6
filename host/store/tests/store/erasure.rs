//! Erasure work on the shared queue: the sinks' parts are claimed under a lease, retried, confirmed,
//! and counted in the backlog. The scrub statements remove what the erasure plan says.

use crate::common::{on_both, Db, Param};
use crate::events::store_customer;
use rapport_core::governance::erasure::{self, Held};
use rapport_core::model::{Identity, IdentityKind};
use rapport_store::scrub::{self, KeptInput};
use rapport_store::{erasures, now_ms, ErasureItem, ErasureStatus, FoundProfile, PersonRef};
use sqlx::Row;
use std::collections::HashMap;

const LEASE_MS: i64 = 60_000;

/// Stores a customer with this email and records their erasure for sinks `crm` and `mail`, as the
/// forget service does once the scrub is done: with the identifiers linked to their profile, as the
/// erasure rules plan it. Returns the erasure's id and when it was requested (between the two
/// times).
async fn forget(db: &Db, email: &str) -> (i64, i64, i64) {
    store_customer(db, "c1", email).await;
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
        let key = &db.store.erasures(Some(erasure), 1).await.unwrap()[0].profile_key;
        assert!(key.starts_with("p-"), "{key}");
        assert_eq!(
            &claimed[0].profile_key, key,
            "the sinks get the profile key"
        );
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
            .retry_erasure(erasure, "crm", at, "503 from the vendor", true)
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

        // The last sink refuses the credentials once, which uses no attempt, then confirms: the
        // erasure is complete and the kept identifiers go.
        let mail = || db.store.claim_erasures("mail", Some(erasure), LEASE_MS);
        assert_eq!(mail().await.unwrap().len(), 1);
        db.store
            .retry_erasure(erasure, "mail", now_ms() - 1, "auth: HTTP 401", false)
            .await
            .unwrap();
        let (status, attempts, ..) = part(&db, erasure, "mail").await;
        assert_eq!((status.as_str(), attempts), ("pending", 0));
        assert_eq!(mail().await.unwrap()[0].attempts, 0);
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

/// Keeps a rejected input and a webhook delivery, each with `text` in it (the body stands in for
/// its hash: the inbox keeps one row per source and body hash).
async fn keep_input(db: &Db, text: &str) {
    db.run(
        "INSERT INTO rejected_inputs (source_id, origin, locator, reason, received_at)
         VALUES ('pos', 'upload', $1, 'no total', 0)",
        &[Param::Text(&format!("row 3: {text}"))],
    )
    .await;
    db.run(
        "INSERT INTO webhook_inbox (source_id, received_at, reason, headers, body, body_sha256)
         VALUES ('pos', 0, 'bad signature', '{}', $1, $1)",
        &[Param::Text(&format!("{{\"email\": \"{text}\"}}"))],
    )
    .await;
}

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

async fn count(db: &Db, sql: &str) -> i64 {
    db.rows(sql, &[]).await[0].get("n")
}

#[tokio::test]
async fn the_scrub_statements_remove_what_the_plan_says() {
    on_both(|db| async move {
        let email = "ana.lopez@example.com";
        store_customer(&db, "c1", email).await;
        store_customer(&db, "c2", "bea.ruiz@example.com").await;
        keep_input(&db, "ANA.Lopez@Example.com").await;
        keep_input(&db, "someone.else@example.com").await;
        let ana = profile(&db, email).await;
        let bea = profile(&db, "bea.ruiz@example.com").await;
        let lease_end = now_ms() + LEASE_MS;
        let in_flight = db.queue_item("crm", "profile", ana.id, now_ms()).await;
        db.run(
            "UPDATE outbox SET status = 'inflight', lease_until = $1 WHERE id = $2",
            &[Param::Int(lease_end), Param::Int(in_flight)],
        )
        .await;

        let now = now_ms();
        let mut tx = db.store.begin().await.unwrap();
        assert_eq!(scrub::profile_key(&mut tx, ana.id).await.unwrap(), ana.key);
        let identities = scrub::identities_of(&mut tx, ana.id).await.unwrap();
        let events = scrub::events_of(&mut tx, ana.id).await.unwrap();
        assert_eq!(events.len(), 1);
        let leases = scrub::in_flight_leases(&mut tx, ana.id).await.unwrap();
        assert_eq!(leases, HashMap::from([("crm".to_string(), lease_end)]));
        let held = Held {
            identities: &identities,
            events: events.iter().map(|e| (e.id, &e.payload)).collect(),
            leases,
        };
        let plan = erasure::plan(&held, email, &sinks(), now);
        assert!(scrub::rewrite_event(&mut tx, &events[0], &plan.events[0])
            .await
            .unwrap());
        for kept in [KeptInput::Rejected, KeptInput::Webhooks] {
            assert_eq!(
                scrub::delete_mentions(&mut tx, kept, &plan.mentions)
                    .await
                    .unwrap(),
                1
            );
        }
        assert_eq!(scrub::delete_consents(&mut tx, ana.id).await.unwrap(), 0);
        scrub::delete_ledger(&mut tx, ana.id).await.unwrap();
        scrub::delete_identities(&mut tx, ana.id).await.unwrap();
        scrub::clear_names(&mut tx, ana.id, now).await.unwrap();
        scrub::clear_absorbed(&mut tx, &[bea.id]).await.unwrap();
        // The profile update ingest queued, and the item in flight.
        assert_eq!(scrub::cancel_outbox(&mut tx, ana.id).await.unwrap(), 2);
        let erasure = erasures::record(&mut tx, &ana.key, &plan, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let event = db
            .rows(
                "SELECT object_id, payload FROM events WHERE id = $1",
                &[Param::Int(events[0].id)],
            )
            .await;
        assert_eq!(
            event[0].get::<String, _>("object_id"),
            format!("erased:{}", events[0].id)
        );
        assert!(!event[0].get::<String, _>("payload").contains("ana"));
        for table in ["rejected_inputs", "webhook_inbox"] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            assert_eq!(count(&db, &sql).await, 1, "{table}");
        }
        let profile = db
            .rows(
                "SELECT COUNT(*) AS n FROM identities WHERE profile_id = $1",
                &[Param::Int(ana.id)],
            )
            .await;
        assert_eq!(profile[0].get::<i64, _>("n"), 0);
        let named = "SELECT COUNT(*) AS n FROM profiles WHERE given_name IS NOT NULL";
        assert_eq!(count(&db, named).await, 0);
        let work = db
            .rows(
                "SELECT COUNT(*) AS n FROM outbox WHERE profile_id = $1",
                &[Param::Int(ana.id)],
            )
            .await;
        assert_eq!(work[0].get::<i64, _>("n"), 0);
        // The sink with an item in flight is first asked when that lease ends.
        assert_eq!(part(&db, erasure, "crm").await.2, lease_end);
        assert_eq!(part(&db, erasure, "mail").await.2, now);
        db
    })
    .await;
}
