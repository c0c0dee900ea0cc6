//! Outgoing HTTP for plugins: one pooled client for the whole host, requests checked against the
//! plugin's egress policy and the operator's address policy before any connection is made,
//! credentials injected by the host, bodies capped in both directions.

use super::egress::{EgressPolicy, InjectedHeader};
use super::network::{AddressDenied, AddressPolicy, PolicyResolver};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use std::sync::Arc;
use std::time::Duration;

/// Caps applied to every plugin request.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_request_bytes: 8 << 20,
            max_response_bytes: 16 << 20,
        }
    }
}

/// A request as a plugin asked for it.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The vendor's answer.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("too large: {0}")]
    TooLarge(String),
}

/// The host's one HTTP client.
#[derive(Clone)]
pub struct HttpEgress {
    client: reqwest::Client,
    limits: HttpLimits,
    addresses: Arc<AddressPolicy>,
}

impl std::fmt::Debug for HttpEgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEgress")
            .field("limits", &self.limits)
            .field("addresses", &self.addresses)
            .finish()
    }
}

impl HttpEgress {
    pub fn new(limits: HttpLimits, addresses: AddressPolicy) -> Result<Self, reqwest::Error> {
        let addresses = Arc::new(addresses);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver(addresses.clone())))
            .no_proxy()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(16)
            .build()?;
        Ok(HttpEgress {
            client,
            limits,
            addresses,
        })
    }

    /// Longest a request may take, end to end.
    pub fn total_timeout(&self) -> Duration {
        self.limits.total_timeout
    }

    /// Whether `request` may go out under the plugin's egress `policy` and the operator's address
    /// policy, checked without any network: its parsed URL and the credentials its destination gets.
    pub fn admit<'p>(
        &self,
        policy: &'p EgressPolicy,
        request: &OutgoingRequest,
    ) -> Result<(Url, &'p [InjectedHeader]), SendError> {
        let url = Url::parse(&request.url)
            .map_err(|e| SendError::InvalidRequest(format!("url {:?}: {e}", request.url)))?;
        let inject = policy.check(&url).map_err(SendError::Denied)?;
        if let Some(host) = url.host_str() {
            let literal = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(address) = literal.parse::<std::net::IpAddr>() {
                self.addresses
                    .check(literal, address)
                    .map_err(|denied| SendError::Denied(denied.to_string()))?;
            }
        }
        if request.body.len() > self.limits.max_request_bytes {
            return Err(SendError::TooLarge(format!(
                "request body of {} bytes exceeds the cap of {} bytes",
                request.body.len(),
                self.limits.max_request_bytes
            )));
        }
        Ok((url, inject))
    }

    /// Checks `request` against the plugin's egress `policy` and the operator's address policy, adds
    /// the credentials the policy injects for its destination, then sends it.
    pub async fn send(
        &self,
        policy: &EgressPolicy,
        request: OutgoingRequest,
    ) -> Result<IncomingResponse, SendError> {
        let (url, inject) = self.admit(policy, &request)?;
        let headers = header_map(&request.headers, inject)?;
        let mut response = self
            .client
            .request(request.method, url)
            .headers(headers)
            .body(request.body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.limits.max_response_bytes {
                return Err(SendError::TooLarge(format!(
                    "response body exceeds the cap of {} bytes",
                    self.limits.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(IncomingResponse {
            status,
            headers,
            body,
        })
    }
}

/// The plugin's own headers, checked as [`header_map`] checks them, minus any it set under a name
/// the host injects: what a captured request keeps (never a credential the host adds).
pub fn plugin_headers(
    headers: &[(String, String)],
    inject: &[InjectedHeader],
) -> Result<Vec<(String, String)>, SendError> {
    let map = header_map(headers, &[])?;
    Ok(map
        .iter()
        .filter(|(name, _)| !inject.iter().any(|i| i.name == *name))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect())
}

/// The plugin's headers, minus any it set under a name the host injects, plus the injected ones.
fn header_map(
    headers: &[(String, String)],
    inject: &[InjectedHeader],
) -> Result<HeaderMap, SendError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(SendError::Denied(format!(
                "header {name:?} contains CR or LF"
            )));
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SendError::InvalidRequest(format!("header name {name:?} is not valid")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            SendError::InvalidRequest(format!("value of header {name} is not valid"))
        })?;
        if !inject.iter().any(|i| i.name == name) {
            map.append(name, value);
        }
    }
    for injected in inject {
        map.insert(injected.name.clone(), injected.value.clone());
    }
    Ok(map)
}

fn classify(e: reqwest::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(denied) = cause.downcast_ref::<AddressDenied>() {
            return SendError::Denied(denied.to_string());
        }
        source = cause.source();
    }
    if e.is_timeout() {
        SendError::Timeout
    } else {
        SendError::Connect(error_chain(&e))
    }
}

/// An error and its causes, joined, so "connection refused" is not hidden behind "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
