//! The webhook inbox: malformed deliveries a source refused, kept verbatim for inspection, one copy
//! per source and body (a body refused again counts another attempt), within a size cap.

use super::{now_ms, Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// A kept webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeptWebhook {
    pub id: i64,
    pub source: String,
    pub received_at: i64,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced); `body_sha256` is over the exact bytes.
    pub body: String,
    pub body_sha256: String,
    /// How many times this body was refused.
    pub attempts: i64,
}

/// Where a refused body went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Kept (or already kept) as this inbox item, refused this many times.
    Item { id: i64, attempts: i64 },
    /// Not kept: a new copy would take the inbox past its cap.
    Full,
}

impl Store {
    /// Keeps a refused webhook delivery, whatever the inbox holds; returns its inbox id.
    pub async fn keep_webhook(
        &self,
        source: &str,
        reason: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<i64, StoreError> {
        match self
            .keep_webhook_within(source, reason, headers, body, i64::MAX)
            .await?
        {
            Kept::Item { id, .. } => Ok(id),
            Kept::Full => Err(StoreError::Corrupt(
                "webhook inbox over i64::MAX bytes".into(),
            )),
        }
    }

    /// Keeps a refused webhook delivery once: a body `source` already has in the inbox counts
    /// another attempt (with this time and reason) on its item; a new body is kept only if the
    /// inbox's bodies stay within `cap_bytes`.
    pub async fn keep_webhook_within(
        &self,
        source: &str,
        reason: &str,
        headers: &[(String, String)],
        body: &[u8],
        cap_bytes: i64,
    ) -> Result<Kept, StoreError> {
        let headers = serde_json::to_string(headers)
            .map_err(|e| StoreError::Corrupt(format!("webhook headers: {e}")))?;
        let sha256 = hex::encode(Sha256::digest(body));
        let text = String::from_utf8_lossy(body).into_owned();
        let size = i64::try_from(text.len()).unwrap_or(i64::MAX);
        let mut tx = self.writer.begin().await?;
        let again = sqlx::query(
            "UPDATE webhook_inbox SET attempts = attempts + 1, received_at = $1, reason = $2
             WHERE source_id = $3 AND body_sha256 = $4 RETURNING id, attempts",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(source)
        .bind(&sha256)
        .fetch_optional(&mut *tx)
        .await?;
        let kept = match again {
            Some(row) => Kept::Item {
                id: row.try_get("id")?,
                attempts: row.try_get("attempts")?,
            },
            None => {
                let held: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(LENGTH(body)), 0) AS BIGINT) FROM webhook_inbox",
                )
                .fetch_one(&mut *tx)
                .await?;
                if held.saturating_add(size) > cap_bytes {
                    Kept::Full
                } else {
                    let id = sqlx::query_scalar(
                        "INSERT INTO webhook_inbox
                             (source_id, received_at, reason, headers, body, body_sha256)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (source_id, body_sha256)
                         DO UPDATE SET attempts = webhook_inbox.attempts + 1
                         RETURNING id",
                    )
                    .bind(source)
                    .bind(now_ms())
                    .bind(reason)
                    .bind(headers)
                    .bind(text)
                    .bind(&sha256)
                    .fetch_one(&mut *tx)
                    .await?;
                    Kept::Item { id, attempts: 1 }
                }
            }
        };
        tx.commit().await?;
        Ok(kept)
    }

    /// Kept deliveries of `source`, oldest first.
    pub async fn kept_webhooks(&self, source: &str) -> Result<Vec<KeptWebhook>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, received_at, reason, headers, body, body_sha256, attempts
             FROM webhook_inbox WHERE source_id = $1 ORDER BY id",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            let headers: String = r.try_get("headers")?;
            Ok(KeptWebhook {
                id: r.try_get("id")?,
                source: r.try_get("source_id")?,
                received_at: r.try_get("received_at")?,
                reason: r.try_get("reason")?,
                headers: serde_json::from_str(&headers)
                    .map_err(|e| StoreError::Corrupt(format!("webhook_inbox.headers: {e}")))?,
                body: r.try_get("body")?,
                body_sha256: r.try_get("body_sha256")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
    }
}
