//! Square's HTTP API through the host: the base URL, the `Square-Version` header, and Square's
//! error answers as connector errors. A 429 from Square carries no `Retry-After`, so the wait is a
//! backoff of our own with jitter, so that many shops do not retry in step.

use rapport_sdk::config::config_url;
use rapport_sdk::host;
use rapport_sdk::http::{Request, Response};
use rapport_sdk::log;
use rapport_sdk::types::ConnectorError;
use rapport_sdk::url;
use serde::de::DeserializeOwned;
use serde_json::Value;

const DEFAULT_BASE: &str = "https://connect.squareup.com";
/// The API version this connector was written against.
const SQUARE_VERSION: &str = "2025-01-23";
/// Wait after a 429 without `Retry-After`: this much, plus up to `RATE_LIMIT_JITTER_MS`.
pub const RATE_LIMIT_BACKOFF_MS: u32 = 2000;
pub const RATE_LIMIT_JITTER_MS: u32 = 1000;

/// `POST {api_base}{path}` with a JSON body; the answer of a 2xx, decoded as `T` (a `Value`, or a
/// page whose records stay JSON text until read).
pub fn post<T: DeserializeOwned>(path: &str, body: &Value) -> Result<T, ConnectorError> {
    let request = Request::post(&api_url(path)?, body)?;
    answer(request.header("square-version", SQUARE_VERSION).send()?)
}

/// [`post`], except that a 403 or a 404 (the token lacks the scope, or the seller has not set
/// the feature up, e.g. no loyalty programme) is `None`, with Square's answer logged.
pub fn post_if_enabled<T: DeserializeOwned>(
    path: &str,
    body: &Value,
) -> Result<Option<T>, ConnectorError> {
    let request = Request::post(&api_url(path)?, body)?;
    let response = request.header("square-version", SQUARE_VERSION).send()?;
    if matches!(response.status, 403 | 404) {
        log::warn(&format!(
            "Square answered HTTP {} to {path}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ));
        return Ok(None);
    }
    answer(response).map(Some)
}

/// `GET {api_base}{path}?{query}` (query pairs are percent-encoded here); the answer decoded as `T`.
pub fn get<T: DeserializeOwned>(path: &str, query: &[(&str, String)]) -> Result<T, ConnectorError> {
    let mut target = api_url(path)?;
    if !query.is_empty() {
        target.push('?');
        target.push_str(&url::query(query));
    }
    let request = Request::get(&target).header("square-version", SQUARE_VERSION);
    answer(request.send()?)
}

fn api_url(path: &str) -> Result<String, ConnectorError> {
    let base = config_url("api_base")?.unwrap_or_else(|| DEFAULT_BASE.to_owned());
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}

fn answer<T: DeserializeOwned>(response: Response) -> Result<T, ConnectorError> {
    if response.status == 429 && response.header("retry-after").is_none() {
        let jitter = host::now().rem_euclid(i64::from(RATE_LIMIT_JITTER_MS)) as u32;
        return Err(ConnectorError::RateLimited(RATE_LIMIT_BACKOFF_MS + jitter));
    }
    response.success()?.json()
}
