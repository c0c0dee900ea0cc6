//! The `rejected_inputs` table: input a source could not use, kept for the operator.

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::model::RejectedInput;
use sqlx::Row;

/// Records what `source_id` could not use, from `origin` ("poll:<stream>" or "webhook"), at `now`.
pub async fn insert(
    tx: &mut Tx<'_>,
    source_id: &str,
    origin: &str,
    rejected: &[RejectedInput],
    now: i64,
) -> Result<(), StoreError> {
    let values: Vec<Vec<Value>> = rejected
        .iter()
        .map(|r| {
            vec![
                source_id.into(),
                origin.into(),
                (&r.locator).into(),
                (&r.reason).into(),
                now.into(),
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO rejected_inputs (source_id, origin, locator, reason, received_at)",
        "",
        &values,
    )
    .await?;
    Ok(())
}

impl Store {
    /// Input a source could not use, oldest first.
    pub async fn rejected_inputs(&self, source: &str) -> Result<Vec<RejectedInput>, StoreError> {
        sqlx::query("SELECT locator, reason FROM rejected_inputs WHERE source_id = $1 ORDER BY id")
            .bind(source)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(RejectedInput {
                    locator: r.try_get("locator")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}
