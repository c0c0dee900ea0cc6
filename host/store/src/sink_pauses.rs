//! Sinks paused as a whole: a vendor that throttles (429, rate limits) or refuses our credentials
//! (401/403) is not sent anything until the pause ends, and its work waits in the outbox without
//! using attempts. The pause lives in the store, so every host of a PostgreSQL setup honours it
//! and `rapport status` shows it; a refusal of credentials also marks the sink as needing the
//! operator's attention.

use super::{now_ms, Store, StoreError};
use sqlx::Row;

/// Why and until when a sink is paused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkPause {
    pub sink: String,
    /// Nothing is sent before this time (ms since the epoch).
    pub until: i64,
    pub reason: String,
    /// The vendor refused the sink's credentials: only the operator can fix that.
    pub needs_attention: bool,
    /// When the sink was first paused for this reason.
    pub since: i64,
}

impl Store {
    /// Pauses `sink` until `until`, with why; a pause already in force keeps its start time if it
    /// is of the same kind (needing attention or not).
    pub async fn pause_sink(
        &self,
        sink: &str,
        until: i64,
        reason: &str,
        needs_attention: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sink_pauses (sink_id, paused_until, reason, needs_attention, since)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sink_id) DO UPDATE SET
                 paused_until = excluded.paused_until, reason = excluded.reason,
                 since = CASE WHEN sink_pauses.needs_attention = excluded.needs_attention
                              THEN sink_pauses.since ELSE excluded.since END,
                 needs_attention = excluded.needs_attention",
        )
        .bind(sink)
        .bind(until)
        .bind(reason)
        .bind(i64::from(needs_attention))
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Ends `sink`'s pause (a delivery went through).
    pub async fn resume_sink(&self, sink: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sink_pauses WHERE sink_id = $1")
            .bind(sink)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// `sink`'s pause, if it has one (ended or not: it ends for good at the next delivery).
    pub async fn sink_pause(&self, sink: &str) -> Result<Option<SinkPause>, StoreError> {
        Ok(self.sink_pauses_where(Some(sink)).await?.pop())
    }

    /// Every sink's pause, by sink.
    pub async fn sink_pauses(&self) -> Result<Vec<SinkPause>, StoreError> {
        self.sink_pauses_where(None).await
    }

    async fn sink_pauses_where(&self, sink: Option<&str>) -> Result<Vec<SinkPause>, StoreError> {
        const COLUMNS: &str =
            "SELECT sink_id, paused_until, reason, needs_attention, since FROM sink_pauses";
        let rows = match sink {
            Some(sink) => {
                sqlx::query(&format!("{COLUMNS} WHERE sink_id = $1"))
                    .bind(sink)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{COLUMNS} ORDER BY sink_id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(SinkPause {
                    sink: row.try_get("sink_id")?,
                    until: row.try_get("paused_until")?,
                    reason: row.try_get("reason")?,
                    needs_attention: row.try_get::<i64, _>("needs_attention")? != 0,
                    since: row.try_get("since")?,
                })
            })
            .collect()
    }
}
