//! The plugin manifest (`rapport.toml` beside `plugin.wasm`): who the plugin is and who published it,
//! which contract it was built for, which settings and secrets it uses, what resources it asks for and
//! where it may send data, with the credentials the host injects there. Every error names the file,
//! the line and the field.

use crate::contract::Contract;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

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

/// Credentials the host adds to requests for one egress destination. Values are templates that may
/// name `{secret:NAME}` and `{config:KEY}`; the plugin never sees the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressAuth {
    /// A header, e.g. `Authorization: Bearer {secret:hubspot_token}`.
    Header { name: String, value: String },
    /// HTTP Basic auth.
    Basic { username: String, password: String },
}

/// One allowed egress destination: `scheme://host[:port]`, where the host may be `*.suffix`, or
/// `{config:KEY}` to take the destination from an operator setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    pub url: String,
    pub auth: Option<EgressAuth>,
}

/// What the plugin asks of the host per call; the operator's limits cap every figure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Largest linear memory, in MiB.
    pub memory_mib: Option<u64>,
    /// Longest a call may run, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Most `send` calls in one plugin call.
    pub max_requests_per_call: Option<u32>,
    /// Most `send` calls in flight at once across this plugin's calls.
    pub max_concurrent_requests: Option<u32>,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub kind: PluginKind,
    pub contract: Contract,
    /// Key id of the publisher who signs this plugin's packages.
    pub publisher: Option<String>,
    pub description: Option<String>,
    pub config: BTreeMap<String, ConfigKey>,
    pub secrets: Vec<String>,
    pub resources: Resources,
    pub egress: Vec<EgressRule>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[error("plugin manifest {path}: {message}")]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: Spanned<String>,
    version: Spanned<String>,
    kind: PluginKind,
    contract: Spanned<String>,
    publisher: Option<Spanned<String>>,
    description: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, ConfigKey>,
    #[serde(default)]
    secrets: Vec<Spanned<String>>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    egress: Vec<Spanned<RawEgress>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEgress {
    url: String,
    auth: Option<RawAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    header: Option<String>,
    value: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Manifest {
    /// Parses and validates manifest text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let error = |line: usize, message: String| ManifestError {
            path: path.to_path_buf(),
            message: format!("line {line}: {message}"),
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            error(line, e.message().to_string())
        })?;
        let at = |span: std::ops::Range<usize>| line_of(text, span.start);
        let check = |ok: bool, span: std::ops::Range<usize>, message: String| {
            if ok {
                Ok(())
            } else {
                Err(error(at(span), message))
            }
        };
        let id = raw.id.get_ref();
        check(
            is_slug(id, 64),
            raw.id.span(),
            format!("field `id`: {id:?} must be 1-64 characters of a-z, 0-9 and '-'"),
        )?;
        let version = raw.version.get_ref();
        check(
            version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u64>().is_ok()),
            raw.version.span(),
            format!("field `version`: {version:?} is not a semantic version like 1.2.3"),
        )?;
        let named = raw.contract.get_ref();
        let contract = Contract::parse(named);
        check(
            contract.is_some(),
            raw.contract.span(),
            format!(
                "field `contract`: the plugin was built for {named:?}, this host runs {}",
                Contract::supported_list()
            ),
        )?;
        if let Some(publisher) = &raw.publisher {
            check(
                is_slug(publisher.get_ref(), 64),
                publisher.span(),
                format!(
                    "field `publisher`: {:?} must be a key id of a-z, 0-9 and '-'",
                    publisher.get_ref()
                ),
            )?;
        }
        for secret in &raw.secrets {
            let name = secret.get_ref();
            check(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                secret.span(),
                format!("field `secrets`: {name:?} must be letters, digits and '_'"),
            )?;
        }
        for (name, key) in &raw.config {
            if let (Some(default), ConfigType::Integer) = (&key.default, key.ty) {
                if default.parse::<i64>().is_err() {
                    return Err(error(
                        1,
                        format!("field `config.{name}.default`: {default:?} is not an integer"),
                    ));
                }
            }
        }
        let secrets: Vec<String> = raw.secrets.iter().map(|s| s.get_ref().clone()).collect();
        let mut egress = Vec::new();
        for (index, rule) in raw.egress.iter().enumerate() {
            let line = at(rule.span());
            let field = format!("field `egress[{index}]`");
            let raw_rule = rule.get_ref();
            if let Some(key) = config_reference(&raw_rule.url) {
                if !raw.config.contains_key(key) {
                    return Err(error(
                        line,
                        format!("{field}.url refers to config key `{key}`, which `[config]` does not declare"),
                    ));
                }
            } else if let Err(reason) =
                crate::capabilities::egress::Origin::parse_pattern(&raw_rule.url)
            {
                return Err(error(line, format!("{field}.url: {reason}")));
            }
            let auth = raw_rule
                .auth
                .as_ref()
                .map(|a| parse_auth(a, &secrets, &raw.config))
                .transpose()
                .map_err(|reason| error(line, format!("{field}.auth: {reason}")))?;
            egress.push(EgressRule {
                url: raw_rule.url.clone(),
                auth,
            });
        }
        Ok(Manifest {
            id: raw.id.into_inner(),
            version: raw.version.into_inner(),
            kind: raw.kind,
            contract: contract.expect("checked above"),
            publisher: raw.publisher.map(Spanned::into_inner),
            description: raw.description,
            config: raw.config,
            secrets,
            resources: raw.resources,
            egress,
        })
    }
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_auth(
    raw: &RawAuth,
    secrets: &[String],
    config: &BTreeMap<String, ConfigKey>,
) -> Result<EgressAuth, String> {
    let auth = match (&raw.header, &raw.value, &raw.username, &raw.password) {
        (Some(name), Some(value), None, None) => {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("header name {name:?} is not a valid header name"));
            }
            EgressAuth::Header {
                name: name.clone(),
                value: value.clone(),
            }
        }
        (None, None, Some(username), Some(password)) => EgressAuth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        _ => {
            return Err(
                "give either `header` and `value`, or `username` and `password`".to_string(),
            )
        }
    };
    let templates: Vec<&str> = match &auth {
        EgressAuth::Header { value, .. } => vec![value],
        EgressAuth::Basic { username, password } => vec![username, password],
    };
    for template in templates {
        for reference in template_references(template)? {
            match reference {
                Reference::Secret(name) if !secrets.iter().any(|s| s == name) => {
                    return Err(format!("{{secret:{name}}} is not declared in `secrets`"))
                }
                Reference::Config(key) if !config.contains_key(key) => {
                    return Err(format!("{{config:{key}}} is not declared in `[config]`"))
                }
                _ => {}
            }
        }
    }
    Ok(auth)
}

/// A `{secret:NAME}` or `{config:KEY}` placeholder in an auth template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    Secret(&'a str),
    Config(&'a str),
}

/// The placeholders of a template, in order; an unterminated or unknown placeholder is an error.
pub fn template_references(template: &str) -> Result<Vec<Reference<'_>>, String> {
    let mut references = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unterminated placeholder in {template:?}"))?;
        let inner = &rest[start + 1..start + end];
        references.push(match inner.split_once(':') {
            Some(("secret", name)) => Reference::Secret(name),
            Some(("config", key)) => Reference::Config(key),
            _ => {
                return Err(format!(
                    "unknown placeholder {{{inner}}} (use {{secret:NAME}} or {{config:KEY}})"
                ))
            }
        });
        rest = &rest[start + end + 1..];
    }
    Ok(references)
}

/// `{config:KEY}` → `KEY`.
pub fn config_reference(url: &str) -> Option<&str> {
    url.strip_prefix("{config:")?.strip_suffix('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "hubspot-sink"
version = "1.2.0"
kind = "crm-sink"
contract = "rapport:connector@0.1.0"
publisher = "acme"
secrets = ["hubspot_token"]

[resources]
memory_mib = 32

[[egress]]
url = "https://api.hubapi.com"
auth = { header = "Authorization", value = "Bearer {secret:hubspot_token}" }
"#;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, Path::new("rapport.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_complete_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.publisher.as_deref(), Some("acme"));
        assert_eq!(m.resources.memory_mib, Some(32));
        assert_eq!(
            m.egress[0].auth,
            Some(EgressAuth::Header {
                name: "Authorization".into(),
                value: "Bearer {secret:hubspot_token}".into()
            })
        );
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let err = parse(&GOOD.replace("1.2.0", "1.2")).unwrap_err();
        assert!(err.contains("line 3: field `version`"), "{err}");
        let err = parse(&GOOD.replace("@0.1.0", "@9.0.0")).unwrap_err();
        assert!(err.contains("line 5: field `contract`"), "{err}");
        assert!(err.contains("rapport:connector@9.0.0"), "{err}");
        assert!(
            err.contains(
                "this host runs rapport:connector@0.1.0, rapport:connector@0.2.0, \
                 rapport:connector@0.3.0, rapport:connector@0.4.0, rapport:connector@0.5.0"
            ),
            "{err}"
        );
        let v0_2 = parse(&GOOD.replace("@0.1.0", "@0.2.0")).expect("0.2 is supported");
        assert_eq!(v0_2.contract, Contract::V0_2);
        let v0_3 = parse(&GOOD.replace("@0.1.0", "@0.3.0")).expect("0.3 is supported");
        assert_eq!(v0_3.contract, Contract::V0_3);
        let v0_4 = parse(&GOOD.replace("@0.1.0", "@0.4.0")).expect("0.4 is supported");
        assert_eq!(v0_4.contract, Contract::V0_4);
        let v0_5 = parse(&GOOD.replace("@0.1.0", "@0.5.0")).expect("0.5 is supported");
        assert_eq!(v0_5.contract, Contract::V0_5);
        let err = parse(&GOOD.replace("crm-sink", "crm-thing")).unwrap_err();
        assert!(err.contains("line 4"), "{err}");
        let err = parse(&GOOD.replace("memory_mib", "memory")).unwrap_err();
        assert!(err.contains("line 10") && err.contains("memory"), "{err}");
    }

    #[test]
    fn auth_may_only_use_declared_secrets() {
        let err = parse(&GOOD.replace("{secret:hubspot_token}", "{secret:other}")).unwrap_err();
        assert!(err.contains("line 12: field `egress[0]`.auth"), "{err}");
        assert!(err.contains("{secret:other} is not declared"), "{err}");
    }

    #[test]
    fn templates_list_their_references() {
        assert_eq!(
            template_references("Bearer {secret:a}/{config:b}").unwrap(),
            vec![Reference::Secret("a"), Reference::Config("b")]
        );
        assert!(template_references("{nope}").is_err());
        assert!(template_references("{secret:a").is_err());
    }
}
