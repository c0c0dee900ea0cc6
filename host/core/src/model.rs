//! The host's canonical data model: what a validated POS event means, independent of any vendor or of
//! the WIT bindings. Events are stored as JSON of these types, so they are versioned by serde.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code: three upper-case ASCII letters, held inline (a sale's money needs
/// no allocation of its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a currency code is ASCII")
    }
}

impl TryFrom<&str> for Currency {
    type Error = String;
    fn try_from(code: &str) -> Result<Self, String> {
        match <[u8; 3]>::try_from(code.as_bytes()) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Currency(bytes)),
            _ => Err(format!(
                "currency {code:?} is not an ISO 4217 code (three upper-case letters)"
            )),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        Currency::try_from(code.as_str())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Money in minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// An exact decimal quantity: `units / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub units: i64,
    pub scale: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Email,
    Phone,
    #[serde(alias = "loyalty-id")]
    LoyaltyId,
    #[serde(alias = "vendor-customer")]
    VendorCustomer,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::LoyaltyId => "loyalty_id",
            IdentityKind::VendorCustomer => "vendor_customer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Email,
            Self::Phone,
            Self::LoyaltyId,
            Self::VendorCustomer,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One identifier of a person, already normalised by the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Postal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Marketing,
    Transactional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Granted,
    Revoked,
}

impl Channel {
    /// The name stored and shown for the channel.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Postal => "postal",
        }
    }
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Marketing => "marketing",
            Purpose::Transactional => "transactional",
        }
    }
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Revoked => "revoked",
        }
    }
}

/// A consent choice as a vendor recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub channel: Channel,
    pub purpose: Purpose,
    pub state: ConsentState,
    pub at: DateTime<Utc>,
    pub source: String,
}

/// A birthday: month and day, and the year when the person gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Birthday {
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31, a day that exists in `month` (29 February included).
    pub day: u8,
    pub year: Option<u16>,
}

/// A person's loyalty account at the vendor, in the programme's points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoyaltyAccount {
    /// The vendor's id of the account.
    pub id: String,
    /// Points held now; may be negative (after an adjustment, a refund or an exchange).
    pub balance: i64,
    /// Points ever earned.
    pub lifetime: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub identities: Vec<Identity>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub consents: Vec<Consent>,
    pub created_at: Option<DateTime<Utc>>,
    /// Absent in events stored before contract 0.3, and left out when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Birthday>,
    /// Absent in events stored before contract 0.3, and left out when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<LoyaltyAccount>,
}

impl Customer {
    /// What is left of a customer once their details are gone (retention, erasure): when they
    /// became a customer, and nothing that identifies or describes them.
    pub fn without_details(&self) -> Customer {
        Customer {
            identities: Vec::new(),
            given_name: None,
            family_name: None,
            consents: Vec::new(),
            created_at: self.created_at,
            birthday: None,
            loyalty: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesChannel {
    InStore,
    Online,
    Other,
}

impl SalesChannel {
    /// The name stored for the channel (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            SalesChannel::InStore => "in_store",
            SalesChannel::Online => "online",
            SalesChannel::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Open,
    Completed,
    Canceled,
}

impl OrderState {
    /// The name stored for the state (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::Completed => "completed",
            OrderState::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Option<String>,
    pub product: String,
    pub category: Option<String>,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub customer: Option<Customer>,
    pub location: Option<String>,
    pub channel: SalesChannel,
    pub state: OrderState,
    pub lines: Vec<LineItem>,
    pub subtotal: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The vendor's version (Square `version`), higher is newer; `None` when the vendor has none
    /// (and in events stored before contract 0.3), and then `updated_at` orders versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub order_id: String,
    pub customer: Option<Customer>,
    pub amount: Money,
    pub reason: Option<String>,
    pub lines: Vec<LineItem>,
    pub created_at: DateTime<Utc>,
}

/// What a privacy request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyKind {
    /// Erase the person's data (Shopify `customers/redact`).
    Redact,
    /// Send the person the data held about them (Shopify `customers/data_request`).
    DataRequest,
    /// Erase everything about the shop (Shopify `shop/redact`).
    ShopRedact,
}

impl PrivacyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyKind::Redact => "redact",
            PrivacyKind::DataRequest => "data_request",
            PrivacyKind::ShopRedact => "shop_redact",
        }
    }
}

/// What happened at the POS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Order(Order),
    Refund(Refund),
    Customer(Customer),
    /// The vendor merged duplicates into `survivor`; `replaced` are the vendor customer ids it
    /// replaced (as the vendor gave them).
    CustomersMerged {
        survivor: Customer,
        replaced: Vec<String>,
    },
    /// The vendor deleted the customer known by these identities.
    CustomerDeleted {
        identities: Vec<Identity>,
    },
    /// A privacy request about the person known by `identities` (none for a whole shop).
    PrivacyRequest {
        id: String,
        kind: PrivacyKind,
        identities: Vec<Identity>,
    },
    /// A person's loyalty account changed; the account as it is now is on `customer.loyalty`.
    LoyaltyChanged {
        customer: Customer,
    },
}

impl Payload {
    /// The short name stored in the events table.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Order(_) => "order",
            Payload::Refund(_) => "refund",
            Payload::Customer(_) => "customer",
            Payload::CustomersMerged { .. } => "customers_merged",
            Payload::CustomerDeleted { .. } => "customer_deleted",
            Payload::PrivacyRequest { .. } => "privacy_request",
            Payload::LoyaltyChanged { .. } => "loyalty_changed",
        }
    }

    /// The person this event is about, when the POS knows them as a customer (a merge's survivor,
    /// the holder of a changed loyalty account). A deletion or a privacy request names only
    /// identities: see [`Payload::identities`].
    pub fn customer(&self) -> Option<&Customer> {
        match self {
            Payload::Order(o) => o.customer.as_ref(),
            Payload::Refund(r) => r.customer.as_ref(),
            Payload::Customer(c) => Some(c),
            Payload::CustomersMerged { survivor, .. } => Some(survivor),
            Payload::LoyaltyChanged { customer } => Some(customer),
            Payload::CustomerDeleted { .. } | Payload::PrivacyRequest { .. } => None,
        }
    }

    /// [`Payload::customer`], to change.
    pub fn customer_mut(&mut self) -> Option<&mut Customer> {
        match self {
            Payload::Order(o) => o.customer.as_mut(),
            Payload::Refund(r) => r.customer.as_mut(),
            Payload::Customer(c) => Some(c),
            Payload::CustomersMerged { survivor, .. } => Some(survivor),
            Payload::LoyaltyChanged { customer } => Some(customer),
            Payload::CustomerDeleted { .. } | Payload::PrivacyRequest { .. } => None,
        }
    }

    /// The identities of the person this event is about, as the source gave them: its customer's,
    /// or those a deletion or privacy request names.
    pub fn identities(&self) -> &[Identity] {
        match self {
            Payload::CustomerDeleted { identities } => identities,
            Payload::PrivacyRequest { identities, .. } => identities,
            other => other.customer().map_or(&[], |c| &c.identities),
        }
    }
}

/// A validated POS event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub source_event_id: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: Payload,
}

/// Input a source could not use, kept for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedInput {
    pub locator: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stored_before_birthdays_loyalty_and_order_versions_still_read() {
        let customer: Payload = serde_json::from_str(
            r#"{"type":"customer","identities":[{"kind":"email","value":"a@b.c"}],
                "given_name":null,"family_name":null,"consents":[],"created_at":null}"#,
        )
        .unwrap();
        let Payload::Customer(customer) = customer else {
            panic!("{customer:?}")
        };
        assert_eq!((customer.birthday, customer.loyalty), (None, None));
        let usd = r#"{"minor":500,"currency":"USD"}"#;
        let order: Payload = serde_json::from_str(&format!(
            r#"{{"type":"order","id":"O-1","customer":null,"location":null,"channel":"in_store",
                "state":"completed","lines":[],"subtotal":{usd},"tax":{usd},"discount":{usd},
                "total":{usd},"placed_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}}"#
        ))
        .unwrap();
        let Payload::Order(order) = order else {
            panic!("{order:?}")
        };
        assert_eq!(order.version, None);
    }

    #[test]
    fn the_new_payloads_are_stored_under_their_kind() {
        let request = Payload::PrivacyRequest {
            id: "PR-1".into(),
            kind: PrivacyKind::DataRequest,
            identities: Vec::new(),
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"type":"privacy_request","id":"PR-1","kind":"data_request","identities":[]}"#
        );
        assert_eq!(serde_json::from_str::<Payload>(&text).unwrap(), request);
        let merged = Payload::CustomersMerged {
            survivor: ana(),
            replaced: vec!["C-1".into()],
        };
        let text = serde_json::to_string(&merged).unwrap();
        assert!(
            text.starts_with(r#"{"type":"customers_merged","survivor":{"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Payload>(&text).unwrap(), merged);
        assert_eq!(merged.kind(), "customers_merged");
        assert_eq!(request.kind(), "privacy_request");
        assert!(request.customer().is_none() && merged.customer().is_some());
    }

    fn ana() -> Customer {
        Customer {
            identities: vec![Identity {
                kind: IdentityKind::Email,
                value: "a@b.c".into(),
            }],
            given_name: Some("Ana".into()),
            family_name: None,
            consents: Vec::new(),
            created_at: None,
            birthday: Some(Birthday {
                month: 2,
                day: 29,
                year: None,
            }),
            loyalty: Some(LoyaltyAccount {
                id: "LA-1".into(),
                balance: -5,
                lifetime: 10,
            }),
        }
    }
}
