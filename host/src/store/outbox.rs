//! The outbox: work owed to each sink. Rows move pending → inflight (leased) → delivered, rejected or
//! dead; a lease that expires (the process died) makes the row claimable again. Only the oldest
//! unfinished row of each person is claimable, so a person's updates reach a sink in order.

use super::{now_ms, Store, StoreError};
use sqlx::{Any, Row, Transaction};

/// SQL condition: outbox row `o` is the oldest unfinished item of its person for its sink.
const HEAD_OF_LINE: &str = "NOT EXISTS (SELECT 1 FROM outbox e
    WHERE e.sink_id = o.sink_id AND e.profile_id = o.profile_id
      AND e.status IN ('pending', 'inflight') AND e.id < o.id)";

/// What a work item asks of the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    Profile,
    Activity,
}

impl WorkKind {
    fn as_str(self) -> &'static str {
        match self {
            WorkKind::Profile => "profile",
            WorkKind::Activity => "activity",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "profile" => Ok(WorkKind::Profile),
            "activity" => Ok(WorkKind::Activity),
            other => Err(StoreError::Corrupt(format!("outbox kind {other:?}"))),
        }
    }
}

/// A claimed work item.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: WorkKind,
    pub profile_id: i64,
    pub event_id: Option<i64>,
    pub idempotency_key: String,
    pub attempts: i64,
}

/// How a work item ended this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Delivered,
    /// Try again at this time (ms since the epoch); the error is kept for the operator.
    Retry {
        at: i64,
        error: String,
        /// The vendor asked the sink to slow down.
        throttled: bool,
    },
    /// The vendor refused it for good.
    Rejected(String),
    /// Retries exhausted.
    Dead(String),
    /// Not attempted (the sink's plugin is quarantined): wait until this time; uses no attempt.
    Deferred {
        at: i64,
        reason: String,
    },
}

pub(super) async fn enqueue_profile(
    tx: &mut Transaction<'_, Any>,
    sink: &str,
    profile_id: i64,
    event_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    // A profile update still waiting (not yet attempted) will render the latest snapshot when it is
    // sent, so a second one would say nothing new.
    let result = sqlx::query(
        "INSERT INTO outbox (sink_id, kind, profile_id, event_id, idempotency_key, status, attempts,
                             next_attempt_at, created_at)
         SELECT $1, 'profile', $2, $3, $4, 'pending', 0, $5, $5
         WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE sink_id = $1 AND profile_id = $2
                           AND kind = 'profile' AND status = 'pending' AND attempts = 0)",
    )
    .bind(sink)
    .bind(profile_id)
    .bind(event_id)
    .bind(format!("profile:{profile_id}:{event_id}"))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() as usize)
}

pub(super) async fn enqueue_activity(
    tx: &mut Transaction<'_, Any>,
    sink: &str,
    profile_id: i64,
    event_id: i64,
    key: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let result = sqlx::query(
        "INSERT INTO outbox (sink_id, kind, profile_id, event_id, idempotency_key, status, attempts,
                             next_attempt_at, created_at)
         VALUES ($1, 'activity', $2, $3, $4, 'pending', 0, $5, $5)
         ON CONFLICT (sink_id, idempotency_key) DO NOTHING",
    )
    .bind(sink)
    .bind(profile_id)
    .bind(event_id)
    .bind(key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() as usize)
}

impl Store {
    /// Claims up to `limit` ready work items of one kind for `sink`, leasing them for `lease_ms`.
    /// One statement selects and leases, so concurrent claims (other workers, other hosts on
    /// PostgreSQL) never take the same item.
    pub async fn claim(
        &self,
        sink: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let now = now_ms();
        self.release_expired_leases(sink, now).await?;
        // On PostgreSQL several hosts claim from one outbox: rows another host is claiming are skipped.
        let lock = match self.backend {
            super::Backend::Postgres => "FOR UPDATE OF o SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        // One call carries one kind of work: the kind of the oldest ready item.
        let ready = format!(
            "o.sink_id = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2 AND {HEAD_OF_LINE}"
        );
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET status = 'inflight', lease_until = $4
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE {ready}
                   AND o.kind = (SELECT o.kind FROM outbox o WHERE {ready} ORDER BY o.id LIMIT 1)
                 ORDER BY o.id
                 LIMIT $3 {lock})
             RETURNING id, kind, profile_id, event_id, idempotency_key, attempts"
        ))
        .bind(sink)
        .bind(now)
        .bind(limit as i64)
        .bind(now + lease_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .into_iter()
            .map(|row| {
                Ok(OutboxRow {
                    id: row.try_get("id")?,
                    kind: WorkKind::parse(&row.try_get::<String, _>("kind")?)?,
                    profile_id: row.try_get("profile_id")?,
                    event_id: row.try_get("event_id")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|item| item.id);
        Ok(claimed)
    }

    /// Puts items whose lease ran out (their worker died) back in line, keeping their attempts.
    async fn release_expired_leases(&self, sink: &str, now: i64) -> Result<(), StoreError> {
        let released = sqlx::query(
            "UPDATE outbox SET status = 'pending', lease_until = NULL, next_attempt_at = $2
             WHERE sink_id = $1 AND status = 'inflight' AND lease_until <= $2",
        )
        .bind(sink)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if released > 0 {
            tracing::warn!(
                sink,
                released,
                "work items whose lease expired are back in line"
            );
        }
        Ok(())
    }

    /// Records how each claimed item ended.
    pub async fn complete(
        &self,
        sink: &str,
        results: &[(OutboxRow, Completion)],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for (item, completion) in results {
            let attempts = match completion {
                Completion::Deferred { .. } => item.attempts,
                _ => item.attempts + 1,
            };
            let (status, next_at, error) = match completion {
                Completion::Deferred { at, reason } => {
                    ("pending", Some(*at), Some(reason.as_str()))
                }
                Completion::Delivered => ("delivered", None, None),
                Completion::Retry { at, error, .. } => ("pending", Some(*at), Some(error.as_str())),
                Completion::Rejected(reason) => ("rejected", None, Some(reason.as_str())),
                Completion::Dead(reason) => ("dead", None, Some(reason.as_str())),
            };
            sqlx::query(
                "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = COALESCE($3, next_attempt_at),
                                   lease_until = NULL, last_error = COALESCE($4, last_error)
                 WHERE id = $5",
            )
            .bind(status)
            .bind(attempts)
            .bind(next_at)
            .bind(error)
            .bind(item.id)
            .execute(&mut *tx)
            .await?;
            if status != "pending" {
                sqlx::query(
                    "INSERT INTO deliveries (outbox_id, sink_id, kind, idempotency_key, outcome, detail, attempts, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(item.id)
                .bind(sink)
                .bind(item.kind.as_str())
                .bind(&item.idempotency_key)
                .bind(if status == "delivered" { "ok" } else { status })
                .bind(error)
                .bind(attempts)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Work items of `sink` not yet finished (pending or in flight), and the earliest time one of them
    /// becomes claimable. Items queued behind an earlier unfinished item of the same person do not
    /// count towards that time: they wait for the item ahead of them.
    pub async fn backlog(&self, sink: &str) -> Result<(i64, Option<i64>), StoreError> {
        let owed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE sink_id = $1 AND status IN ('pending', 'inflight')",
        )
        .bind(sink)
        .fetch_one(&self.pool)
        .await?;
        let next_at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(CASE WHEN o.status = 'pending' THEN o.next_attempt_at ELSE o.lease_until END)
             FROM outbox o
             WHERE o.sink_id = $1 AND o.status IN ('pending', 'inflight') AND {HEAD_OF_LINE}"
        ))
        .bind(sink)
        .fetch_one(&self.pool)
        .await?;
        Ok((owed, next_at))
    }

    /// The stored JSON payload of an event.
    pub async fn event_payload(&self, event_id: i64) -> Result<(String, i64, String), StoreError> {
        let row = sqlx::query("SELECT source_id, occurred_at, payload FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((
            row.try_get("source_id")?,
            row.try_get("occurred_at")?,
            row.try_get("payload")?,
        ))
    }
}
