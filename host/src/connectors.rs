//! The running connectors: every configured source and sink bound to its loaded, type-checked plugin
//! and to the settings, egress policy and secrets that instance may use.

use crate::capabilities::http::HttpEgress;
use crate::capabilities::secrets::Secrets;
use crate::capabilities::PluginContext;
use crate::config::{Config, ConnectorConfig};
use crate::packages::instance::{resolve_egress, resolve_settings};
use crate::packages::{PluginKind, PluginPackage};
use crate::runtime::bindings::wit::Descriptor;
use crate::runtime::plugin::Plugin;
use crate::runtime::{CallLimits, Runtime};
use crate::store::{ConnectorRole, Store};
use std::sync::Arc;
use std::time::Duration;

/// One configured source or sink with its plugin.
pub struct Connector {
    pub id: String,
    pub plugin: Arc<Plugin>,
    pub descriptor: Descriptor,
    pub poll_interval: Duration,
}

/// Every connector of a configuration.
pub struct Connectors {
    pub sources: Vec<Arc<Connector>>,
    pub sinks: Vec<Arc<Connector>>,
}

/// Why a configured connector could not start.
#[derive(Debug, thiserror::Error)]
#[error("{role} `{id}`: {message}")]
pub struct ConnectorLoadError {
    pub role: &'static str,
    pub id: String,
    pub message: String,
}

impl Connectors {
    /// Loads every source and sink of `config`, refusing the configuration as a whole if one fails.
    pub async fn load(
        config: &Config,
        runtime: &Arc<Runtime>,
        http: &HttpEgress,
        store: &Store,
    ) -> Result<Connectors, ConnectorLoadError> {
        let limits = CallLimits {
            memory_bytes: (config.runtime.memory_limit_mib as usize) << 20,
            deadline: Duration::from_millis(config.runtime.call_timeout_ms),
        };
        let mut connectors = Connectors {
            sources: Vec::new(),
            sinks: Vec::new(),
        };
        for (role, list, kind) in [
            (
                ConnectorRole::Source,
                &config.sources,
                PluginKind::PosSource,
            ),
            (ConnectorRole::Sink, &config.sinks, PluginKind::CrmSink),
        ] {
            for c in list {
                let connector = Connector::load(c, kind, runtime, http, limits.clone()).await?;
                store
                    .register_connector(
                        role,
                        &c.id,
                        connector.plugin.id(),
                        connector.plugin.digest(),
                    )
                    .await
                    .map_err(|e| load_error(kind, &c.id, e.to_string()))?;
                match role {
                    ConnectorRole::Source => connectors.sources.push(Arc::new(connector)),
                    ConnectorRole::Sink => connectors.sinks.push(Arc::new(connector)),
                }
            }
        }
        Ok(connectors)
    }

    pub fn sink_ids(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.id.clone()).collect()
    }

    pub fn source(&self, id: &str) -> Option<&Arc<Connector>> {
        self.sources.iter().find(|s| s.id == id)
    }
}

fn load_error(kind: PluginKind, id: &str, message: String) -> ConnectorLoadError {
    ConnectorLoadError {
        role: match kind {
            PluginKind::PosSource => "source",
            PluginKind::CrmSink => "sink",
        },
        id: id.to_string(),
        message,
    }
}

impl Connector {
    /// Opens the plugin package of one configured connector, checks its settings against the manifest,
    /// compiles and type-checks it, and asks it to describe itself.
    pub async fn load(
        c: &ConnectorConfig,
        kind: PluginKind,
        runtime: &Arc<Runtime>,
        http: &HttpEgress,
        limits: CallLimits,
    ) -> Result<Connector, ConnectorLoadError> {
        let error = |message: String| load_error(kind, &c.id, message);
        let package = PluginPackage::open(&c.plugin).map_err(|e| error(e.to_string()))?;
        if package.manifest.kind != kind {
            return Err(error(format!(
                "plugin {} is a {} plugin, not a {kind}",
                package.manifest.id, package.manifest.kind
            )));
        }
        let settings = resolve_settings(&package.manifest, &c.config).map_err(&error)?;
        let egress = resolve_egress(&package.manifest, &settings).map_err(&error)?;
        let context = PluginContext {
            plugin_id: package.manifest.id.clone(),
            generation: 1,
            config: settings,
            egress,
            secrets: Secrets::from_env(&package.manifest.secrets),
            http: http.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let runtime = runtime.clone();
        let plugin =
            tokio::task::spawn_blocking(move || -> Result<(Plugin, Descriptor), String> {
                let plugin = runtime
                    .load(&package, context, limits)
                    .map_err(|e| e.to_string())?;
                let descriptor = plugin.describe().map_err(|e| e.to_string())?;
                Ok((plugin, descriptor))
            })
            .await
            .map_err(|e| error(format!("loading task failed: {e}")))?
            .map_err(&error)?;
        let (plugin, descriptor) = plugin;
        tracing::info!(
            connector = %c.id,
            plugin = plugin.id(),
            generation = plugin.generation(),
            digest = &plugin.digest()[..12],
            "loaded {}",
            descriptor.name
        );
        Ok(Connector {
            id: c.id.clone(),
            plugin: Arc::new(plugin),
            descriptor,
            poll_interval: c.poll_interval(),
        })
    }
}
