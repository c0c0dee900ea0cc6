//! HubSpot's answers as outcomes: 2xx ok; 429 wait as long as the rate-limit policy says; 408/5xx
//! retry; 401/403 fail the whole call (auth), because rejecting every item for good over a revoked
//! token would lose them; other 4xx rejected with HubSpot's `message`.

use rapport_sdk::http::Response;
use rapport_sdk::outcome::DEFAULT_RETRY_AFTER_MS;
use rapport_sdk::prelude::*;
use serde::Deserialize;

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
    let status = response.status;
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    match status {
        401 | 403 => Err(auth(status, body)),
        429 => Ok(Outcome::RetryAfter(rate_limit_wait(response, body))),
        400..=499 if status != 408 => match body.and_then(|b| describe(status, b)) {
            Some(reason) => Ok(Outcome::Rejected(reason)),
            None => Ok(response.outcome()),
        },
        _ => Ok(response.outcome()),
    }
}

/// `Ok` for a 2xx; otherwise the error the whole call fails with.
pub fn fail_call(response: &Response) -> Result<(), ConnectorError> {
    match outcome(response)? {
        Outcome::Ok => Ok(()),
        Outcome::RetryAfter(ms) => Err(ConnectorError::RateLimited(ms)),
        Outcome::Transient(why) => Err(ConnectorError::Transient(why)),
        Outcome::Rejected(why) => Err(ConnectorError::Invalid(why)),
    }
}

/// "HubSpot HTTP 400: <message> (<category>)".
pub fn rejection(status: u16, message: &str, category: Option<&str>) -> String {
    match category {
        Some(category) => format!("HubSpot HTTP {status}: {message} ({category})"),
        None => format!("HubSpot HTTP {status}: {message}"),
    }
}

fn describe(status: u16, body: ErrorBody) -> Option<String> {
    Some(rejection(status, &body.message?, body.category.as_deref()))
}

fn auth(status: u16, body: Option<ErrorBody>) -> ConnectorError {
    let message = body.and_then(|b| b.message);
    ConnectorError::Auth(format!(
        "HubSpot refused the access token (HTTP {status}: {}); check the secret `hubspot_token` and the private app's scopes",
        message.as_deref().unwrap_or("no error message")
    ))
}

/// `Retry-After` when HubSpot sends one; otherwise by policy: the daily limit waits long, a
/// rolling window (`X-HubSpot-RateLimit-Interval-Milliseconds`) a tenth of the window, since it
/// frees capacity as it rolls.
fn rate_limit_wait(response: &Response, body: Option<ErrorBody>) -> u32 {
    if let Some(Outcome::RetryAfter(ms)) =
        response.header("retry-after").map(|_| response.outcome())
    {
        return ms;
    }
    if body.and_then(|b| b.policy_name).as_deref() == Some("DAILY") {
        return DAILY_LIMIT_WAIT_MS;
    }
    response
        .header("x-hubspot-ratelimit-interval-milliseconds")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|window| *window > 0)
        .map_or(DEFAULT_RETRY_AFTER_MS, |window| (window / 10).max(100))
}
