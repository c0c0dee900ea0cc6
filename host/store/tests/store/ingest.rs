//! Ingest: an event already stored under its source event id is a duplicate and creates no work.

use crate::common::{on_both, Db, Param};
use chrono::{TimeZone, Utc};
use rapport_core::identity::MergeRules;
use rapport_core::journeys::Routes;
use rapport_core::model::{Customer, Event, Identity, IdentityKind, Payload};
use rapport_store::{IngestBatch, IngestReport, PreparedEvent};
use sqlx::Row;

/// A customer event from the POS, with the email already normalised, dated 1 March 2020.
pub fn customer_event(id: &str, email: &str) -> PreparedEvent {
    let identity = Identity {
        kind: IdentityKind::Email,
        value: email.into(),
    };
    let payload = Payload::Customer(Customer {
        identities: vec![identity.clone()],
        given_name: Some("Ana".into()),
        family_name: None,
        consents: Vec::new(),
        created_at: None,
    });
    PreparedEvent {
        event: Event {
            source_event_id: id.into(),
            occurred_at: Utc.with_ymd_and_hms(2020, 3, 1, 12, 0, 0).unwrap(),
            payload: payload.clone(),
        },
        payload_json: serde_json::to_string(&payload).unwrap(),
        object_id: format!("email:{email}"),
        identities: vec![identity],
        amount: None,
        activity: None,
    }
}

/// Ingests `events` from source `pos` for sink `crm`.
pub async fn ingest(db: &Db, events: &[PreparedEvent]) -> IngestReport {
    let routes = Routes {
        sinks: vec!["crm".into()],
        journeys: Vec::new(),
    };
    db.store
        .ingest(IngestBatch {
            source_id: "pos",
            origin: "poll:customers",
            cursor: None,
            events,
            rejected: &[],
            routes: &routes,
            merge_rules: &MergeRules::default(),
        })
        .await
        .unwrap()
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.rows(sql, &[]).await[0].get("n")
}

#[tokio::test]
async fn the_same_source_event_is_stored_once() {
    on_both(|db| async move {
        let event = customer_event("cust-1", "ana.lopez@example.com");
        // New: the event, and for the sink an update of the person's profile (a customer record
        // is no activity).
        assert_eq!(
            ingest(&db, std::slice::from_ref(&event)).await,
            IngestReport {
                accepted: 1,
                duplicates: 0,
                rejected: 0,
                work_items: 1
            }
        );
        assert_eq!(
            ingest(&db, &[event.clone(), event]).await,
            IngestReport {
                accepted: 0,
                duplicates: 2,
                rejected: 0,
                work_items: 0
            }
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM events").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM profiles").await, 1);
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
