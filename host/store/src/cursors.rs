//! The `cursors` table: where each stream of each source resumes.

use super::{Store, StoreError, Tx};

impl Store {
    /// Where `stream` of `source` resumes, if it was ever polled.
    pub async fn cursor(&self, source: &str, stream: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT cursor FROM cursors WHERE source_id = $1 AND stream = $2")
                .bind(source)
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// Records where `stream` of `source_id` resumes, at `now`.
pub async fn save(
    tx: &mut Tx<'_>,
    source_id: &str,
    stream: &str,
    cursor: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cursors (source_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (source_id, stream) DO UPDATE SET cursor = $3, updated_at = $4",
    )
    .bind(source_id)
    .bind(stream)
    .bind(cursor)
    .bind(now)
    .execute(&mut *tx.inner)
    .await?;
    Ok(())
}
