//! Mailchimp's answers as outcomes: 2xx ok, 429 wait (Mailchimp sends no `Retry-After`, so the
//! SDK's default wait), 5xx retry, 401/403 fail the whole call (auth), other 4xx rejected with the
//! `application/problem+json` `title`, `detail` and field errors.

use rapport_sdk::vendor::Vendor;
use serde::Deserialize;

/// How Mailchimp's answers read.
pub const MAILCHIMP: Vendor = Vendor {
    name: "Mailchimp",
    credential: "the API key",
    advice: "check the secret `mailchimp_key` and that `data_center` is its suffix",
    detail: problem,
};

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
