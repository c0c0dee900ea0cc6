//! The conformance config (`conformance.toml` beside a plugin's manifest, written by `rapport
//! plugin new`): the settings the plugin is tested with, where its secrets are, which setting holds
//! the vendor's base URL (so the suite can put its own loopback server in front of the vendor),
//! how a source's webhooks are signed, and optionally recorded answers instead of a live vendor.

use rapport_sandbox::packages::instance::RawSettings;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file the suite reads beside the manifest when no `--config` is given.
pub const FILE_NAME: &str = "conformance.toml";

/// A parsed conformance config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConformanceConfig {
    /// The setting (of the manifest's `[config]`) that holds the vendor's base URL. The suite
    /// points it at its loopback server, which forwards to the URL given in `settings` (or answers
    /// from `recorded`) and injects the faults. Required for sinks.
    pub base_url_key: Option<String>,
    /// A secrets file (`name = "value"` lines, owner-only), relative to this file; each secret the
    /// manifest names is read from `RAPPORT_SECRET_<NAME>` first, then from it.
    pub secrets_file: Option<PathBuf>,
    /// The plugin's settings for the test, as a connector's `config` table in rapport.toml.
    #[serde(default)]
    pub settings: RawSettings,
    /// Sources: how webhook deliveries are signed.
    pub webhook: Option<WebhookConfig>,
    /// Sources: bounds on one poll of a stream.
    #[serde(default)]
    pub poll: PollBounds,
    /// Answers to replay instead of forwarding to the vendor.
    #[serde(default)]
    pub recorded: Vec<RecordedAnswer>,
}

/// `[webhook]`: the header carrying a delivery's signature, and a body to deliver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub signature_header: String,
    /// The delivery's body (default `{}`); the suite signs it wrongly, or not at all.
    #[serde(default = "empty_object")]
    pub body: String,
}

fn empty_object() -> String {
    "{}".into()
}

/// `[poll]`: the most steps and seconds one poll of a stream may take before the suite calls it
/// endless.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollBounds {
    pub max_steps: usize,
    pub max_secs: u64,
}

impl Default for PollBounds {
    fn default() -> Self {
        PollBounds {
            max_steps: 1000,
            max_secs: 120,
        }
    }
}

/// `[[recorded]]`: one vendor answer, given to every request of `method` on `path` (with the
/// query if `path` has one, else whatever the query).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAnswer {
    pub method: String,
    pub path: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
}

fn ok_status() -> u16 {
    200
}

impl ConformanceConfig {
    /// Reads `path`; a missing file is an empty config when `optional` (the default location),
    /// an error otherwise. Relative paths in it are resolved against its directory.
    pub fn load(path: &Path, optional: bool) -> Result<ConformanceConfig, String> {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConformanceConfig::default())
            }
            Err(e) => return Err(format!("conformance config {shown}: {e}")),
        };
        let mut config: ConformanceConfig =
            toml::from_str(&text).map_err(|e| format!("conformance config {shown}: {e}"))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.secrets_file = config.secrets_file.map(|file| base.join(file));
        Ok(config)
    }

    /// The vendor's base URL the settings give for `base_url_key`, if both are set.
    pub fn vendor_base(&self) -> Option<String> {
        let key = self.base_url_key.as_deref()?;
        match self.settings.get(key)? {
            toml::Value::String(url) => Some(url.clone()),
            _ => None,
        }
    }
}
