//! The operator's trust store (`trust.toml`): the publishers whose signed packages this host accepts,
//! each a `[[publisher]]` with a key id, an ed25519 public key, and optionally a name, an expiry and a
//! revocation. Every error names the file and the line.

use super::signing::{decode_public_key, is_key_id};
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// When a publisher's key stops being trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// The first instant at which the key is no longer trusted.
    pub at: DateTime<Utc>,
    /// As the operator wrote it, for messages.
    pub text: String,
}

/// One trusted publisher.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub key_id: String,
    pub name: Option<String>,
    pub public_key: VerifyingKey,
    pub expires: Option<Expiry>,
    pub revoked: bool,
}

/// The publishers an operator trusts, read from one file.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    publishers: Vec<Publisher>,
}

/// Why a trust store could not be read.
#[derive(Debug, thiserror::Error)]
#[error("trust store {path}: {message}")]
pub struct TrustStoreError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustStore {
    #[serde(default)]
    publisher: Vec<Spanned<RawPublisher>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublisher {
    key_id: Spanned<String>,
    public_key: Spanned<String>,
    name: Option<String>,
    expires: Option<Spanned<toml::Value>>,
    #[serde(default)]
    revoked: bool,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// `2027-01-01` (midnight UTC at the start of that day) or an RFC 3339 date-time with an offset.
fn parse_expiry(value: &toml::Value) -> Result<Expiry, String> {
    let text = match value {
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::String(text) => text.clone(),
        other => return Err(format!("expected a date, found a {}", other.type_str())),
    };
    let at = if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
    } else {
        DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    at.map(|at| Expiry {
        at,
        text: text.clone(),
    })
    .ok_or_else(|| {
        format!("{text:?} is not a date (2027-01-01) or an RFC 3339 date-time with an offset")
    })
}

impl TrustStore {
    /// Reads and validates a trust store file.
    pub fn load(path: &Path) -> Result<Self, TrustStoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrustStoreError {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses trust store text; `path` names the file in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrustStoreError> {
        let error = |line: usize, message: String| TrustStoreError {
            path: path.to_path_buf(),
            message: format!("line {line}: {message}"),
        };
        let raw: RawTrustStore = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            error(line, e.message().trim().to_string())
        })?;
        let mut publishers: Vec<Publisher> = Vec::new();
        for entry in raw.publisher {
            let entry = entry.into_inner();
            let key_id = entry.key_id.get_ref();
            let at = |span: std::ops::Range<usize>| line_of(text, span.start);
            if !is_key_id(key_id) {
                return Err(error(
                    at(entry.key_id.span()),
                    format!("`key_id` {key_id:?} must be 1-64 characters of a-z, 0-9 and '-'"),
                ));
            }
            if publishers.iter().any(|p| &p.key_id == key_id) {
                return Err(error(
                    at(entry.key_id.span()),
                    format!("publisher `{key_id}` is listed twice"),
                ));
            }
            let public_key = decode_public_key(entry.public_key.get_ref()).map_err(|e| {
                error(
                    at(entry.public_key.span()),
                    format!("`public_key` of `{key_id}`: {e}"),
                )
            })?;
            let expires = entry
                .expires
                .as_ref()
                .map(|value| {
                    parse_expiry(value.get_ref()).map_err(|e| {
                        error(at(value.span()), format!("`expires` of `{key_id}`: {e}"))
                    })
                })
                .transpose()?;
            publishers.push(Publisher {
                key_id: entry.key_id.into_inner(),
                name: entry.name,
                public_key,
                expires,
                revoked: entry.revoked,
            });
        }
        Ok(TrustStore {
            path: path.to_path_buf(),
            publishers,
        })
    }

    /// The file this store was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for a key id, whether or not it is revoked or expired.
    pub fn publisher(&self, key_id: &str) -> Option<&Publisher> {
        self.publishers.iter().find(|p| p.key_id == key_id)
    }

    pub fn publishers(&self) -> &[Publisher] {
        &self.publishers
    }
}

impl Publisher {
    /// Whether the key has expired at `now`.
    pub fn expired_at(&self, now: DateTime<Utc>) -> Option<&Expiry> {
        self.expires.as_ref().filter(|e| now >= e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::signing::{trust_entry, PublisherKey};

    fn parse(text: &str) -> Result<TrustStore, String> {
        TrustStore::parse(text, Path::new("trust.toml")).map_err(|e| e.to_string())
    }

    fn entry(id: &str) -> String {
        trust_entry(id, &PublisherKey::generate(id).unwrap().public_key())
    }

    #[test]
    fn keygen_entries_concatenate_into_a_store() {
        let store = parse(&format!("{}\n{}", entry("acme"), entry("globex"))).unwrap();
        assert_eq!(store.publishers().len(), 2);
        let acme = store.publisher("acme").unwrap();
        assert!(!acme.revoked && acme.expires.is_none() && acme.name.is_none());
        assert!(store.publisher("initech").is_none());
        assert_eq!(store.path(), Path::new("trust.toml"));
        assert!(parse("").unwrap().publishers().is_empty());
    }

    #[test]
    fn expiry_is_a_date_or_a_date_time() {
        let base = entry("acme");
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        for (expires, expired) in [
            ("2026-03-01", true),
            ("\"2026-03-02\"", false),
            ("2026-03-01T11:00:00Z", true),
            ("2026-03-01T13:00:00+00:00", false),
            ("\"2026-03-01T14:00:00+01:00\"", false),
        ] {
            let store = parse(&format!(
                "{base}expires = {expires}\nname = \"Acme\"\nrevoked = true\n"
            ))
            .unwrap();
            let acme = store.publisher("acme").unwrap();
            assert_eq!(acme.expired_at(now).is_some(), expired, "{expires}");
            assert!(acme.revoked);
            assert_eq!(acme.name.as_deref(), Some("Acme"));
        }
        let err = parse(&format!("{base}expires = \"soon\"\n")).unwrap_err();
        assert!(
            err.starts_with("trust store trust.toml: line 8: `expires` of `acme`"),
            "{err}"
        );
        let err = parse(&format!("{base}expires = 2026-03-01T10:00:00\n")).unwrap_err();
        assert!(err.contains("with an offset"), "{err}");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let good = entry("acme");
        let err = parse(&good.replace("public_key = \"", "public_key = \"AAAA")).unwrap_err();
        assert!(
            err.starts_with("trust store trust.toml: line 5: `public_key` of `acme`"),
            "{err}"
        );
        let err = parse(&good.replace("key_id = \"acme\"", "key_id = \"Acme\"")).unwrap_err();
        assert!(err.contains("line 4: `key_id` \"Acme\""), "{err}");
        let err = parse(&format!("{good}\n{good}")).unwrap_err();
        assert!(
            err.contains("line 12: publisher `acme` is listed twice"),
            "{err}"
        );
        let err = parse(&format!("{good}color = \"red\"\n")).unwrap_err();
        assert!(err.contains("line 8") && err.contains("color"), "{err}");
        let err = parse("[[publisher]]\nkey_id = \"acme\"\n").unwrap_err();
        assert!(err.contains("public_key"), "{err}");
    }
}
