//! The JSON bodies this sink posts, built from the contract's types. Pure, so the wire format is
//! tested natively.

use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde_json::{json, Map, Value};

/// `{"type":"profiles","items":[…]}`.
pub fn profiles(items: &[Profile]) -> Value {
    json!({"type": "profiles", "items": items.iter().map(profile).collect::<Vec<_>>()})
}

/// `{"type":"activities","items":[…]}`.
pub fn activities(items: &[Activity]) -> Value {
    json!({"type": "activities", "items": items.iter().map(activity).collect::<Vec<_>>()})
}

/// `{"type":"forget","identities":[…]}`.
pub fn forget(identities: &[Identity]) -> Value {
    json!({"type": "forget", "identities": list(identities)})
}

/// An informational batch label, `first..last#count` (e.g. `p-1..p-9#9`).
pub fn batch_key<'a>(keys: impl ExactSizeIterator<Item = &'a str> + Clone) -> String {
    let count = keys.len();
    let first = keys.clone().next().unwrap_or_default();
    let last = keys.last().unwrap_or_default();
    format!("{first}..{last}#{count}")
}

fn profile(p: &Profile) -> Value {
    json!({
        "key": p.key,
        "identities": list(&p.identities),
        "given_name": p.given_name,
        "family_name": p.family_name,
        "consents": p.consents.iter().map(consent).collect::<Vec<_>>(),
        "traits": named(p.traits.iter().map(|t| (&t.name, &t.value))),
    })
}

fn activity(a: &Activity) -> Value {
    json!({
        "idempotency_key": a.idempotency_key,
        "profile_key": a.profile_key,
        "identities": list(&a.identities),
        "name": a.name,
        "occurred_at": format_timestamp(a.occurred_at),
        "value": a.value.as_ref().map(money),
        "properties": named(a.properties.iter().map(|p| (&p.name, &p.value))),
    })
}

fn list(identities: &[Identity]) -> Vec<Value> {
    identities.iter().map(identity).collect()
}

fn identity(i: &Identity) -> Value {
    let kind = match i.kind {
        IdentityKind::Email => "email",
        IdentityKind::Phone => "phone",
        IdentityKind::LoyaltyId => "loyalty_id",
        IdentityKind::VendorCustomer => "vendor_customer",
    };
    json!({"kind": kind, "value": i.value})
}

fn consent(c: &Consent) -> Value {
    let channel = match c.channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Push => "push",
        Channel::Postal => "postal",
    };
    let purpose = match c.purpose {
        Purpose::Marketing => "marketing",
        Purpose::Transactional => "transactional",
    };
    let state = match c.state {
        ConsentState::Granted => "granted",
        ConsentState::Revoked => "revoked",
    };
    json!({
        "channel": channel,
        "purpose": purpose,
        "state": state,
        "at": format_timestamp(c.at),
        "source": c.source,
    })
}

fn named<'a>(pairs: impl Iterator<Item = (&'a String, &'a TraitValue)>) -> Map<String, Value> {
    pairs
        .map(|(name, value)| (name.clone(), trait_value(value)))
        .collect()
}

fn trait_value(v: &TraitValue) -> Value {
    match v {
        TraitValue::Text(s) => json!(s),
        TraitValue::Integer(n) => json!(n),
        TraitValue::Boolean(b) => json!(b),
        TraitValue::Money(m) => money(m),
        TraitValue::Time(t) => json!(format_timestamp(*t)),
    }
}

fn money(m: &Money) -> Value {
    json!({"amount_minor": m.minor, "currency": m.currency})
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_793_629_860_000;

    fn email(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::Email,
            value: value.into(),
        }
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: "USD".into(),
        }
    }

    #[test]
    fn profiles_have_the_documented_shape() {
        let p = Profile {
            key: "p-1".into(),
            identities: vec![
                email("ada@example.com"),
                Identity {
                    kind: IdentityKind::VendorCustomer,
                    value: "C9".into(),
                },
            ],
            given_name: Some("Ada".into()),
            family_name: None,
            consents: vec![Consent {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                state: ConsentState::Granted,
                at: AT,
                source: "pos-checkbox".into(),
            }],
            traits: vec![
                ProfileTrait {
                    name: "tier".into(),
                    value: TraitValue::Text("gold".into()),
                },
                ProfileTrait {
                    name: "orders".into(),
                    value: TraitValue::Integer(3),
                },
                ProfileTrait {
                    name: "vip".into(),
                    value: TraitValue::Boolean(true),
                },
                ProfileTrait {
                    name: "lifetime_value".into(),
                    value: TraitValue::Money(usd(1250)),
                },
                ProfileTrait {
                    name: "last_order_at".into(),
                    value: TraitValue::Time(AT),
                },
            ],
        };
        assert_eq!(
            profiles(&[p]),
            json!({"type": "profiles", "items": [{
                "key": "p-1",
                "identities": [
                    {"kind": "email", "value": "ada@example.com"},
                    {"kind": "vendor_customer", "value": "C9"},
                ],
                "given_name": "Ada",
                "family_name": null,
                "consents": [{
                    "channel": "email", "purpose": "marketing", "state": "granted",
                    "at": "2026-11-02T14:31:00Z", "source": "pos-checkbox",
                }],
                "traits": {
                    "tier": "gold",
                    "orders": 3,
                    "vip": true,
                    "lifetime_value": {"amount_minor": 1250, "currency": "USD"},
                    "last_order_at": "2026-11-02T14:31:00Z",
                },
            }]})
        );
    }

    #[test]
    fn activities_have_the_documented_shape() {
        let a = Activity {
            idempotency_key: "a-1".into(),
            profile_key: "p-1".into(),
            identities: vec![Identity {
                kind: IdentityKind::LoyaltyId,
                value: "L-7".into(),
            }],
            name: "Placed Order".into(),
            occurred_at: AT,
            value: Some(usd(1250)),
            properties: vec![Property {
                name: "order_id".into(),
                value: TraitValue::Text("R-1".into()),
            }],
        };
        let without_value = Activity {
            value: None,
            properties: vec![],
            ..a.clone()
        };
        let body = activities(&[a, without_value]);
        assert_eq!(
            body["items"][0],
            json!({
                "idempotency_key": "a-1",
                "profile_key": "p-1",
                "identities": [{"kind": "loyalty_id", "value": "L-7"}],
                "name": "Placed Order",
                "occurred_at": "2026-11-02T14:31:00Z",
                "value": {"amount_minor": 1250, "currency": "USD"},
                "properties": {"order_id": "R-1"},
            })
        );
        assert_eq!(body["type"], "activities");
        assert_eq!(body["items"][1]["value"], Value::Null);
        assert_eq!(body["items"][1]["properties"], json!({}));
    }

    #[test]
    fn forget_lists_identities() {
        assert_eq!(
            forget(&[email("ada@example.com")]),
            json!({"type": "forget", "identities": [{"kind": "email", "value": "ada@example.com"}]})
        );
    }

    #[test]
    fn batch_keys_name_the_ends_and_the_count() {
        let keys = ["p-1", "p-2", "p-9"];
        assert_eq!(batch_key(keys.iter().copied()), "p-1..p-9#3");
        assert_eq!(batch_key(["only"].into_iter()), "only..only#1");
    }
}
