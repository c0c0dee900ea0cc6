//! The running connectors: every configured source and sink bound to the generations of its loaded,
//! type-checked plugin and to the settings, egress policy and secrets that instance may use. A
//! connector uses only the secrets its config entry grants, and each must be set; what its plugin
//! asks for (secrets, egress) is approved once per connector in the store, at its first start.

use crate::config::mode::SinkMode;
use crate::config::{Config, ConnectorConfig, RuntimeConfig};
use rapport_core::consent::gate::{MarketingGate, WithoutChoice};
use rapport_core::governance::fields::Allowlist;
use rapport_core::identity::Normalizer;
use rapport_core::model::Channel;
use rapport_sandbox::capabilities::accounting::{RequestCounts, RequestLimits, RequestStats};
use rapport_sandbox::capabilities::capture::SendMode;
use rapport_sandbox::capabilities::http::{HttpEgress, HttpLimits};
use rapport_sandbox::capabilities::secrets::SecretStore;
use rapport_sandbox::capabilities::PluginContext;
use rapport_sandbox::contract::wit::Descriptor;
use rapport_sandbox::packages::instance::{resolve_egress, resolve_settings};
use rapport_sandbox::packages::permissions::{permissions, Permission};
use rapport_sandbox::packages::{
    open_installed, Manifest, PluginKind, PluginPackage, Provenance, TrustStore,
};
use rapport_sandbox::runtime::health::{HealthPolicy, HealthReport};
use rapport_sandbox::runtime::plugin::Plugin;
use rapport_sandbox::runtime::registry::{Generation, Generations, RegistryPolicy, RegistryReport};
use rapport_sandbox::runtime::{CallLimits, Runtime};
use rapport_store::{ConnectorRole, Store};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// One configured source or sink with its plugin's generations.
pub struct Connector {
    pub id: String,
    pub kind: PluginKind,
    /// What the operator configured, kept to load new versions of the plugin with.
    pub config: ConnectorConfig,
    /// The live generation of its plugin and those kept for rollback.
    pub generations: Generations,
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
    /// A shadow sink's plugin runs with its requests captured, never sent.
    pub mode: SinkMode,
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
    /// The live generation.
    pub generation: u64,
    pub version: String,
    pub digest: String,
    /// "signed by <key id>" or "DEV-UNSIGNED (…)".
    pub provenance: String,
    pub health: HealthReport,
    pub requests: RequestCounts,
    #[serde(flatten)]
    pub generations: RegistryReport,
}

impl Connector {
    /// Whether a sink's rollout share holds the person whose profile key is `person`.
    pub fn rolled_out_to(&self, person: &str) -> bool {
        let feature = format!("sink rollout {}", self.id);
        rapport_core::rollout::includes(&feature, self.config.rollout, person)
    }

    fn report(&self) -> ConnectorReport {
        let live = self.live();
        ConnectorReport {
            connector: self.id.clone(),
            role: match self.kind {
                PluginKind::PosSource => "source",
                PluginKind::CrmSink => "sink",
            },
            plugin: live.plugin.id().to_string(),
            generation: live.number(),
            version: live.version.clone(),
            digest: live.plugin.digest().to_string(),
            provenance: live.provenance.to_string(),
            health: live.plugin.health(),
            requests: live.plugin.context().stats.counts(),
            generations: self.generations.report(),
        }
    }

    /// The generation new calls go to.
    pub fn live(&self) -> Arc<Generation> {
        self.generations.live()
    }

    /// The live generation's plugin.
    pub fn plugin(&self) -> Arc<Plugin> {
        self.live().plugin.clone()
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
            normalizer: Normalizer::new(config.shop.region, &config.identity)
                .keeping_birth_year(config.privacy.keep_birth_year),
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
                let store_error =
                    |e: rapport_store::StoreError| load_error(kind, &c.id, e.to_string());
                let (package, provenance) = open_package(c, kind, host)?;
                let asked = permissions(&package.manifest);
                let version = package.manifest.version.clone();
                let approved = store
                    .approved_permissions(&c.id)
                    .await
                    .map_err(store_error)?;
                let first_start = approved.is_empty();
                let unapproved = not_approved(&asked, &approved);
                if !first_start && !unapproved.is_empty() {
                    return Err(load_error(
                        kind,
                        &c.id,
                        held_reason(&package.manifest.id, &version, &unapproved, &c.id),
                    ));
                }
                let connector = Connector::from_package(c, kind, host, package, provenance).await?;
                if first_start {
                    store
                        .approve_permissions(&c.id, &version, &asked)
                        .await
                        .map_err(store_error)?;
                }
                connector.register(store).await.map_err(store_error)?;
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
        self.all().map(|c| c.report()).collect()
    }

    /// Every connector, sources first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Connector>> {
        self.sources.iter().chain(&self.sinks)
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

/// What a plugin asks for that was never approved for its connector, in order.
pub fn not_approved(asked: &BTreeSet<Permission>, approved: &BTreeSet<String>) -> Vec<Permission> {
    asked.difference(approved).cloned().collect()
}

/// Refuses a manifest that names a secret the connector's config entry does not grant it.
pub fn check_grants(c: &ConnectorConfig, manifest: &Manifest) -> Result<(), String> {
    let ungranted: Vec<&str> = manifest
        .secrets
        .iter()
        .filter(|name| !c.secrets.contains(name))
        .map(String::as_str)
        .collect();
    match ungranted.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "plugin {} {} names secret {}, which the config does not grant to this connector \
             (add it to this connector's `secrets = [...]` only if this plugin should use it)",
            manifest.id,
            manifest.version,
            ungranted.join(", ")
        )),
    }
}

/// Why a version of `plugin` is held: what it asks for that was never approved, and what to do.
pub fn held_reason(
    plugin: &str,
    version: &str,
    unapproved: &[Permission],
    connector: &str,
) -> String {
    format!(
        "plugin {plugin} {version} asks for what was never approved for this connector ({}): \
         run `rapport plugin approve --config <config> {connector}` to see the difference and \
         approve it",
        unapproved.join("; ")
    )
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
    /// resolves its egress and secrets, compiles and type-checks it, and asks it to describe itself:
    /// its generation 1.
    pub async fn load(
        c: &ConnectorConfig,
        kind: PluginKind,
        host: &HostServices,
    ) -> Result<Connector, ConnectorLoadError> {
        let (package, provenance) = open_package(c, kind, host)?;
        Connector::from_package(c, kind, host, package, provenance).await
    }

    /// [`Connector::load`] from a package already opened and verified.
    pub async fn from_package(
        c: &ConnectorConfig,
        kind: PluginKind,
        host: &HostServices,
        package: PluginPackage,
        provenance: Provenance,
    ) -> Result<Connector, ConnectorLoadError> {
        let stats = Arc::new(RequestStats::default());
        let first = load_generation(c, kind, host, package, provenance, 1, stats).await?;
        let policy = RegistryPolicy {
            keep: host.limits.keep_generations,
            probation_calls: host.limits.probation_calls,
        };
        Ok(Connector {
            id: c.id.clone(),
            kind,
            config: c.clone(),
            generations: Generations::new(&c.id, first, policy),
            poll_interval: c.poll_interval(),
            max_requests_per_second: c.max_requests_per_second,
            fields: Allowlist::new(c.fields.as_deref()),
            marketing: MarketingGate::new(
                c.channels.clone().unwrap_or_else(|| vec![Channel::Email]),
                host.marketing_without_choice,
            ),
            normalizer: host.normalizer.clone(),
            retiring: c.retire,
            mode: c.mode(),
        })
    }

    /// Records in the store which plugin build the connector runs.
    pub async fn register(&self, store: &Store) -> Result<(), rapport_store::StoreError> {
        let role = match self.kind {
            PluginKind::PosSource => ConnectorRole::Source,
            PluginKind::CrmSink => ConnectorRole::Sink,
        };
        let plugin = self.plugin();
        store
            .register_connector(role, &self.id, plugin.id(), plugin.digest())
            .await
    }
}

/// Opens and verifies the plugin package a connector's config points at (manifest, contract,
/// signature against the trust store), and checks it is of the connector's kind.
pub fn open_package(
    c: &ConnectorConfig,
    kind: PluginKind,
    host: &HostServices,
) -> Result<(PluginPackage, Provenance), ConnectorLoadError> {
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
    Ok((package, provenance))
}

/// Binds an opened package to the connector's settings, egress and secrets, compiles and type-checks
/// it off the async runtime (through the compile cache), and asks it to describe itself: generation
/// `number` of the connector, sharing the connector's request counters `stats`.
pub async fn load_generation(
    c: &ConnectorConfig,
    kind: PluginKind,
    host: &HostServices,
    package: PluginPackage,
    provenance: Provenance,
    number: u64,
    stats: Arc<RequestStats>,
) -> Result<Generation, ConnectorLoadError> {
    let error = |message: String| load_error(kind, &c.id, message);
    let manifest = &package.manifest;
    check_grants(c, manifest).map_err(&error)?;
    if let Some(missing) = c.secrets.iter().find(|name| !host.secrets.has(name)) {
        return Err(error(format!(
            "secret `{missing}` is granted to it but not set: set {} or add `{missing} = \"…\"` \
             to the secrets file",
            rapport_sandbox::capabilities::secrets::env_var_for(missing)
        )));
    }
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
        generation: number,
        config: settings,
        egress,
        secrets,
        http: host.http.clone(),
        requests,
        stats,
        runtime: tokio::runtime::Handle::current(),
        sends: match c.mode() {
            SinkMode::Live => SendMode::Network,
            SinkMode::Shadow => SendMode::Capture,
        },
    };
    let version = manifest.version.clone();
    let runtime = host.runtime.clone();
    let (plugin, descriptor) =
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
    tracing::info!(
        connector = %c.id,
        plugin = plugin.id(),
        generation = plugin.generation(),
        version = %version,
        digest = &plugin.digest()[..12],
        %provenance,
        "loaded {}",
        descriptor.name
    );
    if provenance == Provenance::DevUnsigned {
        tracing::warn!(connector = %c.id, plugin = plugin.id(), "running an UNSIGNED development plugin");
    }
    Ok(Generation {
        plugin: Arc::new(plugin),
        descriptor,
        provenance,
        version,
        loaded_at: chrono::Utc::now(),
    })
}
