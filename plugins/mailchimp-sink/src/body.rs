//! The JSON bodies this sink sends and the member hash, built from the contract's types.

use md5::{Digest, Md5};
use rapport_sdk::amount::major_units;
use rapport_sdk::people::{first_identity, latest_marketing};
use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde_json::{json, Map, Value};

/// The host's name for a sale.
const PLACED_ORDER: &str = "Placed Order";

/// Mailchimp's member id: the MD5 of the lower-cased email address, in lower-case hex.
pub fn subscriber_hash(email: &str) -> String {
    md5_hex(&email.to_lowercase())
}

/// The MD5 of `text` in lower-case hex.
pub fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The member upsert. `status_if_new` (used only when Mailchimp creates the member) is
/// `subscribed` only with a marketing grant, `unsubscribed` after a revocation and `transactional`
/// without any choice. `status` (which overwrites an existing member) is sent only to unsubscribe
/// someone whose latest choice is a revocation: a grant never overwrites an unsubscribe made at
/// Mailchimp, which only the person can undo.
pub fn member(email: &str, p: &Profile) -> Value {
    let latest = latest_marketing(&p.consents, Channel::Email).map(|c| c.state);
    let mut body = json!({
        "email_address": email,
        "status_if_new": match latest {
            Some(ConsentState::Granted) => "subscribed",
            Some(ConsentState::Revoked) => "unsubscribed",
            None => "transactional",
        },
    });
    if latest == Some(ConsentState::Revoked) {
        body["status"] = json!("unsubscribed");
    }
    let mut merge_fields = Map::new();
    for (tag, value) in [
        ("FNAME", p.given_name.as_deref()),
        ("LNAME", p.family_name.as_deref()),
        ("PHONE", first_identity(&p.identities, IdentityKind::Phone)),
    ] {
        if let Some(value) = value {
            merge_fields.insert(tag.into(), json!(value));
        }
    }
    if !merge_fields.is_empty() {
        body["merge_fields"] = Value::Object(merge_fields);
    }
    body
}

/// Tags that follow the person's history: `customer` once they have ordered, `refunded` once they
/// have had a refund (inactive otherwise, so a tag set by mistake is taken back).
pub fn tags(p: &Profile) -> Value {
    let count = |name: &str| {
        p.traits
            .iter()
            .find_map(|t| match (&t.value, t.name == name) {
                (TraitValue::Integer(n), true) => Some(*n),
                _ => None,
            })
    };
    let tags: Vec<Value> = [("customer", "orders_count"), ("refunded", "refunds_count")]
        .into_iter()
        .filter_map(|(tag, trait_name)| {
            let active = count(trait_name)? > 0;
            Some(json!({"name": tag, "status": if active { "active" } else { "inactive" }}))
        })
        .collect();
    json!({ "tags": tags })
}

/// A placed order as an e-commerce order: decimal major-unit amounts, the person as a customer
/// who is never opted in by the order, and one line for the sale (the host sends the products'
/// names, not itemised prices). `None` when the activity is not an order with a value.
pub fn order(a: &Activity, email: Option<&str>) -> Option<Value> {
    if a.name != PLACED_ORDER {
        return None;
    }
    let order_id = a
        .properties
        .iter()
        .find_map(|p| match (&p.value, p.name == "order_id") {
            (TraitValue::Text(id), true) => Some(id.clone()),
            _ => None,
        })?;
    let value = a.value.as_ref()?;
    let total: Value = serde_json::from_str(&major_units(value).ok()?).ok()?;
    let title = text_property(a, "products").unwrap_or_else(|| "Point-of-sale purchase".into());
    let mut customer = json!({"id": a.profile_key, "opt_in_status": false});
    if let Some(email) = email {
        customer["email_address"] = json!(email);
    }
    Some(json!({
        "id": order_id,
        "customer": customer,
        "currency_code": value.currency,
        "order_total": total,
        "processed_at_foreign": format_timestamp(a.occurred_at),
        "financial_status": "paid",
        "lines": [{
            "id": "1",
            "product_id": "pos-sale",
            "product_variant_id": "pos-sale",
            "product_title": title,
            "quantity": 1,
            "price": total,
        }],
    }))
}

/// A member event: `placed_order`-style name, string properties, and the activity's idempotency
/// key (Mailchimp has no idempotency of its own for events).
pub fn event(a: &Activity) -> Value {
    let mut properties = Map::new();
    properties.insert("idempotency_key".into(), json!(a.idempotency_key));
    if let Some(value) = &a.value {
        properties.insert("value".into(), json!(money_text(value)));
        properties.insert("currency".into(), json!(value.currency));
    }
    for p in &a.properties {
        properties.insert(p.name.clone(), json!(text(&p.value)));
    }
    let name: String = a
        .name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    json!({
        "name": name,
        "occurred_at": format_timestamp(a.occurred_at),
        "properties": properties,
    })
}

fn text_property(a: &Activity, name: &str) -> Option<String> {
    a.properties
        .iter()
        .find_map(|p| match (&p.value, p.name == name) {
            (TraitValue::Text(s), true) => Some(s.clone()),
            _ => None,
        })
}

/// Mailchimp event properties are strings.
fn text(value: &TraitValue) -> String {
    match value {
        TraitValue::Text(s) => s.clone(),
        TraitValue::Integer(n) => n.to_string(),
        TraitValue::Boolean(b) => b.to_string(),
        TraitValue::Money(m) => format!("{} {}", money_text(m), m.currency),
        TraitValue::Time(t) => format_timestamp(*t),
    }
}

fn money_text(m: &Money) -> String {
    major_units(m).unwrap_or_else(|_| format!("{} minor units", m.minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_hash_is_md5_of_the_lower_cased_address() {
        assert_eq!(
            subscriber_hash("Jane.Doe@Example.com"),
            "0cba00ca3da1b283a57287bcceb17e35"
        );
    }
}
