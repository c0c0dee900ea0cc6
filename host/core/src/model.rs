//! The host's canonical data model: what a validated POS event means, independent of any vendor or of
//! the WIT bindings. Events are stored as JSON of these types, so they are versioned by serde.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(format!(
                "currency {code:?} is not an ISO 4217 code (three upper-case letters)"
            ))
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub identities: Vec<Identity>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub consents: Vec<Consent>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesChannel {
    InStore,
    Online,
    Other,
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

/// What happened at the POS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Order(Order),
    Refund(Refund),
    Customer(Customer),
}

impl Payload {
    /// The short name stored in the events table.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Order(_) => "order",
            Payload::Refund(_) => "refund",
            Payload::Customer(_) => "customer",
        }
    }

    /// The person this event is about, when the POS knows them.
    pub fn customer(&self) -> Option<&Customer> {
        match self {
            Payload::Order(o) => o.customer.as_ref(),
            Payload::Refund(r) => r.customer.as_ref(),
            Payload::Customer(c) => Some(c),
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
