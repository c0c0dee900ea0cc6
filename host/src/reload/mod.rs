//! Hot reload: a new version of a connector's plugin becomes its next generation only after the
//! checks install runs (manifest, contract, signature and trust), compilation off the hot path,
//! the world's type check, and a `check` probe. A version that fails any step is refused with the
//! reason, and the live generation keeps running. A version that asks for secrets or egress
//! destinations never approved for the connector is held before any of it runs, until `rapport
//! plugin approve` records the approval in the store, where the daemon's watch finds it on its next
//! look at held directories. Operators roll back, disable and enable connectors by connector id or
//! plugin id (`control`); the daemon watches the plugins directories (`watch`). While a
//! `[[freeze]]` is in force a new version is held until it ends, unless an operator forces it
//! through (`rapport plugin reload ID --force`; the requests of the admin API: `requests`).

pub mod config;
pub mod control;
pub mod requests;
pub mod watch;

use crate::connectors::{
    held_reason, load_generation, not_approved, open_package, Connector, Connectors, HostServices,
};
use rapport_core::freeze::{self, Freeze};
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::packages::permissions::{permissions, Permission};
use rapport_store::Store;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The files hold the live version and component already.
    Unchanged,
    /// Generation `to` (version `version`) replaced generation `from` and is on probation.
    Promoted { from: u64, to: u64, version: String },
    /// Version `version` asks for what was never approved for the connector: it waits for
    /// `rapport plugin approve`, and the live generation keeps running. `again` says whether the
    /// same version was held the last time too.
    Held {
        version: String,
        unapproved: Vec<Permission>,
        reason: String,
        again: bool,
    },
}

/// Why a new version was refused; the live generation keeps running.
#[derive(Debug, Clone, thiserror::Error)]
#[error("connector `{connector}`: new version refused, generation {live} keeps running: {reason}")]
pub struct Refused {
    pub connector: String,
    pub live: u64,
    pub reason: String,
}

/// Loads the plugin files `connector` points at as its next generation and makes it live, unless
/// they hold the live version already. During `freeze` a new version is held, like one waiting for
/// approval, until the freeze ends (or a forced reload passes no freeze).
pub async fn reload(
    connector: &Connector,
    host: &HostServices,
    store: &Store,
    freeze: Option<&Freeze>,
) -> Result<Reloaded, Refused> {
    let live = connector.live();
    let refuse = |generation: Option<u64>, reason: String| {
        connector.generations.refused(generation, reason.clone());
        Refused {
            connector: connector.id.clone(),
            live: live.number(),
            reason: match generation {
                Some(number) => format!("generation {number}: {reason}"),
                None => reason,
            },
        }
    };
    let (package, provenance) = open_package(&connector.config, connector.kind, host)
        .map_err(|e| refuse(None, e.message))?;
    if package.manifest.id != live.plugin.id() {
        return Err(refuse(
            None,
            format!(
                "the package is plugin `{}`, but this connector runs `{}`",
                package.manifest.id,
                live.plugin.id()
            ),
        ));
    }
    if package.manifest.version == live.version
        && rapport_sandbox::runtime::cache::digest(&package.wasm) == live.plugin.digest()
    {
        return Ok(Reloaded::Unchanged);
    }
    let version = package.manifest.version.clone();
    if let Some(freeze) = freeze {
        let change = format!("version {version} of `{}`", package.manifest.id);
        let force = format!("rapport plugin reload {} --force", connector.id);
        let reason = format!(
            "held, generation {} keeps running: {}",
            live.number(),
            freeze::refusal(freeze, &change, &force)
        );
        return Ok(hold(connector, version, Vec::new(), reason));
    }
    let approved = store
        .approved_permissions(&connector.id)
        .await
        .map_err(|e| refuse(None, format!("cannot read what was approved for it: {e}")))?;
    let unapproved = not_approved(&permissions(&package.manifest), &approved);
    if !unapproved.is_empty() {
        let reason = format!(
            "held, generation {} keeps running: {}",
            live.number(),
            held_reason(&package.manifest.id, &version, &unapproved, &connector.id)
        );
        return Ok(hold(connector, version, unapproved, reason));
    }
    let number = connector.generations.next_number();
    let refused = |reason: String| refuse(Some(number), reason);
    let stats = live.plugin.context().stats.clone();
    let generation = load_generation(
        &connector.config,
        connector.kind,
        host,
        package,
        provenance,
        number,
        stats,
    )
    .await
    .map_err(|e| refused(e.message))?;
    let plugin = generation.plugin.clone();
    let probe = tokio::task::spawn_blocking(move || plugin.check())
        .await
        .map_err(|e| refused(format!("its check probe could not run: {e}")))?;
    match probe {
        Ok(Ok(())) => {}
        Ok(Err(e @ (ConnectorError::Transient(_) | ConnectorError::RateLimited(_)))) => {
            tracing::warn!(connector = %connector.id, generation = number,
                "check probe answered {e:?}; the vendor's trouble, not the version's: taking it");
        }
        Ok(Err(e)) => return Err(refused(format!("its check probe answered {e:?}"))),
        Err(fault) => return Err(refused(format!("its check probe failed: {fault}"))),
    }
    let version = generation.version.clone();
    let from = connector.generations.promote(generation);
    tracing::info!(connector = %connector.id, from, to = number, version = %version,
        "new generation live, on probation");
    if let Err(e) = connector.register(store).await {
        tracing::warn!(connector = %connector.id, error = %e, "could not record the new plugin build in the store");
    }
    Ok(Reloaded::Promoted {
        from,
        to: number,
        version,
    })
}

/// Holds version `version` back, saying why once (not again on each later look).
fn hold(
    connector: &Connector,
    version: String,
    unapproved: Vec<Permission>,
    reason: String,
) -> Reloaded {
    let last = connector.generations.report().last_refusal;
    let again = last.is_some_and(|refusal| refusal.reason == reason);
    if !again {
        connector.generations.refused(None, reason.clone());
    }
    Reloaded::Held {
        version,
        unapproved,
        reason,
        again,
    }
}

/// Reloads every connector whose plugin directory is `dir`; returns each one's result.
pub async fn reload_dir(
    connectors: &Connectors,
    dir: &std::path::Path,
    host: &HostServices,
    store: &Store,
    freeze: Option<&Freeze>,
) -> Vec<(String, Result<Reloaded, Refused>)> {
    let mut results = Vec::new();
    for connector in connectors.all().filter(|c| c.config.plugin == dir) {
        let result = reload(connector, host, store, freeze).await;
        results.push((connector.id.clone(), result));
    }
    results
}
