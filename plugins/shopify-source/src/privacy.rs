//! Shopify's mandatory privacy webhooks and customer deletions, to the contract's privacy requests
//! and deleted customers. What to do about them (forget the person, write what is held on them,
//! log the shop's redaction) is the host's part; this only says who and what was asked.
//!
//! The bodies, as Shopify documents them ("Privacy law compliance",
//! <https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance>, and the earlier
//! "GDPR requirements", <https://help.shopify.com/api/guides/gdpr-resources>):
//!
//! - `customers/data_request`: `{"shop_id": 954889, "shop_domain": "{shop}.myshopify.com",
//!   "orders_requested": [299938, …], "customer": {"id": 191167, "email": "john@example.com",
//!   "phone": "555-625-1199"}, "data_request": {"id": 9999}}`
//! - `customers/redact`: `{"shop_id", "shop_domain", "customer": {"id", "email", "phone"},
//!   "orders_to_redact": [299938, …]}`
//! - `shop/redact` (48 hours after the shop uninstalled the app): `{"shop_id", "shop_domain"}`
//!
//! The current page writes the ids as numbers, the earlier one as strings (`"<ID>"`): both are
//! read. The order lists are not passed on: a privacy request names the person, and the host
//! finds what it holds on them (their orders included) by who they are. Only `data_request`
//! has an id of its own; a redaction's id is the delivery's `X-Shopify-Webhook-Id`, which a
//! redelivery keeps, so a redelivered request is the same event and the host stores it once.
//!
//! `customers/delete` carries the deleted customer resource, of which only `id` is certain
//! (Shopify sends little more once the customer is gone); its email and phone are named too when
//! present.

use rapport_sdk::v0_3::prelude::*;
use serde_json::Value;

/// What every event of one delivery shares: the delivery's id and when Shopify raised it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `X-Shopify-Webhook-Id`: the same on every redelivery.
    pub webhook_id: &'a str,
    pub at: Timestamp,
}

/// `customers/redact`: erase the person, as a privacy request under the delivery's id.
pub fn customers_redact(body: &Value, delivery: Delivery) -> Result<PosEvent, String> {
    let identities = person(&body["customer"], "customer")?;
    Ok(request(
        delivery.webhook_id.to_owned(),
        delivery.webhook_id.to_owned(),
        PrivacyKind::Redact,
        identities,
        delivery.at,
    ))
}

/// `customers/data_request`: send the person what is held on them, as a privacy request under
/// Shopify's `data_request.id` (event id `data_request:<id>`, whatever delivery brings it).
pub fn customers_data_request(body: &Value, delivery: Delivery) -> Result<PosEvent, String> {
    let id = id_text(&body["data_request"]["id"]).ok_or("data_request.id is missing")?;
    let identities = person(&body["customer"], "customer")?;
    Ok(request(
        format!("data_request:{id}"),
        id,
        PrivacyKind::DataRequest,
        identities,
        delivery.at,
    ))
}

/// `shop/redact`: erase everything about the shop; it names nobody.
pub fn shop_redact(delivery: Delivery) -> PosEvent {
    request(
        delivery.webhook_id.to_owned(),
        delivery.webhook_id.to_owned(),
        PrivacyKind::ShopRedact,
        Vec::new(),
        delivery.at,
    )
}

/// `customers/delete`: the customer is gone at Shopify (event id `customer:<id>:deleted`, as a
/// customer is deleted once).
pub fn customer_deleted(body: &Value, delivery: Delivery) -> Result<PosEvent, String> {
    let id = id_text(&body["id"]).ok_or("the deleted customer has no id")?;
    Ok(PosEvent {
        id: format!("customer:{id}:deleted"),
        occurred_at: delivery.at,
        payload: PosPayload::CustomerDeleted(identities(body)),
    })
}

fn request(
    event_id: String,
    id: String,
    kind: PrivacyKind,
    identities: Vec<Identity>,
    at: Timestamp,
) -> PosEvent {
    PosEvent {
        id: event_id,
        occurred_at: at,
        payload: PosPayload::PrivacyRequest(PrivacyRequest {
            id,
            kind,
            identities,
        }),
    }
}

/// The identities of the person at `field`, refused if there are none.
fn person(customer: &Value, field: &str) -> Result<Vec<Identity>, String> {
    let found = identities(customer);
    if found.is_empty() {
        return Err(format!(
            "{field} names nobody: it has no id, email or phone"
        ));
    }
    Ok(found)
}

/// A customer's id (as a vendor-customer identity), email and phone, each when present.
fn identities(customer: &Value) -> Vec<Identity> {
    [
        (IdentityKind::VendorCustomer, id_text(&customer["id"])),
        (IdentityKind::Email, text(&customer["email"])),
        (IdentityKind::Phone, text(&customer["phone"])),
    ]
    .into_iter()
    .filter_map(|(kind, value)| value.map(|value| Identity { kind, value }))
    .collect()
}

/// An id Shopify writes as a number or as a string.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        other => text(other),
    }
}

fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DELIVERY: Delivery = Delivery {
        webhook_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        at: 1_790_000_000_000,
    };

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: value.into(),
        }
    }

    fn privacy(event: &PosEvent) -> &PrivacyRequest {
        match &event.payload {
            PosPayload::PrivacyRequest(r) => r,
            other => panic!("not a privacy request: {other:?}"),
        }
    }

    #[test]
    fn a_redaction_names_the_person_under_the_delivery_id() {
        let body = json!({
            "shop_id": 954889, "shop_domain": "shop.myshopify.com",
            "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
            "orders_to_redact": [299938, 280263, 220458],
        });
        let event = customers_redact(&body, DELIVERY).unwrap();
        assert_eq!(event.id, DELIVERY.webhook_id);
        assert_eq!(event.occurred_at, DELIVERY.at);
        let request = privacy(&event);
        assert_eq!(request.id, DELIVERY.webhook_id);
        assert_eq!(request.kind, PrivacyKind::Redact);
        assert_eq!(
            request.identities,
            vec![
                identity(IdentityKind::VendorCustomer, "191167"),
                identity(IdentityKind::Email, "john@example.com"),
                identity(IdentityKind::Phone, "555-625-1199"),
            ]
        );
    }

    #[test]
    fn a_data_request_keeps_shopifys_id_and_reads_string_ids() {
        let body = json!({
            "shop_id": "954889", "shop_domain": "shop.myshopify.com",
            "orders_requested": ["299938"],
            "customer": {"id": "191167", "email": " ", "phone": null},
            "data_request": {"id": "9999"},
        });
        let event = customers_data_request(&body, DELIVERY).unwrap();
        assert_eq!(event.id, "data_request:9999");
        let request = privacy(&event);
        assert_eq!(
            (request.id.as_str(), request.kind),
            ("9999", PrivacyKind::DataRequest)
        );
        assert_eq!(
            request.identities,
            vec![identity(IdentityKind::VendorCustomer, "191167")]
        );
        let numeric = json!({"customer": {"email": "a@b.c"}, "data_request": {"id": 12}});
        let event = customers_data_request(&numeric, DELIVERY).unwrap();
        assert_eq!(privacy(&event).id, "12");
        assert_eq!(
            privacy(&event).identities,
            vec![identity(IdentityKind::Email, "a@b.c")]
        );
    }

    #[test]
    fn requests_that_name_nobody_or_have_no_id_are_refused() {
        let nobody = json!({"customer": {"id": null, "email": "", "phone": null}});
        assert_eq!(
            customers_redact(&nobody, DELIVERY).unwrap_err(),
            "customer names nobody: it has no id, email or phone"
        );
        assert!(customers_redact(&json!({"shop_id": 1}), DELIVERY).is_err());
        let no_id = json!({"customer": {"id": 1}, "data_request": {}});
        assert_eq!(
            customers_data_request(&no_id, DELIVERY).unwrap_err(),
            "data_request.id is missing"
        );
        assert!(customer_deleted(&json!({"email": "a@b.c"}), DELIVERY).is_err());
    }

    #[test]
    fn a_shop_redaction_names_nobody() {
        let event = shop_redact(DELIVERY);
        assert_eq!(event.id, DELIVERY.webhook_id);
        let request = privacy(&event);
        assert_eq!(request.kind, PrivacyKind::ShopRedact);
        assert!(request.identities.is_empty());
    }

    #[test]
    fn a_deleted_customer_is_named_by_id_and_what_else_is_left() {
        let body = json!({
            "id": 706405506930370084u64, "phone": null, "addresses": [],
            "email_marketing_consent": null, "sms_marketing_consent": null,
            "admin_graphql_api_id": "gid://shopify/Customer/706405506930370084",
        });
        let event = customer_deleted(&body, DELIVERY).unwrap();
        assert_eq!(event.id, "customer:706405506930370084:deleted");
        assert_eq!(
            event.payload,
            PosPayload::CustomerDeleted(vec![identity(
                IdentityKind::VendorCustomer,
                "706405506930370084"
            )])
        );
        let with_email = json!({"id": 7, "email": "gone@example.com"});
        let PosPayload::CustomerDeleted(ids) =
            customer_deleted(&with_email, DELIVERY).unwrap().payload
        else {
            panic!("not a deletion")
        };
        assert_eq!(ids[1], identity(IdentityKind::Email, "gone@example.com"));
    }
}
