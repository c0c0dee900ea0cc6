//! The operator's configuration file (`rapport.toml`): where the database is, which sources and sinks
//! run with which plugin and settings, and the limits the host enforces. Errors name the file, the
//! field and, for syntax errors, the line.

pub mod backup;
#[cfg(test)]
mod fuzz;
mod journeys;
pub mod mode;
pub mod pairs;
mod preferences;
pub mod support;

use rapport_core::consent::contact::ContactRules;
use rapport_core::identity::{IdentityRules, Region};
use rapport_core::journeys::Messaging;
use rapport_core::operations::{Slo, SloError};
use rapport_sandbox::packages::instance::RawSettings;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub shop: ShopConfig,
    /// Opt-in identity rules beyond the standards.
    #[serde(default)]
    pub identity: IdentityRules,
    #[serde(default)]
    pub consent: ConsentConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub network: NetworkConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    #[serde(default)]
    pub trust: TrustConfig,
    /// `[privacy]`: how much of a birthday is kept, where data requests are answered.
    #[serde(default)]
    pub privacy: rapport_core::governance::privacy::PrivacyConfig,
    /// `[profiles]`: the loyalty tiers, lowest first.
    #[serde(default)]
    pub profiles: ProfilesConfig,
    /// `[pairs]`: the guards, window and schedule of product pairs.
    #[serde(default)]
    pub pairs: pairs::PairsConfig,
    /// How long each class of stored record is kept.
    #[serde(default)]
    pub retention: rapport_core::governance::retention::RetentionConfig,
    #[serde(default, rename = "source")]
    pub sources: Vec<ConnectorConfig>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<ConnectorConfig>,
    /// Messages sinks send people after a sale.
    #[serde(default, rename = "journey")]
    pub journeys: Vec<rapport_core::journeys::Journey>,
    /// `[journeys]`: settings every journey shares (how old a sale may be and still start one).
    #[serde(default, rename = "journeys")]
    pub journey_horizon: rapport_core::sales::JourneyHorizon,
    /// `[check]`: the free disk space under which `rapport check` warns and fails.
    #[serde(default)]
    pub check: rapport_core::readiness::DiskThresholds,
    /// `[[freeze]]`: windows in which config edits and new plugin versions are refused unless
    /// forced, and the journeys may be paused.
    #[serde(default, rename = "freeze")]
    pub freezes: Vec<rapport_core::freeze::Freeze>,
    /// `[support]`: who to call when something goes wrong, for the go-live playbook.
    #[serde(default)]
    pub support: support::SupportConfig,
    /// `[backup]`: scheduled backups (how often, how many kept, where); none without it.
    #[serde(default)]
    pub backup: Option<backup::BackupConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (relative to the config file) or `postgres://…`; `DATABASE_URL` overrides it.
    #[serde(default = "default_database_url")]
    pub database_url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            database_url: default_database_url(),
        }
    }
}

fn default_database_url() -> String {
    "sqlite://rapport.db".into()
}

/// Where the shop is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// ISO 3166 alpha-2 code, e.g. "US" or "GB": phone numbers written without a country code are
    /// read as dialled there.
    #[serde(deserialize_with = "shop_region")]
    pub region: Region,
    /// IANA time zone name, e.g. "America/New_York": the shop's local time.
    #[serde(deserialize_with = "shop_time_zone")]
    pub time_zone: chrono_tz::Tz,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            region: Region::US,
            time_zone: chrono_tz::UTC,
        }
    }
}

fn shop_region<'de, D: Deserializer<'de>>(d: D) -> Result<Region, D::Error> {
    let code = String::deserialize(d)?;
    code.parse()
        .map_err(|e| serde::de::Error::custom(format!("shop.region: {e}")))
}

fn shop_time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "shop.time_zone: {name:?} is not an IANA time zone name (like \"America/New_York\" or \"UTC\")"
        ))
    })
}

/// How the host treats people's marketing choices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    /// A person who never made a marketing choice: "withhold" (opt-in law, the default) sends
    /// sinks nothing about them; "send" (opt-out law) sends until they refuse.
    pub marketing_without_choice: rapport_core::consent::gate::WithoutChoice,
    /// The shop's local hours in which no journey message is sent (they wait for the end).
    pub quiet_hours: Option<rapport_core::consent::contact::QuietHours>,
    /// Most journey messages per person and channel in a number of days (`[[consent.cap]]`).
    #[serde(rename = "cap")]
    pub caps: Vec<rapport_core::consent::contact::Cap>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Largest memory a plugin call may use; a manifest may ask for less, never more.
    pub memory_limit_mib: u64,
    /// Longest a plugin call may run; a manifest may ask for less, never more.
    pub call_timeout_ms: u64,
    /// Fuel (roughly, wasm instructions) per call, if set: a second, deterministic bound.
    pub fuel_per_call: Option<u64>,
    /// Most `send` calls per plugin call; a manifest may ask for fewer.
    pub max_requests_per_call: u32,
    /// Most requests in flight per plugin; a manifest may ask for fewer.
    pub max_concurrent_requests: u32,
    /// Where compiled plugins are cached (relative to the config file); none: memory only.
    pub cache_dir: Option<PathBuf>,
    /// Consecutive faulty calls after which a plugin is degraded.
    pub degrade_after: u32,
    /// Consecutive faulty calls after which a plugin is quarantined (not called until a probe passes).
    pub quarantine_after: u32,
    /// How long a quarantined plugin rests before it is probed with `check`.
    pub probe_interval_ms: u64,
    /// Generations of each connector's plugin kept in memory for rollback, the live one included.
    pub keep_generations: usize,
    /// Calls a newly loaded generation makes on probation: if it faults clearly more than the
    /// generation it replaced within them, the host rolls back.
    pub probation_calls: u64,
    /// How long the plugins directory must be quiet after a change before the daemon reloads.
    pub reload_debounce_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_mib: 64,
            call_timeout_ms: 10_000,
            fuel_per_call: None,
            max_requests_per_call: 500,
            max_concurrent_requests: 8,
            cache_dir: None,
            degrade_after: 3,
            quarantine_after: 6,
            probe_interval_ms: 30_000,
            keep_generations: 3,
            probation_calls: 50,
            reload_debounce_ms: 50,
        }
    }
}

/// Where plugin egress may connect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Non-public address ranges plugins may reach anyway, e.g. `["127.0.0.1/32"]`.
    pub allow_private: Vec<String>,
    /// Static name → address overrides, consulted before DNS.
    pub hosts: std::collections::BTreeMap<String, String>,
}

impl NetworkConfig {
    /// The address policy these settings describe.
    pub fn policy(&self) -> Result<rapport_sandbox::capabilities::network::AddressPolicy, String> {
        let allowed = self
            .allow_private
            .iter()
            .map(|range| {
                range
                    .parse()
                    .or_else(|_| range.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("network.allow_private: {range:?} is not an address range like 127.0.0.1/32"))
            })
            .collect::<Result<_, _>>()?;
        let hosts = self
            .hosts
            .iter()
            .map(|(name, address)| {
                address
                    .parse()
                    .map(|ip| (name.to_ascii_lowercase(), ip))
                    .map_err(|_| format!("network.hosts.{name}: {address:?} is not an IP address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(rapport_sandbox::capabilities::network::AddressPolicy::new(
            allowed, hosts,
        ))
    }
}

/// Which plugin publishers the operator trusts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// The trust store of publisher keys (relative to the config file); plugins must be signed by
    /// one of them.
    pub store: Option<PathBuf>,
    /// Development mode: unsigned plugins load too, and are marked DEV-UNSIGNED everywhere. The
    /// `--dev` flag of the CLI turns it on.
    pub dev: bool,
}

/// Where the operator keeps secret values besides `RAPPORT_SECRET_<NAME>` variables. Which
/// connector may use which secret is granted per connector (`secrets = [...]` in its entry).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// A TOML file of `name = "value"`, readable only by its owner (relative to the config file).
    pub file: Option<PathBuf>,
}

/// `[server]`: the HTTP surface (webhooks, uploads, the admin API) and how it is guarded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the webhook and admin HTTP server.
    pub listen: String,
    /// Total timeout of a plugin's outgoing request.
    pub http_timeout_ms: u64,
    /// Host names the server answers to besides loopback (DNS rebinding is refused by Host).
    pub hostnames: Vec<String>,
    /// Serve HTTPS with this certificate chain and key (PEM files, relative to the config file).
    pub tls: Option<TlsConfig>,
    /// A TLS-terminating proxy is in front: a non-loopback `listen` may then serve plain HTTP.
    pub tls_proxy: bool,
    /// How long a client may take to send a request's headers.
    pub header_timeout_ms: u64,
    /// How long a client may take to send a request's body.
    pub body_timeout_ms: u64,
    /// Most bytes of refused bodies the webhook inbox keeps.
    pub inbox_max_mib: u64,
    /// How each source's `POST /webhooks/<id>` is guarded and bounded, by source id.
    pub sources: std::collections::BTreeMap<String, SourceEdge>,
    /// Where people reach this server (`https://rapport.myshop.example`): the preference page's
    /// links start with it. Without it, no link is made.
    pub public_url: Option<String>,
    /// How many days a preference page link works.
    pub preference_link_days: u32,
}

/// The certificate and key of an HTTPS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[server.sources.<id>]`: one source's push route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceEdge {
    /// The plugin checks a vendor's signature on every push (Square, Shopify): no upload token.
    /// Otherwise pushes need the source's upload token.
    pub vendor_signed: bool,
    /// Largest body taken; unset: a quarter of the plugin memory limit.
    pub max_body_mib: Option<u64>,
    /// Requests handled at once; more are answered 503 at once.
    pub max_concurrent: usize,
    /// Whether consent grants from this source are taken (refusals always are).
    pub grants_consent: bool,
}

impl Default for SourceEdge {
    fn default() -> Self {
        SourceEdge {
            vendor_signed: false,
            max_body_mib: None,
            max_concurrent: 4,
            grants_consent: true,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8940".into(),
            http_timeout_ms: 30_000,
            hostnames: Vec::new(),
            tls: None,
            tls_proxy: false,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            inbox_max_mib: 64,
            sources: Default::default(),
            public_url: None,
            preference_link_days: 60,
        }
    }
}

impl ServerConfig {
    /// `source`'s push route settings (the defaults for a source not named).
    pub fn source(&self, source: &str) -> SourceEdge {
        self.sources.get(source).cloned().unwrap_or_default()
    }

    /// Checks `[server]` against the sources configured.
    fn validate(&self, sources: &[ConnectorConfig]) -> Result<(), String> {
        let listen: std::net::SocketAddr = self
            .listen
            .parse()
            .map_err(|_| format!("server.listen {:?} is not host:port", self.listen))?;
        if !listen.ip().is_loopback() && self.tls.is_none() && !self.tls_proxy {
            return Err(format!(
                "server.listen {:?} is not a loopback address, so it needs TLS: set [server] tls = {{ cert = \"cert.pem\", key = \"key.pem\" }} to serve HTTPS, or tls_proxy = true if a TLS-terminating proxy is in front of it",
                self.listen
            ));
        }
        if self.tls.is_some() && self.tls_proxy {
            return Err("[server] sets both tls and tls_proxy: keep tls to serve HTTPS here, or tls_proxy if a proxy terminates TLS".into());
        }
        if let Some(name) = self.hostnames.iter().find(|h| {
            h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }) {
            return Err(format!(
                "server.hostnames: {name:?} is not a host name (like \"rapport.myshop.example\", without a port)"
            ));
        }
        if self.header_timeout_ms == 0 || self.body_timeout_ms == 0 {
            return Err(
                "server.header_timeout_ms and server.body_timeout_ms must be at least 1".into(),
            );
        }
        for (id, edge) in &self.sources {
            if !sources.iter().any(|s| &s.id == id) {
                return Err(format!(
                    "[server.sources.{id}] names no configured [[source]] (the ids are {:?})",
                    sources.iter().map(|s| s.id.as_str()).collect::<Vec<_>>()
                ));
            }
            if edge.max_body_mib == Some(0) || edge.max_concurrent == 0 {
                return Err(format!(
                    "[server.sources.{id}] max_body_mib and max_concurrent must be at least 1"
                ));
            }
        }
        preferences::validate(self)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a work item is dead-lettered.
    pub max_attempts: i64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claimed work item stays leased to one worker.
    pub lease_ms: i64,
    /// Batches each sink may have in flight at once. A person's items still go in order: a batch
    /// never takes one while an earlier one of theirs is in flight.
    pub concurrency: usize,
    /// Longest a vendor's `Retry-After` (or rate limit) pauses a sink: a longer wait is cut to this.
    pub retry_after_cap_ms: u64,
    /// How long a sink whose vendor refused its credentials (401/403) rests before it tries again.
    pub auth_retry_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 20,
            backoff_base_ms: 500,
            backoff_max_ms: 300_000,
            lease_ms: 60_000,
            concurrency: 4,
            retry_after_cap_ms: 3_600_000,
            auth_retry_ms: 300_000,
        }
    }
}

/// One configured source or sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub id: String,
    /// Directory holding `plugin.wasm` and `rapport.toml` (relative to the config file).
    pub plugin: PathBuf,
    /// How often a source is polled.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// A sink's ceiling on calls per second (it also slows down by itself when the vendor throttles).
    pub max_requests_per_second: Option<f64>,
    /// The person fields a sink receives (`email`, `phone`, `given_name`, `orders_count`, …);
    /// all of them when unset. Consents always go.
    pub fields: Option<Vec<rapport_core::governance::fields::Field>>,
    /// The channels a sink markets on (`email`, `sms`, `push`, `postal`; `email` when unset): it
    /// receives a person's marketing data only with their consent on one of them. `[]` for a sink
    /// that never contacts people.
    pub channels: Option<Vec<rapport_core::model::Channel>>,
    /// A sink being replaced: it takes no new work, delivers what it already owes, and is then
    /// retired (it is still asked to forget people).
    #[serde(default)]
    pub retire: bool,
    /// The secrets this connector may use, by name: its plugin's manifest may name no others, and
    /// each must be set (`RAPPORT_SECRET_<NAME>` or the secrets file) for it to start.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The plugin's settings, checked against its manifest.
    #[serde(default)]
    pub config: RawSettings,
    /// A sink's objective: the share of its finished items that should reach the CRM (0.995 when
    /// unset), measured over the last `slo_window_days` days (28 when unset).
    pub slo: Option<f64>,
    pub slo_window_days: Option<u32>,
    /// A sink's mode, `live` (the default) or `shadow` (see `mode.rs`).
    pub mode: Option<mode::ModeSetting>,
    /// A sink that sends nothing while false: its work waits in the outbox (true when unset).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// A sink's progressive go-live: the share of people (0 to 1, chosen by a stable hash of
    /// their profile key) whose data it is sent; the others' work waits until the share grows.
    #[serde(default = "whole_share")]
    pub rollout: f64,
}

fn enabled_by_default() -> bool {
    true
}

fn whole_share() -> f64 {
    1.0
}

fn default_poll_interval() -> u64 {
    60
}

impl ConnectorConfig {
    /// A connector `id` running the plugin in `plugin`, every other key as a config file that
    /// names only these two would have it.
    pub fn new(id: impl Into<String>, plugin: PathBuf) -> ConnectorConfig {
        ConnectorConfig {
            id: id.into(),
            plugin,
            poll_interval_secs: default_poll_interval(),
            max_requests_per_second: None,
            fields: None,
            channels: None,
            retire: false,
            secrets: Vec::new(),
            config: RawSettings::default(),
            slo: None,
            slo_window_days: None,
            mode: None,
            enabled: enabled_by_default(),
            rollout: whole_share(),
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }

    /// A sink's mode in force.
    pub fn mode(&self) -> mode::SinkMode {
        mode::resolve(self.mode.as_ref())
    }

    /// A sink's objective, defaults filled in.
    pub fn slo(&self) -> Result<Slo, SloError> {
        Slo::new(
            self.slo.unwrap_or(Slo::DEFAULT_TARGET),
            self.slo_window_days.unwrap_or(Slo::DEFAULT_WINDOW_DAYS),
        )
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

/// `[profiles]`: how profiles are read. `tiers` runs from the lowest tier to the highest, e.g.
/// `tiers = [{ name = "silver", min_spend_minor = 10000 }, { name = "gold", min_lifetime_points = 500 }]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesConfig {
    #[serde(default)]
    pub tiers: Vec<rapport_core::profile::tiers::Tier>,
}

impl Config {
    /// What delivery needs to judge a journey message: the shop's contact rules and consent regime.
    pub fn messaging(&self) -> Messaging {
        Messaging::new(
            ContactRules::new(
                self.shop.time_zone,
                self.consent.quiet_hours,
                self.consent.caps.clone(),
            ),
            self.consent.marketing_without_choice,
        )
    }

    /// Reads and validates a config file; relative paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(error)
    }

    /// Parses config text; `base` anchors relative paths.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Ok(url) = std::env::var("DATABASE_URL") {
            config.store.database_url = url;
        }
        config.validate()?;
        config.anchor(base);
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        rapport_core::profile::tiers::check(&self.profiles.tiers)
            .map_err(|e| format!("[profiles] tiers: {e}"))?;
        let mut seen = HashSet::new();
        for (section, connector) in self
            .sources
            .iter()
            .map(|c| ("source", c))
            .chain(self.sinks.iter().map(|c| ("sink", c)))
        {
            let id_ok = !connector.id.is_empty()
                && connector
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(format!(
                    "[[{section}]] id {:?} must be non-empty letters, digits, '-' or '_'",
                    connector.id
                ));
            }
            if !seen.insert(connector.id.as_str()) {
                return Err(format!("[[{section}]] id {:?} is used twice", connector.id));
            }
            if section == "source" && connector.fields.is_some() {
                return Err(format!(
                    "[[source]] {:?}: fields applies to sinks only (it names what a sink receives)",
                    connector.id
                ));
            }
            if section == "source" && connector.channels.is_some() {
                return Err(format!(
                    "[[source]] {:?}: channels applies to sinks only (it names where a sink markets)",
                    connector.id
                ));
            }
            if section == "source" && connector.poll_interval_secs == 0 {
                return Err(format!(
                    "[[source]] {:?}: poll_interval_secs must be at least 1",
                    connector.id
                ));
            }
            if section == "source"
                && (connector.slo.is_some() || connector.slo_window_days.is_some())
            {
                return Err(format!(
                    "[[source]] {:?}: slo and slo_window_days apply to sinks only",
                    connector.id
                ));
            }
            connector
                .slo()
                .map_err(|e| format!("[[{section}]] {:?}: {e}", connector.id))?;
            if section == "source" && (!connector.enabled || connector.rollout != 1.0) {
                return Err(format!(
                    "[[source]] {:?}: enabled and rollout apply to sinks only (remove a source from the config to stop it)",
                    connector.id
                ));
            }
            rapport_core::rollout::check_share(
                &format!("[[{section}]] {:?}", connector.id),
                connector.rollout,
            )?;
            mode::validate(section, &connector.id, connector.mode.as_ref())?;
            if section == "source" && connector.retire {
                return Err(format!(
                    "[[source]] {:?}: retire applies to sinks only (remove a source from the config to stop it)",
                    connector.id
                ));
            }
        }
        if !self.sinks.is_empty() && self.sinks.iter().all(|s| s.retire) {
            return Err(
                "every [[sink]] has retire = true: keep at least one sink taking work (add the sink that replaces them)"
                    .into(),
            );
        }
        if self.runtime.memory_limit_mib == 0 || self.runtime.memory_limit_mib > 4096 {
            return Err("runtime.memory_limit_mib must be between 1 and 4096".into());
        }
        if self.runtime.call_timeout_ms < 10 {
            return Err("runtime.call_timeout_ms must be at least 10".into());
        }
        if self.runtime.max_requests_per_call == 0 || self.runtime.max_concurrent_requests == 0 {
            return Err("runtime.max_requests_per_call and runtime.max_concurrent_requests must be at least 1".into());
        }
        if self.runtime.degrade_after == 0
            || self.runtime.quarantine_after < self.runtime.degrade_after
        {
            return Err("runtime.degrade_after must be at least 1 and quarantine_after at least degrade_after".into());
        }
        if self.runtime.keep_generations < 2 {
            return Err("runtime.keep_generations must be at least 2 (the live one and one to roll back to)".into());
        }
        self.network.policy()?;
        if self.delivery.max_attempts < 1 {
            return Err("delivery.max_attempts must be at least 1".into());
        }
        if self.delivery.retry_after_cap_ms < 1000 || self.delivery.auth_retry_ms < 1000 {
            return Err(
                "delivery.retry_after_cap_ms and delivery.auth_retry_ms must be at least 1000"
                    .into(),
            );
        }
        if !(1..=64).contains(&self.delivery.concurrency) {
            return Err(format!(
                "delivery.concurrency must be between 1 and 64, not {}",
                self.delivery.concurrency
            ));
        }
        self.server.validate(&self.sources)?;
        self.pairs.validate()?;
        self.check.validate()?;
        for freeze in &self.freezes {
            freeze.check()?;
        }
        self.support.validate()?;
        journeys::validate(self)
    }

    fn anchor(&mut self, base: &Path) {
        for connector in self.sources.iter_mut().chain(self.sinks.iter_mut()) {
            if connector.plugin.is_relative() {
                connector.plugin = base.join(&connector.plugin);
            }
        }
        for path in [
            self.runtime.cache_dir.as_mut(),
            self.secrets.file.as_mut(),
            self.trust.store.as_mut(),
            Some(&mut self.privacy.data_requests),
            self.backup.as_mut().map(|backup| &mut backup.dir),
        ]
        .into_iter()
        .flatten()
        .chain(
            self.server
                .tls
                .as_mut()
                .into_iter()
                .flat_map(|tls| [&mut tls.cert, &mut tls.key]),
        )
        .filter(|p| p.is_relative())
        {
            *path = base.join(&*path);
        }
        if let Some(path) = self.store.database_url.strip_prefix("sqlite://") {
            let (file, query) = path
                .split_once('?')
                .map_or((path, None), |(f, q)| (f, Some(q)));
            if Path::new(file).is_relative() && !file.starts_with(':') {
                let anchored = base.join(file).display().to_string();
                self.store.database_url = match query {
                    Some(q) => format!("sqlite://{anchored}?{q}"),
                    None => format!("sqlite://{anchored}"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Config::parse("[store]\ndatabase_url = \n", Path::new(".")).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn retire_is_for_sinks_and_one_sink_must_stay() {
        let text = "[[source]]\nid = \"a\"\nplugin = \"p\"\nretire = true\n";
        let err = Config::parse(text, Path::new(".")).unwrap_err();
        assert!(err.contains("retire applies to sinks only"), "{err}");
        let text = "[[sink]]\nid = \"old\"\nplugin = \"p\"\nretire = true\n";
        let err = Config::parse(text, Path::new(".")).unwrap_err();
        assert!(err.contains("keep at least one sink taking work"), "{err}");
        let text = format!("{text}[[sink]]\nid = \"new\"\nplugin = \"q\"\n");
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert!(config.sinks[0].retire && !config.sinks[1].retire);
    }

    #[test]
    fn a_non_loopback_listen_needs_tls_or_a_proxy() {
        let err =
            Config::parse("[server]\nlisten = \"0.0.0.0:8940\"\n", Path::new(".")).unwrap_err();
        assert!(
            err.contains("tls = {") && err.contains("tls_proxy = true"),
            "{err}"
        );
        let proxied = "[server]\nlisten = \"0.0.0.0:8940\"\ntls_proxy = true\n";
        assert!(Config::parse(proxied, Path::new(".")).is_ok());
        let tls =
            "[server]\nlisten = \"0.0.0.0:8940\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }\n";
        let config = Config::parse(tls, Path::new("/etc/rapport")).unwrap();
        assert_eq!(
            config.server.tls.unwrap().cert,
            Path::new("/etc/rapport/c.pem")
        );
        let err = Config::parse("[server.sources.nope]\n", Path::new(".")).unwrap_err();
        assert!(
            err.contains("[server.sources.nope] names no configured [[source]]"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let text = "[[source]]\nid = \"a\"\nplugin = \"p\"\n[[sink]]\nid = \"a\"\nplugin = \"q\"\n";
        let err = Config::parse(text, Path::new(".")).unwrap_err();
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Config::parse("[runtime]\nmemory_limit = 3\n", Path::new(".")).unwrap_err();
        assert!(err.contains("memory_limit"), "{err}");
    }

    #[test]
    fn shop_and_identity_default_to_us_utc_and_standard_rules() {
        let config = Config::parse("", Path::new(".")).unwrap();
        assert_eq!(config.shop.region, Region::US);
        assert_eq!(config.shop.time_zone, chrono_tz::UTC);
        assert!(!config.identity.gmail_canonical);
    }

    #[test]
    fn shop_and_identity_are_read() {
        let text = "[shop]\nregion = \"GB\"\ntime_zone = \"Europe/London\"\n[identity]\ngmail_canonical = true\nblocked = [\"walk-in@myshop.co.uk\"]\n";
        let config = Config::parse(text, Path::new(".")).unwrap();
        assert_eq!(config.shop.region.to_string(), "GB");
        assert_eq!(config.shop.time_zone, chrono_tz::Europe::London);
        assert!(config.identity.gmail_canonical);
        assert_eq!(config.identity.blocked, ["walk-in@myshop.co.uk"]);
    }

    #[test]
    fn bad_shop_values_name_the_field_and_value() {
        for (text, field, value) in [
            ("[shop]\nregion = \"XX\"\n", "shop.region", "\"XX\""),
            ("[shop]\nregion = \"USA\"\n", "shop.region", "\"USA\""),
            (
                "[shop]\ntime_zone = \"Mars/Olympus\"\n",
                "shop.time_zone",
                "\"Mars/Olympus\"",
            ),
            ("[identity]\ngmail = true\n", "unknown field", "gmail"),
        ] {
            let err = Config::parse(text, Path::new(".")).unwrap_err();
            assert!(err.contains(field) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let text = "[store]\ndatabase_url = \"sqlite://data/r.db\"\n[[sink]]\nid = \"s\"\nplugin = \"plugins/x\"\n";
        let config = Config::parse(text, Path::new("/etc/rapport")).unwrap();
        assert_eq!(config.sinks[0].plugin, Path::new("/etc/rapport/plugins/x"));
        if std::env::var("DATABASE_URL").is_err() {
            assert_eq!(config.store.database_url, "sqlite:///etc/rapport/data/r.db");
        }
    }
}
