//! Shadow sinks in the store: the requests a shadow sink's plugin made (captured by the host, never
//! sent), the people each concerned (so forgetting a person deletes them), and the periods a sink
//! ran in shadow, so the sink's shadow deliveries are queued again once it goes live.

use super::{Store, StoreError};
use crate::outbox::WorkKind;
use sqlx::Row;

/// One plugin call of a shadow sink: the kind of work, how many items it carried, the item and
/// person when it carried one, and every person it concerned.
#[derive(Debug, Clone)]
pub struct ShadowCall {
    pub kind: WorkKind,
    pub items: usize,
    pub outbox_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub people: Vec<i64>,
}

/// A request as the plugin made it, without the credentials the host would have added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShadowRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A stored shadow request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShadowRequest {
    pub id: i64,
    pub sink: String,
    /// The kind of work of the call: `profile`, `activity`, `consent` or `message`.
    pub kind: String,
    /// Items the call carried.
    pub items: i64,
    pub outbox_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it was captured, in milliseconds since the Unix epoch (the injected clock).
    pub captured_at: i64,
}

impl Store {
    /// Stores the requests `call` of `sink` made, captured at `now`.
    pub async fn record_shadow_requests(
        &self,
        sink: &str,
        call: &ShadowCall,
        requests: &[NewShadowRequest],
        now: i64,
    ) -> Result<(), StoreError> {
        if requests.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for request in requests {
            let headers = serde_json::to_string(&request.headers)
                .map_err(|e| StoreError::Corrupt(format!("shadow request headers: {e}")))?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO shadow_requests (sink_id, kind, items, outbox_id, profile_id, method,
                                              url, headers, body, captured_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(sink)
            .bind(call.kind.as_str())
            .bind(call.items as i64)
            .bind(call.outbox_id)
            .bind(call.profile_id)
            .bind(&request.method)
            .bind(&request.url)
            .bind(headers)
            .bind(&request.body)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for person in &call.people {
                sqlx::query(
                    "INSERT INTO shadow_request_people (request_id, profile_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(person)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` requests captured for `sink`, oldest first.
    pub async fn shadow_requests(
        &self,
        sink: &str,
        limit: i64,
    ) -> Result<Vec<ShadowRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, sink_id, kind, items, outbox_id, profile_id, method, url, headers, body,
                    captured_at
             FROM shadow_requests WHERE sink_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(sink)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut requests = rows
            .iter()
            .map(|row| {
                let headers: String = row.try_get("headers")?;
                Ok(ShadowRequest {
                    id: row.try_get("id")?,
                    sink: row.try_get("sink_id")?,
                    kind: row.try_get("kind")?,
                    items: row.try_get("items")?,
                    outbox_id: row.try_get("outbox_id")?,
                    profile_id: row.try_get("profile_id")?,
                    method: row.try_get("method")?,
                    url: row.try_get("url")?,
                    headers: serde_json::from_str(&headers)
                        .map_err(|e| StoreError::Corrupt(format!("shadow request headers: {e}")))?,
                    body: row.try_get("body")?,
                    captured_at: row.try_get("captured_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        requests.reverse();
        Ok(requests)
    }

    /// Records that `sink` runs in shadow from `now`, unless a shadow period of it is open.
    pub async fn begin_shadow(&self, sink: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT started_at FROM shadow_periods WHERE sink_id = $1 AND ended_at IS NULL",
        )
        .bind(sink)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_none() {
            sqlx::query("INSERT INTO shadow_periods (sink_id, started_at) VALUES ($1, $2)")
                .bind(sink)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When `sink`'s open shadow period started, if it is in one.
    pub async fn shadow_since(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT started_at FROM shadow_periods WHERE sink_id = $1 AND ended_at IS NULL",
        )
        .bind(sink)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// `sink` starts live at `now`: if it was in shadow, ends the period and queues again, due
    /// `now`, every item of it delivered in shadow but journey messages (a late message is worse
    /// than none, and the contact rules already counted it). Returns how many were queued, or
    /// `None` if the sink was not in shadow.
    pub async fn end_shadow(&self, sink: &str, now: i64) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT started_at FROM shadow_periods WHERE sink_id = $1 AND ended_at IS NULL",
        )
        .bind(sink)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(started_at) = open else {
            return Ok(None);
        };
        let queued = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $3,
                               lease_until = NULL, last_error = NULL
             WHERE sink_id = $1 AND status = 'delivered' AND kind <> 'message'
               AND id IN (SELECT outbox_id FROM deliveries
                          WHERE sink_id = $1 AND outcome = 'ok' AND at >= $2)",
        )
        .bind(sink)
        .bind(started_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE shadow_periods SET ended_at = $3 WHERE sink_id = $1 AND started_at = $2",
        )
        .bind(sink)
        .bind(started_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(queued))
    }
}
