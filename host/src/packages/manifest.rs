//! The plugin manifest (`rapport.toml` beside `plugin.wasm`): who the plugin is, which contract it
//! was built for, which settings it reads and where it may send data. Validation errors name the file,
//! the field and, where the TOML parser knows it, the line.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The contract this host implements.
pub const CONTRACT: &str = "rapport:connector@0.1.0";

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    PosSource,
    CrmSink,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::PosSource => "pos-source",
            PluginKind::CrmSink => "crm-sink",
        })
    }
}

/// The type of an operator setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Integer,
    Boolean,
    Url,
}

/// One setting the plugin reads with `host.config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    #[serde(rename = "type")]
    pub ty: ConfigType,
    #[serde(default)]
    pub required: bool,
    pub default: Option<String>,
    pub description: Option<String>,
}

/// One allowed egress destination: `scheme://host[:port]`, where the host may be `*.suffix`, or
/// `{config:KEY}` to take the destination from an operator setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    pub url: String,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub kind: PluginKind,
    pub contract: String,
    pub description: Option<String>,
    #[serde(default)]
    pub config: BTreeMap<String, ConfigKey>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub egress: Vec<EgressRule>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[error("plugin manifest {path}: {message}")]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

impl Manifest {
    /// Parses and validates manifest text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let error = |message: String| ManifestError {
            path: path.to_path_buf(),
            message,
        };
        let manifest: Manifest = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        manifest.validate().map_err(error)?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "field `id`: {:?} must be 1-64 characters of a-z, 0-9 and '-'",
                self.id
            ));
        }
        if self.version.split('.').count() != 3
            || !self.version.split('.').all(|p| p.parse::<u64>().is_ok())
        {
            return Err(format!(
                "field `version`: {:?} is not a semantic version like 1.2.3",
                self.version
            ));
        }
        if self.contract != CONTRACT {
            return Err(format!(
                "field `contract`: the plugin was built for {:?}, this host implements {CONTRACT:?}",
                self.contract
            ));
        }
        for (name, key) in &self.config {
            if let (Some(default), ConfigType::Integer) = (&key.default, key.ty) {
                default.parse::<i64>().map_err(|_| {
                    format!("field `config.{name}.default`: {default:?} is not an integer")
                })?;
            }
        }
        for (index, rule) in self.egress.iter().enumerate() {
            if let Some(key) = config_reference(&rule.url) {
                if !self.config.contains_key(key) {
                    return Err(format!(
                        "field `egress[{index}].url`: refers to config key `{key}`, which `[config]` does not declare"
                    ));
                }
            } else if let Err(reason) =
                crate::capabilities::egress::Origin::parse_pattern(&rule.url)
            {
                return Err(format!("field `egress[{index}].url`: {reason}"));
            }
        }
        Ok(())
    }
}

/// `{config:KEY}` → `KEY`.
pub fn config_reference(url: &str) -> Option<&str> {
    url.strip_prefix("{config:")?.strip_suffix('}')
}
