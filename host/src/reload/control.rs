//! What operators do to running connectors by name: roll back to a kept generation, disable (its
//! work waits in the store, nothing is lost) and enable. A target is a connector id, or a plugin id
//! meaning every connector that runs that plugin.

use crate::connectors::{Connector, Connectors};
use rapport_sandbox::runtime::registry::RollbackError;
use serde::Serialize;
use std::sync::Arc;

/// Why an operator's request could not be done.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    #[error("no connector or plugin is named `{target}` (connectors: {known})")]
    Unknown { target: String, known: String },
    #[error("connector `{connector}`: {error}")]
    Rollback {
        connector: String,
        error: RollbackError,
    },
}

/// One connector's rollback.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolledBack {
    pub connector: String,
    pub from: u64,
    pub to: u64,
}

/// One connector's state after a disable or enable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Switched {
    pub connector: String,
    pub disabled: bool,
    /// Whether this request changed it.
    pub changed: bool,
}

/// The connectors `target` names: the connector of that id, or every connector running that plugin.
pub fn resolve<'a>(
    connectors: &'a Connectors,
    target: &str,
) -> Result<Vec<&'a Arc<Connector>>, ControlError> {
    if let Some(connector) = connectors.all().find(|c| c.id == target) {
        return Ok(vec![connector]);
    }
    let matching: Vec<_> = connectors
        .all()
        .filter(|c| c.plugin().id() == target)
        .collect();
    if matching.is_empty() {
        return Err(ControlError::Unknown {
            target: target.to_string(),
            known: connectors
                .all()
                .map(|c| format!("{} ({})", c.id, c.plugin().id()))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(matching)
}

/// Rolls `target`'s connectors back to generation `to`, or each to its newest kept generation older
/// than its live one. Stops at the first connector that cannot roll back.
pub fn rollback(
    connectors: &Connectors,
    target: &str,
    to: Option<u64>,
) -> Result<Vec<RolledBack>, ControlError> {
    let mut done = Vec::new();
    for connector in resolve(connectors, target)? {
        let reason = format!("rolled back by the operator ({target})");
        let (from, to) = connector
            .generations
            .rollback(to, &reason)
            .map_err(|error| ControlError::Rollback {
                connector: connector.id.clone(),
                error,
            })?;
        done.push(RolledBack {
            connector: connector.id.clone(),
            from,
            to,
        });
    }
    Ok(done)
}

/// Disables (or enables) `target`'s connectors.
pub fn set_disabled(
    connectors: &Connectors,
    target: &str,
    disabled: bool,
) -> Result<Vec<Switched>, ControlError> {
    Ok(resolve(connectors, target)?
        .into_iter()
        .map(|connector| {
            let changed = connector.generations.set_disabled(disabled);
            if changed {
                tracing::warn!(connector = %connector.id,
                    "{} by the operator", if disabled { "disabled" } else { "enabled" });
            }
            Switched {
                connector: connector.id.clone(),
                disabled,
                changed,
            }
        })
        .collect())
}
