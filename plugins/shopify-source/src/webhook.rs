//! Shopify webhooks: the body is the bare resource, `X-Shopify-Topic` says which, and
//! `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(app secret, raw body)), computed by the host so the
//! secret never enters the plugin. The delivery's `X-Shopify-Webhook-Id` is the event id, so a
//! redelivered webhook is the same event; refunds embedded in an order keep their `refund:<id>`.

use crate::map;
use rapport_sdk::log;
use rapport_sdk::prelude::*;
use rapport_sdk::webhook::{self, signature_matches};
use serde_json::Value;

const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
const TOPIC_HEADER: &str = "x-shopify-topic";
const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
const SECRET: &str = "shopify_webhook_secret";

/// Verifies and reads one delivery.
pub fn receive(headers: &[Header], body: &[u8]) -> Result<Push, ConnectorError> {
    verify(headers, body)?;
    let topic = header(headers, TOPIC_HEADER)?;
    let webhook_id = header(headers, WEBHOOK_ID_HEADER)?;
    let resource: Value = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::Invalid(format!("the {topic} webhook body is not JSON: {e}"))
    })?;
    if !resource.is_object() {
        return Err(ConnectorError::Invalid(format!(
            "the {topic} webhook body is not a Shopify resource (a JSON object)"
        )));
    }
    let mapped = match topic {
        "orders/create" | "orders/updated" | "orders/paid" | "orders/cancelled" => {
            map::order_with_refunds(resource)
        }
        "refunds/create" => map::refund(resource).map(|e| vec![e]),
        "customers/create" | "customers/update" => map::customer_event(resource),
        other => {
            log::info(&format!("ignored a Shopify {other} webhook"));
            Ok(Vec::new())
        }
    };
    let mut push = Push {
        events: Vec::new(),
        rejected: Vec::new(),
    };
    match mapped {
        Ok(mut events) => {
            if let Some(first) = events.first_mut() {
                first.id = webhook_id.to_owned();
            }
            push.events = events;
        }
        Err(reason) => push.rejected.push(RejectedInput {
            locator: format!("{topic} webhook {webhook_id}"),
            reason,
        }),
    }
    Ok(push)
}

/// Fails with `Auth` unless the signature header matches the host's HMAC of the raw body.
fn verify(headers: &[Header], body: &[u8]) -> Result<(), ConnectorError> {
    if signature_matches(headers, SIGNATURE_HEADER, SECRET, body)? {
        Ok(())
    } else {
        Err(ConnectorError::Auth(format!(
            "the {SIGNATURE_HEADER} signature does not match the body (check `{SECRET}`: it is the app's client secret)"
        )))
    }
}

fn header<'a>(headers: &'a [Header], name: &str) -> Result<&'a str, ConnectorError> {
    webhook::header(headers, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConnectorError::Invalid(format!("the {name} header is missing")))
}
