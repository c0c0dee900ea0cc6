//! The erasure tables: the erasure log (`erasures`), each sink's part of an erasure
//! (`erasure_sinks`, claimed by the erasure worker until every sink has confirmed), and the
//! identifiers kept for the sinks meanwhile (`erasure_identities`).
//!
//! Where PII lives meanwhile: the person's identifiers are copied into `erasure_identities`, the
//! only place they are left after the scrub, and deleted in the transaction that records the last
//! sink's confirmation. `erasures` and `erasure_sinks` never hold PII: the person is named there by
//! their profile's random key, and sink errors are kept with the identifiers blanked out.

use super::queue::{self, Finish, Queue, Selection};
use super::rows::{self, Value};
use super::{now_ms, Store, StoreError, Tx};
use rapport_core::governance::erasure::ErasurePlan;
use rapport_core::model::Identity;
use sqlx::Row;

/// Whether a sink has confirmed its part of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Pending,
    Confirmed,
}

impl ErasureStatus {
    fn as_str(self) -> &'static str {
        match self {
            ErasureStatus::Pending => "pending",
            ErasureStatus::Confirmed => "confirmed",
        }
    }

    /// A stored status; a part leased to a worker is still pending.
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            queue::PENDING | queue::INFLIGHT => Ok(ErasureStatus::Pending),
            "confirmed" => Ok(ErasureStatus::Confirmed),
            other => Err(StoreError::Corrupt(format!(
                "erasure_sinks.status {other:?}"
            ))),
        }
    }
}

/// The sinks' parts of erasures as a queue: a sink's parts, named by erasure; confirmed when done,
/// when the error of the last failed attempt goes.
const ERASURES: Queue = Queue {
    table: "erasure_sinks",
    partition: "sink_id",
    key: "erasure_id",
    alias: "e",
    done: "confirmed",
    done_at: Some("confirmed_at"),
    keeps_last_error: false,
};

/// One sink's part of an erasure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkErasure {
    pub sink: String,
    pub status: ErasureStatus,
    pub attempts: i64,
    /// When it is next tried: when it is due, or when the lease of an attempt in progress ends.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub confirmed_at: Option<i64>,
}

/// One erasure of the log, with each sink's part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErasureRecord {
    pub id: i64,
    pub profile_key: String,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub sinks: Vec<SinkErasure>,
}

/// A claimed sink item: whom the sink must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureItem {
    pub erasure_id: i64,
    pub sink: String,
    pub attempts: i64,
    /// The forgotten profile's key, which the sinks were sent as the person's profile key.
    pub profile_key: String,
    pub identities: Vec<Identity>,
}

/// Records the erasure of the profile with key `profile_key`, requested at `now`, as `plan` says:
/// when it is complete, the identifiers kept for the sinks, and each sink's part. Returns its id.
pub async fn record(
    tx: &mut Tx<'_>,
    profile_key: &str,
    plan: &ErasurePlan,
    now: i64,
) -> Result<i64, StoreError> {
    let erasure_id: i64 = sqlx::query_scalar(
        "INSERT INTO erasures (profile_key, requested_at, completed_at) VALUES ($1, $2, $3)
         RETURNING id",
    )
    .bind(profile_key)
    .bind(now)
    .bind(plan.completed_at)
    .fetch_one(&mut *tx.inner)
    .await?;
    let kept: Vec<Vec<Value>> = plan
        .kept_identities
        .iter()
        .map(|i| vec![erasure_id.into(), i.kind.as_str().into(), (&i.value).into()])
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO erasure_identities (erasure_id, kind, value)",
        "",
        &kept,
    )
    .await?;
    let parts: Vec<Vec<Value>> = plan
        .sinks
        .iter()
        .map(|part| {
            vec![
                erasure_id.into(),
                (&part.sink).into(),
                ErasureStatus::Pending.as_str().into(),
                part.first_attempt_at.into(),
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO erasure_sinks (erasure_id, sink_id, status, next_attempt_at)",
        "",
        &parts,
    )
    .await?;
    Ok(erasure_id)
}

impl Store {
    /// Claims `sink`'s erasure items that are due (only erasure `only`'s, if given), leasing each
    /// until `now + lease_ms`; an attempt that dies with its process is retried after the lease.
    pub async fn claim_erasures(
        &self,
        sink: &str,
        only: Option<i64>,
        lease_ms: i64,
    ) -> Result<Vec<ErasureItem>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        queue::release_expired_leases(&mut tx, &ERASURES, sink, now).await?;
        let selection = Selection {
            select: "SELECT e.erasure_id FROM erasure_sinks e
                     WHERE e.sink_id = $1 AND e.status = 'pending' AND e.next_attempt_at <= $2
                       AND ($4 = 0 OR e.erasure_id = $4)
                     ORDER BY e.erasure_id",
            params: &[only.unwrap_or(0).into()],
            returning: "erasure_id, attempts",
        };
        let mut leased = queue::lease(&mut tx, &ERASURES, sink, selection, now, now + lease_ms)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("erasure_id")?, row.try_get("attempts")?)))
            .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
        leased.sort_unstable();
        let mut claimed = Vec::with_capacity(leased.len());
        for (erasure_id, attempts) in leased {
            let profile_key: String =
                sqlx::query_scalar("SELECT profile_key FROM erasures WHERE id = $1")
                    .bind(erasure_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let identities = sqlx::query(
                "SELECT kind, value FROM erasure_identities WHERE erasure_id = $1
                 ORDER BY kind, value",
            )
            .bind(erasure_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(rows::identity)
            .collect::<Result<_, _>>()?;
            claimed.push(ErasureItem {
                erasure_id,
                sink: sink.to_string(),
                attempts,
                profile_key,
                identities,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records that the sink forgot the person. When it was the last sink, the erasure is complete
    /// and the identifiers kept for the sinks are deleted; returns whether that happened.
    pub async fn confirm_erasure(&self, erasure_id: i64, sink: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        queue::finish(&mut tx, &ERASURES, sink, &[erasure_id], Finish::Done, now).await?;
        let unconfirmed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM erasure_sinks
             WHERE erasure_id = $1 AND status IN ('pending', 'inflight')",
        )
        .bind(erasure_id)
        .fetch_one(&mut *tx)
        .await?;
        if unconfirmed == 0 {
            sqlx::query("DELETE FROM erasure_identities WHERE erasure_id = $1")
                .bind(erasure_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE erasures SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL",
            )
            .bind(now)
            .bind(erasure_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(unconfirmed == 0)
    }

    /// Puts the sink's item back in line for `at`, with why it failed (already free of PII);
    /// `attempted` says whether it counts as an attempt (a throttled or refused call does not).
    pub async fn retry_erasure(
        &self,
        erasure_id: i64,
        sink: &str,
        at: i64,
        error: &str,
        attempted: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        queue::retry(&mut tx, &ERASURES, sink, erasure_id, at, error, attempted).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Erasure items of `sinks` still pending (an item being tried is pending until it is
    /// confirmed), and when the earliest of them is due (an item being tried, when its lease ends).
    pub async fn erasure_backlog(
        &self,
        sinks: &[String],
    ) -> Result<(i64, Option<i64>), StoreError> {
        let list: Vec<Value> = sinks.iter().map(Value::from).collect();
        let mut conn = self.pool.acquire().await?;
        let mut pending = 0;
        let mut next_at: Option<i64> = None;
        let sql = format!(
            "SELECT COUNT(*) AS n, MIN({}) AS next_at FROM erasure_sinks
             WHERE status IN ('pending', 'inflight') AND sink_id IN {{list}}",
            queue::NEXT_DUE
        );
        for row in rows::query_in(&mut conn, &sql, &[], &list).await? {
            pending += row.try_get::<i64, _>("n")?;
            if let Some(at) = row.try_get::<Option<i64>, _>("next_at")? {
                next_at = Some(next_at.map_or(at, |n| n.min(at)));
            }
        }
        Ok((pending, next_at))
    }

    /// The erasure log, newest first, or one erasure.
    pub async fn erasures(
        &self,
        only: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ErasureRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, profile_key, requested_at, completed_at FROM erasures
             WHERE ($1 = 0 OR id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(only.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut log = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let sinks = sqlx::query(&format!(
                "SELECT sink_id, status, attempts, {} AS next_at, last_error, confirmed_at
                 FROM erasure_sinks WHERE erasure_id = $1 ORDER BY sink_id",
                queue::NEXT_DUE
            ))
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|s| {
                Ok(SinkErasure {
                    sink: s.try_get("sink_id")?,
                    status: ErasureStatus::parse(&s.try_get::<String, _>("status")?)?,
                    attempts: s.try_get("attempts")?,
                    next_attempt_at: s.try_get("next_at")?,
                    last_error: s.try_get("last_error")?,
                    confirmed_at: s.try_get("confirmed_at")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
            log.push(ErasureRecord {
                id,
                profile_key: row.try_get("profile_key")?,
                requested_at: row.try_get("requested_at")?,
                completed_at: row.try_get("completed_at")?,
                sinks,
            });
        }
        Ok(log)
    }

    /// Ids of the erasures of the profile with this key, oldest first.
    pub async fn erasures_of(&self, profile_key: &str) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM erasures WHERE profile_key = $1 ORDER BY id")
                .bind(profile_key)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
