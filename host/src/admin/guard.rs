//! The first check on every request, before any route: the Host must be one this server answers to
//! (loopback, the address it listens on, or a `[server] hostnames` entry), so a DNS-rebinding page
//! cannot reach it under a name of its own; and a request a browser sent from another site (its
//! `Origin` differs from its Host) is refused, so no web page can post here.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::net::IpAddr;
use std::sync::Arc;

/// The names and addresses this server answers to.
#[derive(Debug, Clone)]
pub struct HostRules {
    names: Vec<String>,
    listen_ip: Option<IpAddr>,
}

impl HostRules {
    pub fn new(server: &crate::config::ServerConfig) -> HostRules {
        let listen_ip = server
            .listen
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        HostRules {
            names: server
                .hostnames
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            listen_ip,
        }
    }

    /// Whether a Host header value (`name[:port]`, `[v6][:port]`) names this server.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || Some(ip) == self.listen_ip,
            Err(_) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                self.names.contains(&name)
            }
        }
    }
}

/// The host part of a Host header or an origin's authority, without port or IPv6 brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority,
    }
}

/// The request's Host: the header, or an HTTP/2 request's authority.
pub fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

/// Whether the request's `Origin` (when it has one) is the request's own host.
pub fn same_origin(request: &Request, host: &str) -> Option<bool> {
    let origin = request.headers().get(header::ORIGIN)?;
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    Some(authority.is_some_and(|a| a.eq_ignore_ascii_case(host)))
}

/// Refuses a request for a host this server does not answer to, or sent from another site.
pub async fn check(State(rules): State<Arc<HostRules>>, request: Request, next: Next) -> Response {
    let Some(host) = request_host(&request) else {
        return super::error(StatusCode::BAD_REQUEST, "the request names no Host".into());
    };
    if !rules.allows(&host) {
        tracing::warn!(host = %host, "request for a foreign Host refused");
        return super::error(
            StatusCode::FORBIDDEN,
            format!(
                "this server does not answer to the Host {host:?}: if that name is yours, add it to [server] hostnames"
            ),
        );
    }
    if same_origin(&request, &host) == Some(false) {
        tracing::warn!(host = %host, "cross-site request refused");
        return super::error(
            StatusCode::FORBIDDEN,
            "a request from another site (its Origin is not this server) is refused".into(),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(listen: &str, names: &[&str]) -> HostRules {
        HostRules::new(&crate::config::ServerConfig {
            listen: listen.into(),
            hostnames: names.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn loopback_the_listen_address_and_configured_names_are_allowed() {
        let rules = rules("10.0.0.5:8940", &["Rapport.Shop.Example"]);
        for host in [
            "127.0.0.1:8940",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8940",
            "10.0.0.5:8940",
            "rapport.shop.example",
            "rapport.shop.example.:443",
        ] {
            assert!(rules.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "10.0.0.6:8940",
            "rapport.shop.example.evil",
            "[::2]",
        ] {
            assert!(!rules.allows(host), "{host}");
        }
    }

    #[test]
    fn an_unspecified_listen_address_allows_no_address_of_its_own() {
        let rules = rules("0.0.0.0:8940", &[]);
        assert!(!rules.allows("0.0.0.0:8940"));
        assert!(rules.allows("127.0.0.1:8940"));
    }
}
