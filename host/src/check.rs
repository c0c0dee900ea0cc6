//! `rapport check`, the go-live check: the config, the secrets, the database, each connector's
//! plugin against its vendor, the clock and the disk, each judged on its own line so one broken
//! part never hides the others. A line that needs a part that failed is skipped, saying which.
//! Nothing is changed: the database is opened read-only and never migrated, and connectors are
//! loaded without being registered or approved. The verdicts are `rapport_core::readiness`'s.

use crate::config::{Config, ConnectorConfig};
use crate::connectors::{check_grants, held_reason, not_approved, Connector, HostServices};
use chrono::{DateTime, Utc};
use rapport_core::readiness::{self, MigrationReport, Verdict};
use rapport_sandbox::capabilities::secrets::{env_var_for, SecretStore};
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::packages::permissions::permissions;
use rapport_sandbox::packages::{Manifest, PluginKind, Provenance};
use rapport_store::health::{Health, Location};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One line of the check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    /// What was checked: `config`, `secrets`, `database`, `plugin <connector id>`, `clock`, `disk`.
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl Line {
    pub fn new(check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Line {
        Line {
            check: check.into(),
            verdict,
            detail: detail.into(),
        }
    }
}

/// Runs every check of the config at `config_path` (`dev`: unsigned plugins load, as `--dev`
/// makes them for the other commands) and returns its lines, in order.
pub async fn run(config_path: &Path, dev: bool) -> Vec<Line> {
    let mut config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            let skipped = "skipped: the config did not load";
            return vec![
                Line::new("config", Verdict::Fail, e.to_string()),
                Line::new("secrets", Verdict::Skip, skipped),
                Line::new("database", Verdict::Skip, skipped),
                Line::new("plugins", Verdict::Skip, skipped),
                Line::new("clock", Verdict::Skip, skipped),
                Line::new("disk", Verdict::Skip, skipped),
            ];
        }
    };
    config.trust.dev |= dev;
    let mut lines = vec![Line::new(
        "config",
        Verdict::Ok,
        format!(
            "{}: {} source(s), {} sink(s), {} journey(s)",
            config_path.display(),
            config.sources.len(),
            config.sinks.len(),
            config.journeys.len()
        ),
    )];
    let secrets = secrets(&config);
    lines.push(secrets.line.clone());
    let (database, mut health) = database(&config).await;
    lines.push(database);
    lines.extend(plugins(&config, &secrets, health.as_mut()).await);
    lines.push(clock(&config, health.as_mut()).await);
    if let Some(health) = health {
        health.close().await;
    }
    lines.push(disk(&config, config_path));
    lines
}

/// What the secrets line found, for the plugin lines after it.
struct SecretsFound {
    line: Line,
    /// The secrets file could not be used at all.
    unusable: bool,
    /// Connectors with a secret missing or not granted.
    lacking: BTreeSet<String>,
}

/// Every configured connector with its role and kind.
fn connectors(
    config: &Config,
) -> impl Iterator<Item = (&'static str, PluginKind, &ConnectorConfig)> {
    config
        .sources
        .iter()
        .map(|c| ("source", PluginKind::PosSource, c))
        .chain(
            config
                .sinks
                .iter()
                .map(|c| ("sink", PluginKind::CrmSink, c)),
        )
}

/// The manifest in a connector's plugin directory, if it reads (the plugin line says why not).
fn manifest(c: &ConnectorConfig) -> Option<Manifest> {
    let path = c.plugin.join("rapport.toml");
    let text = std::fs::read_to_string(&path).ok()?;
    Manifest::parse(&text, &path).ok()
}

/// The secrets file exists, only its owner can read it, and every secret each connector's
/// plugin names (and its config grants) is set, there or in the environment.
fn secrets(config: &Config) -> SecretsFound {
    let fail = |detail: String| SecretsFound {
        line: Line::new("secrets", Verdict::Fail, detail),
        unusable: true,
        lacking: BTreeSet::new(),
    };
    let file = config.secrets.file.as_deref();
    if let Some(path) = file {
        let shown = path.display();
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) => return fail(format!("secrets file {shown}: {e}")),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return fail(format!(
                    "secrets file {shown} has mode {mode:o}: other users can read it; run `chmod 600 {shown}`"
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
    }
    let store = match SecretStore::load(file) {
        Ok(store) => store,
        Err(e) => return fail(e),
    };
    let mut problems = Vec::new();
    let mut lacking = BTreeSet::new();
    let mut named = BTreeSet::new();
    for (role, _, c) in connectors(config) {
        let mut needed: BTreeSet<String> = c.secrets.iter().cloned().collect();
        if let Some(m) = manifest(c) {
            if let Err(e) = check_grants(c, &m) {
                problems.push(format!("{role} `{}`: {e}", c.id));
                lacking.insert(c.id.clone());
            }
            needed.extend(m.secrets);
        }
        for name in &needed {
            named.insert(name.clone());
            if !store.has(name) {
                problems.push(format!(
                    "{role} `{}` ({}): secret `{name}` is not set: add `{name} = \"…\"` to {} or set {}",
                    c.id,
                    c.plugin
                        .file_name()
                        .map_or_else(|| c.plugin.display().to_string(), |f| f.to_string_lossy().into()),
                    file.map_or_else(|| "a secrets file ([secrets] file)".into(), |p| p.display().to_string()),
                    env_var_for(name)
                ));
                lacking.insert(c.id.clone());
            }
        }
    }
    let where_ = file.map_or_else(
        || "no secrets file ([secrets] file); the environment".to_string(),
        |p| format!("{} (owner-only)", p.display()),
    );
    let line = match problems.is_empty() {
        true if named.is_empty() => Line::new("secrets", Verdict::Ok, "no plugin needs a secret"),
        true => Line::new(
            "secrets",
            Verdict::Ok,
            format!(
                "{where_}: {} secret(s) the plugins need, all set",
                named.len()
            ),
        ),
        false => Line::new("secrets", Verdict::Fail, problems.join("; ")),
    };
    SecretsFound {
        line,
        unusable: false,
        lacking,
    }
}

/// The database opens, its migrations are this build's, and its own integrity check passes; the
/// connection stays open for the clock line.
async fn database(config: &Config) -> (Line, Option<Health>) {
    let url = &config.store.database_url;
    let fail = |detail: String| (Line::new("database", Verdict::Fail, detail), None);
    let place = match Location::of(url) {
        Ok(Location::File(path)) if !path.exists() => {
            return (
                Line::new(
                    "database",
                    Verdict::Warn,
                    format!(
                        "no database at {} yet: the first start creates it",
                        path.display()
                    ),
                ),
                None,
            )
        }
        Ok(Location::File(path)) => format!("sqlite {}", path.display()),
        Ok(Location::Memory) => "sqlite in memory (nothing is kept across restarts)".into(),
        Ok(Location::Server(url)) => format!("postgresql {url}"),
        Err(e) => return fail(e.to_string()),
    };
    let mut health = match Health::open(url).await {
        Ok(health) => health,
        Err(e) => return fail(format!("{place}: {e}")),
    };
    let (migrations_verdict, migrations) = match health.applied_migrations().await {
        Ok(applied) => {
            let report = MigrationReport::new(&health.known_migrations(), &applied);
            (report.verdict(), report.describe())
        }
        Err(e) => (Verdict::Fail, format!("cannot read its migrations: {e}")),
    };
    let (integrity_verdict, integrity) = match health.integrity_problems().await {
        Ok(problems) if problems.is_empty() => (Verdict::Ok, "integrity ok".to_string()),
        Ok(problems) => (
            Verdict::Fail,
            format!(
                "integrity check: {} (restore it from a backup)",
                problems.join("; ")
            ),
        ),
        Err(e) => (
            Verdict::Fail,
            format!("integrity check failed: {e} (restore it from a backup)"),
        ),
    };
    let detail = format!(
        "{place}: round trip {} ms; {migrations}; {integrity}",
        health.connect_time.as_millis(),
    );
    (
        Line::new(
            "database",
            migrations_verdict.max(integrity_verdict),
            detail,
        ),
        Some(health),
    )
}

/// One line per connector: its plugin loads with every check the host makes at startup (manifest,
/// contract, signature and trust, settings, egress, secrets, the component's world), asks for
/// nothing beyond what was approved for the connector (in `health`'s database, once it has run),
/// and its `check` export answers ok against the vendor. An unsigned plugin is a warning: fine for
/// a trial, not for going live.
async fn plugins(
    config: &Config,
    secrets: &SecretsFound,
    mut health: Option<&mut Health>,
) -> Vec<Line> {
    let name = |c: &ConnectorConfig| format!("plugin {}", c.id);
    if secrets.unusable {
        return connectors(config)
            .map(|(_, _, c)| {
                Line::new(
                    name(c),
                    Verdict::Skip,
                    "skipped: the secrets file cannot be used (see the secrets line)",
                )
            })
            .collect();
    }
    let host = HostServices::from_config(config);
    let mut lines = Vec::new();
    for (_, kind, c) in connectors(config) {
        let line = |verdict, detail: String| Line::new(name(c), verdict, detail);
        if secrets.lacking.contains(&c.id) {
            lines.push(line(
                Verdict::Skip,
                "skipped: a secret it needs is missing (see the secrets line)".into(),
            ));
            continue;
        }
        let host = match &host {
            Ok(host) => host,
            Err(e) => {
                lines.push(line(Verdict::Fail, format!("{e:#}")));
                continue;
            }
        };
        let approved = match health.as_deref_mut() {
            Some(health) => health.approved_permissions(&c.id).await.ok().flatten(),
            None => None,
        };
        lines.push(match Connector::load(c, kind, host).await {
            Err(e) => line(Verdict::Fail, e.message),
            Ok(connector) => {
                let live = connector.live();
                let what = format!("{} {}, {}", live.plugin.id(), live.version, live.provenance);
                let unapproved = match (approved, manifest(c)) {
                    (Some(approved), Some(m)) => not_approved(&permissions(&m), &approved),
                    _ => Vec::new(),
                };
                if !unapproved.is_empty() {
                    let why = held_reason(live.plugin.id(), &live.version, &unapproved, &c.id);
                    lines.push(line(Verdict::Fail, format!("{what}: {why}")));
                    continue;
                }
                let ok = match live.provenance {
                    Provenance::DevUnsigned => (
                        Verdict::Warn,
                        format!("{what}: check ok, but unsigned plugins are for trials: install a signed package before going live"),
                    ),
                    Provenance::Signed { .. } => (Verdict::Ok, format!("{what}: check ok")),
                };
                let plugin = live.plugin.clone();
                match tokio::task::spawn_blocking(move || plugin.check()).await {
                    Ok(Ok(Ok(()))) => line(ok.0, ok.1),
                    Ok(Ok(Err(e))) => line(
                        Verdict::Fail,
                        format!("{what}: its check answered {}", describe(&e)),
                    ),
                    Ok(Err(fault)) => {
                        line(Verdict::Fail, format!("{what}: its check failed: {fault}"))
                    }
                    Err(e) => line(
                        Verdict::Fail,
                        format!("{what}: its check could not run: {e}"),
                    ),
                }
            }
        });
    }
    lines
}

/// A plugin's error, as its kind and its text.
pub fn describe(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Config(m) => format!("config: {m}"),
        ConnectorError::Auth(m) => format!("auth: {m}"),
        ConnectorError::RateLimited(ms) => format!("rate limited for {ms} ms"),
        ConnectorError::Transient(m) => format!("transient: {m}"),
        ConnectorError::Invalid(m) => format!("invalid: {m}"),
    }
}

/// The clock is not behind the newest time the store recorded.
async fn clock(config: &Config, health: Option<&mut Health>) -> Line {
    let now = Utc::now();
    let zone = config.shop.time_zone;
    let shown = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let reading = format!(
        "now {} (shop time zone {zone}: {} local)",
        shown(now),
        now.with_timezone(&zone).format("%Y-%m-%d %H:%M")
    );
    let Some(health) = health else {
        return Line::new(
            "clock",
            Verdict::Ok,
            format!("{reading}; no database to compare with"),
        );
    };
    let newest = match health.newest_recorded_ms().await {
        Ok(newest) => newest.and_then(DateTime::from_timestamp_millis),
        Err(e) => {
            return Line::new(
                "clock",
                Verdict::Skip,
                format!("{reading}; skipped: cannot read the newest recorded time: {e}"),
            )
        }
    };
    let verdict = readiness::clock(now, newest);
    let detail = match newest {
        None => format!("{reading}; nothing recorded yet"),
        Some(newest) if verdict == Verdict::Ok => {
            format!("{reading}; newest recorded {}", shown(newest))
        }
        Some(newest) => format!(
            "the system clock reads {}, behind the newest time the store recorded, {}, by {} s: \
             the clock went backwards; set it right (NTP) before starting (shop time zone {zone})",
            shown(now),
            shown(newest),
            (newest - now).num_seconds()
        ),
    };
    Line::new("clock", verdict, detail)
}

/// Free space where the SQLite database and the config are, against `[check]`'s thresholds.
fn disk(config: &Config, config_path: &Path) -> Line {
    let thresholds = config.check;
    let config_dir = match config_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut places = Vec::new();
    let mut notes = Vec::new();
    match Location::of(&config.store.database_url) {
        Ok(Location::File(path)) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            places.push(("database", dir));
        }
        Ok(Location::Server(_)) => {
            notes.push("database n/a: PostgreSQL's disk is the server's".to_string())
        }
        Ok(Location::Memory) => notes.push("database n/a: in memory".to_string()),
        Err(_) => notes.push("database n/a: see the database line".to_string()),
    }
    match places.iter_mut().find(|(_, dir)| *dir == config_dir) {
        Some(place) => place.0 = "database and config",
        None => places.push(("config", config_dir)),
    }
    let mut verdict = Verdict::Ok;
    for (what, dir) in places {
        match fs4::available_space(&dir) {
            Ok(free) => {
                let judged = thresholds.verdict(free);
                verdict = verdict.max(judged);
                notes.push(format!("{what} {}: {} free", dir.display(), bytes(free)));
            }
            Err(e) => {
                verdict = Verdict::Fail;
                notes.push(format!(
                    "{what} {}: cannot read the free space: {e}",
                    dir.display()
                ));
            }
        }
    }
    if verdict != Verdict::Ok {
        notes.push(format!(
            "warn under {} MiB, fail under {} MiB ([check] disk_warn_mib, disk_fail_mib)",
            thresholds.disk_warn_mib, thresholds.disk_fail_mib
        ));
    }
    Line::new("disk", verdict, notes.join("; "))
}

/// A size in MiB or GiB.
fn bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    match n >= GIB {
        true => format!("{:.1} GiB", n as f64 / GIB as f64),
        false => format!("{} MiB", n >> 20),
    }
}
