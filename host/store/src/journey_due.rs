//! Table `journey_due`: people waiting in a journey, indexed by when they fall due, so the
//! scheduler reads the waits that have come instead of scanning profiles. The host plans the waits
//! (`rapport_core::journeys::plan`); this module only stores, lists and deletes them.

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::journeys::plan::Wait;
use rapport_core::model::Channel;
use sqlx::Row;
use std::collections::BTreeMap;

/// A stored wait that has fallen due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWait {
    pub id: i64,
    pub journey: String,
    pub profile_id: i64,
    pub due_at: i64,
    pub trigger_at: i64,
    pub event_id: Option<i64>,
    pub detail: BTreeMap<String, String>,
}

/// Saves planned waits: one whose key is stored is replaced when the plan says so (its facts
/// changed), and otherwise left as it is.
pub async fn save(tx: &mut Tx<'_>, waits: &[Wait<'_>]) -> Result<(), StoreError> {
    let detail: Vec<String> = waits
        .iter()
        .map(|w| serde_json::to_string(&w.detail).expect("a map of strings serialises"))
        .collect();
    for replaces in [true, false] {
        let values: Vec<Vec<Value>> = (waits.iter().zip(&detail))
            .filter(|(w, _)| w.replaces == replaces)
            .map(|(w, detail)| {
                vec![
                    w.journey.name.as_str().into(),
                    w.profile_id.into(),
                    w.key.as_str().into(),
                    w.due.timestamp_millis().into(),
                    w.trigger_at.timestamp_millis().into(),
                    w.event_id.into(),
                    detail.as_str().into(),
                    w.journey.channel.as_str().into(),
                ]
            })
            .collect();
        let on_conflict = match replaces {
            true => {
                "ON CONFLICT (wait_key) DO UPDATE SET due_at = excluded.due_at,
                     trigger_at = excluded.trigger_at, detail = excluded.detail"
            }
            false => "ON CONFLICT (wait_key) DO NOTHING",
        };
        rows::insert_values(
            &mut tx.inner,
            "INSERT INTO journey_due (journey, profile_id, wait_key, due_at, trigger_at, event_id,
                                      detail, channel)",
            on_conflict,
            &values,
        )
        .await?;
    }
    Ok(())
}

/// Takes up to `limit` waits due at `now`, earliest first, locking them on PostgreSQL (another
/// host's scheduler skips them); the caller deletes them in the same transaction once decided.
pub async fn take_due(tx: &mut Tx<'_>, now: i64, limit: i64) -> Result<Vec<DueWait>, StoreError> {
    let sql = format!(
        "SELECT d.id, d.journey, d.profile_id, d.due_at, d.trigger_at, d.event_id, d.detail
         FROM journey_due d WHERE d.due_at <= $1 ORDER BY d.due_at, d.id LIMIT $2 {}",
        tx.backend.skip_locked("d")
    );
    let found = sqlx::query(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx.inner)
        .await?;
    found.iter().map(due_wait).collect()
}

/// Reads a stored wait.
fn due_wait(row: &sqlx::any::AnyRow) -> Result<DueWait, StoreError> {
    let detail: Option<String> = row.try_get("detail")?;
    let id: i64 = row.try_get("id")?;
    Ok(DueWait {
        id,
        journey: row.try_get("journey")?,
        profile_id: row.try_get("profile_id")?,
        due_at: row.try_get("due_at")?,
        trigger_at: row.try_get("trigger_at")?,
        event_id: row.try_get("event_id")?,
        detail: match detail {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("journey_due {id}: {e}")))?,
            None => BTreeMap::new(),
        },
    })
}

/// Deletes the waits `ids`.
pub async fn delete(tx: &mut Tx<'_>, ids: &[i64]) -> Result<(), StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "DELETE FROM journey_due WHERE id IN {list}",
        &[],
        ids,
    )
    .await?;
    Ok(())
}

/// Deletes the waits the orders `orders` of `source_id` started (they were cancelled or refunded
/// before their messages went); returns how many.
pub async fn delete_of_orders(
    tx: &mut Tx<'_>,
    source_id: &str,
    orders: &[&str],
) -> Result<usize, StoreError> {
    let list: Vec<Value> = orders.iter().map(|o| (*o).into()).collect();
    Ok(rows::query_in(
        &mut tx.inner,
        "DELETE FROM journey_due WHERE event_id IN (
             SELECT e.id FROM events e
             WHERE e.source_id = $1 AND e.kind = 'order' AND e.object_id IN {list})
         RETURNING id",
        &[source_id.into()],
        &list,
    )
    .await?
    .len())
}

/// Deletes the waits of each `(person, channel)` in `refused`, whose journeys would message that
/// person on that channel; returns how many.
pub async fn delete_on_channels(
    tx: &mut Tx<'_>,
    refused: &[(i64, Channel)],
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for (channel, people) in rows::by_channel(refused) {
        deleted += rows::query_ids(
            &mut tx.inner,
            "DELETE FROM journey_due WHERE channel = $1 AND profile_id IN {list} RETURNING id",
            &[channel.as_str().into()],
            &people,
        )
        .await?
        .len();
    }
    Ok(deleted)
}

impl Store {
    /// When the earliest wait falls due, if any.
    pub async fn next_journey_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MIN(due_at) FROM journey_due")
            .fetch_one(&self.pool)
            .await?)
    }

    /// How many waits are stored.
    pub async fn journey_waits(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM journey_due")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The waits of `profile_id` in any journey, earliest due first.
    pub async fn waits_of(&self, profile_id: i64) -> Result<Vec<DueWait>, StoreError> {
        sqlx::query(
            "SELECT id, journey, profile_id, due_at, trigger_at, event_id, detail FROM journey_due
             WHERE profile_id = $1 ORDER BY due_at, id",
        )
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(due_wait)
        .collect()
    }
}
