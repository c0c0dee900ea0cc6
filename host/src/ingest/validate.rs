//! The edge between plugins and the host: a `pos-event` from a source is checked once here and turned
//! into the canonical model. Anything wrong becomes a rejected input naming the event and the field.

use chrono::{DateTime, TimeZone, Utc};
use rapport_core::model::*;
use rapport_sandbox::contract::wit;

/// Longest accepted id or name, in bytes.
const MAX_TEXT: usize = 512;

/// Converts and checks one event from a source.
pub fn event(raw: wit::PosEvent) -> Result<Event, RejectedInput> {
    let locator = format!("event {:?}", truncate(&raw.id));
    let reject = |reason: String| RejectedInput {
        locator: locator.clone(),
        reason,
    };
    let source_event_id = text("id", raw.id).map_err(reject)?;
    let occurred_at = time("occurred-at", raw.occurred_at).map_err(reject)?;
    let payload = payload(raw.payload).map_err(reject)?;
    Ok(Event {
        source_event_id,
        occurred_at,
        payload,
    })
}

fn payload(raw: wit::PosPayload) -> Result<Payload, String> {
    Ok(match raw {
        wit::PosPayload::Order(o) => Payload::Order(order(o)?),
        wit::PosPayload::Refund(r) => Payload::Refund(refund(r)?),
        wit::PosPayload::Customer(c) => Payload::Customer(customer(c)?),
    })
}

fn order(o: wit::Order) -> Result<Order, String> {
    let id = text("order.id", o.id)?;
    let total = money("order.total", o.total)?;
    let same_currency = |field: &str, m: Money| -> Result<Money, String> {
        if m.currency != total.currency {
            return Err(format!(
                "{field} is in {} but the order total is in {}",
                m.currency, total.currency
            ));
        }
        Ok(m)
    };
    let lines = o
        .lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let l = line(i, l)?;
            same_currency(&format!("order.lines[{i}].total"), l.total.clone())?;
            Ok(l)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Order {
        id,
        customer: o.customer.map(customer).transpose()?,
        location: optional_text("order.location", o.location)?,
        channel: match o.channel {
            wit::SalesChannel::InStore => SalesChannel::InStore,
            wit::SalesChannel::Online => SalesChannel::Online,
            wit::SalesChannel::Other => SalesChannel::Other,
        },
        state: match o.state {
            wit::OrderState::Open => OrderState::Open,
            wit::OrderState::Completed => OrderState::Completed,
            wit::OrderState::Canceled => OrderState::Canceled,
        },
        lines,
        subtotal: same_currency("order.subtotal", money("order.subtotal", o.subtotal)?)?,
        tax: same_currency("order.tax", money("order.tax", o.tax)?)?,
        discount: same_currency("order.discount", money("order.discount", o.discount)?)?,
        placed_at: time("order.placed-at", o.placed_at)?,
        updated_at: time("order.updated-at", o.updated_at)?,
        total,
    })
}

fn refund(r: wit::Refund) -> Result<Refund, String> {
    let amount = money("refund.amount", r.amount)?;
    if amount.minor < 0 {
        return Err(format!(
            "refund.amount must be positive (the amount given back), got {}",
            amount.minor
        ));
    }
    Ok(Refund {
        id: text("refund.id", r.id)?,
        order_id: text("refund.order-id", r.order_id)?,
        customer: r.customer.map(customer).transpose()?,
        amount,
        reason: optional_text("refund.reason", r.reason)?,
        lines: r
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| line(i, l))
            .collect::<Result<_, _>>()?,
        created_at: time("refund.created-at", r.created_at)?,
    })
}

fn line(index: usize, l: wit::LineItem) -> Result<LineItem, String> {
    let field = |name: &str| format!("lines[{index}].{name}");
    if l.quantity.scale > 9 {
        return Err(format!(
            "{} has scale {} (at most 9 decimal places)",
            field("quantity"),
            l.quantity.scale
        ));
    }
    Ok(LineItem {
        sku: optional_text(&field("sku"), l.sku)?,
        product: text(&field("product"), l.product)?,
        category: optional_text(&field("category"), l.category)?,
        quantity: Quantity {
            units: l.quantity.units,
            scale: l.quantity.scale,
        },
        unit_price: money(&field("unit-price"), l.unit_price)?,
        total: money(&field("total"), l.total)?,
    })
}

/// The model's kind of a contract identity.
pub fn identity_kind(kind: wit::IdentityKind) -> IdentityKind {
    match kind {
        wit::IdentityKind::Email => IdentityKind::Email,
        wit::IdentityKind::Phone => IdentityKind::Phone,
        wit::IdentityKind::LoyaltyId => IdentityKind::LoyaltyId,
        wit::IdentityKind::VendorCustomer => IdentityKind::VendorCustomer,
    }
}

/// The model's channel of a contract channel.
pub fn channel(channel: wit::Channel) -> Channel {
    match channel {
        wit::Channel::Email => Channel::Email,
        wit::Channel::Sms => Channel::Sms,
        wit::Channel::Push => Channel::Push,
        wit::Channel::Postal => Channel::Postal,
    }
}

/// The model's purpose of a contract purpose.
pub fn purpose(purpose: wit::Purpose) -> Purpose {
    match purpose {
        wit::Purpose::Marketing => Purpose::Marketing,
        wit::Purpose::Transactional => Purpose::Transactional,
    }
}

fn customer(c: wit::Customer) -> Result<Customer, String> {
    Ok(Customer {
        identities: c
            .identities
            .into_iter()
            .map(|i| {
                Ok(Identity {
                    kind: identity_kind(i.kind),
                    value: text("customer.identity", i.value)?,
                })
            })
            .collect::<Result<_, String>>()?,
        given_name: optional_text("customer.given-name", c.given_name)?,
        family_name: optional_text("customer.family-name", c.family_name)?,
        consents: c
            .consents
            .into_iter()
            .map(|k| {
                Ok(Consent {
                    channel: channel(k.channel),
                    purpose: purpose(k.purpose),
                    state: match k.state {
                        wit::ConsentState::Granted => ConsentState::Granted,
                        wit::ConsentState::Revoked => ConsentState::Revoked,
                    },
                    at: time("consent.at", k.at)?,
                    source: text("consent.source", k.source)?,
                })
            })
            .collect::<Result<_, String>>()?,
        created_at: c
            .created_at
            .map(|t| time("customer.created-at", t))
            .transpose()?,
    })
}

fn money(field: &str, m: wit::Money) -> Result<Money, String> {
    Ok(Money {
        minor: m.minor,
        currency: Currency::try_from(m.currency).map_err(|e| format!("{field}: {e}"))?,
    })
}

fn text(field: &str, value: String) -> Result<String, String> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if value.len() > MAX_TEXT {
        return Err(format!("{field} is longer than {MAX_TEXT} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(value)
}

fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| text(field, v))
        .transpose()
}

/// Accepts instants from 2000-01-01 up to a day ahead of now (clock skew).
fn time(field: &str, ms: i64) -> Result<DateTime<Utc>, String> {
    let earliest = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let latest = Utc::now() + chrono::Duration::days(1);
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) if t >= earliest && t <= latest => Ok(t),
        _ => Err(format!(
            "{field} = {ms} ms is not a time between 2000-01-01 and tomorrow"
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
