//! Retention in the store: finding the records of each class that are past their period, and
//! retiring them in small transactions — deleting most, and replacing an old event's payload with
//! a summary (its totals columns stay, so a person's totals do not change). Which period applies
//! and what a summary keeps are the governance module's decisions; this module only runs the SQL.

use super::rows;
use super::{Store, StoreError};
use rapport_core::governance::retention::RecordClass;
use rapport_core::model::Payload;
use sqlx::Row;

/// The table of a class of record, and the condition (on `$1`, a cutoff in ms) that makes a row
/// past its period.
fn expiry(class: RecordClass) -> (&'static str, &'static str) {
    match class {
        // Summarised only once no work item may still render the payload: a dead letter may
        // be replayed, so only delivered (or consent-withheld) work lets go of its event.
        RecordClass::EventDetails => (
            "events",
            "summarised_at IS NULL AND occurred_at < $1
                 AND NOT EXISTS (SELECT 1 FROM outbox o
                                 WHERE o.event_id = events.id AND o.status <> 'delivered'
                                   AND o.status <> 'suppressed')",
        ),
        RecordClass::RejectedInputs => ("rejected_inputs", "received_at < $1"),
        RecordClass::WebhookInbox => ("webhook_inbox", "received_at < $1"),
        // next_attempt_at is when the item was last due: about when it finished.
        RecordClass::DeliveredWork => (
            "outbox",
            "status IN ('delivered', 'suppressed') AND next_attempt_at < $1",
        ),
        RecordClass::DeadLetters => (
            "outbox",
            "status IN ('dead', 'rejected', 'discarded') AND next_attempt_at < $1",
        ),
        RecordClass::DeliveryHistory => ("deliveries", "at < $1"),
    }
}

impl Store {
    /// Ids of up to `limit` records of `class` past `cutoff` (ms since the epoch) with an id above
    /// `after`, in id order: call again with the last id for the next chunk.
    pub async fn expired_records(
        &self,
        class: RecordClass,
        cutoff: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let (table, expired) = expiry(class);
        Ok(sqlx::query_scalar(&format!(
            "SELECT id FROM {table} WHERE {expired} AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(cutoff)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Retires the given records of `class` that are still past `cutoff`, in one transaction:
    /// event details are replaced by `summarise` of the stored payload (and marked summarised at
    /// `now`), every other class is deleted. Returns how many records were retired.
    pub async fn retire_records(
        &self,
        class: RecordClass,
        ids: &[i64],
        cutoff: i64,
        now: i64,
        summarise: impl Fn(Payload) -> Payload,
    ) -> Result<u64, StoreError> {
        let (table, expired) = expiry(class);
        let mut tx = self.begin_write().await?;
        let retired = match class {
            RecordClass::EventDetails => {
                let stored = rows::query_ids(
                    &mut tx,
                    &format!("SELECT id, payload FROM events WHERE {expired} AND id IN {{list}}"),
                    &[cutoff.into()],
                    ids,
                )
                .await?;
                let mut retired = 0;
                for row in stored {
                    let id: i64 = row.try_get("id")?;
                    let payload: Payload = serde_json::from_str(row.try_get("payload")?)
                        .map_err(|e| StoreError::Corrupt(format!("event {id}'s payload: {e}")))?;
                    let summary = serde_json::to_string(&summarise(payload))
                        .map_err(|e| StoreError::Corrupt(format!("event {id}'s summary: {e}")))?;
                    retired += sqlx::query(
                        "UPDATE events SET payload = $1, summarised_at = $2
                         WHERE id = $3 AND summarised_at IS NULL",
                    )
                    .bind(summary)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                retired
            }
            _ => {
                if class == RecordClass::DeliveredWork {
                    // Delivery figures stay lifetime totals: count what leaves before it goes.
                    rows::query_ids(
                        &mut tx,
                        &format!(
                            "INSERT INTO retired_work (sink_id, kind, finished)
                             SELECT sink_id, CASE WHEN status = 'suppressed' THEN 'withheld'
                                                  ELSE kind END AS retired_kind, COUNT(*)
                             FROM outbox
                             WHERE {expired} AND id IN {{list}} GROUP BY sink_id, retired_kind
                             ON CONFLICT (sink_id, kind)
                             DO UPDATE SET finished = retired_work.finished + excluded.finished"
                        ),
                        &[cutoff.into()],
                        ids,
                    )
                    .await?;
                }
                rows::query_ids(
                    &mut tx,
                    &format!("DELETE FROM {table} WHERE {expired} AND id IN {{list}} RETURNING id"),
                    &[cutoff.into()],
                    ids,
                )
                .await?
                .len() as u64
            }
        };
        tx.commit().await?;
        Ok(retired)
    }

    /// Finished work items the retention job deleted, per sink and kind ('withheld' for those a
    /// person's consents kept from the sink).
    pub(super) async fn retired_work(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query("SELECT sink_id, kind, finished FROM retired_work ORDER BY sink_id, kind")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("sink_id")?,
                    r.try_get("kind")?,
                    r.try_get("finished")?,
                ))
            })
            .collect()
    }
}
