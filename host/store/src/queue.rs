//! One queue mechanism for the store's work tables (the outbox, the sinks' parts of erasures). An
//! item waits `pending` until its `next_attempt_at`; a claim leases it (`inflight` until
//! `lease_until`); its worker then puts it back in line for a time of the caller's choosing, with
//! the error, or finishes it for good. A lease that runs out (its worker died) puts the item back
//! in line at the next claim. What a claim selects stays with each table; the mechanics are here.
//! Every function works inside the caller's transaction; policy (backoff, lease length) arrives as
//! times.

use super::dialect::Backend;
use super::rows::{self, Value};
use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor};

/// An item waiting for its time.
pub(crate) const PENDING: &str = "pending";
/// An item leased to a worker.
pub(crate) const INFLIGHT: &str = "inflight";

/// A work table. Its items belong to a partition (a sink), are named within it by `key`, and have
/// the columns `status`, `attempts`, `next_attempt_at`, `lease_until` and `last_error`.
#[derive(Debug)]
pub(crate) struct Queue {
    pub table: &'static str,
    /// The column naming the partition an item belongs to.
    pub partition: &'static str,
    /// The integer column naming an item within its partition.
    pub key: &'static str,
    /// The alias a claim's selection gives the table: the row lock names it.
    pub alias: &'static str,
    /// The status of an item whose work is done.
    pub done: &'static str,
    /// A column stamped with the time an item's work was done, if the table keeps one.
    pub done_at: Option<&'static str>,
    /// Whether an item that finishes with nothing to say keeps its last error (the outbox keeps it
    /// for the operator) or drops it.
    pub keeps_last_error: bool,
}

/// How a leased item leaves the queue for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Finish<'a> {
    /// Its work is done; that was one more attempt.
    Done,
    /// It ends without its work done, under `status` (the table's name for why: a dead letter, or
    /// an item withheld on purpose), with the reason kept as its last error; `attempted` says
    /// whether this counts as an attempt.
    Ended {
        status: &'a str,
        reason: &'a str,
        attempted: bool,
    },
}

/// Puts the partition's items whose lease ran out back in line, due `now`, keeping their
/// attempts. Returns how many there were.
pub(crate) async fn release_expired_leases(
    conn: &mut AnyConnection,
    queue: &Queue,
    partition: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let Queue {
        table,
        partition: column,
        ..
    } = queue;
    let released = conn
        .execute(
            sqlx::query(&format!(
                "UPDATE {table} SET status = '{PENDING}', lease_until = NULL, next_attempt_at = $2
                 WHERE {column} = $1 AND status = '{INFLIGHT}' AND lease_until <= $2"
            ))
            .bind(partition)
            .bind(now),
        )
        .await?
        .rows_affected();
    if released > 0 {
        tracing::warn!(
            table,
            partition,
            released,
            "work items whose lease expired are back in line"
        );
    }
    Ok(released)
}

/// Which due items a claim takes, and what it learns of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selection<'a> {
    /// A query of the queue's `key` over its table aliased `alias`, in which `$1` is the partition
    /// and `$2` is the time of the claim; `params` follow as `$4…` (`$3` is the lease's end).
    pub select: &'a str,
    pub params: &'a [Value<'a>],
    /// The columns returned for each item leased.
    pub returning: &'a str,
}

/// Leases the items `selection` chooses at `now` until `lease_until`, and returns what the
/// selection asks of each. On PostgreSQL the selection locks the rows it chooses and skips rows
/// other claims hold, so two claims never take the same item.
pub(crate) async fn lease(
    conn: &mut AnyConnection,
    queue: &Queue,
    partition: &str,
    selection: Selection<'_>,
    now: i64,
    lease_until: i64,
) -> Result<Vec<AnyRow>, StoreError> {
    let Selection {
        select,
        params,
        returning,
    } = selection;
    let Queue {
        table,
        partition: column,
        key,
        alias,
        ..
    } = queue;
    let backend = Backend::of(conn);
    let lock = backend.skip_locked(alias);
    let named = backend.claim_selection();
    let partition_column = backend.not_by_index(column);
    let sql = format!(
        "WITH picked {named} ({select} {lock})
         UPDATE {table} SET status = '{INFLIGHT}', lease_until = $3
         WHERE {partition_column} = $1 AND {key} IN (SELECT {key} FROM picked)
         RETURNING {returning}"
    );
    let mut query = sqlx::query(&sql)
        .bind(partition)
        .bind(now)
        .bind(lease_until);
    for value in params {
        query = rows::bind(query, *value);
    }
    Ok(conn.fetch_all(query).await?)
}

/// Puts an unfinished item back in line for `at`, with why this attempt failed; `attempted` says
/// whether it counts as an attempt (a deferral does not). Returns whether the item was unfinished.
pub(crate) async fn retry(
    conn: &mut AnyConnection,
    queue: &Queue,
    partition: &str,
    key: i64,
    at: i64,
    error: &str,
    attempted: bool,
) -> Result<bool, StoreError> {
    let Queue {
        table,
        partition: column,
        key: key_column,
        ..
    } = queue;
    let sql = format!(
        "UPDATE {table} SET status = '{PENDING}', lease_until = NULL,
                            attempts = attempts + $1, next_attempt_at = $2, last_error = $3
         WHERE {column} = $4 AND {key_column} = $5 AND status IN ('{PENDING}', '{INFLIGHT}')"
    );
    let retried = conn
        .execute(
            sqlx::query(&sql)
                .bind(i64::from(attempted))
                .bind(at)
                .bind(error)
                .bind(partition)
                .bind(key),
        )
        .await?
        .rows_affected();
    Ok(retried > 0)
}

/// Finishes the partition's unfinished items `keys` for good, as `end` says, at `now`.
pub(crate) async fn finish(
    conn: &mut AnyConnection,
    queue: &Queue,
    partition: &str,
    keys: &[i64],
    end: Finish<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let (status, attempted, reason) = match end {
        Finish::Done => (queue.done, true, None),
        Finish::Ended {
            status,
            reason,
            attempted,
        } => (status, attempted, Some(reason)),
    };
    let error = if queue.keeps_last_error {
        "COALESCE($3, last_error)"
    } else {
        "$3"
    };
    let mut params: Vec<Value> = vec![status.into(), i64::from(attempted).into(), reason.into()];
    let stamp = match (end, queue.done_at) {
        (Finish::Done, Some(column)) => {
            params.push(now.into());
            format!(", {column} = ${}", params.len())
        }
        _ => String::new(),
    };
    params.push(partition.into());
    let Queue {
        table,
        partition: column,
        key,
        ..
    } = queue;
    let sql = format!(
        "UPDATE {table} SET status = $1, attempts = attempts + $2, lease_until = NULL,
                            last_error = {error}{stamp}
         WHERE {column} = ${} AND status IN ('{PENDING}', '{INFLIGHT}') AND {key} IN {{list}}",
        params.len()
    );
    rows::query_ids(conn, &sql, &params, keys).await?;
    Ok(())
}

/// SQL for when an unfinished item is next due: a pending one at its time, a leased one when its
/// lease runs out.
pub(crate) const NEXT_DUE: &str =
    "CASE WHEN status = 'inflight' THEN lease_until ELSE next_attempt_at END";
