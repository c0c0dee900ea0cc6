//! Klaviyo's answers as per-item outcomes: 2xx ok, 429 wait for its `Retry-After`, 408/5xx retry,
//! other 4xx rejected with the JSON:API errors' `detail`, and 401/403 fail the whole call (auth):
//! rejecting every item for good over a revoked key would lose them.

use rapport_sdk::vendor::Vendor;
use serde::Deserialize;

/// How Klaviyo's answers read.
pub const KLAVIYO: Vendor = Vendor {
    name: "Klaviyo",
    credential: "the API key",
    advice: "check the secret `klaviyo_key` and its scopes",
    detail: errors,
};

/// `{"errors":[{"id","code","title","detail","source":{"pointer"}}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: Option<String>,
    detail: Option<String>,
    title: Option<String>,
    source: Option<ErrorSource>,
}

#[derive(Deserialize)]
struct ErrorSource {
    pointer: Option<String>,
    parameter: Option<String>,
}

/// The JSON:API errors of a body, as "detail (code at /pointer)" joined by "; ".
fn errors(body: &[u8]) -> Option<String> {
    let body: ErrorBody = serde_json::from_slice(body).ok()?;
    let described: Vec<String> = body.errors.into_iter().map(describe).collect();
    (!described.is_empty()).then(|| described.join("; "))
}

fn describe(e: ErrorObject) -> String {
    let text = e.detail.or(e.title).unwrap_or_else(|| "no detail".into());
    let place = e.source.and_then(|s| s.pointer.or(s.parameter));
    match (e.code, place) {
        (Some(code), Some(place)) => format!("{text} ({code} at {place})"),
        (Some(code), None) => format!("{text} ({code})"),
        (None, Some(place)) => format!("{text} (at {place})"),
        (None, None) => text,
    }
}
