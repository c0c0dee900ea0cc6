//! Egress policy: the destinations a plugin may reach, deny by default. A destination is a scheme, a
//! host (exact, or `*.suffix` for any subdomain) and a port.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use std::fmt;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: HostPattern,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com` (not `example.com` itself).
    Suffix(String),
}

impl Origin {
    /// Parses `scheme://host[:port]` where host may be `*.suffix`.
    pub fn parse_pattern(pattern: &str) -> Result<Origin, String> {
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| format!("{pattern:?} is not scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            other => return Err(format!("scheme {other:?} is not http or https")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err(format!("{pattern:?} must name only scheme, host and port"));
        }
        if let Some(suffix) = rest.strip_prefix("*.") {
            let (host, port) = split_port(suffix, default_port)?;
            return Ok(Origin {
                scheme,
                host: HostPattern::Suffix(host.to_ascii_lowercase()),
                port,
            });
        }
        let url = Url::parse(pattern).map_err(|e| format!("{pattern:?}: {e}"))?;
        Self::of_url(&url)
    }

    /// The origin of a concrete URL.
    pub fn of_url(url: &Url) -> Result<Origin, String> {
        let scheme = url.scheme().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme {scheme:?} is not http or https"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{url} has no host"))?
            .to_ascii_lowercase();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url} has no port"))?;
        Ok(Origin {
            scheme,
            host: HostPattern::Exact(host),
            port,
        })
    }

    fn allows(&self, url: &Url) -> bool {
        let Ok(target) = Origin::of_url(url) else {
            return false;
        };
        let HostPattern::Exact(target_host) = &target.host else {
            return false;
        };
        let host_ok = match &self.host {
            HostPattern::Exact(host) => host == target_host,
            HostPattern::Suffix(suffix) => target_host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        };
        host_ok && self.scheme == target.scheme && self.port == target.port
    }
}

fn split_port(hostport: &str, default_port: u16) -> Result<(&str, u16), String> {
    match hostport.rsplit_once(':') {
        Some((host, port)) => Ok((
            host,
            port.parse()
                .map_err(|_| format!("port {port:?} is not a number"))?,
        )),
        None => Ok((hostport, default_port)),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(h) => write!(f, "{}://{}:{}", self.scheme, h, self.port),
            HostPattern::Suffix(s) => write!(f, "{}://*.{}:{}", self.scheme, s, self.port),
        }
    }
}

/// A header the host adds to requests for one destination; its value is marked sensitive so it is
/// never printed.
#[derive(Debug, Clone)]
pub struct InjectedHeader {
    pub name: HeaderName,
    pub value: HeaderValue,
}

/// One allowed destination and the credentials injected there.
#[derive(Debug, Clone)]
pub struct Destination {
    pub origin: Origin,
    pub inject: Vec<InjectedHeader>,
}

/// The destinations one plugin instance may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Vec<Destination>,
}

impl EgressPolicy {
    pub fn new(allowed: Vec<Destination>) -> Self {
        EgressPolicy { allowed }
    }

    /// The headers to inject if `url` matches an allowed destination, else the reason for the denial.
    pub fn check(&self, url: &Url) -> Result<&[InjectedHeader], String> {
        if let Some(destination) = self.allowed.iter().find(|d| d.origin.allows(url)) {
            return Ok(&destination.inject);
        }
        let allowed = if self.allowed.is_empty() {
            "none".to_string()
        } else {
            self.allowed
                .iter()
                .map(|d| d.origin.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(format!(
            "{}://{}:{} is not in the plugin's egress allowlist (allowed: {allowed})",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str]) -> EgressPolicy {
        EgressPolicy::new(
            patterns
                .iter()
                .map(|p| Destination {
                    origin: Origin::parse_pattern(p).unwrap(),
                    inject: Vec::new(),
                })
                .collect(),
        )
    }

    fn allowed(p: &EgressPolicy, url: &str) -> bool {
        p.check(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn exact_host_scheme_and_port_must_all_match() {
        let p = policy(&["https://api.hubapi.com"]);
        assert!(allowed(&p, "https://api.hubapi.com/crm/v3/objects"));
        assert!(allowed(&p, "https://API.hubapi.com:443/x"));
        assert!(!allowed(&p, "http://api.hubapi.com/x"));
        assert!(!allowed(&p, "https://api.hubapi.com:8443/x"));
        assert!(!allowed(&p, "https://evil.com/?https://api.hubapi.com"));
        assert!(!allowed(&p, "https://api.hubapi.com.evil.com/"));
    }

    #[test]
    fn suffix_patterns_match_subdomains_only() {
        let p = policy(&["https://*.myshopify.com"]);
        assert!(allowed(&p, "https://shop-1.myshopify.com/admin"));
        assert!(!allowed(&p, "https://myshopify.com/admin"));
        assert!(!allowed(&p, "https://evilmyshopify.com/admin"));
    }

    #[test]
    fn empty_policy_denies_everything_with_a_reason() {
        let err = EgressPolicy::default()
            .check(&Url::parse("http://127.0.0.1:9/").unwrap())
            .unwrap_err();
        assert!(err.contains("allowed: none"), "{err}");
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Origin::parse_pattern("ftp://x.com").is_err());
        assert!(Origin::parse_pattern("https://x.com/path").is_err());
        assert!(Origin::parse_pattern("x.com").is_err());
    }
}
