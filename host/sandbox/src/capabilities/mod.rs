//! What a plugin may call: the `host` interface of the contract. Each plugin instance gets a
//! `PluginContext` holding exactly its own settings, egress policy and secrets. Store data lends out
//! its `Capabilities` through `CapabilitiesView`, as it lends its WASI context through `WasiView`, so
//! this module never names the store's data type; `add_to_linker` registers `host` for any such type.

pub mod accounting;
pub mod capture;
pub mod egress;
pub mod http;
pub mod network;
pub mod secrets;

use crate::contract::wit;
use crate::contract::wit_host::{self, HttpError, HttpRequest, HttpResponse, LogLevel};
use accounting::{RequestLimits, RequestStats};
use capture::{CapturedRequest, SendMode};
use egress::EgressPolicy;
use http::{HttpEgress, OutgoingRequest, SendError};
use secrets::Secrets;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Everything one plugin instance is allowed to use.
#[derive(Debug, Clone)]
pub struct PluginContext {
    pub plugin_id: String,
    pub generation: u64,
    pub config: BTreeMap<String, String>,
    pub egress: EgressPolicy,
    pub secrets: Secrets,
    pub http: HttpEgress,
    pub requests: RequestLimits,
    pub stats: Arc<RequestStats>,
    pub runtime: tokio::runtime::Handle,
    /// Whether `send` reaches the vendor or is captured (a shadow sink, a dry run).
    pub sends: SendMode,
}

/// The capability state of one store: the plugin's context and what the current call has used.
pub struct Capabilities {
    context: Arc<PluginContext>,
    /// `send` calls made during this call, against the per-call cap.
    sends_this_call: u32,
    /// `send` calls the host refused during this call.
    denials_this_call: u32,
}

impl Capabilities {
    pub fn new(context: Arc<PluginContext>) -> Self {
        Capabilities {
            context,
            sends_this_call: 0,
            denials_this_call: 0,
        }
    }

    pub fn context(&self) -> &PluginContext {
        &self.context
    }

    /// `send` calls the host refused during this call.
    pub fn denials_this_call(&self) -> u32 {
        self.denials_this_call
    }
}

/// How store data lends out its `Capabilities`.
pub trait CapabilitiesView: Send {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// Registers the contract's `types` and `host` interfaces (shared by every contract version),
/// served by the `Capabilities` of each store's data.
pub fn add_to_linker<T: CapabilitiesView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasCapabilities>(linker, T::capabilities)?;
    crate::contract::source_v0_3::rapport::connector0_3_0::types::add_to_linker::<
        T,
        HasCapabilities,
    >(linker, T::capabilities)?;
    wit_host::add_to_linker::<T, HasCapabilities>(linker, T::capabilities)
}

/// The `HasData` marker through which the bindings reach `Capabilities`.
struct HasCapabilities;

impl HasData for HasCapabilities {
    type Data<'a> = &'a mut Capabilities;
}

impl wit::Host for Capabilities {}

impl crate::contract::source_v0_3::rapport::connector0_3_0::types::Host for Capabilities {}

impl wit_host::Host for Capabilities {
    fn log(&mut self, level: LogLevel, message: String) {
        let ctx = &self.context;
        let (plugin, generation) = (ctx.plugin_id.as_str(), ctx.generation);
        match level {
            LogLevel::Trace => tracing::trace!(plugin, generation, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, generation, "{message}"),
            LogLevel::Info => tracing::info!(plugin, generation, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, generation, "{message}"),
            LogLevel::Error => tracing::error!(plugin, generation, "{message}"),
        }
    }

    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let ctx = self.context.clone();
        let span = tracing::debug_span!("send", plugin = %ctx.plugin_id, generation = ctx.generation,
            method = ?request.method, url = %request.url);
        let _entered = span.enter();
        self.sends_this_call += 1;
        let result = if self.sends_this_call > ctx.requests.per_call {
            Err(SendError::Denied(format!(
                "more than {} requests in one call (the manifest's resources.max_requests_per_call)",
                ctx.requests.per_call
            )))
        } else {
            ctx.runtime.block_on(send_within_limits(&ctx, request))
        };
        match &result {
            Ok(r) => tracing::debug!(status = r.status, bytes = r.body.len(), "response"),
            Err(SendError::Denied(reason)) => {
                self.denials_this_call += 1;
                ctx.stats.record_denied();
                tracing::warn!(reason = %reason, "request denied");
            }
            Err(e) => {
                ctx.stats.record_failed();
                tracing::debug!(error = %e, "request failed");
            }
        }
        result
            .map(|r| HttpResponse {
                status: r.status,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(name, value)| wit_host::Header { name, value })
                    .collect(),
                body: r.body,
            })
            .map_err(|e| match e {
                SendError::Denied(m) => HttpError::Denied(m),
                SendError::InvalidRequest(m) => HttpError::InvalidRequest(m),
                SendError::Connect(m) => HttpError::Connect(m),
                SendError::Timeout => HttpError::Timeout,
                SendError::TooLarge(m) => HttpError::TooLarge(m),
            })
    }

    fn hmac_sha256(&mut self, secret_name: String, data: Vec<u8>) -> Result<Vec<u8>, String> {
        self.context.secrets.hmac_sha256(&secret_name, &data)
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.context.config.get(&key).cloned()
    }

    fn now(&mut self) -> wit::Timestamp {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Checks `request` as the network path would (egress policy, address literals, size, headers),
/// records it without the injected credentials, and answers the synthetic response.
fn capture(
    ctx: &PluginContext,
    request: OutgoingRequest,
) -> Result<http::IncomingResponse, SendError> {
    let (_, inject) = ctx.http.admit(&ctx.egress, &request)?;
    capture::record(CapturedRequest {
        method: request.method.to_string(),
        url: request.url,
        headers: http::plugin_headers(&request.headers, inject)?,
        body: request.body,
    });
    Ok(capture::synthetic_response())
}

/// Sends once a slot among the plugin's concurrent requests is free (or refuses after the request
/// timeout), and counts what went out and came back.
async fn send_within_limits(
    ctx: &PluginContext,
    request: HttpRequest,
) -> Result<http::IncomingResponse, SendError> {
    let method = match request.method {
        wit_host::Method::Get => reqwest::Method::GET,
        wit_host::Method::Post => reqwest::Method::POST,
        wit_host::Method::Put => reqwest::Method::PUT,
        wit_host::Method::Patch => reqwest::Method::PATCH,
        wit_host::Method::Delete => reqwest::Method::DELETE,
    };
    let outgoing = OutgoingRequest {
        method,
        url: request.url,
        headers: request
            .headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect(),
        body: request.body,
    };
    let bytes_out = outgoing.body.len();
    let permit = tokio::time::timeout(ctx.http.total_timeout(), ctx.requests.in_flight.acquire())
        .await
        .map_err(|_| {
            SendError::Denied(format!(
                "more than {} requests in flight (the manifest's resources.max_concurrent_requests)",
                ctx.requests.max_in_flight
            ))
        })?
        .map_err(|_| SendError::Denied("the plugin is shutting down".into()))?;
    let response = match ctx.sends {
        SendMode::Network => ctx.http.send(&ctx.egress, outgoing).await,
        SendMode::Capture => capture(ctx, outgoing),
    };
    drop(permit);
    if let Ok(r) = &response {
        ctx.stats.record_sent(bytes_out, r.body.len());
    }
    response
}
