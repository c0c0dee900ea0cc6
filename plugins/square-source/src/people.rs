//! Square's people as the contract's events: customers (with their birthday and email opt-out),
//! the customers Square merges or deletes, and loyalty accounts.
//!
//! Merges. Square merges duplicate profiles into a *new* customer with a new id: it sends
//! `customer.created` for the new one and `customer.deleted` for each one it replaced, every one
//! of them with `event_context.merge {from_customer_ids, to_customer_id}`. The creation is the
//! merge (`customers-merged`, the survivor mapped like any customer, replacing the old ids); the
//! deletions are its other half and report nothing. A deletion without a merge context is a
//! customer deleted for good (`customer-deleted`).

use crate::map::{decode, identity, Mapped};
use rapport_sdk::birthday;
use rapport_sdk::time::parse_field;
use rapport_sdk::v0_3::prelude::*;
use serde::Deserialize;
use serde_json::Value;

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
    birthday: Option<String>,
    preferences: Option<Preferences>,
    created_at: Option<String>,
    updated_at: String,
}

#[derive(Deserialize)]
struct Mapping {
    phone_number: Option<String>,
}

#[derive(Deserialize)]
struct SquareLoyaltyAccount {
    id: String,
    balance: Option<i64>,
    lifetime_points: Option<i64>,
    customer_id: Option<String>,
    mapping: Option<Mapping>,
    updated_at: String,
}

/// A customer as an event with id `customer:<id>:<updated_at>`. Square records only an email
/// opt-out (`preferences.email_unsubscribed`), so that is the one consent it reports. A birthday
/// that is not a date never costs the customer: they are reported without it, and the birthday is
/// a rejected input naming them.
pub fn customer(value: Value) -> Result<Mapped, String> {
    let c: SquareCustomer = decode("customer", value)?;
    let updated_at = parse_field(&c.updated_at, "updated_at")?;
    let mut rejected = Vec::new();
    let birthday = match c.birthday.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match birthday::parse(text) {
            Ok(day) => Some(day),
            Err(why) => {
                rejected.push(RejectedInput {
                    locator: format!("customer {}", c.id),
                    reason: format!(
                        "birthday {text:?} is not a date ({why}); the customer is kept without a birthday"
                    ),
                });
                None
            }
        },
    };
    let mut identities = vec![identity(IdentityKind::VendorCustomer, c.id.clone())];
    identities.extend(c.email_address.map(|e| identity(IdentityKind::Email, e)));
    identities.extend(c.phone_number.map(|p| identity(IdentityKind::Phone, p)));
    let unsubscribed = c.preferences.and_then(|p| p.email_unsubscribed) == Some(true);
    let own = PosEvent {
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
            birthday,
            loyalty: None,
        }),
    };
    Ok(Mapped {
        rejected,
        ..Mapped::own(own)
    })
}

/// The merge a `customer.created` notification with a merge context reports, as one
/// `customers-merged` event (the caller gives it Square's event id): the new customer, mapped like
/// any customer, replaces `replaced`.
pub fn merged(survivor: Value, replaced: Vec<String>) -> Result<Mapped, String> {
    let mapped = customer(survivor)?;
    let own = mapped.own.map(|event| match event.payload {
        PosPayload::Customer(survivor) => PosEvent {
            id: format!("merge:{}", event.id.trim_start_matches("customer:")),
            occurred_at: event.occurred_at,
            payload: PosPayload::CustomersMerged(CustomerMerge { survivor, replaced }),
        },
        other => PosEvent {
            payload: other,
            ..event
        },
    });
    Ok(Mapped {
        own,
        derived: Vec::new(),
        rejected: mapped.rejected,
    })
}

/// Whom a deleted customer was: Square's id (`id`, the notification's `data.id`, unless the
/// deleted object names its own), and the email and phone the deleted object carried.
pub fn deleted_identities(id: &str, customer: Option<&Value>) -> Vec<Identity> {
    let field = |name: &str| {
        customer
            .and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut identities = vec![identity(
        IdentityKind::VendorCustomer,
        field("id").unwrap_or_else(|| id.to_owned()),
    )];
    identities.extend(field("email_address").map(|e| identity(IdentityKind::Email, e)));
    identities.extend(field("phone_number").map(|p| identity(IdentityKind::Phone, p)));
    identities
}

/// A loyalty account as a `loyalty-changed` event with id `loyalty:<id>:<updated_at>`: the
/// person it belongs to (Square's customer id, the account's id as a loyalty id, the phone the
/// account is mapped to) with the account as it is now. Square may let a balance go negative;
/// points ever earned never are.
pub fn loyalty_account(value: Value) -> Result<Mapped, String> {
    let a: SquareLoyaltyAccount = decode("loyalty account", value)?;
    let updated_at = parse_field(&a.updated_at, "updated_at")?;
    let lifetime = a.lifetime_points.unwrap_or(0);
    if lifetime < 0 {
        return Err(format!("lifetime_points = {lifetime} is negative"));
    }
    let mut identities: Vec<Identity> = a
        .customer_id
        .filter(|c| !c.trim().is_empty())
        .map(|c| identity(IdentityKind::VendorCustomer, c))
        .into_iter()
        .collect();
    identities.push(identity(IdentityKind::LoyaltyId, a.id.clone()));
    identities.extend(
        a.mapping
            .and_then(|m| m.phone_number)
            .filter(|p| !p.trim().is_empty())
            .map(|p| identity(IdentityKind::Phone, p)),
    );
    Ok(Mapped::own(PosEvent {
        id: format!("loyalty:{}:{}", a.id, a.updated_at),
        occurred_at: updated_at,
        payload: PosPayload::LoyaltyChanged(LoyaltyChange {
            customer: Customer {
                identities,
                given_name: None,
                family_name: None,
                consents: Vec::new(),
                created_at: None,
                birthday: None,
                loyalty: Some(LoyaltyAccount {
                    id: a.id,
                    balance: a.balance.unwrap_or(0),
                    lifetime,
                }),
            },
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(month: u8, day: u8, year: Option<u16>) -> Birthday {
        Birthday { month, day, year }
    }

    fn ada(birthday: &str) -> Value {
        json!({
            "id": "C1", "given_name": "Ada", "family_name": "Lovelace",
            "email_address": "ada@example.com", "phone_number": "+447700900001",
            "birthday": birthday, "preferences": {"email_unsubscribed": true},
            "created_at": "2026-09-01T10:00:00.000Z", "updated_at": "2026-09-02T10:00:00.000Z",
            "version": 3,
        })
    }

    fn the_customer(mapped: &Mapped) -> &Customer {
        match &mapped.own.as_ref().expect("an event").payload {
            PosPayload::Customer(c) => c,
            other => panic!("not a customer: {other:?}"),
        }
    }

    #[test]
    fn a_customer_carries_identities_opt_out_and_birthday() {
        let mapped = customer(ada("0000-07-14")).unwrap();
        let c = the_customer(&mapped);
        assert_eq!(
            mapped.own.as_ref().unwrap().id,
            "customer:C1:2026-09-02T10:00:00.000Z"
        );
        assert_eq!(
            c.identities,
            vec![
                identity(IdentityKind::VendorCustomer, "C1".into()),
                identity(IdentityKind::Email, "ada@example.com".into()),
                identity(IdentityKind::Phone, "+447700900001".into()),
            ]
        );
        assert_eq!(c.birthday, Some(day(7, 14, None)));
        assert_eq!(c.consents.len(), 1);
        assert_eq!(c.consents[0].state, ConsentState::Revoked);
        assert!(mapped.rejected.is_empty());
    }

    #[test]
    fn a_bad_birthday_keeps_the_customer_and_is_rejected_naming_them() {
        let mapped = customer(ada("1990-02-30")).unwrap();
        assert_eq!(the_customer(&mapped).birthday, None);
        assert_eq!(the_customer(&mapped).given_name.as_deref(), Some("Ada"));
        assert_eq!(
            mapped.rejected,
            vec![RejectedInput {
                locator: "customer C1".into(),
                reason: "birthday \"1990-02-30\" is not a date (month 2 of 1990 has no day 30); \
                         the customer is kept without a birthday"
                    .into(),
            }]
        );
    }

    #[test]
    fn a_merge_is_the_survivor_and_the_ids_it_replaced() {
        let mapped = merged(ada("1985-03-01"), vec!["OLD1".into(), "OLD2".into()]).unwrap();
        let event = mapped.own.unwrap();
        let PosPayload::CustomersMerged(merge) = event.payload else {
            panic!("not a merge")
        };
        assert_eq!(merge.replaced, ["OLD1", "OLD2"]);
        assert_eq!(merge.survivor.identities[0].value, "C1");
        assert_eq!(merge.survivor.birthday, Some(day(3, 1, Some(1985))));
    }

    #[test]
    fn a_deleted_customer_is_named_by_every_identifier_it_carried() {
        let gone = json!({"id": "C9", "email_address": "gone@example.com", "phone_number": " "});
        assert_eq!(
            deleted_identities("C9", Some(&gone)),
            vec![
                identity(IdentityKind::VendorCustomer, "C9".into()),
                identity(IdentityKind::Email, "gone@example.com".into()),
            ]
        );
        assert_eq!(
            deleted_identities("C8", None),
            vec![identity(IdentityKind::VendorCustomer, "C8".into())]
        );
    }

    #[test]
    fn a_loyalty_account_is_the_person_with_their_points() {
        let account = json!({
            "id": "LA1", "program_id": "P1", "balance": -20, "lifetime_points": 150,
            "customer_id": "C1", "mapping": {"id": "M1", "phone_number": "+14155551111"},
            "created_at": "2026-09-01T10:00:00Z", "updated_at": "2026-09-03T10:00:00Z",
        });
        let mapped = loyalty_account(account.clone()).unwrap();
        let event = mapped.own.unwrap();
        assert_eq!(event.id, "loyalty:LA1:2026-09-03T10:00:00Z");
        let PosPayload::LoyaltyChanged(change) = event.payload else {
            panic!("not a loyalty change")
        };
        assert_eq!(
            change.customer.identities,
            vec![
                identity(IdentityKind::VendorCustomer, "C1".into()),
                identity(IdentityKind::LoyaltyId, "LA1".into()),
                identity(IdentityKind::Phone, "+14155551111".into()),
            ]
        );
        assert_eq!(
            change.customer.loyalty,
            Some(LoyaltyAccount {
                id: "LA1".into(),
                balance: -20,
                lifetime: 150
            })
        );
        let mut negative = account;
        negative["lifetime_points"] = json!(-1);
        assert_eq!(
            loyalty_account(negative).unwrap_err(),
            "lifetime_points = -1 is negative"
        );
    }
}
