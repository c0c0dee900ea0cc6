//! Mailchimp's answers as outcomes: 2xx ok, 429 wait (Mailchimp sends no `Retry-After`, so the
//! SDK's default wait), 5xx retry, 401/403 fail the whole call (auth), other 4xx rejected with the
//! `application/problem+json` `title`, `detail` and field errors.

use rapport_sdk::http::Response;
use rapport_sdk::prelude::*;
use serde::Deserialize;

/// `{"type","title","status","detail","instance","errors":[{"field","message"}]}`.
#[derive(Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct FieldError {
    field: Option<String>,
    message: Option<String>,
}

/// The outcome of one item answered by `response`.
pub fn outcome(response: &Response) -> Result<Outcome, ConnectorError> {
    let status = response.status;
    match (status, problem(&response.body)) {
        (401 | 403, detail) => Err(auth(status, detail)),
        (400..=499, Some(detail)) if !matches!(status, 408 | 429) => Ok(Outcome::Rejected(
            format!("Mailchimp HTTP {status}: {detail}"),
        )),
        _ => Ok(response.outcome()),
    }
}

/// The response if it is a 2xx; otherwise the error the whole call fails with.
pub fn fail_call(response: Response) -> Result<Response, ConnectorError> {
    match (response.status, problem(&response.body)) {
        (401 | 403, detail) => Err(auth(response.status, detail)),
        (400..=499, Some(detail)) if !matches!(response.status, 408 | 429) => Err(
            ConnectorError::Invalid(format!("Mailchimp HTTP {}: {detail}", response.status)),
        ),
        _ => response.success(),
    }
}

fn auth(status: u16, detail: Option<String>) -> ConnectorError {
    ConnectorError::Auth(format!(
        "Mailchimp refused the API key (HTTP {status}: {}); check the secret `mailchimp_key` and that `data_center` is its suffix",
        detail.as_deref().unwrap_or("no error detail")
    ))
}

/// "title: detail (field: message; …)" from a problem document.
fn problem(body: &[u8]) -> Option<String> {
    let p: Problem = serde_json::from_slice(body).ok()?;
    let mut text = match (p.title, p.detail) {
        (Some(title), Some(detail)) => format!("{title}: {detail}"),
        (one, other) => one.or(other)?,
    };
    let fields: Vec<String> = p
        .errors
        .into_iter()
        .filter_map(|e| match (e.field, e.message) {
            (Some(field), Some(message)) if !field.is_empty() => {
                Some(format!("{field}: {message}"))
            }
            (_, message) => message,
        })
        .collect();
    if !fields.is_empty() {
        text = format!("{text} ({})", fields.join("; "));
    }
    Some(text)
}
