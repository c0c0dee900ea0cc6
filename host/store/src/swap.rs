//! Swapping vendors in the store: a sink that joins a shop with customers is first sent all of them
//! (its backfill, queued once and followed as it drains), and a sink being replaced is retired once
//! it owes nothing more.

use super::{now_ms, Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// Idempotency keys of backfill items start with this, then `<sink>:<profile key>`.
const BACKFILL_KEY: &str = "backfill:";

/// Whether a sink being retired is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// It still owes work.
    Owes,
    /// It is retired: `newly` by this call, or earlier.
    Retired { newly: bool },
}

/// How far a sink's backfill has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Backfill {
    pub sink: String,
    /// Profiles queued when the sink joined.
    pub profiles: i64,
    /// Of those, how many are still to be delivered.
    pub owed: i64,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at: i64,
}

impl Backfill {
    pub fn done(&self) -> i64 {
        self.profiles - self.owed
    }
}

impl Store {
    /// Starts `sink`'s backfill unless it has had one: queues a profile update of every person the
    /// store knows (with at least one identity; the sink's consent gate decides what each carries)
    /// and records how many. Returns how many were queued, or `None` if the sink was backfilled
    /// before. Work queued later for the same people orders after it.
    pub async fn start_backfill(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let started: Option<i64> =
            sqlx::query_scalar("SELECT started_at FROM backfills WHERE sink_id = $1")
                .bind(sink)
                .fetch_optional(&mut *tx)
                .await?;
        if started.is_some() {
            return Ok(None);
        }
        let queued = sqlx::query(
            "INSERT INTO outbox (sink_id, kind, profile_id, idempotency_key, status, attempts,
                                 next_attempt_at, created_at)
             SELECT $1, 'profile', p.id, $2 || $1 || ':' || p.key, 'pending', 0, $3, $3
             FROM profiles p
             WHERE EXISTS (SELECT 1 FROM identities i WHERE i.profile_id = p.id)
             ORDER BY p.id
             ON CONFLICT (sink_id, idempotency_key) DO NOTHING",
        )
        .bind(sink)
        .bind(BACKFILL_KEY)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query("INSERT INTO backfills (sink_id, profiles, started_at) VALUES ($1, $2, $3)")
            .bind(sink)
            .bind(queued)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Every sink's backfill, with what it still owes.
    pub async fn backfills(&self) -> Result<Vec<Backfill>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.sink_id, b.profiles, b.started_at,
                    (SELECT COUNT(*) FROM outbox o
                      WHERE o.sink_id = b.sink_id AND o.kind = 'profile'
                        AND o.status IN ('pending', 'inflight')
                        AND o.idempotency_key LIKE 'backfill:%') AS owed
             FROM backfills b ORDER BY b.sink_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Backfill {
                    sink: row.try_get("sink_id")?,
                    profiles: row.try_get("profiles")?,
                    owed: row.try_get("owed")?,
                    started_at: row.try_get("started_at")?,
                })
            })
            .collect()
    }

    /// Retires `sink` if it owes nothing (no item pending or in flight, whatever its due time).
    pub async fn retire_if_drained(&self, sink: &str) -> Result<Retirement, StoreError> {
        if self.owed(sink).await? > 0 {
            return Ok(Retirement::Owes);
        }
        let newly =
            sqlx::query("UPDATE sinks SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL")
                .bind(sink)
                .bind(now_ms())
                .execute(&self.writer)
                .await?
                .rows_affected()
                > 0;
        Ok(Retirement::Retired { newly })
    }

    /// When `sink` was retired (if it was), and how many items it still owes.
    pub async fn retirement(&self, sink: &str) -> Result<(Option<i64>, i64), StoreError> {
        Ok((self.retired_at(sink).await?, self.owed(sink).await?))
    }

    /// When `sink` was retired, if it was.
    pub async fn retired_at(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT retired_at FROM sinks WHERE id = $1")
                .bind(sink)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }
}
