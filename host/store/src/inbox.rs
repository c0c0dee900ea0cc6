//! The webhook inbox: malformed deliveries a source refused, kept verbatim for inspection.

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
}

impl Store {
    /// Keeps a refused webhook delivery; returns its inbox id.
    pub async fn keep_webhook(
        &self,
        source: &str,
        reason: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<i64, StoreError> {
        let headers = serde_json::to_string(headers)
            .map_err(|e| StoreError::Corrupt(format!("webhook headers: {e}")))?;
        Ok(sqlx::query_scalar(
            "INSERT INTO webhook_inbox (source_id, received_at, reason, headers, body, body_sha256)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(source)
        .bind(now_ms())
        .bind(reason)
        .bind(headers)
        .bind(String::from_utf8_lossy(body).into_owned())
        .bind(hex::encode(Sha256::digest(body)))
        .fetch_one(&self.writer)
        .await?)
    }

    /// Kept deliveries of `source`, oldest first.
    pub async fn kept_webhooks(&self, source: &str) -> Result<Vec<KeptWebhook>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, received_at, reason, headers, body, body_sha256
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
            })
        })
        .collect()
    }
}
