//! Data minimisation: each sink receives only the person fields its config names (`fields = […]`
//! on a `[[sink]]`); without the setting it receives all of them. Consents always go: they are what
//! keeps a vendor from marketing to someone who said no.

use crate::runtime::bindings::wit;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;

/// A person field a sink may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    GivenName,
    FamilyName,
    Email,
    Phone,
    LoyaltyId,
    VendorCustomer,
    OrdersCount,
    RefundsCount,
    NetSpent,
    FirstOrderAt,
    LastOrderAt,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::GivenName,
        Field::FamilyName,
        Field::Email,
        Field::Phone,
        Field::LoyaltyId,
        Field::VendorCustomer,
        Field::OrdersCount,
        Field::RefundsCount,
        Field::NetSpent,
        Field::FirstOrderAt,
        Field::LastOrderAt,
    ];

    /// The name used in config, and for traits the trait's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::LoyaltyId => "loyalty_id",
            Field::VendorCustomer => "vendor_customer",
            Field::OrdersCount => "orders_count",
            Field::RefundsCount => "refunds_count",
            Field::NetSpent => "net_spent",
            Field::FirstOrderAt => "first_order_at",
            Field::LastOrderAt => "last_order_at",
        }
    }

    /// The field in plain words, for the data policy.
    pub fn label(self) -> &'static str {
        match self {
            Field::GivenName => "first name",
            Field::FamilyName => "last name",
            Field::Email => "email address",
            Field::Phone => "phone number",
            Field::LoyaltyId => "loyalty number",
            Field::VendorCustomer => "the till's customer number",
            Field::OrdersCount => "number of orders",
            Field::RefundsCount => "number of refunds",
            Field::NetSpent => "total spent",
            Field::FirstOrderAt => "date of first order",
            Field::LastOrderAt => "date of last order",
        }
    }

    /// Whether the field is one of a person's identifiers (it also goes with their activities).
    pub fn is_identity(self) -> bool {
        matches!(
            self,
            Field::Email | Field::Phone | Field::LoyaltyId | Field::VendorCustomer
        )
    }

    fn of_identity(kind: wit::IdentityKind) -> Field {
        match kind {
            wit::IdentityKind::Email => Field::Email,
            wit::IdentityKind::Phone => Field::Phone,
            wit::IdentityKind::LoyaltyId => Field::LoyaltyId,
            wit::IdentityKind::VendorCustomer => Field::VendorCustomer,
        }
    }

    fn of_trait(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields one sink may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist(BTreeSet<Field>);

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist(Field::ALL.into_iter().collect())
    }
}

impl Allowlist {
    /// The sink's configured fields, or all of them when it names none.
    pub fn new(configured: Option<&[Field]>) -> Allowlist {
        configured.map_or_else(Allowlist::default, |fields| {
            Allowlist(fields.iter().copied().collect())
        })
    }

    pub fn allows(&self, field: Field) -> bool {
        self.0.contains(&field)
    }

    /// The fields allowed, in a stable order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().copied()
    }

    /// Removes from a profile what the sink may not receive. A trait the host does not know as a
    /// field is removed too: only what the operator named goes out.
    pub fn minimise_profile(&self, profile: &mut wit::Profile) {
        self.minimise_identities(&mut profile.identities);
        if !self.allows(Field::GivenName) {
            profile.given_name = None;
        }
        if !self.allows(Field::FamilyName) {
            profile.family_name = None;
        }
        profile
            .traits
            .retain(|t| Field::of_trait(&t.name).is_some_and(|f| self.allows(f)));
    }

    /// Removes from an activity the identities the sink may not receive.
    pub fn minimise_activity(&self, activity: &mut wit::Activity) {
        self.minimise_identities(&mut activity.identities);
    }

    /// Removes the identities the sink may not receive.
    pub fn minimise_identities(&self, identities: &mut Vec<wit::Identity>) {
        identities.retain(|i| self.allows(Field::of_identity(i.kind)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> wit::Profile {
        let identity = |kind, value: &str| wit::Identity {
            kind,
            value: value.into(),
        };
        let integer = |name: &str, n| wit::ProfileTrait {
            name: name.into(),
            value: wit::TraitValue::Integer(n),
        };
        wit::Profile {
            key: "p-1".into(),
            identities: vec![
                identity(wit::IdentityKind::Email, "ana@example.com"),
                identity(wit::IdentityKind::Phone, "+442079460958"),
            ],
            given_name: Some("Ana".into()),
            family_name: Some("Lima".into()),
            consents: vec![wit::Consent {
                channel: wit::Channel::Email,
                purpose: wit::Purpose::Marketing,
                state: wit::ConsentState::Revoked,
                at: 1,
                source: "pos".into(),
            }],
            traits: vec![integer("orders_count", 3), integer("refunds_count", 1)],
        }
    }

    #[test]
    fn a_sink_gets_only_the_fields_it_names_and_always_the_consents() {
        let allow = Allowlist::new(Some(&[Field::Email, Field::OrdersCount]));
        let mut p = profile();
        allow.minimise_profile(&mut p);
        assert_eq!(p.identities.len(), 1);
        assert_eq!(p.identities[0].kind, wit::IdentityKind::Email);
        assert_eq!((p.given_name, p.family_name), (None, None));
        let traits: Vec<_> = p.traits.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(traits, ["orders_count"]);
        assert_eq!(p.consents.len(), 1);
    }

    #[test]
    fn without_a_list_everything_goes() {
        let mut p = profile();
        Allowlist::new(None).minimise_profile(&mut p);
        assert_eq!(p.identities.len(), 2);
        assert_eq!(p.given_name.as_deref(), Some("Ana"));
        assert_eq!(p.traits.len(), 2);
    }

    #[test]
    fn every_field_name_is_the_config_name() {
        for field in Field::ALL {
            let parsed: Field =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(field.as_str()))
                .unwrap();
            assert_eq!(parsed, field);
        }
    }
}
