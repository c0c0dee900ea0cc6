//! Data minimisation: each sink receives only the person fields its config names (`fields = […]`
//! on a `[[sink]]`); without the setting it receives all of them. Consents always go: they are what
//! keeps a vendor from marketing to someone who said no.

use crate::model::IdentityKind;
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
    Birthday,
    LoyaltyPoints,
    LoyaltyLifetimePoints,
    Products,
    Location,
    RefundReason,
}

impl Field {
    pub const ALL: [Field; 17] = [
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
        Field::Birthday,
        Field::LoyaltyPoints,
        Field::LoyaltyLifetimePoints,
        Field::Products,
        Field::Location,
        Field::RefundReason,
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
            Field::Birthday => "birthday",
            Field::LoyaltyPoints => "loyalty_points",
            Field::LoyaltyLifetimePoints => "loyalty_lifetime_points",
            Field::Products => "products",
            Field::Location => "location",
            Field::RefundReason => "refund_reason",
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
            Field::Birthday => "birthday (day and month; the year only where the shop keeps it)",
            Field::LoyaltyPoints => "loyalty points held",
            Field::LoyaltyLifetimePoints => "loyalty points ever earned",
            Field::Products => "what each order contained",
            Field::Location => "the shop location of each order",
            Field::RefundReason => "the reason given for each refund",
        }
    }

    /// Whether the field is one of a person's identifiers (it also goes with their activities).
    pub fn is_identity(self) -> bool {
        matches!(
            self,
            Field::Email | Field::Phone | Field::LoyaltyId | Field::VendorCustomer
        )
    }

    /// The field that carries identities of `kind`.
    pub fn of_identity(kind: IdentityKind) -> Field {
        match kind {
            IdentityKind::Email => Field::Email,
            IdentityKind::Phone => Field::Phone,
            IdentityKind::LoyaltyId => Field::LoyaltyId,
            IdentityKind::VendorCustomer => Field::VendorCustomer,
        }
    }

    /// The field a profile trait named `name` carries, if the host knows it.
    pub fn of_trait(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The field an activity property named `name` carries; `None` for the facts every activity
    /// keeps (its ids, source, channel, line count and value), which say what happened and let a
    /// sink reconcile it, and nothing about the person.
    pub fn of_property(name: &str) -> Option<Field> {
        match name {
            "products" => Some(Field::Products),
            "location" => Some(Field::Location),
            "reason" => Some(Field::RefundReason),
            _ => None,
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_order_contained_where_and_why_it_was_refunded_are_fields_and_its_ids_are_not() {
        assert_eq!(Field::of_property("products"), Some(Field::Products));
        assert_eq!(Field::of_property("location"), Some(Field::Location));
        assert_eq!(Field::of_property("reason"), Some(Field::RefundReason));
        for kept in ["order_id", "refund_id", "source", "channel", "line_count"] {
            assert_eq!(Field::of_property(kept), None, "{kept}");
        }
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
