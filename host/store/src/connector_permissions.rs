//! The permissions approved for each connector's plugin (secrets and egress destinations, as the
//! lines the sandbox writes them in): the host compares what a plugin version asks for with them,
//! and holds a version that asks for more until the operator approves it.

use super::{now_ms, Store, StoreError};
use std::collections::BTreeSet;

impl Store {
    /// What has been approved for `connector` (empty for a connector never started).
    pub async fn approved_permissions(
        &self,
        connector: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT permission FROM connector_permissions WHERE connector_id = $1",
        )
        .bind(connector)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Approves `permissions` for `connector`, as asked by version `version` of its plugin; those
    /// approved before keep their first approval.
    pub async fn approve_permissions(
        &self,
        connector: &str,
        version: &str,
        permissions: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for permission in permissions {
            sqlx::query(
                "INSERT INTO connector_permissions
                     (connector_id, permission, plugin_version, approved_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (connector_id, permission) DO NOTHING",
            )
            .bind(connector)
            .bind(permission)
            .bind(version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
