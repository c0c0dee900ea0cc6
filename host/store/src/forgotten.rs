//! The `forgotten_identities` table: salted digests of the identities of people who were
//! forgotten, with when (`rapport_core::governance::suppression` makes the digests and decides what
//! they stop), and the store's salt.

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use sqlx::Row;
use std::collections::HashMap;

impl Store {
    /// The store's salt for digests, made once when the table was created; read from the database
    /// the first time only, since every ingest digests its identities with it.
    pub async fn forgotten_salt(&self) -> Result<&str, StoreError> {
        let salt = self
            .forgotten_salt
            .get_or_try_init(|| async {
                sqlx::query_scalar("SELECT salt FROM store_salt WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await
            })
            .await?;
        Ok(salt)
    }
}

/// Records `digests` as forgotten at `now` (a digest already recorded keeps its first time).
pub async fn record(tx: &mut Tx<'_>, digests: &[String], now: i64) -> Result<(), StoreError> {
    let values: Vec<Vec<Value>> = digests.iter().map(|d| vec![d.into(), now.into()]).collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO forgotten_identities (digest, forgotten_at)",
        "ON CONFLICT (digest) DO NOTHING",
        &values,
    )
    .await?;
    Ok(())
}

/// When each of `digests` that was forgotten was forgotten.
pub async fn forgotten_at(
    tx: &mut Tx<'_>,
    digests: &[String],
) -> Result<HashMap<String, i64>, StoreError> {
    let list: Vec<Value> = digests.iter().map(Into::into).collect();
    rows::query_in(
        &mut tx.inner,
        "SELECT digest, forgotten_at FROM forgotten_identities WHERE digest IN {list}",
        &[],
        &list,
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("digest")?, r.try_get("forgotten_at")?)))
    .collect()
}
