//! Reading the operator's settings, with errors that name the key and say what is wrong.
//! A blank value counts as unset.

use crate::host;
use crate::types::ConnectorError;

/// The value of config `key`, trimmed, or `None` if unset or blank.
pub fn config_str(key: &str) -> Option<String> {
    non_blank(host::config(key))
}

/// The value of config `key`, or `ConnectorError::Config` if it is unset.
pub fn require(key: &str) -> Result<String, ConnectorError> {
    required(key, config_str(key))
}

/// Config `key` as an http(s) URL, or `None` if unset.
pub fn config_url(key: &str) -> Result<Option<String>, ConnectorError> {
    config_str(key).map(|url| check_url(key, url)).transpose()
}

/// Config `key` as an http(s) URL, or `ConnectorError::Config` if it is unset or not one.
pub fn require_url(key: &str) -> Result<String, ConnectorError> {
    check_url(key, require(key)?)
}

/// Config `key` as a `u32`, `default` if unset, or `ConnectorError::Config` if it is not a number.
pub fn config_u32(key: &str, default: u32) -> Result<u32, ConnectorError> {
    parse_u32(key, config_str(key).as_deref(), default)
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(key: &str, value: Option<String>) -> Result<String, ConnectorError> {
    value.ok_or_else(|| ConnectorError::Config(format!("missing config key `{key}`")))
}

fn check_url(key: &str, url: String) -> Result<String, ConnectorError> {
    let lower = url.to_ascii_lowercase();
    let has_host = ["http://", "https://"].iter().any(|scheme| {
        lower
            .strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    });
    if has_host {
        Ok(url)
    } else {
        Err(ConnectorError::Config(format!(
            "config key `{key}` must be an http:// or https:// URL, not {url:?}"
        )))
    }
}

fn parse_u32(key: &str, value: Option<&str>, default: u32) -> Result<u32, ConnectorError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ConnectorError::Config(format!(
                "config key `{key}` must be a whole number from 0 to {}, not {v:?}",
                u32::MAX
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(non_blank(Some("  ".into())), None);
        assert_eq!(non_blank(Some(" a ".into())), Some("a".into()));
        assert_eq!(
            required("url", None),
            Err(ConnectorError::Config("missing config key `url`".into()))
        );
    }

    #[test]
    fn urls_must_be_http() {
        let ok = |url: &str| check_url("url", url.into()).is_ok();
        assert!(ok("https://hooks.example.com/catch/1"));
        assert!(ok("HTTP://127.0.0.1:8080/"));
        assert!(!ok("ftp://example.com/"));
        assert!(!ok("https://"));
        assert!(!ok("example.com"));
        assert_eq!(
            check_url("url", "x".into()),
            Err(ConnectorError::Config(
                "config key `url` must be an http:// or https:// URL, not \"x\"".into()
            ))
        );
    }

    #[test]
    fn numbers_parse_or_explain() {
        assert_eq!(parse_u32("batch_size", None, 500), Ok(500));
        assert_eq!(parse_u32("batch_size", Some("20"), 500), Ok(20));
        let Err(ConnectorError::Config(msg)) = parse_u32("batch_size", Some("-1"), 500) else {
            panic!("expected a config error");
        };
        assert!(
            msg.contains("`batch_size`") && msg.contains("\"-1\""),
            "{msg}"
        );
    }
}
