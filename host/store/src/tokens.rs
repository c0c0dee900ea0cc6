//! The `access_tokens` table: the HTTP surface's credentials, by the sha256 of the token (the host
//! hashes; the token itself is never stored). Operator tokens, upload tokens of one source, browser
//! sessions and a command's short-lived token share it; which one may do what is the host's
//! decision.

use super::{Store, StoreError};
use sqlx::Row;

/// A token to record.
pub struct NewToken<'a> {
    pub sha256: &'a str,
    /// "token", "session" or "command".
    pub kind: &'a str,
    /// "admin", "staff" or "upload".
    pub role: &'a str,
    /// An upload token's source.
    pub source_id: Option<&'a str>,
    pub label: &'a str,
    /// A session's token: revoking it ends the session.
    pub parent_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A recorded token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub kind: String,
    pub role: String,
    pub source_id: Option<String>,
    pub label: String,
    pub parent_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, role, source_id, label, parent_id, created_at, expires_at, revoked_at";

fn record(row: sqlx::any::AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        role: row.try_get("role")?,
        source_id: row.try_get("source_id")?,
        label: row.try_get("label")?,
        parent_id: row.try_get("parent_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Records a token; returns its id.
    pub async fn insert_token(&self, token: &NewToken<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO access_tokens
                 (token_sha256, kind, role, source_id, label, parent_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(token.sha256)
        .bind(token.kind)
        .bind(token.role)
        .bind(token.source_id)
        .bind(token.label)
        .bind(token.parent_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .fetch_one(&self.writer)
        .await?)
    }

    /// The token with hash `sha256` that is in force at `now`: not revoked, not expired, and (for a
    /// session) made with a token that is itself not revoked.
    pub async fn token_in_force(
        &self,
        sha256: &str,
        now: i64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_tokens AS t
             WHERE token_sha256 = $1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $2)
               AND (parent_id IS NULL OR EXISTS (
                   SELECT 1 FROM access_tokens AS p WHERE p.id = t.parent_id AND p.revoked_at IS NULL))"
        ))
        .bind(sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(record).transpose()
    }

    /// Tokens of `kind`, oldest first, revoked ones included.
    pub async fn tokens_of_kind(&self, kind: &str) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_tokens WHERE kind = $1 ORDER BY id"
        ))
        .bind(kind)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(record)
        .collect()
    }

    /// Whether a token of `kind` and `role` is in force (neither revoked nor expired) at `now`.
    pub async fn has_token_in_force(
        &self,
        kind: &str,
        role: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM access_tokens
             WHERE kind = $1 AND role = $2 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $3)
             LIMIT 1",
        )
        .bind(kind)
        .bind(role)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Revokes token `id` of `kind` at `now` and deletes the sessions made with it; false if no such
    /// token is in force.
    pub async fn revoke_token(&self, id: i64, kind: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let revoked = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1
             WHERE id = $2 AND kind = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(kind)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM access_tokens WHERE parent_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked == 1)
    }

    /// Deletes the token with hash `sha256` (a session logged out, a command's token used).
    pub async fn delete_token(&self, sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM access_tokens WHERE token_sha256 = $1")
            .bind(sha256)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Deletes the sessions and command tokens that expired before `now`; returns how many.
    pub async fn delete_expired_tokens(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM access_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(now)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
