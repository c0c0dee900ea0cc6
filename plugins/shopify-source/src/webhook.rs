//! Shopify webhooks: the body is the bare resource, `X-Shopify-Topic` says which, and
//! `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(app secret, raw body)), computed by the host so the
//! secret never enters the plugin (the privacy webhooks are signed the same way, and a wrong
//! signature is refused as `auth`, which Shopify requires to be answered 401). The delivery's
//! `X-Shopify-Webhook-Id` is the event id of an order, refund or customer, so a redelivered
//! webhook is the same event; refunds embedded in an order keep their `refund:<id>`. Deleted
//! customers and privacy requests have ids of their own (see [`crate::privacy`]).

use crate::map::{ShopifyOrder, ShopifyRefund};
use crate::products::{self, Known};
use crate::{map, privacy};
use rapport_sdk::host;
use rapport_sdk::log;
use rapport_sdk::time::parse_timestamp;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::webhook::{self, signature_matches};
use serde_json::Value;
use std::collections::BTreeSet;

const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
const TOPIC_HEADER: &str = "x-shopify-topic";
const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
const TRIGGERED_AT_HEADER: &str = "x-shopify-triggered-at";
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
    let delivery = privacy::Delivery {
        webhook_id,
        at: triggered_at(headers),
    };
    // Orders, refunds and customers are keyed by the delivery; the rest carry their own ids.
    let (mapped, keyed_by_delivery) = match topic {
        "orders/create" | "orders/updated" | "orders/paid" | "orders/cancelled" => {
            match map::decode::<ShopifyOrder>("order", resource) {
                Ok(order) => {
                    let categories = categories(&order.products_wanted())?;
                    (map::order_with_refunds(order, &categories), true)
                }
                Err(reason) => (Err(reason), true),
            }
        }
        "refunds/create" => match map::decode::<ShopifyRefund>("refund", resource) {
            Ok(refund) => {
                let categories = categories(&refund.products_wanted())?;
                (map::refund(&refund, &categories).map(|e| vec![e]), true)
            }
            Err(reason) => (Err(reason), true),
        },
        "customers/create" | "customers/update" => (map::customer_event(resource), true),
        "customers/delete" => (
            privacy::customer_deleted(&resource, delivery).map(|e| vec![e]),
            false,
        ),
        "customers/redact" => (
            privacy::customers_redact(&resource, delivery).map(|e| vec![e]),
            false,
        ),
        "customers/data_request" => (
            privacy::customers_data_request(&resource, delivery).map(|e| vec![e]),
            false,
        ),
        "shop/redact" => (Ok(vec![privacy::shop_redact(delivery)]), false),
        other => {
            log::info(&format!("ignored a Shopify {other} webhook"));
            (Ok(Vec::new()), false)
        }
    };
    let mut push = Push {
        events: Vec::new(),
        rejected: Vec::new(),
    };
    match mapped {
        Ok(mut events) => {
            if let Some(first) = events.first_mut().filter(|_| keyed_by_delivery) {
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

/// The categories of the lines of an order or refund (the `wanted` products): one products.json
/// request for all of them (a webhook has no cursor to remember them in). A transient failure
/// fails the delivery, which Shopify then sends again; see [`crate::products`].
fn categories(wanted: &BTreeSet<u64>) -> Result<map::Categories, ConnectorError> {
    products::categories(&mut Known::default(), wanted, host::now())
}

/// When Shopify raised the delivery (`X-Shopify-Triggered-At`), else now: the time of a deletion
/// or privacy request, whose body has none.
fn triggered_at(headers: &[Header]) -> Timestamp {
    webhook::header(headers, TRIGGERED_AT_HEADER)
        .and_then(|t| parse_timestamp(t.trim()).ok())
        .unwrap_or_else(host::now)
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
