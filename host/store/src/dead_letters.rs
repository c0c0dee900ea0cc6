//! The dead-letter queue: work items that ended `dead` (retries exhausted) or `rejected` (the vendor
//! refused them), for an operator to inspect, replay once the cause is fixed, or discard.

use super::{now_ms, Store, StoreError};
use sqlx::Row;

/// Which finished items to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterStatus {
    Dead,
    Rejected,
}

impl LetterStatus {
    fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Dead => "dead",
            LetterStatus::Rejected => "rejected",
        }
    }
}

/// One dead or rejected work item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub sink: String,
    pub kind: String,
    pub status: String,
    pub idempotency_key: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    /// The profile the item is about, and the stored event it carries (for activities).
    pub profile_key: String,
    pub event: Option<String>,
}

impl Store {
    /// Dead or rejected items, newest first.
    pub async fn dead_letters(
        &self,
        sink: Option<&str>,
        status: LetterStatus,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id FROM outbox o
             WHERE o.status = $1 AND ($2 = '' OR o.sink_id = $2)
             ORDER BY o.id DESC LIMIT $3",
        )
        .bind(status.as_str())
        .bind(sink.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut letters = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(letter) = self.dead_letter(row.try_get("id")?).await? {
                letters.push(letter);
            }
        }
        Ok(letters)
    }

    /// One finished item by outbox id (any status but pending or in flight).
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        let row = sqlx::query(
            "SELECT o.id, o.sink_id, o.kind, o.status, o.idempotency_key, o.attempts, o.last_error,
                    o.created_at, p.key AS profile_key, e.payload
             FROM outbox o
             JOIN profiles p ON p.id = o.profile_id
             LEFT JOIN events e ON e.id = o.event_id
             WHERE o.id = $1 AND o.status IN ('dead', 'rejected', 'discarded')",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DeadLetter {
                id: r.try_get("id")?,
                sink: r.try_get("sink_id")?,
                kind: r.try_get("kind")?,
                status: r.try_get("status")?,
                idempotency_key: r.try_get("idempotency_key")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                profile_key: r.try_get("profile_key")?,
                event: r.try_get("payload")?,
            })
        })
        .transpose()
    }

    /// Puts dead or rejected items back in line with fresh attempts; returns how many.
    pub async fn replay_dead_letters(&self, ids: &[i64]) -> Result<u64, StoreError> {
        self.move_letters(
            ids,
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL
             WHERE id = $2 AND status IN ('dead', 'rejected', 'discarded')",
        )
        .await
    }

    /// Marks dead or rejected items as discarded for good; returns how many.
    pub async fn discard_dead_letters(&self, ids: &[i64]) -> Result<u64, StoreError> {
        self.move_letters(
            ids,
            "UPDATE outbox SET status = 'discarded', next_attempt_at = $1
             WHERE id = $2 AND status IN ('dead', 'rejected')",
        )
        .await
    }

    async fn move_letters(&self, ids: &[i64], sql: &str) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut moved = 0;
        for id in ids {
            moved += sqlx::query(sql)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Ids of every item with `status`, optionally of one sink.
    pub async fn dead_letter_ids(
        &self,
        sink: Option<&str>,
        status: LetterStatus,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM outbox WHERE status = $1 AND ($2 = '' OR sink_id = $2) ORDER BY id",
        )
        .bind(status.as_str())
        .bind(sink.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?)
    }
}
