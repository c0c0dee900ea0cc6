//! The JSON bodies this sink posts, written straight from the contract's types: no intermediate
//! `serde_json::Value`, so a batch of 1,000 activities is serialized without building a map per
//! item. Pure, so the wire format is tested natively.

use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

/// A body: `{"type":…,"items":[…]}` (or `"identities"` for `forget`).
pub struct Body<'a, T> {
    kind: &'static str,
    field: &'static str,
    items: &'a [T],
}

/// `{"type":"profiles","items":[…]}`.
pub fn profiles(items: &[Profile]) -> Body<'_, Profile> {
    Body {
        kind: "profiles",
        field: "items",
        items,
    }
}

/// `{"type":"activities","items":[…]}`.
pub fn activities(items: &[Activity]) -> Body<'_, Activity> {
    Body {
        kind: "activities",
        field: "items",
        items,
    }
}

/// `{"type":"forget","identities":[…]}`.
pub fn forget(identities: &[Identity]) -> Body<'_, Identity> {
    Body {
        kind: "forget",
        field: "identities",
        items: identities,
    }
}

/// An informational batch label, `first..last#count` (e.g. `p-1..p-9#9`).
pub fn batch_key<'a>(keys: impl ExactSizeIterator<Item = &'a str> + Clone) -> String {
    let count = keys.len();
    let first = keys.clone().next().unwrap_or_default();
    let last = keys.last().unwrap_or_default();
    format!("{first}..{last}#{count}")
}

/// A contract value as this sink's wire format writes it (the contract's types are the SDK's, so
/// they are serialized through this wrapper).
struct Wire<'a, T: ?Sized>(&'a T);

impl<'a, T> Serialize for Body<'a, T>
where
    Wire<'a, [T]>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_map(Some(2))?;
        body.serialize_entry("type", self.kind)?;
        body.serialize_entry(self.field, &Wire(self.items))?;
        body.end()
    }
}

impl<'a, T> Serialize for Wire<'a, [T]>
where
    Wire<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Wire(item))?;
        }
        seq.end()
    }
}

impl Serialize for Wire<'_, Profile> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut out = serializer.serialize_struct("Profile", 6)?;
        out.serialize_field("key", &p.key)?;
        out.serialize_field("identities", &Wire(p.identities.as_slice()))?;
        out.serialize_field("given_name", &p.given_name)?;
        out.serialize_field("family_name", &p.family_name)?;
        out.serialize_field("consents", &Wire(p.consents.as_slice()))?;
        out.serialize_field("traits", &Wire(p.traits.as_slice()))?;
        out.end()
    }
}

impl Serialize for Wire<'_, Activity> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut out = serializer.serialize_struct("Activity", 7)?;
        out.serialize_field("idempotency_key", &a.idempotency_key)?;
        out.serialize_field("profile_key", &a.profile_key)?;
        out.serialize_field("identities", &Wire(a.identities.as_slice()))?;
        out.serialize_field("name", &a.name)?;
        out.serialize_field("occurred_at", &format_timestamp(a.occurred_at))?;
        out.serialize_field("value", &a.value.as_ref().map(Wire))?;
        out.serialize_field("properties", &Wire(a.properties.as_slice()))?;
        out.end()
    }
}

impl Serialize for Wire<'_, Identity> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let kind = match self.0.kind {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::LoyaltyId => "loyalty_id",
            IdentityKind::VendorCustomer => "vendor_customer",
        };
        let mut out = serializer.serialize_struct("Identity", 2)?;
        out.serialize_field("kind", kind)?;
        out.serialize_field("value", &self.0.value)?;
        out.end()
    }
}

impl Serialize for Wire<'_, Consent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
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
        let mut out = serializer.serialize_struct("Consent", 5)?;
        out.serialize_field("channel", channel)?;
        out.serialize_field("purpose", purpose)?;
        out.serialize_field("state", state)?;
        out.serialize_field("at", &format_timestamp(c.at))?;
        out.serialize_field("source", &c.source)?;
        out.end()
    }
}

/// Traits as one object, by name.
impl Serialize for Wire<'_, [ProfileTrait]> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        named(serializer, self.0.iter().map(|t| (&t.name, &t.value)))
    }
}

/// Properties as one object, by name.
impl Serialize for Wire<'_, [Property]> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        named(serializer, self.0.iter().map(|p| (&p.name, &p.value)))
    }
}

fn named<'a, S: Serializer>(
    serializer: S,
    pairs: impl ExactSizeIterator<Item = (&'a String, &'a TraitValue)>,
) -> Result<S::Ok, S::Error> {
    let mut out = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        out.serialize_entry(name, &Wire(value))?;
    }
    out.end()
}

impl Serialize for Wire<'_, TraitValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            TraitValue::Text(s) => serializer.serialize_str(s),
            TraitValue::Integer(n) => serializer.serialize_i64(*n),
            TraitValue::Boolean(b) => serializer.serialize_bool(*b),
            TraitValue::Money(m) => Wire(m).serialize(serializer),
            TraitValue::Time(t) => serializer.serialize_str(&format_timestamp(*t)),
        }
    }
}

impl Serialize for Wire<'_, Money> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Money", 2)?;
        out.serialize_field("amount_minor", &self.0.minor)?;
        out.serialize_field("currency", &self.0.currency)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn value<T: Serialize>(body: T) -> Value {
        serde_json::to_value(body).unwrap()
    }

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
            value(profiles(&[p])),
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
        let body = value(activities(&[a, without_value]));
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
            value(forget(&[email("ada@example.com")])),
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
