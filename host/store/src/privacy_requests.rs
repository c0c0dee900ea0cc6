//! The `privacy_requests` table: requests a vendor forwarded about a person (or a whole shop),
//! recorded in the ingest transaction that stored them, then carried out once by the host's privacy
//! service, which records what it did. A request is recorded once per source, id and kind.

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
    pub source_id: String,
    pub request_id: String,
    pub kind: PrivacyKind,
    pub received_at: i64,
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
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO privacy_requests (source_id, request_id, kind, identities, received_at)",
        "ON CONFLICT (source_id, request_id, kind) DO NOTHING",
        &values,
    )
    .await?;
    Ok(())
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
    /// The requests not carried out yet, oldest first.
    pub async fn pending_privacy_requests(&self) -> Result<Vec<PendingRequest>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, request_id, kind, identities, received_at FROM privacy_requests
             WHERE handled_at IS NULL ORDER BY id",
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

    /// Every request recorded, oldest first.
    pub async fn privacy_requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(
            "SELECT source_id, request_id, kind, received_at, handled_at, outcome
             FROM privacy_requests ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(RequestRecord {
                source_id: r.try_get("source_id")?,
                request_id: r.try_get("request_id")?,
                kind: kind(&r.try_get::<String, _>("kind")?)?,
                received_at: r.try_get("received_at")?,
                handled_at: r.try_get("handled_at")?,
                outcome: r.try_get("outcome")?,
            })
        })
        .collect()
    }
}
