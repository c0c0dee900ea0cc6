//! `rapport plugin test`, the connector conformance suite: loads a plugin as the host would, with
//! the settings of its conformance config and its base URL pointed at the suite's loopback server
//! in front of the vendor, and checks what every connector must do whatever the vendor (sources:
//! `source.rs`; sinks: `sink.rs`; both: the log, limit and egress lines here). Each check is one
//! line of `rapport check`'s kind; the rules that judge are `rapport_core::conformance`'s.

pub mod config;
pub mod logs;
mod sink;
mod source;
mod vendor;

use crate::check::Line;
use crate::config::{Config, ConnectorConfig};
use crate::connectors::{Connector, HostServices};
use config::ConformanceConfig;
use logs::PluginLogs;
use rapport_core::conformance::contact_in;
use rapport_core::readiness::Verdict;
use rapport_sandbox::packages::{Manifest, PluginKind};
use rapport_sandbox::runtime::plugin::{Fault, Plugin, PluginError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vendor::LoopbackVendor;

/// Runs the suite against the plugin in `dir` with the conformance config at `config_path`
/// (default `dir/conformance.toml`, which may be absent); `logs` catches the plugin's log lines.
pub async fn run(dir: &Path, config_path: Option<&Path>, logs: &PluginLogs) -> Vec<Line> {
    let manifest_path = dir.join("rapport.toml");
    let manifest = match std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))
        .and_then(|text| Manifest::parse(&text, &manifest_path).map_err(|e| e.to_string()))
    {
        Ok(manifest) => manifest,
        Err(e) => return vec![Line::new("manifest", Verdict::Fail, e)],
    };
    let default_path = dir.join(config::FILE_NAME);
    let path = config_path.unwrap_or(&default_path);
    let mut conformance = match ConformanceConfig::load(path, config_path.is_none()) {
        Ok(c) => c,
        Err(e) => return vec![Line::new("conformance config", Verdict::Fail, e)],
    };
    if manifest.kind == PluginKind::CrmSink && conformance.base_url_key.is_none() {
        return vec![Line::new(
            "conformance config",
            Verdict::Fail,
            format!(
                "{}: a sink's config must name `base_url_key`, the setting holding the vendor's \
                 base URL, so the suite can answer the plugin with faults",
                path.display()
            ),
        )];
    }
    let vendor = match &conformance.base_url_key {
        None => None,
        Some(key) => {
            let started = LoopbackVendor::start(
                conformance.vendor_base().as_deref(),
                conformance.recorded.clone(),
            )
            .await;
            match started {
                Ok(vendor) => {
                    conformance
                        .settings
                        .insert(key.clone(), vendor.base_url().into());
                    Some(vendor)
                }
                Err(e) => {
                    return vec![Line::new(
                        "conformance config",
                        Verdict::Fail,
                        format!("{}: {e:#}", path.display()),
                    )]
                }
            }
        }
    };
    let connector = match load(dir, &manifest, &conformance).await {
        Ok(connector) => connector,
        Err(e) => return vec![Line::new("describe", Verdict::Fail, e)],
    };
    let live = connector.live();
    let descriptor = &live.descriptor;
    let mut lines = vec![Line::new(
        "describe",
        match descriptor.name.trim().is_empty() {
            true => Verdict::Fail,
            false => Verdict::Ok,
        },
        format!(
            "{} {} ({}, {}): {:?}{}",
            manifest.id,
            manifest.version,
            manifest.kind,
            manifest.contract,
            descriptor.name,
            match manifest.kind {
                PluginKind::PosSource => format!(", streams {:?}", descriptor.streams),
                PluginKind::CrmSink => format!(", batches of {}", descriptor.max_batch),
            }
        ),
    )];
    let probe = Probe::new(live.plugin.clone());
    let contacts = match (manifest.kind, &vendor) {
        (PluginKind::PosSource, _) => {
            let (source_lines, phones) = source::checks(&probe, descriptor, &conformance).await;
            lines.extend(source_lines);
            phones
        }
        (PluginKind::CrmSink, Some(vendor)) => {
            lines.extend(sink::checks(&probe, vendor).await);
            sink::phones()
        }
        (PluginKind::CrmSink, None) => unreachable!("a sink's base_url_key was required above"),
    };
    lines.push(logs_line(&logs.lines(), &contacts));
    lines.push(probe.limits_line(&manifest));
    lines.push(egress_line(&probe));
    lines
}

/// Loads the plugin as the host loads a connector: unsigned plugins allowed (the suite is for
/// authors), the suite's loopback server reachable, every secret the manifest names granted, a
/// plugin never quarantined by the faults it is put through.
async fn load(
    dir: &Path,
    manifest: &Manifest,
    conformance: &ConformanceConfig,
) -> Result<Connector, String> {
    let quoted = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let mut text = "[network]\nallow_private = [\"127.0.0.1/32\"]\n[trust]\ndev = true\n\
                    [runtime]\ndegrade_after = 1000000\nquarantine_after = 1000000\n"
        .to_string();
    if let Some(file) = &conformance.secrets_file {
        text.push_str(&format!("[secrets]\nfile = {}\n", quoted(file)));
    }
    let config = Config::parse(&text, Path::new(".")).map_err(|e| format!("host config: {e}"))?;
    let host = HostServices::from_config(&config).map_err(|e| format!("{e:#}"))?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
    let connector = ConnectorConfig {
        secrets: manifest.secrets.clone(),
        config: conformance.settings.clone(),
        ..ConnectorConfig::new(manifest.id.clone(), dir)
    };
    Connector::load(&connector, manifest.kind, &host)
        .await
        .map_err(|e| e.message)
}

/// A plugin under test: each call timed and its fault kept, for the limits line.
pub(crate) struct Probe {
    plugin: Arc<Plugin>,
    calls: Mutex<Vec<(&'static str, Duration, Option<Fault>)>>,
}

impl Probe {
    fn new(plugin: Arc<Plugin>) -> Probe {
        Probe {
            plugin,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on the plugin off the async runtime, as the host does, timing it.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Plugin) -> Result<R, PluginError> + Send + 'static,
    ) -> Result<R, PluginError> {
        let plugin = self.plugin.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || f(&plugin))
            .await
            .unwrap_or_else(|e| {
                Err(PluginError {
                    plugin: self.plugin.id().to_string(),
                    generation: self.plugin.generation(),
                    call,
                    fault: Fault::Trap(e.to_string()),
                })
            });
        let fault = result.as_ref().err().map(|e| e.fault.clone());
        (self.calls.lock().expect("calls lock")).push((call, started.elapsed(), fault));
        result
    }

    /// Memory and time: no call ran past its deadline, its fuel or its memory cap (the manifest's
    /// `[resources]`, within the host's defaults).
    fn limits_line(&self, manifest: &Manifest) -> Line {
        let operator = crate::config::RuntimeConfig::default();
        let wanted = &manifest.resources;
        let memory = (wanted.memory_mib)
            .unwrap_or(operator.memory_limit_mib)
            .min(operator.memory_limit_mib);
        let deadline = (wanted.timeout_ms)
            .unwrap_or(operator.call_timeout_ms)
            .min(operator.call_timeout_ms);
        let calls = self.calls.lock().expect("calls lock");
        let breaches: Vec<String> = (calls.iter())
            .filter_map(|(call, _, fault)| match fault {
                Some(f @ (Fault::Deadline(_) | Fault::Memory(_) | Fault::Fuel(_))) => {
                    Some(format!("`{call}` {f}"))
                }
                _ => None,
            })
            .collect();
        let slowest = calls.iter().max_by_key(|(_, elapsed, _)| *elapsed);
        match (breaches.is_empty(), slowest) {
            (false, _) => Line::new("memory and time", Verdict::Fail, breaches.join("; ")),
            (true, None) => Line::new("memory and time", Verdict::Skip, "no call was made"),
            (true, Some((call, elapsed, _))) => Line::new(
                "memory and time",
                Verdict::Ok,
                format!(
                    "{} calls within {memory} MiB and {deadline} ms each; slowest `{call}` {} ms",
                    calls.len(),
                    elapsed.as_millis()
                ),
            ),
        }
    }
}

/// No customer contact detail in the plugin's log lines.
fn logs_line(lines: &[String], phones: &[String]) -> Line {
    let leaks: Vec<String> = (lines.iter().enumerate())
        .filter_map(|(i, line)| {
            contact_in(line, phones).map(|what| format!("line {} shows {what}", i + 1))
        })
        .collect();
    match leaks.is_empty() {
        true => Line::new(
            "no contact details in logs",
            Verdict::Ok,
            format!("{} plugin log line(s), none with an email address or phone number", lines.len()),
        ),
        false => Line::new(
            "no contact details in logs",
            Verdict::Fail,
            format!(
                "{} of {} plugin log lines show a customer's contact details ({}): log ids, not people",
                leaks.len(),
                lines.len(),
                leaks.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
    }
}

/// Only the manifest's egress destinations were asked for: the host refused no request.
fn egress_line(probe: &Probe) -> Line {
    let counts = probe.plugin.context().stats.counts();
    match counts.denied {
        0 => Line::new(
            "egress",
            Verdict::Ok,
            format!(
                "{} request(s), all to the manifest's destinations",
                counts.sent
            ),
        ),
        n => Line::new(
            "egress",
            Verdict::Fail,
            format!(
                "the host refused {n} request(s) outside the manifest's egress rules or limits \
                 ({} sent); the log names them",
                counts.sent
            ),
        ),
    }
}
