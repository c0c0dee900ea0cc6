//! Read-outs for the operations figures, per sink: how its work items finished within a window, its
//! sync latencies counted by value, its backlog and dead letters, the time its vendor's rate limits
//! held its work, and the events each source brought in. Counts only: which value is a percentile
//! and what a window's failures burn are `rapport_core::operations`'s rules.

use super::rows::Value;
use super::{packed, Store, StoreError};
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
    /// How `sink`'s work items finished at or after `since` (ms since the epoch). Counted side by
    /// side in one walk of `deliveries_finished` rather than grouped by outcome, which sorted
    /// every delivery of the window (0.33 s of CPU at two million in the `sqlite3` shell, 0.17 s
    /// this way).
    pub async fn outcomes_since(&self, sink: &str, since: i64) -> Result<Outcomes, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END), 0) AS delivered,
                    COALESCE(SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected,
                    COALESCE(SUM(CASE WHEN outcome = 'dead' THEN 1 ELSE 0 END), 0) AS dead
             FROM deliveries WHERE sink_id = $1 AND at >= $2",
        )
        .bind(sink)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let count = |column| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        Ok(Outcomes {
            delivered: count("delivered")?,
            rejected: count("rejected")?,
            dead: count("dead")?,
        })
    }

    /// The sync latencies (ms from queued to confirmed) of `sink`'s deliveries confirmed at or
    /// after `since` that count for latency, each with how many deliveries took it, in no
    /// particular order: grouped in one walk of the window, read packed (see `packed`). Which
    /// rank is a percentile is `rapport_core::operations`'.
    pub async fn sync_latency_counts(
        &self,
        sink: &str,
        since: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let packed = packed::read(
            &self.pool,
            &["latency", "n"],
            &format!(
                "FROM (SELECT at - queued_at AS latency, COUNT(*) AS n {SYNCED}
                       GROUP BY at - queued_at) AS counted"
            ),
            &[Value::from(sink), Value::from(since)],
        )
        .await?;
        packed.decode(|row| {
            Ok((
                row.int("latency")?,
                u64::try_from(row.int("n")?).unwrap_or(0),
            ))
        })
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

    /// Events each of `sources` brought in and the store still holds, in the order given. Counted
    /// side by side in one walk of an index holding the source (grouping by source sorted every
    /// event: 0.14 s of CPU at a million in the `sqlite3` shell, 0.05 s this way).
    pub async fn events_by_source(&self, sources: &[&str]) -> Result<Vec<i64>, StoreError> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let columns: Vec<String> = (1..=sources.len())
            .map(|i| format!("COALESCE(SUM(CASE WHEN source_id = ${i} THEN 1 ELSE 0 END), 0)"))
            .collect();
        let sql = format!("SELECT {} FROM events", columns.join(", "));
        let mut query = sqlx::query(&sql);
        for source in sources {
            query = query.bind(*source);
        }
        let row = query.fetch_one(&self.pool).await?;
        (0..sources.len())
            .map(|i| Ok(row.try_get::<i64, _>(i)?))
            .collect()
    }
}
