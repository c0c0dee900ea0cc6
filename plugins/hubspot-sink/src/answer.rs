//! HubSpot's answers as outcomes: 2xx ok; 429 wait as long as the rate-limit policy says; 408/5xx
//! retry; 401/403 fail the whole call (auth), because rejecting every item for good over a revoked
//! token would lose them; other 4xx rejected with HubSpot's `message`.

use rapport_sdk::http::Response;
use rapport_sdk::outcome::DEFAULT_RETRY_AFTER_MS;
use rapport_sdk::prelude::*;
use rapport_sdk::vendor::Vendor;
use serde::Deserialize;

/// How HubSpot's answers read, but for a 429 (see [`outcome`]).
const HUBSPOT: Vendor = Vendor {
    name: "HubSpot",
    credential: "the access token",
    advice: "check the secret `hubspot_token` and the private app's scopes",
    detail: |body| describe(error_body(body)?),
};

/// How long to wait after the daily limit is reached: it resets at midnight in the portal's time
/// zone, which the plugin does not know, so the host asks again every hour.
const DAILY_LIMIT_WAIT_MS: u32 = 3_600_000;

/// `{"status":"error","message","correlationId","category","errorType","policyName",…}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    category: Option<String>,
    policy_name: Option<String>,
}

/// The outcome of one item answered by `response`.
pub fn outcome(response: &Response) -> Result<Outcome, ConnectorError> {
    match response.status {
        429 => Ok(Outcome::RetryAfter(rate_limit_wait(response))),
        _ => HUBSPOT.outcome(response),
    }
}

/// "HubSpot HTTP 400: <message> (<category>)".
pub fn rejection(status: u16, message: &str, category: Option<&str>) -> String {
    HUBSPOT.rejection(status, &detail(message, category))
}

/// "<message> (<category>)".
fn detail(message: &str, category: Option<&str>) -> String {
    match category {
        Some(category) => format!("{message} ({category})"),
        None => message.to_owned(),
    }
}

fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice(body).ok()
}

fn describe(body: ErrorBody) -> Option<String> {
    Some(detail(&body.message?, body.category.as_deref()))
}

/// `Retry-After` when HubSpot sends one; otherwise by policy: the daily limit waits long, a
/// rolling window (`X-HubSpot-RateLimit-Interval-Milliseconds`) a tenth of the window, since it
/// frees capacity as it rolls.
fn rate_limit_wait(response: &Response) -> u32 {
    if let Some(Outcome::RetryAfter(ms)) =
        response.header("retry-after").map(|_| response.outcome())
    {
        return ms;
    }
    if error_body(&response.body)
        .and_then(|b| b.policy_name)
        .as_deref()
        == Some("DAILY")
    {
        return DAILY_LIMIT_WAIT_MS;
    }
    response
        .header("x-hubspot-ratelimit-interval-milliseconds")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|window| *window > 0)
        .map_or(DEFAULT_RETRY_AFTER_MS, |window| (window / 10).max(100))
}
