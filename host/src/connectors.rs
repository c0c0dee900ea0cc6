//! The running connectors: every configured source and sink bound to its loaded, type-checked plugin
//! and to the settings, egress policy and secrets that instance may use.

use crate::capabilities::accounting::{RequestCounts, RequestLimits, RequestStats};
use crate::capabilities::http::{HttpEgress, HttpLimits};
use crate::capabilities::secrets::SecretStore;
use crate::capabilities::PluginContext;
use crate::config::{Config, ConnectorConfig, RuntimeConfig};
use crate::consent::gate::{MarketingGate, WithoutChoice};
use crate::governance::fields::Allowlist;
use crate::identity::Normalizer;
use crate::model::Channel;
use crate::packages::instance::{resolve_egress, resolve_settings};
use crate::packages::{open_installed, PluginKind, Provenance, TrustStore};
use crate::runtime::bindings::wit::Descriptor;
use crate::runtime::health::{HealthPolicy, HealthReport};
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
    /// Who signed the plugin, or that it is an unsigned development build.
    pub provenance: Provenance,
    pub poll_interval: Duration,
    /// A sink's request ceiling, if the operator set one.
    pub max_requests_per_second: Option<f64>,
    /// How a source's customer identifiers are normalised (the shop's region and rules).
    pub normalizer: Normalizer,
    /// The person fields a sink may receive.
    pub fields: Allowlist,
    /// Whose marketing data a sink may receive.
    pub marketing: MarketingGate,
    /// A sink being replaced: it takes no new work and is retired once it owes nothing.
    pub retiring: bool,
}

/// Every connector of a configuration.
pub struct Connectors {
    pub sources: Vec<Arc<Connector>>,
    pub sinks: Vec<Arc<Connector>>,
}

/// A connector's plugin, health and request counters, for operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorReport {
    pub connector: String,
    pub role: &'static str,
    pub plugin: String,
    pub generation: u64,
    pub digest: String,
    /// "signed by <key id>" or "DEV-UNSIGNED (…)".
    pub provenance: String,
    pub health: HealthReport,
    pub requests: RequestCounts,
}

impl Connector {
    fn report(&self, role: &'static str) -> ConnectorReport {
        ConnectorReport {
            connector: self.id.clone(),
            role,
            plugin: self.plugin.id().to_string(),
            generation: self.plugin.generation(),
            digest: self.plugin.digest().to_string(),
            provenance: self.provenance.to_string(),
            health: self.plugin.health(),
            requests: self.plugin.context().stats.counts(),
        }
    }
}

/// What loading connectors needs from the host: the runtime, the one HTTP client, the operator's
/// secrets and limits.
pub struct HostServices {
    pub runtime: Arc<Runtime>,
    pub http: HttpEgress,
    pub secrets: SecretStore,
    pub limits: RuntimeConfig,
    /// The publishers whose signed plugins load.
    pub trust: Option<TrustStore>,
    /// Development mode: unsigned plugins load too, marked as such.
    pub dev: bool,
    /// The shop's identity normalisation, handed to every connector.
    pub normalizer: Normalizer,
    /// What sinks receive about people who never made a marketing choice.
    pub marketing_without_choice: WithoutChoice,
}

impl HostServices {
    /// Builds the runtime, HTTP client and secret store that `config` describes.
    pub fn from_config(config: &Config) -> anyhow::Result<HostServices> {
        let limits = config.runtime.clone();
        let runtime = Arc::new(Runtime::with_fuel(
            limits.cache_dir.clone(),
            limits.fuel_per_call.is_some(),
        )?);
        let http = HttpEgress::new(
            HttpLimits {
                total_timeout: Duration::from_millis(config.server.http_timeout_ms),
                ..HttpLimits::default()
            },
            config.network.policy().map_err(anyhow::Error::msg)?,
        )?;
        let secrets =
            SecretStore::load(config.secrets.file.as_deref()).map_err(anyhow::Error::msg)?;
        let trust = config
            .trust
            .store
            .as_deref()
            .map(TrustStore::load)
            .transpose()?;
        Ok(HostServices {
            runtime,
            http,
            secrets,
            limits,
            trust,
            dev: config.trust.dev,
            normalizer: Normalizer::new(config.shop.region, &config.identity),
            marketing_without_choice: config.consent.marketing_without_choice,
        })
    }
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
        host: &HostServices,
        store: &Store,
    ) -> Result<Connectors, ConnectorLoadError> {
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
                let connector = Connector::load(c, kind, host).await?;
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

    /// What every connector is running and how it is doing.
    pub fn reports(&self) -> Vec<ConnectorReport> {
        let role = |role: &'static str| move |c: &Arc<Connector>| c.report(role);
        self.sources
            .iter()
            .map(role("source"))
            .chain(self.sinks.iter().map(role("sink")))
            .collect()
    }

    /// Every sink, retiring ones included (they are still asked to forget people).
    pub fn sink_ids(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.id.clone()).collect()
    }

    /// The sinks new work goes to: all but those being retired.
    pub fn working_sink_ids(&self) -> Vec<String> {
        self.sinks
            .iter()
            .filter(|s| !s.retiring)
            .map(|s| s.id.clone())
            .collect()
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
    /// resolves its egress and secrets, compiles and type-checks it, and asks it to describe itself.
    pub async fn load(
        c: &ConnectorConfig,
        kind: PluginKind,
        host: &HostServices,
    ) -> Result<Connector, ConnectorLoadError> {
        let error = |message: String| load_error(kind, &c.id, message);
        let (package, provenance) = open_installed(&c.plugin, host.trust.as_ref(), host.dev)
        .map_err(|refusal| {
            error(format!(
                "plugin at {} refused: {refusal}{}",
                c.plugin.display(),
                if host.trust.is_none() && !host.dev {
                    " (no [trust] store is configured; run with --dev to load unsigned local plugins)"
                } else {
                    ""
                }
            ))
        })?;
        if package.manifest.kind != kind {
            return Err(error(format!(
                "plugin {} is a {} plugin, not a {kind}",
                package.manifest.id, package.manifest.kind
            )));
        }
        let manifest = &package.manifest;
        let settings = resolve_settings(manifest, &c.config).map_err(&error)?;
        let secrets = host.secrets.for_plugin(&manifest.secrets);
        let egress = resolve_egress(manifest, &settings, &secrets).map_err(&error)?;
        let operator = &host.limits;
        let wanted = &manifest.resources;
        let limits = CallLimits {
            memory_bytes: (wanted
                .memory_mib
                .unwrap_or(operator.memory_limit_mib)
                .min(operator.memory_limit_mib) as usize)
                << 20,
            deadline: Duration::from_millis(
                wanted
                    .timeout_ms
                    .unwrap_or(operator.call_timeout_ms)
                    .min(operator.call_timeout_ms),
            ),
            fuel: operator.fuel_per_call,
        };
        let requests = RequestLimits::new(
            wanted
                .max_requests_per_call
                .unwrap_or(operator.max_requests_per_call)
                .min(operator.max_requests_per_call),
            wanted
                .max_concurrent_requests
                .unwrap_or(operator.max_concurrent_requests)
                .min(operator.max_concurrent_requests),
        );
        let health = HealthPolicy {
            degrade_after: operator.degrade_after,
            quarantine_after: operator.quarantine_after,
            probe_interval: Duration::from_millis(operator.probe_interval_ms),
        };
        let context = PluginContext {
            plugin_id: manifest.id.clone(),
            generation: 1,
            config: settings,
            egress,
            secrets,
            http: host.http.clone(),
            requests,
            stats: Arc::new(RequestStats::default()),
            runtime: tokio::runtime::Handle::current(),
        };
        let runtime = host.runtime.clone();
        let plugin =
            tokio::task::spawn_blocking(move || -> Result<(Plugin, Descriptor), String> {
                let plugin = runtime
                    .load(&package, context, limits, health)
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
            %provenance,
            "loaded {}",
            descriptor.name
        );
        if provenance == Provenance::DevUnsigned {
            tracing::warn!(connector = %c.id, plugin = plugin.id(), "running an UNSIGNED development plugin");
        }
        Ok(Connector {
            id: c.id.clone(),
            plugin: Arc::new(plugin),
            descriptor,
            provenance,
            poll_interval: c.poll_interval(),
            max_requests_per_second: c.max_requests_per_second,
            fields: Allowlist::new(c.fields.as_deref()),
            marketing: MarketingGate::new(
                c.channels.clone().unwrap_or_else(|| vec![Channel::Email]),
                host.marketing_without_choice,
            ),
            normalizer: host.normalizer.clone(),
            retiring: c.retire,
        })
    }
}
