//! The `privacy_requests` table: requests a vendor forwarded about a person (or a whole shop),
//! recorded in the ingest transaction that stored them, then carried out once by the host's privacy
//! service, which records what it did. A request is recorded once per source, id and kind. A
//! person's own "forget me" from the preference page waits for the operator's confirmation first
//! (`confirmed_at`); the operator may decline it instead.

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::model::{Identity, PrivacyKind};
use sqlx::Row;

/// A request to record.
pub struct NewRequest<'a> {
    /// The vendor's id of the request.
    pub request_id: &'a str,
    pub kind: PrivacyKind,
    /// Whom it names, normalised.
    pub identities: &'a [Identity],
}

/// A recorded request not carried out yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: i64,
    pub source_id: String,
    pub request_id: String,
    pub kind: PrivacyKind,
    pub identities: Vec<Identity>,
    pub received_at: i64,
}

/// A request as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: i64,
    pub source_id: String,
    pub request_id: String,
    pub kind: PrivacyKind,
    pub received_at: i64,
    /// When the operator confirmed it (vendors' requests come confirmed); none while it waits.
    pub confirmed_at: Option<i64>,
    pub handled_at: Option<i64>,
    pub outcome: Option<String>,
}

/// Records `requests` from `source_id`, received at `now`; one already recorded is left as it is.
pub async fn insert(
    tx: &mut Tx<'_>,
    source_id: &str,
    requests: &[NewRequest<'_>],
    now: i64,
) -> Result<(), StoreError> {
    let identities = (requests.iter())
        .map(|r| serde_json::to_string(r.identities))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("privacy request identities: {e}")))?;
    let values: Vec<Vec<Value>> = (requests.iter().zip(&identities))
        .map(|(r, identities)| {
            vec![
                source_id.into(),
                r.request_id.into(),
                r.kind.as_str().into(),
                identities.into(),
                now.into(),
                now.into(),
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO privacy_requests (source_id, request_id, kind, identities, received_at,
                                       confirmed_at)",
        "ON CONFLICT (source_id, request_id, kind) DO NOTHING",
        &values,
    )
    .await?;
    Ok(())
}

/// Records `request` from `source_id` to wait for the operator's confirmation; one of the same id
/// that was declined or carried out is asked again. Returns false if one is already waiting.
pub async fn insert_unconfirmed(
    tx: &mut Tx<'_>,
    source_id: &str,
    request: &NewRequest<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let identities = serde_json::to_string(request.identities)
        .map_err(|e| StoreError::Corrupt(format!("privacy request identities: {e}")))?;
    let written = sqlx::query(
        "INSERT INTO privacy_requests (source_id, request_id, kind, identities, received_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (source_id, request_id, kind) DO UPDATE
         SET identities = excluded.identities, received_at = excluded.received_at,
             confirmed_at = NULL, handled_at = NULL, outcome = NULL
         WHERE privacy_requests.handled_at IS NOT NULL",
    )
    .bind(source_id)
    .bind(request.request_id)
    .bind(request.kind.as_str())
    .bind(identities)
    .bind(now)
    .execute(&mut *tx.inner)
    .await?;
    Ok(written.rows_affected() > 0)
}

/// Confirms request `id` at `now`, if it is waiting for the operator; returns whether it was.
pub async fn confirm(tx: &mut Tx<'_>, id: i64, now: i64) -> Result<bool, StoreError> {
    let confirmed = sqlx::query(
        "UPDATE privacy_requests SET confirmed_at = $1
         WHERE id = $2 AND confirmed_at IS NULL AND handled_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx.inner)
    .await?;
    Ok(confirmed.rows_affected() > 0)
}

/// Declines request `id` at `now`, if it is waiting for the operator: it is closed with `outcome`
/// and the identities it named are dropped. Returns whether it was waiting.
pub async fn decline(
    tx: &mut Tx<'_>,
    id: i64,
    outcome: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let declined = sqlx::query(
        "UPDATE privacy_requests SET handled_at = $1, outcome = $2, identities = '[]'
         WHERE id = $3 AND confirmed_at IS NULL AND handled_at IS NULL",
    )
    .bind(now)
    .bind(outcome)
    .bind(id)
    .execute(&mut *tx.inner)
    .await?;
    Ok(declined.rows_affected() > 0)
}

/// Marks request `id` carried out at `now`, with what was done, and drops the identities it named.
pub async fn finish(tx: &mut Tx<'_>, id: i64, outcome: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE privacy_requests SET handled_at = $1, outcome = $2, identities = '[]' WHERE id = $3",
    )
    .bind(now)
    .bind(outcome)
    .bind(id)
    .execute(&mut *tx.inner)
    .await?;
    Ok(())
}

fn kind(text: &str) -> Result<PrivacyKind, StoreError> {
    rows::parse_enum("privacy_requests.kind", text)
}

impl Store {
    /// The confirmed requests not carried out yet, oldest first.
    pub async fn pending_privacy_requests(&self) -> Result<Vec<PendingRequest>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, request_id, kind, identities, received_at FROM privacy_requests
             WHERE handled_at IS NULL AND confirmed_at IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let identities: String = r.try_get("identities")?;
            Ok(PendingRequest {
                id,
                source_id: r.try_get("source_id")?,
                request_id: r.try_get("request_id")?,
                kind: kind(&r.try_get::<String, _>("kind")?)?,
                identities: serde_json::from_str(&identities).map_err(|e| {
                    StoreError::Corrupt(format!("privacy request {id} identities: {e}"))
                })?,
                received_at: r.try_get("received_at")?,
            })
        })
        .collect()
    }

    /// Whether request `request_id` of `source_id` is waiting for the operator's confirmation.
    pub async fn privacy_request_waiting(
        &self,
        source_id: &str,
        request_id: &str,
    ) -> Result<bool, StoreError> {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM privacy_requests
             WHERE source_id = $1 AND request_id = $2 AND confirmed_at IS NULL
               AND handled_at IS NULL",
        )
        .bind(source_id)
        .bind(request_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(waiting > 0)
    }

    /// Every request recorded, oldest first.
    pub async fn privacy_requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, request_id, kind, received_at, confirmed_at, handled_at, outcome
             FROM privacy_requests ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(RequestRecord {
                id: r.try_get("id")?,
                source_id: r.try_get("source_id")?,
                request_id: r.try_get("request_id")?,
                kind: kind(&r.try_get::<String, _>("kind")?)?,
                received_at: r.try_get("received_at")?,
                confirmed_at: r.try_get("confirmed_at")?,
                handled_at: r.try_get("handled_at")?,
                outcome: r.try_get("outcome")?,
            })
        })
        .collect()
    }
}
