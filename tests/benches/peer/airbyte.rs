//! The peer: Airbyte's Square connector, `airbyte-source-square` from PyPI, in a virtual
//! environment the bench makes (and reuses) under the target directory. The connector pins an
//! airbyte-cdk that fails on Python 3.11, so it is installed without its dependencies beside a
//! newer CDK that runs there. It is a declarative connector: its `manifest.yaml` is run by the
//! CDK's `source-declarative-manifest`, copied with `url_base` pointed at the simulator (the
//! original names Square's hosts only), so both sides speak plain HTTP on loopback.
//!
//! What it received is counted from its `read` output: the RECORD messages per stream, and the
//! distinct ids among them.

use crate::measure::{self, Cost};
use crate::simulator::Simulator;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The connector's version on PyPI.
pub const SOURCE_SQUARE: &str = "1.6.23";
/// The CDK it runs on: the newest at the time of writing; the connector's own pin
/// (`airbyte-cdk>=0,<1`) crashes on Python 3.11.
pub const CDK: &str = "7.39.1";
/// The streams compared.
pub const STREAMS: [&str; 3] = ["orders", "customers", "refunds"];

/// An installed connector.
pub struct Install {
    venv: PathBuf,
    /// `Python 3.11.7`, `airbyte-source-square 1.6.23`, `airbyte-cdk 7.39.1`.
    pub versions: String,
}

/// What the connector's `read` emitted.
#[derive(Debug, Default)]
pub struct Received {
    /// RECORD messages per stream.
    pub records: BTreeMap<String, usize>,
    ids: BTreeMap<String, HashSet<String>>,
    /// Its error traces and error logs (the first few).
    pub errors: Vec<String>,
}

impl Received {
    /// Distinct record ids received on `stream`.
    pub fn distinct(&self, stream: &str) -> usize {
        self.ids.get(stream).map_or(0, HashSet::len)
    }

    fn take(&mut self, line: &str) {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            return;
        };
        match message.kind.as_str() {
            "RECORD" => {
                if let Some(record) = message.record {
                    *self.records.entry(record.stream.clone()).or_default() += 1;
                    if let Some(id) = record.data.id {
                        let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
                        self.ids.entry(record.stream).or_default().insert(id);
                    }
                }
            }
            "TRACE" => {
                let error = message.trace.and_then(|t| t.error);
                if let Some(text) = error.and_then(|e| e.message) {
                    self.note(text);
                }
            }
            "LOG" => {
                if let Some(log) = message
                    .log
                    .filter(|l| matches!(l.level.as_str(), "ERROR" | "FATAL"))
                {
                    self.note(log.message);
                }
            }
            _ => {}
        }
    }

    fn note(&mut self, text: String) {
        if self.errors.len() < 3 {
            self.errors.push(text.chars().take(300).collect());
        }
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    record: Option<Record>,
    log: Option<Log>,
    trace: Option<Trace>,
}

#[derive(Deserialize)]
struct Record {
    stream: String,
    data: RecordData,
}

#[derive(Deserialize)]
struct RecordData {
    id: Option<Value>,
}

#[derive(Deserialize)]
struct Log {
    level: String,
    message: String,
}

#[derive(Deserialize)]
struct Trace {
    error: Option<TraceError>,
}

#[derive(Deserialize)]
struct TraceError {
    message: Option<String>,
}

/// Makes (or reuses) the virtual environment `venv` with the pinned connector and CDK; `Err`
/// says why it could not (no Python, PyPI unreachable, a failed install).
pub fn install(venv: &Path) -> Result<Install, String> {
    let python = venv.join("bin/python");
    if !python.exists() {
        let interpreter = ["python3.11", "python3"]
            .into_iter()
            .find(|p| output(Command::new(p).arg("--version")).is_ok())
            .ok_or("no python3.11 or python3 on PATH")?;
        output(Command::new(interpreter).args(["-m", "venv"]).arg(venv))
            .map_err(|e| format!("{interpreter} -m venv failed: {e}"))?;
    }
    let installed = |package: &str| {
        output(Command::new(&python).args([
            "-c",
            &format!("import importlib.metadata as m; print(m.version({package:?}))"),
        ]))
    };
    let pip = |args: &[&str]| {
        output(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .args(args),
        )
        .map_err(|e| format!("pip install {} failed: {e}", args.join(" ")))
    };
    if installed("airbyte-source-square").as_deref() != Ok(SOURCE_SQUARE) {
        pip(&[
            "--no-deps",
            &format!("airbyte-source-square=={SOURCE_SQUARE}"),
        ])?;
    }
    if installed("airbyte-cdk").as_deref() != Ok(CDK) {
        pip(&[&format!("airbyte-cdk=={CDK}")])?;
    }
    let python_version = output(Command::new(&python).arg("--version"))?;
    let square = installed("airbyte-source-square")?;
    let cdk = installed("airbyte-cdk")?;
    Ok(Install {
        venv: venv.to_owned(),
        versions: format!("{python_version}, airbyte-source-square {square}, airbyte-cdk {cdk}"),
    })
}

impl Install {
    /// The connector's own manifest, as installed.
    fn manifest(&self) -> Result<PathBuf, String> {
        let dir = output(Command::new(self.venv.join("bin/python")).args([
            "-c",
            "import importlib.util as u; print(u.find_spec('source_square').submodule_search_locations[0])",
        ]))?;
        Ok(Path::new(&dir).join("manifest.yaml"))
    }

    /// Runs `read` of orders, customers and refunds from the simulator in `work`, from
    /// `start_date` (YYYY-MM-DD) on; counts what it emitted.
    pub fn read(
        &self,
        work: &Path,
        sim: &Simulator,
        start_date: &str,
    ) -> Result<(Cost, Received), String> {
        let original = self.manifest()?;
        let text = std::fs::read_to_string(&original)
            .map_err(|e| format!("reading {}: {e}", original.display()))?;
        let local = format!("'{}/v2'", sim.base_url);
        let patched = text
            .replace("'https://connect.squareup.com/v2'", &local)
            .replace("'https://connect.squareupsandbox.com/v2'", &local);
        if patched.matches(&local).count() != 2 {
            return Err(format!(
                "{} no longer names Square's hosts as url_base: cannot point it at the simulator",
                original.display()
            ));
        }
        let write = |name: &str, text: &str| {
            std::fs::write(work.join(name), text).map_err(|e| format!("writing {name}: {e}"))
        };
        write("manifest.yaml", &patched)?;
        let config = json!({
            "credentials": {"auth_type": "API Key", "api_key": sim.token},
            "is_sandbox": false, "start_date": start_date, "include_deleted_objects": false,
        });
        write("config.json", &config.to_string())?;
        write("catalog.json", &catalog().to_string())?;
        let mut command = Command::new(self.venv.join("bin/source-declarative-manifest"));
        command
            .args([
                "read",
                "--config",
                "config.json",
                "--catalog",
                "catalog.json",
            ])
            .args(["--manifest-path", "manifest.yaml"])
            .current_dir(work);
        let mut received = Received::default();
        let cost = measure::run(command, &work.join("airbyte.stderr"), |line| {
            received.take(line)
        })
        .map_err(|e| format!("running source-declarative-manifest: {e}"))?;
        Ok((cost, received))
    }
}

/// Orders and refunds incrementally (their first sync), customers in full, as a user would
/// configure the connection.
fn catalog() -> Value {
    let stream = |name: &str, cursor: Option<&str>| {
        let mut entry = json!({
            "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "overwrite",
        });
        if let Some(cursor) = cursor {
            entry["sync_mode"] = json!("incremental");
            entry["destination_sync_mode"] = json!("append");
            entry["cursor_field"] = json!([cursor]);
        }
        entry
    };
    json!({"streams": [
        stream("orders", Some("updated_at")),
        stream("customers", None),
        stream("refunds", Some("created_at")),
    ]})
}

/// The trimmed standard output of a command that must succeed, or why it did not.
fn output(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
        return Err(format!(
            "{} ({})",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
