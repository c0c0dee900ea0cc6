//! Square objects (`Order`, `PaymentRefund`, `Customer`) to the contract's events. Square money is
//! `{amount, currency}` in minor units already; line quantities are decimal strings.

use rapport_sdk::money::{parse_decimal, times};
use rapport_sdk::prelude::*;
use rapport_sdk::time::parse_field;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct SquareMoney {
    amount: Option<i64>,
    currency: Option<String>,
}

#[derive(Deserialize, Default)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Fulfillment {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Tender {
    customer_id: Option<String>,
}

#[derive(Deserialize)]
struct SquareLine {
    name: Option<String>,
    variation_name: Option<String>,
    catalog_object_id: Option<String>,
    quantity: String,
    base_price_money: Option<SquareMoney>,
    total_money: Option<SquareMoney>,
}

#[derive(Deserialize)]
struct SquareOrder {
    id: String,
    location_id: Option<String>,
    source: Option<Named>,
    customer_id: Option<String>,
    line_items: Option<Vec<SquareLine>>,
    fulfillments: Option<Vec<Fulfillment>>,
    tenders: Option<Vec<Tender>>,
    state: Option<String>,
    version: Option<i64>,
    created_at: String,
    updated_at: String,
    total_money: SquareMoney,
    total_tax_money: Option<SquareMoney>,
    total_discount_money: Option<SquareMoney>,
    total_tip_money: Option<SquareMoney>,
    total_service_charge_money: Option<SquareMoney>,
}

#[derive(Deserialize)]
struct PaymentRefund {
    id: String,
    status: Option<String>,
    amount_money: SquareMoney,
    order_id: Option<String>,
    reason: Option<String>,
    created_at: String,
}

#[derive(Deserialize)]
struct Preferences {
    email_unsubscribed: Option<bool>,
}

#[derive(Deserialize)]
struct SquareCustomer {
    id: String,
    given_name: Option<String>,
    family_name: Option<String>,
    email_address: Option<String>,
    phone_number: Option<String>,
    preferences: Option<Preferences>,
    created_at: Option<String>,
    updated_at: String,
}

/// The location a Square object belongs to, if it names one.
pub fn location(object: &Value) -> Option<&str> {
    object.get("location_id").and_then(Value::as_str)
}

/// An order (any version) as an event with id `order:<id>:v<version>`.
pub fn order(value: Value) -> Result<Option<PosEvent>, String> {
    let o: SquareOrder = decode("order", value)?;
    let currency = o
        .total_money
        .currency
        .clone()
        .ok_or("total_money has no currency")?;
    let amount = |m: &Option<SquareMoney>, field: &str| -> Result<Money, String> {
        m.as_ref().map_or(Ok(zero(&currency)), |m| money(m, field))
    };
    let total = money(&o.total_money, "total_money")?;
    let tax = amount(&o.total_tax_money, "total_tax_money")?;
    let discount = amount(&o.total_discount_money, "total_discount_money")?;
    let extras = amount(&o.total_tip_money, "total_tip_money")?.minor
        + amount(&o.total_service_charge_money, "total_service_charge_money")?.minor;
    let lines = o
        .line_items
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, l)| line(l, &currency).map_err(|e| format!("line_items[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let buyer = o.customer_id.clone().or_else(|| {
        o.tenders
            .iter()
            .flatten()
            .find_map(|t| t.customer_id.clone())
    });
    let updated_at = parse_field(&o.updated_at, "updated_at")?;
    let version = o
        .version
        .map_or_else(|| o.updated_at.clone(), |v| format!("v{v}"));
    Ok(Some(PosEvent {
        id: format!("order:{}:{version}", o.id),
        occurred_at: updated_at,
        payload: PosPayload::Order(Order {
            channel: channel(&o),
            state: match o.state.as_deref() {
                Some("COMPLETED") => OrderState::Completed,
                Some("CANCELED") => OrderState::Canceled,
                _ => OrderState::Open,
            },
            customer: buyer.map(|id| Customer {
                identities: vec![identity(IdentityKind::VendorCustomer, id)],
                given_name: None,
                family_name: None,
                consents: Vec::new(),
                created_at: None,
            }),
            location: o.location_id.clone(),
            subtotal: Money {
                minor: total.minor - tax.minor + discount.minor - extras,
                currency: currency.clone(),
            },
            placed_at: parse_field(&o.created_at, "created_at")?,
            id: o.id,
            lines,
            tax,
            discount,
            total,
            updated_at,
        }),
    }))
}

/// A completed refund as an event with id `refund:<id>`; pending, rejected and failed refunds give
/// no money back and are not events (a later poll or webhook sees them complete).
pub fn refund(value: Value) -> Result<Option<PosEvent>, String> {
    let r: PaymentRefund = decode("refund", value)?;
    if r.status.as_deref() != Some("COMPLETED") {
        return Ok(None);
    }
    let order_id = r
        .order_id
        .ok_or("the refund is not linked to an order (no order_id)")?;
    let created_at = parse_field(&r.created_at, "created_at")?;
    Ok(Some(PosEvent {
        id: format!("refund:{}", r.id),
        occurred_at: created_at,
        payload: PosPayload::Refund(Refund {
            amount: money(&r.amount_money, "amount_money")?,
            id: r.id,
            order_id,
            customer: None,
            reason: r.reason,
            lines: Vec::new(),
            created_at,
        }),
    }))
}

/// A customer as an event with id `customer:<id>:<updated_at>`. Square records only an email
/// opt-out (`preferences.email_unsubscribed`), so that is the one consent it reports.
pub fn customer(value: Value) -> Result<Option<PosEvent>, String> {
    let c: SquareCustomer = decode("customer", value)?;
    let updated_at = parse_field(&c.updated_at, "updated_at")?;
    let mut identities = vec![identity(IdentityKind::VendorCustomer, c.id.clone())];
    identities.extend(c.email_address.map(|e| identity(IdentityKind::Email, e)));
    identities.extend(c.phone_number.map(|p| identity(IdentityKind::Phone, p)));
    let unsubscribed = c.preferences.and_then(|p| p.email_unsubscribed) == Some(true);
    Ok(Some(PosEvent {
        id: format!("customer:{}:{}", c.id, c.updated_at),
        occurred_at: updated_at,
        payload: PosPayload::Customer(Customer {
            identities,
            given_name: c.given_name,
            family_name: c.family_name,
            consents: unsubscribed
                .then(|| Consent {
                    channel: Channel::Email,
                    purpose: Purpose::Marketing,
                    state: ConsentState::Revoked,
                    at: updated_at,
                    source: "square-email-unsubscribed".into(),
                })
                .into_iter()
                .collect(),
            created_at: c
                .created_at
                .as_deref()
                .map(|t| parse_field(t, "created_at"))
                .transpose()?,
        }),
    }))
}

/// Square Point of Sale and Terminal sales are in-store; Square Online and orders shipped,
/// delivered or picked up are online; anything else (an app's own source name) is other.
fn channel(o: &SquareOrder) -> SalesChannel {
    let source = o
        .source
        .as_ref()
        .and_then(|s| s.name.as_deref())
        .unwrap_or("")
        .to_ascii_lowercase();
    let remote_fulfillment = o.fulfillments.iter().flatten().any(|f| {
        matches!(
            f.kind.as_deref(),
            Some("SHIPMENT" | "DELIVERY" | "PICKUP" | "DIGITAL")
        )
    });
    if source.contains("point of sale") || source.contains("terminal") {
        SalesChannel::InStore
    } else if source.contains("online") || remote_fulfillment {
        SalesChannel::Online
    } else {
        SalesChannel::Other
    }
}

fn line(l: &SquareLine, currency: &str) -> Result<LineItem, String> {
    let quantity = parse_decimal(&l.quantity).map_err(|e| e.to_string())?;
    let unit_price = l
        .base_price_money
        .as_ref()
        .map_or(Ok(zero(currency)), |m| money(m, "base_price_money"))?;
    let total = match &l.total_money {
        Some(m) => money(m, "total_money")?,
        None => times(&unit_price, &quantity).map_err(|e| e.to_string())?,
    };
    Ok(LineItem {
        sku: l.catalog_object_id.clone(),
        product: l
            .name
            .clone()
            .or_else(|| l.variation_name.clone())
            .unwrap_or_else(|| "Custom amount".into()),
        category: None,
        quantity,
        unit_price,
        total,
    })
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("not a Square {what}: {e}"))
}

fn money(m: &SquareMoney, field: &str) -> Result<Money, String> {
    match (m.amount, &m.currency) {
        (Some(minor), Some(currency)) => Ok(Money {
            minor,
            currency: currency.clone(),
        }),
        _ => Err(format!("{field} needs both amount and currency")),
    }
}

fn zero(currency: &str) -> Money {
    Money {
        minor: 0,
        currency: currency.to_owned(),
    }
}

fn identity(kind: IdentityKind, value: String) -> Identity {
    Identity { kind, value }
}
