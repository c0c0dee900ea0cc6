//! The reads business metrics make: every current refund with its buyer, the counted sales (with
//! their lines, from payloads) of the people an accessory suggestion was meant for, and the
//! journey entries of a span of time with whether a sale was credited to them. Read from
//! `events`, `journey_entries` and `attributions`; what the figures mean is
//! `rapport_core::metrics`'. The sales themselves are read as the predictions read them
//! (`Store::sales_before`).

use super::events::COUNTED_SALES;
use super::journey_entries::Outcome;
use super::rows::{self, Value};
use super::{packed, Store, StoreError};
use sqlx::Row;
use std::collections::BTreeMap;

/// A current refund of a known person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub profile_id: i64,
    /// When it was made (ms).
    pub at: i64,
    pub amount_minor: i64,
    pub currency: String,
}

/// A journey entry that could earn a sale (sent or held out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub profile_id: i64,
    pub journey: String,
    pub channel: String,
    pub held_out: bool,
    /// ms.
    pub entered_at: i64,
    /// Sales credited to it.
    pub credited: i64,
    /// What the scheduler noted (an accessory's `suggested_product`, a variant's properties).
    pub detail: BTreeMap<String, String>,
}

impl Store {
    /// Every current refund of a known person made before `before` (ms), in no particular order:
    /// read packed (see `packed`) from the index that holds them.
    pub async fn refunds_before(&self, before: i64) -> Result<Vec<RefundRow>, StoreError> {
        let events = (self.backend).table_by_index("events", "events_current_refunds");
        let packed = packed::read(
            &self.pool,
            &["profile_id", "occurred_at", "amount_minor", "currency"],
            &format!(
                "FROM {events} WHERE kind = 'refund' AND superseded = 0
                   AND profile_id IS NOT NULL AND amount_minor IS NOT NULL
                   AND currency IS NOT NULL AND occurred_at < $1"
            ),
            &[Value::from(before)],
        )
        .await?;
        packed.decode(|row| {
            Ok(RefundRow {
                profile_id: row.int("profile_id")?,
                at: row.int("occurred_at")?,
                amount_minor: row.int("amount_minor")?,
                currency: row.text("currency")?.to_owned(),
            })
        })
    }

    /// The counted sales placed from `since` to before `until` (ms) of the people sent (or held
    /// out from) an entry of one of `journeys` from `since` to before `entered_until`: what an
    /// accessory suggestion can have been bought in. Each with its buyer and payload, by event
    /// id; none without journeys. Only those people's orders are read, through their index, so
    /// the read grows with the suggestions, not with the shop's sales.
    pub async fn orders_after_entries(
        &self,
        journeys: &[&str],
        since: i64,
        entered_until: i64,
        until: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT profile_id, payload FROM events
             WHERE {COUNTED_SALES} AND placed_at >= $1 AND placed_at < $2
               AND profile_id IN (SELECT profile_id FROM journey_entries
                   WHERE outcome IN ('sent', 'holdout') AND entered_at >= $3
                     AND entered_at < $4 AND journey IN {{list}})
             ORDER BY id"
        );
        let params = [since, until, since, entered_until].map(Value::from);
        let journeys: Vec<Value> = journeys.iter().copied().map(Value::from).collect();
        let mut conn = self.pool.acquire().await?;
        rows::query_in(&mut conn, &sql, &params, &journeys)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("profile_id")?, row.try_get("payload")?)))
            .collect()
    }

    /// The entries sent or held out from `since` to before `until` (ms), with the sales credited
    /// to each, by id.
    pub async fn entries_between(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<EntryRow>, StoreError> {
        sqlx::query(
            "SELECT e.id, e.profile_id, e.journey, e.channel, e.outcome, e.entered_at, e.detail,
                    (SELECT COUNT(*) FROM attributions a WHERE a.entry_id = e.id) AS credited
             FROM journey_entries e
             WHERE e.outcome IN ('sent', 'holdout') AND e.entered_at >= $1 AND e.entered_at < $2
             ORDER BY e.id",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let detail = match row.try_get::<Option<String>, _>("detail")? {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("journey entry {id}: {e}")))?,
                None => BTreeMap::new(),
            };
            Ok(EntryRow {
                profile_id: row.try_get("profile_id")?,
                journey: row.try_get("journey")?,
                channel: row.try_get("channel")?,
                held_out: row.try_get::<String, _>("outcome")? == Outcome::Holdout.as_str(),
                entered_at: row.try_get("entered_at")?,
                credited: row.try_get("credited")?,
                detail,
            })
        })
        .collect()
    }
}
