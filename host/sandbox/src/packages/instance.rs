//! Binding a plugin package to the operator's settings for one source or sink: settings checked
//! against the manifest's declared keys and types, defaults applied, and egress rules resolved.

use super::manifest::{
    config_reference, template_references, ConfigType, EgressAuth, Manifest, Reference,
};
use crate::capabilities::egress::{Destination, EgressPolicy, InjectedHeader, Origin};
use crate::capabilities::secrets::Secrets;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use std::collections::BTreeMap;

/// Settings as the operator wrote them (TOML values).
pub type RawSettings = BTreeMap<String, toml::Value>;

/// Checks `raw` against the manifest; returns the settings the plugin will see as strings.
pub fn resolve_settings(
    manifest: &Manifest,
    raw: &RawSettings,
) -> Result<BTreeMap<String, String>, String> {
    let mut settings = BTreeMap::new();
    for (key, value) in raw {
        let Some(declared) = manifest.config.get(key) else {
            let known: Vec<_> = manifest.config.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown setting `{key}` (plugin {} reads: {})",
                manifest.id,
                if known.is_empty() {
                    "nothing".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "setting `{key}`: {} values are not supported",
                    other.type_str()
                ))
            }
        };
        check_type(key, declared.ty, &text)?;
        settings.insert(key.clone(), text);
    }
    for (key, declared) in &manifest.config {
        if settings.contains_key(key) {
            continue;
        }
        match &declared.default {
            Some(default) => {
                settings.insert(key.clone(), default.clone());
            }
            None if declared.required => {
                return Err(format!(
                    "missing required setting `{key}`{}",
                    declared
                        .description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ))
            }
            None => {}
        }
    }
    Ok(settings)
}

fn check_type(key: &str, ty: ConfigType, value: &str) -> Result<(), String> {
    let ok = match ty {
        ConfigType::String => true,
        ConfigType::Integer => value.parse::<i64>().is_ok(),
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Url => Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("setting `{key}`: {value:?} is not a valid {ty:?}").to_lowercase())
    }
}

/// The egress policy of one instance: the manifest's rules with `{config:KEY}` taken from settings,
/// and each rule's auth rendered with the operator's secrets into headers the host injects. A rule
/// whose destination setting is absent is inactive; an active rule whose secret is missing is an
/// error naming the secret.
pub fn resolve_egress(
    manifest: &Manifest,
    settings: &BTreeMap<String, String>,
    secrets: &Secrets,
) -> Result<EgressPolicy, String> {
    let mut destinations = Vec::new();
    for rule in &manifest.egress {
        let origin = match config_reference(&rule.url) {
            Some(key) => match settings.get(key) {
                Some(value) => {
                    let url = Url::parse(value).map_err(|e| format!("setting `{key}`: {e}"))?;
                    Origin::of_url(&url).map_err(|e| format!("setting `{key}`: {e}"))?
                }
                None => continue,
            },
            None => Origin::parse_pattern(&rule.url)?,
        };
        let inject = match &rule.auth {
            None => Vec::new(),
            Some(auth) => vec![injected_header(auth, settings, secrets)
                .map_err(|e| format!("egress to {origin}: {e}"))?],
        };
        destinations.push(Destination { origin, inject });
    }
    Ok(EgressPolicy::new(destinations))
}

fn injected_header(
    auth: &EgressAuth,
    settings: &BTreeMap<String, String>,
    secrets: &Secrets,
) -> Result<InjectedHeader, String> {
    let (name, value) = match auth {
        EgressAuth::Header { name, value } => (name.clone(), render(value, settings, secrets)?),
        EgressAuth::Basic { username, password } => {
            use base64::Engine;
            let pair = format!(
                "{}:{}",
                render(username, settings, secrets)?,
                render(password, settings, secrets)?
            );
            (
                "authorization".to_string(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            )
        }
    };
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("header name {name:?} is not valid"))?;
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| format!("the value injected into {name} is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(InjectedHeader { name, value })
}

/// Substitutes `{secret:NAME}` and `{config:KEY}` in an auth template.
fn render(
    template: &str,
    settings: &BTreeMap<String, String>,
    secrets: &Secrets,
) -> Result<String, String> {
    let mut out = template.to_string();
    for reference in template_references(template)? {
        let (placeholder, value) = match reference {
            Reference::Secret(name) => (
                format!("{{secret:{name}}}"),
                String::from_utf8(secrets.reveal(name)?.to_vec())
                    .map_err(|_| format!("secret {name:?} is not UTF-8 text"))?,
            ),
            Reference::Config(key) => (
                format!("{{config:{key}}}"),
                settings
                    .get(key)
                    .cloned()
                    .ok_or_else(|| format!("setting `{key}` is not set"))?,
            ),
        };
        out = out.replace(&placeholder, &value);
    }
    Ok(out)
}
