//! Email marketing consent as a subscription status: `POST
//! /communication-preferences/v4/statuses/{email}` for the configured subscription type, with
//! the legal basis and an explanation of where and when the person chose.

use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use rapport_sdk::url;
use serde_json::{json, Value};

/// The path of `email`'s subscription statuses, the address percent-encoded but for its `@`.
pub fn status_path(email: &str) -> String {
    format!(
        "/communication-preferences/v4/statuses/{}",
        url::encode_keeping(email, b"@")
    )
}

/// `{"channel":"EMAIL","statusState","subscriptionId","legalBasis","legalBasisExplanation"}`.
pub fn status(consent: &Consent, subscription_id: i64, legal_basis: &str) -> Value {
    let (state, choice) = match consent.state {
        ConsentState::Granted => ("SUBSCRIBED", "Opted in to"),
        ConsentState::Revoked => ("UNSUBSCRIBED", "Opted out of"),
    };
    json!({
        "channel": "EMAIL",
        "statusState": state,
        "subscriptionId": subscription_id,
        "legalBasis": legal_basis,
        "legalBasisExplanation": format!(
            "{choice} marketing email via {} at {}",
            consent.source,
            format_timestamp(consent.at)
        ),
    })
}
