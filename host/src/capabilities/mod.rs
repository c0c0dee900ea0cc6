//! What a plugin may call: the `host` interface of the contract. Each plugin instance gets a
//! `PluginContext` holding exactly its own settings, egress policy and secrets.

pub mod egress;
pub mod http;
pub mod secrets;

use crate::runtime::bindings::wit;
use crate::runtime::bindings::wit_host::{self, HttpError, HttpRequest, HttpResponse, LogLevel};
use crate::runtime::state::PluginState;
use egress::EgressPolicy;
use http::{HttpEgress, OutgoingRequest, SendError};
use secrets::Secrets;
use std::collections::BTreeMap;

/// Everything one plugin instance is allowed to use.
#[derive(Debug, Clone)]
pub struct PluginContext {
    pub plugin_id: String,
    pub generation: u64,
    pub config: BTreeMap<String, String>,
    pub egress: EgressPolicy,
    pub secrets: Secrets,
    pub http: HttpEgress,
    pub runtime: tokio::runtime::Handle,
}

impl wit::Host for PluginState {}

impl wit_host::Host for PluginState {
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
        let method = match request.method {
            wit_host::Method::Get => reqwest::Method::GET,
            wit_host::Method::Post => reqwest::Method::POST,
            wit_host::Method::Put => reqwest::Method::PUT,
            wit_host::Method::Patch => reqwest::Method::PATCH,
            wit_host::Method::Delete => reqwest::Method::DELETE,
        };
        let outgoing = OutgoingRequest {
            method: method.clone(),
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
        };
        let span = tracing::debug_span!("send", plugin = %ctx.plugin_id, generation = ctx.generation, %method, url = %outgoing.url);
        let _entered = span.enter();
        let result = ctx.runtime.block_on(ctx.http.send(&ctx.egress, outgoing));
        match &result {
            Ok(r) => tracing::debug!(status = r.status, bytes = r.body.len(), "response"),
            Err(e) => tracing::warn!(error = %e, "request failed"),
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
