//! Square webhooks: the signature check (`x-square-hmacsha256-signature` = base64 HMAC-SHA256, keyed
//! by the subscription's signature key, over the notification URL followed by the raw body,
//! computed by the host so the key never enters the plugin) and the notification envelope. Order
//! and payment notifications carry no order, so the order is fetched, and so is the return order a
//! refund names; the categories of their lines are looked up in the catalogue (see `catalog`).
//! The event about the notified object takes Square's `event_id`, so a redelivered notification
//! is the same event; refunds read from a return order keep their own ids (see `map`), the same
//! as the poll path gives them.
//!
//! Customer notifications report customers, the merges Square makes (`customer.created` with a
//! merge context; the `customer.deleted` of each merged customer is its other half and reports
//! nothing) and customers deleted for good (see `people`); loyalty account notifications report
//! the account as it is now.

use crate::catalog::{self, Cache};
use crate::map::SquareOrder;
use crate::{api, location_ids, map, people};
use rapport_sdk::config::require_url;
use rapport_sdk::log;
use rapport_sdk::time::parse_field;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::webhook::signature_matches;
use serde::Deserialize;
use serde_json::Value;

const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";
const SIGNATURE_KEY: &str = "square_signature_key";

#[derive(Deserialize)]
struct Notification {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    created_at: Option<String>,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    id: String,
    #[serde(default)]
    object: Value,
}

/// Verifies and reads one notification.
pub fn receive(headers: &[Header], body: &[u8]) -> Result<Push, ConnectorError> {
    verify(headers, body)?;
    let note: Notification = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::Invalid(format!("the body is not a Square notification: {e}"))
    })?;
    let object = &note.data.object;
    let mapped = match note.kind.as_str() {
        "order.created" | "order.updated" | "order.fulfillment.updated" => {
            order(fetch_order(&note.data.id)?)?
        }
        kind if kind.starts_with("payment.") => {
            match object.pointer("/payment/order_id").and_then(Value::as_str) {
                Some(order_id) => order(fetch_order(order_id)?)?,
                None => Ok(map::Mapped::default()),
            }
        }
        kind if kind.starts_with("refund.") => refund(field(object, "refund")?)?,
        "customer.created" => match merged_from(object) {
            Some(replaced) => people::merged(field(object, "customer")?, replaced),
            None => people::customer(field(object, "customer")?),
        },
        "customer.updated" => people::customer(field(object, "customer")?),
        "customer.deleted" => match merged_from(object) {
            Some(_) => {
                log::info(&format!(
                    "Square merged customer {} into another: its customer.created notification reports the merge",
                    note.data.id
                ));
                Ok(map::Mapped::default())
            }
            None => deleted(&note),
        },
        "loyalty.account.created" | "loyalty.account.updated" => {
            people::loyalty_account(field(object, "loyalty_account")?)
        }
        other => {
            log::info(&format!("ignored a Square {other} notification"));
            Ok(map::Mapped::default())
        }
    };
    let mut push = Push {
        events: Vec::new(),
        rejected: Vec::new(),
    };
    match mapped {
        Ok(mapped) => {
            push.events.extend(mapped.own.map(|e| PosEvent {
                id: note.event_id.clone(),
                ..e
            }));
            push.events.extend(mapped.derived);
            push.rejected.extend(mapped.rejected);
        }
        Err(reason) => push.rejected.push(RejectedInput {
            locator: format!("{} notification {}", note.kind, note.event_id),
            reason,
        }),
    }
    Ok(push)
}

/// Fails with `Auth` unless the signature header matches the host's HMAC of URL + body.
fn verify(headers: &[Header], body: &[u8]) -> Result<(), ConnectorError> {
    let mut signed = require_url("notification_url")?.into_bytes();
    signed.extend_from_slice(body);
    if signature_matches(headers, SIGNATURE_HEADER, SIGNATURE_KEY, &signed)? {
        Ok(())
    } else {
        Err(ConnectorError::Auth(format!(
            "the {SIGNATURE_HEADER} signature does not match (check `notification_url` and `{SIGNATURE_KEY}`)"
        )))
    }
}

/// An order (if any) with the categories of its lines.
fn order(order: Option<Value>) -> Result<Result<map::Mapped, String>, ConnectorError> {
    let Some(order) = order else {
        return Ok(Ok(map::Mapped::default()));
    };
    let order: SquareOrder = match map::decode("order", order) {
        Ok(order) => order,
        Err(reason) => return Ok(Err(reason)),
    };
    let categories = catalog::resolve(&catalog::line_keys([&order]), &mut Cache::default())?;
    Ok(map::order(order, &categories))
}

/// The ids a customer notification's merge context says were merged (`from_customer_ids`), if
/// it has one that names any.
fn merged_from(object: &Value) -> Option<Vec<String>> {
    let ids: Vec<String> = object
        .pointer("/event_context/merge/from_customer_ids")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// A customer deleted for good: whom the deleted object names, when the notification was made
/// (else when the customer last changed).
fn deleted(note: &Notification) -> Result<map::Mapped, String> {
    let customer = note.data.object.get("customer");
    let at = match (&note.created_at, customer.and_then(|c| c.get("updated_at"))) {
        (Some(at), _) => parse_field(at, "created_at")?,
        (None, Some(Value::String(at))) => parse_field(at, "data.object.customer.updated_at")?,
        _ => return Err("the notification has no created_at".into()),
    };
    Ok(map::Mapped::own(PosEvent {
        id: format!("deleted:{}", note.data.id),
        occurred_at: at,
        payload: PosPayload::CustomerDeleted(people::deleted_identities(&note.data.id, customer)),
    }))
}

/// The order a notification is about, if it belongs to a configured location.
fn fetch_order(id: &str) -> Result<Option<Value>, ConnectorError> {
    let order = retrieve_order(id)?;
    if elsewhere(&order)? {
        Ok(None)
    } else {
        Ok(Some(order))
    }
}

/// `GET /v2/orders/{id}`: the order.
fn retrieve_order(id: &str) -> Result<Value, ConnectorError> {
    let mut answer: Value = api::get(&format!("/v2/orders/{}", path_segment(id)?), &[])?;
    answer.get_mut("order").map(Value::take).ok_or_else(|| {
        ConnectorError::Invalid(format!("Square's answer for order {id} has no `order`"))
    })
}

/// A refund notification: a completed refund of a configured location is read with the order it
/// names, as the poll path reads it.
fn refund(refund: Value) -> Result<Result<map::Mapped, String>, ConnectorError> {
    if elsewhere(&refund)? {
        return Ok(Ok(map::Mapped::default()));
    }
    let order = match map::refund_order_id(&refund) {
        Some(id) => Some(map::decode::<SquareOrder>("order", retrieve_order(id)?)),
        None => None,
    };
    let order = order.as_ref().map(|o| o.as_ref().map_err(String::as_str));
    let orders = order.iter().flatten().copied();
    let categories = catalog::resolve(&catalog::line_keys(orders), &mut Cache::default())?;
    Ok(map::payment_refund(refund, order, &categories))
}

/// Whether `object` names a location this source does not read.
fn elsewhere(object: &Value) -> Result<bool, ConnectorError> {
    let locations = location_ids()?;
    Ok(map::location(object).is_some_and(|l| !locations.iter().any(|x| x == l)))
}

fn field(object: &Value, name: &str) -> Result<Value, ConnectorError> {
    object.get(name).cloned().ok_or_else(|| {
        ConnectorError::Invalid(format!("the notification's data.object has no `{name}`"))
    })
}

/// An id fit for a URL path: Square ids are letters, digits, `-` and `_`.
fn path_segment(id: &str) -> Result<&str, ConnectorError> {
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        Ok(id)
    } else {
        Err(ConnectorError::Invalid(format!(
            "order id {id:?} in the notification is not a Square id"
        )))
    }
}
