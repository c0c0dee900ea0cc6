//! Read-outs for the operations figures, per sink: how its work items finished within a window, its
//! sync latencies ranked, its backlog and dead letters, the time its vendor's rate limits held its
//! work, and the events each source brought in. Counts and ranks only: which rank is a percentile
//! and what a window's failures burn are `rapport_core::operations`'s rules.

use super::{Store, StoreError};
use rapport_core::operations::Outcomes;
use sqlx::Row;
use std::collections::BTreeMap;

/// Work a sink still owes: pending or in flight, less journey messages waiting for their time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub items: i64,
    /// When the oldest of them was queued (ms since the epoch).
    pub oldest_queued_at: Option<i64>,
}

/// The deliveries that count for sync latency: sales and people synced (not journey messages,
/// which wait for their time by design), confirmed by the sink at or after `$2`, from work queued
/// since the latency was kept.
const SYNCED: &str = "FROM deliveries
     WHERE sink_id = $1 AND at >= $2 AND outcome = 'ok' AND kind <> 'message'
       AND queued_at IS NOT NULL";

impl Store {
    /// How `sink`'s work items finished at or after `since` (ms since the epoch).
    pub async fn outcomes_since(&self, sink: &str, since: i64) -> Result<Outcomes, StoreError> {
        let mut outcomes = Outcomes::default();
        for row in sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM deliveries
             WHERE sink_id = $1 AND at >= $2 GROUP BY outcome",
        )
        .bind(sink)
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        {
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            match row.try_get::<String, _>("outcome")?.as_str() {
                "ok" => outcomes.delivered += n,
                "rejected" => outcomes.rejected += n,
                "dead" => outcomes.dead += n,
                _ => {}
            }
        }
        Ok(outcomes)
    }

    /// How many of `sink`'s deliveries confirmed at or after `since` have a sync latency.
    pub async fn synced_count(&self, sink: &str, since: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {SYNCED}"))
            .bind(sink)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The sync latency (ms from queued to confirmed) at 1-based `rank` among those counted by
    /// [`Store::synced_count`], shortest first.
    pub async fn sync_latency_at_rank(
        &self,
        sink: &str,
        since: i64,
        rank: u64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT at - queued_at AS latency {SYNCED} ORDER BY latency LIMIT 1 OFFSET $3"
        ))
        .bind(sink)
        .bind(since)
        .bind(i64::try_from(rank.saturating_sub(1)).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// `sink`'s backlog at `now`.
    pub async fn backlog_at(&self, sink: &str, now: i64) -> Result<Backlog, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox
             WHERE sink_id = $1 AND status IN ('pending', 'inflight')
               AND NOT (kind = 'message' AND next_attempt_at > $2)",
        )
        .bind(sink)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog {
            items: row.try_get("n")?,
            oldest_queued_at: row.try_get("oldest")?,
        })
    }

    /// Dead letters (items dead or rejected, not yet replayed or discarded), by sink.
    pub async fn dead_letter_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        sqlx::query(
            "SELECT sink_id, COUNT(*) AS n FROM outbox
             WHERE status IN ('dead', 'rejected') GROUP BY sink_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("sink_id")?, r.try_get("n")?)))
        .collect()
    }

    /// Adds `waited_ms` to the time `sink`'s vendor's rate limits held its work.
    pub async fn add_rate_limit_wait(
        &self,
        sink: &str,
        waited_ms: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sink_rate_limit_waits (sink_id, waited_ms, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (sink_id) DO UPDATE SET
                 waited_ms = sink_rate_limit_waits.waited_ms + excluded.waited_ms,
                 updated_at = excluded.updated_at",
        )
        .bind(sink)
        .bind(waited_ms)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The time (ms) each sink's vendor's rate limits held its work, by sink.
    pub async fn rate_limit_waits(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        sqlx::query("SELECT sink_id, waited_ms FROM sink_rate_limit_waits")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("sink_id")?, r.try_get("waited_ms")?)))
            .collect()
    }

    /// Events each source brought in and the store still holds, by source.
    pub async fn events_by_source(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        sqlx::query("SELECT source_id, COUNT(*) AS n FROM events GROUP BY source_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("source_id")?, r.try_get("n")?)))
            .collect()
    }
}
