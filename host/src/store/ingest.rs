//! The ingest transaction: events (deduplicated), the people they name, the work they create for each
//! sink, rejected input and the source cursor, all committed together or not at all.

use super::{now_ms, profiles, Store, StoreError};
use crate::model::{Event, Identity, Money, Payload, RejectedInput};
use sqlx::{Any, Transaction};

/// An event ready to store: validated, with the person's identities already normalised.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event: Event,
    /// The vendor object the event is about (order id, refund id, customer key).
    pub object_id: String,
    pub identities: Vec<Identity>,
    pub amount: Option<Money>,
    /// The activity this event records at sinks the first time its object is seen.
    pub activity: Option<&'static str>,
}

/// Everything one poll step or webhook delivered.
#[derive(Debug, Clone)]
pub struct IngestBatch<'a> {
    pub source_id: &'a str,
    /// "poll:<stream>" or "webhook", for rejected-input records.
    pub origin: &'a str,
    /// `(stream, cursor)` to commit with the events.
    pub cursor: Option<(&'a str, &'a str)>,
    pub events: &'a [PreparedEvent],
    pub rejected: &'a [RejectedInput],
    /// The sinks that receive work for these events.
    pub sinks: &'a [String],
}

/// What an ingest stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub work_items: usize,
}

impl Store {
    /// Stores a batch atomically; an event already stored for this source is counted as a duplicate
    /// and creates no work.
    pub async fn ingest(&self, batch: IngestBatch<'_>) -> Result<IngestReport, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut report = IngestReport {
            rejected: batch.rejected.len(),
            ..IngestReport::default()
        };
        for prepared in batch.events {
            match insert_event(&mut tx, batch.source_id, prepared, now).await? {
                None => report.duplicates += 1,
                Some(event_id) => {
                    report.accepted += 1;
                    report.work_items += link_person_and_enqueue(
                        &mut tx,
                        batch.source_id,
                        batch.sinks,
                        prepared,
                        event_id,
                        now,
                    )
                    .await?;
                }
            }
        }
        for rejected in batch.rejected {
            sqlx::query(
                "INSERT INTO rejected_inputs (source_id, origin, locator, reason, received_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(batch.source_id)
            .bind(batch.origin)
            .bind(&rejected.locator)
            .bind(&rejected.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some((stream, cursor)) = batch.cursor {
            sqlx::query(
                "INSERT INTO cursors (source_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source_id, stream) DO UPDATE SET cursor = $3, updated_at = $4",
            )
            .bind(batch.source_id)
            .bind(stream)
            .bind(cursor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// Inserts the event unless this source already delivered it; returns its row id if new.
async fn insert_event(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    prepared: &PreparedEvent,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let event = &prepared.event;
    let payload = serde_json::to_string(&event.payload)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialise event payload: {e}")))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO events (source_id, source_event_id, kind, object_id, amount_minor, currency,
                             occurred_at, ingested_at, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (source_id, source_event_id) DO NOTHING
         RETURNING id",
    )
    .bind(source_id)
    .bind(&event.source_event_id)
    .bind(event.payload.kind())
    .bind(&prepared.object_id)
    .bind(prepared.amount.as_ref().map(|m| m.minor))
    .bind(
        prepared
            .amount
            .as_ref()
            .map(|m| m.currency.as_str().to_string()),
    )
    .bind(event.occurred_at.timestamp_millis())
    .bind(now)
    .bind(payload)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Resolves the event's person to a profile and queues their profile update and activity for every
/// sink. Returns the number of work items queued.
async fn link_person_and_enqueue(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    sinks: &[String],
    prepared: &PreparedEvent,
    event_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let profile_id = match (prepared.event.payload.customer(), &prepared.event.payload) {
        (Some(customer), _) if !prepared.identities.is_empty() => {
            profiles::resolve(tx, &prepared.identities, customer, now).await?
        }
        // A refund that names no customer belongs to whoever placed the order it refunds.
        (_, Payload::Refund(refund)) => match order_profile(tx, source_id, &refund.order_id).await?
        {
            Some(id) => id,
            None => return Ok(0),
        },
        _ => return Ok(0),
    };
    sqlx::query("UPDATE events SET profile_id = $1 WHERE id = $2")
        .bind(profile_id)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    let first_sighting = match prepared.activity {
        Some(_) => {
            let earlier: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM events WHERE source_id = $1 AND kind = $2 AND object_id = $3 AND id < $4 LIMIT 1",
            )
            .bind(source_id)
            .bind(prepared.event.payload.kind())
            .bind(&prepared.object_id)
            .bind(event_id)
            .fetch_optional(&mut **tx)
            .await?;
            earlier.is_none()
        }
        None => false,
    };
    let mut queued = 0;
    for sink in sinks {
        queued += super::outbox::enqueue_profile(tx, sink, profile_id, event_id, now).await?;
        if first_sighting {
            let key = activity_key(source_id, &prepared.event.source_event_id);
            queued +=
                super::outbox::enqueue_activity(tx, sink, profile_id, event_id, &key, now).await?;
        }
    }
    Ok(queued)
}

/// The profile of the person who placed `order_id` at `source`, if known.
async fn order_profile(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    order_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT profile_id FROM events
         WHERE source_id = $1 AND kind = 'order' AND object_id = $2 AND profile_id IS NOT NULL
         ORDER BY id LIMIT 1",
    )
    .bind(source_id)
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// A stable, UUID-shaped idempotency key for the activity of one source event.
pub fn activity_key(source_id: &str, source_event_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{source_id}\n{source_event_id}").as_bytes());
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.work_items += other.work_items;
    }
}
