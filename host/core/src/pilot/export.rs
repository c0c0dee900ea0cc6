//! The export a pilot report compares rapport with: what the shop's current integration (its CRM,
//! or the old tool) holds, one record per line of a JSON Lines file. Each line is an object; its
//! keys are read case- and punctuation-blind (`"First Name"`, `first_name` and `FIRST-NAME` are one
//! key), and keys not listed here are ignored, so a vendor's own export columns can be used as they
//! come. A line is a contact or an order:
//!
//! - `"type": "contact"` (the default): `email` and/or `phone`, `first_name`, `last_name`, `id`,
//!   and the email marketing status: `email_marketing` = `subscribed`, `unsubscribed` or
//!   `never_subscribed`.
//! - `"type": "order"` (the default when a line has an `order_id`): `order_id`, `total` and
//!   `currency`, and the buyer's `email` if known. A `total` given as a JSON integer is in minor
//!   units (`1250`); as a string, or a number with a fraction, it is a decimal in major units
//!   (`"12.50"`), read by the currency's ISO 4217 exponent.
//!
//! The vendors' own contact export columns are accepted as keys:
//!
//! - HubSpot (contacts export; knowledge.hubspot.com, "Export your records", and the opt-out
//!   properties in "Understand subscription types"): `Record ID`, `Email`, `Phone Number`,
//!   `Mobile Phone Number`, `First Name`, `Last Name`, and `Unsubscribed from all email`
//!   (`true`: unsubscribed; `false`: HubSpot mails them, read as subscribed). `Marketing contact
//!   status` is HubSpot's billing flag, not a consent, and is ignored.
//! - Mailchimp (audience export, one CSV per status: subscribed, unsubscribed, cleaned;
//!   mailchimp.com/help, "View or export an audience"): `Email Address`, `First Name`, `Last
//!   Name`, `Phone Number`, and the status as a `Status` column (the Marketing API's member
//!   statuses: `subscribed`, `unsubscribed`, `cleaned`, `pending`, `transactional`, `archived`)
//!   or, in the unsubscribed export, a non-empty `UNSUB_TIME`.
//! - Klaviyo (profiles export of a list or segment; help.klaviyo.com, "How to export a list or
//!   segment to CSV"; the consent values of its API, `vendor-specs/klaviyo/stable.json`): `Email`,
//!   `Phone Number`, `First Name`, `Last Name`, `Email Marketing Consent` (`SUBSCRIBED`,
//!   `UNSUBSCRIBED`, `NEVER_SUBSCRIBED`).

use crate::identity::Normalizer;
use crate::model::{Currency, IdentityKind, Money};
use crate::predictions::summary::minor_unit_exponent;
use serde::Serialize;

/// A value as a line gives it (the host reads the JSON; nested values are refused there).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
    /// A JSON number with a fraction or an exponent, as written.
    Number(String),
    Bool(bool),
    Null,
}

impl FieldValue {
    /// The value as text, `None` when it is empty or null.
    fn text(&self) -> Option<String> {
        let text = match self {
            FieldValue::Text(t) => t.trim().to_string(),
            FieldValue::Integer(n) => n.to_string(),
            FieldValue::Number(n) => n.clone(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Null => String::new(),
        };
        (!text.is_empty()).then_some(text)
    }
}

/// Whether a contact may be sent marketing email, as the export says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subscription {
    Subscribed,
    Unsubscribed,
    /// Never subscribed, pending confirmation, cleaned (bounced) or transactional only.
    NotSubscribed,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::Subscribed => "subscribed",
            Subscription::Unsubscribed => "unsubscribed",
            Subscription::NotSubscribed => "not subscribed",
        }
    }
}

/// A contact of the export, its email and phone normalised as rapport reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_marketing: Option<Subscription>,
}

/// An order of the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub order_id: String,
    pub email: Option<String>,
    pub total: Money,
}

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Contact(Contact),
    Order(Order),
}

/// Why a line is not a record. The host adds the line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("{key:?} is {value:?}: {problem}")]
    Field {
        key: String,
        value: String,
        problem: String,
    },
    #[error("{0}")]
    Missing(String),
}

/// What a key of a line means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Type,
    Id,
    Email,
    Phone,
    FirstName,
    LastName,
    /// A marketing status, by how its values read.
    Status(StatusColumn),
    OrderId,
    Total,
    Currency,
}

/// The columns that say whether a contact is subscribed, in the order they are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StatusColumn {
    /// `email_marketing`, Klaviyo's `Email Marketing Consent`, Mailchimp's `Status`.
    Named,
    /// HubSpot's `Unsubscribed from all email`: true or false.
    OptedOut,
    /// Mailchimp's `UNSUB_TIME`: set in its unsubscribed export.
    UnsubscribedAt,
}

/// Every key read, folded (see [`fold`]), with its meaning.
const KEYS: &[(&str, Key)] = &[
    ("type", Key::Type),
    ("id", Key::Id),
    ("record_id", Key::Id),
    ("email", Key::Email),
    ("email_address", Key::Email),
    ("phone", Key::Phone),
    ("phone_number", Key::Phone),
    ("mobile_phone_number", Key::Phone),
    ("first_name", Key::FirstName),
    ("firstname", Key::FirstName),
    ("last_name", Key::LastName),
    ("lastname", Key::LastName),
    ("email_marketing", Key::Status(StatusColumn::Named)),
    ("email_marketing_consent", Key::Status(StatusColumn::Named)),
    ("status", Key::Status(StatusColumn::Named)),
    (
        "unsubscribed_from_all_email",
        Key::Status(StatusColumn::OptedOut),
    ),
    ("unsub_time", Key::Status(StatusColumn::UnsubscribedAt)),
    ("order_id", Key::OrderId),
    ("total", Key::Total),
    ("order_total", Key::Total),
    ("currency", Key::Currency),
    ("currency_code", Key::Currency),
];

/// A key folded for reading: lower case, every run of other characters than letters and digits
/// one `_`, none at either end (`"Email Address"` → `email_address`).
fn fold(key: &str) -> String {
    let mut folded = String::with_capacity(key.len());
    for c in key.trim().chars() {
        match c.is_alphanumeric() {
            true => folded.extend(c.to_lowercase()),
            false if !folded.is_empty() && !folded.ends_with('_') => folded.push('_'),
            false => {}
        }
    }
    folded.trim_end_matches('_').to_string()
}

/// Reads one line's fields (`(key, value)` in the line's order) as a record.
pub fn read(
    fields: &[(String, FieldValue)],
    normalizer: &Normalizer,
) -> Result<Record, ExportError> {
    let mut found: Vec<(Key, &str, String)> = Vec::new();
    for (key, value) in fields {
        let folded = fold(key);
        let Some((_, meaning)) = KEYS.iter().find(|(name, _)| *name == folded) else {
            continue;
        };
        if let Some(text) = value.text() {
            found.push((*meaning, key.as_str(), text));
        }
    }
    let get = |wanted: Key| found.iter().find(|(k, _, _)| *k == wanted);
    let bad = |key: &str, value: &str, problem: &str| ExportError::Field {
        key: key.to_string(),
        value: value.to_string(),
        problem: problem.to_string(),
    };
    let is_order = match get(Key::Type) {
        Some((_, key, kind)) => match kind.to_lowercase().as_str() {
            "contact" => false,
            "order" => true,
            _ => return Err(bad(key, kind, "a line's type is \"contact\" or \"order\"")),
        },
        None => get(Key::OrderId).is_some(),
    };
    let identity = |wanted: Key, kind: IdentityKind, what: &str| {
        get(wanted)
            .map(|(_, key, raw)| {
                normalizer
                    .normalize("", kind, raw)
                    .map(|i| i.value)
                    .ok_or_else(|| {
                        bad(key, raw, &format!("not {what} rapport can read (or a placeholder that never identifies anyone)"))
                    })
            })
            .transpose()
    };
    let email = identity(Key::Email, IdentityKind::Email, "an email address")?;
    if is_order {
        let order_id = get(Key::OrderId)
            .map(|(_, _, id)| id.clone())
            .ok_or_else(|| ExportError::Missing("an order needs an order_id".into()))?;
        let (_, currency_key, code) = get(Key::Currency).ok_or_else(|| {
            ExportError::Missing(format!(
                "order {order_id} needs a currency (ISO 4217, e.g. \"GBP\")"
            ))
        })?;
        let currency = Currency::try_from(code.to_uppercase())
            .map_err(|problem| bad(currency_key, code, &problem))?;
        let (_, total_key, _) = get(Key::Total)
            .ok_or_else(|| ExportError::Missing(format!("order {order_id} needs a total")))?;
        let value = (fields.iter())
            .find(|(key, _)| key.as_str() == *total_key)
            .map(|(_, value)| value)
            .expect("the total was read from the fields");
        let minor = minor_units(value, &currency)
            .map_err(|problem| bad(total_key, &value.text().unwrap_or_default(), &problem))?;
        return Ok(Record::Order(Order {
            order_id,
            email,
            total: Money { minor, currency },
        }));
    }
    let phone = identity(Key::Phone, IdentityKind::Phone, "a phone number")?;
    if email.is_none() && phone.is_none() {
        return Err(ExportError::Missing(
            "a contact needs an email or a phone number".into(),
        ));
    }
    let mut statuses: Vec<(StatusColumn, &str, &String)> = found
        .iter()
        .filter_map(|(k, key, value)| match k {
            Key::Status(column) => Some((*column, *key, value)),
            _ => None,
        })
        .collect();
    statuses.sort_by_key(|(column, _, _)| *column);
    let email_marketing = statuses
        .first()
        .map(|(column, key, value)| {
            subscription(*column, value).ok_or_else(|| {
                bad(key, value, match column {
                    StatusColumn::Named => "a marketing status is subscribed, unsubscribed, never_subscribed, not_specified, pending, cleaned, transactional or archived",
                    _ => "this column is true or false",
                })
            })
        })
        .transpose()?;
    let text = |wanted: Key| get(wanted).map(|(_, _, value)| value.clone());
    Ok(Record::Contact(Contact {
        id: text(Key::Id),
        email,
        phone,
        first_name: text(Key::FirstName),
        last_name: text(Key::LastName),
        email_marketing,
    }))
}

/// What a status column's value says.
fn subscription(column: StatusColumn, value: &str) -> Option<Subscription> {
    let value = fold(value);
    match column {
        StatusColumn::Named => match value.as_str() {
            "subscribed" => Some(Subscription::Subscribed),
            "unsubscribed" => Some(Subscription::Unsubscribed),
            "never_subscribed" | "not_specified" | "pending" | "cleaned" | "transactional"
            | "archived" => Some(Subscription::NotSubscribed),
            _ => None,
        },
        StatusColumn::OptedOut => match value.as_str() {
            "true" | "yes" => Some(Subscription::Unsubscribed),
            "false" | "no" => Some(Subscription::Subscribed),
            _ => None,
        },
        StatusColumn::UnsubscribedAt => Some(Subscription::Unsubscribed),
    }
}

/// A total in minor units of `currency`: an integer is minor units already; text or a number
/// with a fraction is a decimal in major units with at most the currency's decimal places.
fn minor_units(value: &FieldValue, currency: &Currency) -> Result<i64, String> {
    let decimal = match value {
        FieldValue::Integer(minor) => return Ok(*minor),
        FieldValue::Text(text) => text.trim(),
        FieldValue::Number(text) => text.as_str(),
        FieldValue::Bool(_) | FieldValue::Null => return Err("a total is a number".into()),
    };
    let exponent = minor_unit_exponent(currency.as_str()) as usize;
    let (negative, digits) = match decimal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, decimal),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(
            "a total is a decimal in major units like \"12.50\", or an integer of minor units"
                .to_string(),
        );
    }
    if fraction.len() > exponent {
        return Err(format!(
            "{currency} has {exponent} decimal places, this total has {}",
            fraction.len()
        ));
    }
    let text = format!("{whole}{fraction:0<exponent$}");
    let minor: i64 = text
        .parse()
        .map_err(|_| "the total is too large".to_string())?;
    Ok(if negative { -minor } else { minor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{IdentityRules, Region};

    fn normalizer() -> Normalizer {
        Normalizer::new("GB".parse::<Region>().unwrap(), &IdentityRules::default())
    }

    fn line(fields: &[(&str, FieldValue)]) -> Result<Record, ExportError> {
        let fields: Vec<(String, FieldValue)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        read(&fields, &normalizer())
    }

    fn text(s: &str) -> FieldValue {
        FieldValue::Text(s.into())
    }

    fn contact(record: Result<Record, ExportError>) -> Contact {
        match record.unwrap() {
            Record::Contact(c) => c,
            other => panic!("not a contact: {other:?}"),
        }
    }

    #[test]
    fn our_own_shape_reads_contacts_and_orders() {
        let c = contact(line(&[
            ("type", text("contact")),
            ("email", text(" Ana@Example.com ")),
            ("phone", text("020 7946 0958")),
            ("first_name", text("Ana")),
            ("email_marketing", text("subscribed")),
        ]));
        assert_eq!(c.email.as_deref(), Some("ana@example.com"));
        assert_eq!(c.phone.as_deref(), Some("+442079460958"));
        assert_eq!(c.first_name.as_deref(), Some("Ana"));
        assert_eq!(c.email_marketing, Some(Subscription::Subscribed));
        let order = line(&[
            ("order_id", text("R-1")),
            ("total", text("12.50")),
            ("currency", text("GBP")),
        ])
        .unwrap();
        let minor = line(&[
            ("type", text("order")),
            ("order_id", text("R-2")),
            ("total", FieldValue::Integer(1250)),
            ("currency", text("gbp")),
        ])
        .unwrap();
        let gbp = Currency::try_from("GBP".to_string()).unwrap();
        for (record, id) in [(order, "R-1"), (minor, "R-2")] {
            assert_eq!(
                record,
                Record::Order(Order {
                    order_id: id.into(),
                    email: None,
                    total: Money {
                        minor: 1250,
                        currency: gbp.clone()
                    }
                })
            );
        }
    }

    #[test]
    fn the_vendors_export_columns_are_read_as_they_come() {
        let hubspot = contact(line(&[
            ("Record ID", text("1501")),
            ("First Name", text("Bo")),
            ("Email", text("bo@example.com")),
            ("Phone Number", text("+44 20 7946 0001")),
            ("Marketing contact status", text("Marketing contact")),
            ("Unsubscribed from all email", text("true")),
        ]));
        assert_eq!(hubspot.id.as_deref(), Some("1501"));
        assert_eq!(hubspot.phone.as_deref(), Some("+442079460001"));
        assert_eq!(hubspot.email_marketing, Some(Subscription::Unsubscribed));
        let mailchimp = contact(line(&[
            ("Email Address", text("cy@example.com")),
            ("Last Name", text("Lee")),
            ("UNSUB_TIME", text("2026-01-02 10:00:00")),
        ]));
        assert_eq!(mailchimp.email.as_deref(), Some("cy@example.com"));
        assert_eq!(mailchimp.last_name.as_deref(), Some("Lee"));
        assert_eq!(mailchimp.email_marketing, Some(Subscription::Unsubscribed));
        let klaviyo = contact(line(&[
            ("Email", text("di@example.com")),
            ("Email Marketing Consent", text("NEVER_SUBSCRIBED")),
        ]));
        assert_eq!(klaviyo.email_marketing, Some(Subscription::NotSubscribed));
        // A named status wins over the opt-out flag.
        let both = contact(line(&[
            ("email", text("ed@example.com")),
            ("Unsubscribed from all email", FieldValue::Bool(true)),
            ("Status", text("subscribed")),
        ]));
        assert_eq!(both.email_marketing, Some(Subscription::Subscribed));
    }

    #[test]
    fn what_cannot_be_read_is_refused_naming_the_key_and_value() {
        let error = line(&[("email", text("not-an-address"))]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"email\" is \"not-an-address\""),
            "{error}"
        );
        let error = line(&[("first_name", text("Ana"))]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a contact needs an email or a phone number"
        );
        let error = line(&[("email", text("a@example.com")), ("type", text("deal"))]).unwrap_err();
        assert!(
            error.to_string().contains("\"contact\" or \"order\""),
            "{error}"
        );
        let error = line(&[
            ("email", text("a@example.com")),
            ("email_marketing", text("maybe")),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("\"maybe\""), "{error}");
        let order = |total: FieldValue, currency: &str| {
            line(&[
                ("order_id", text("R-9")),
                ("total", total),
                ("currency", text(currency)),
            ])
        };
        let error = order(text("12.505"), "GBP").unwrap_err();
        assert!(
            error.to_string().contains("GBP has 2 decimal places"),
            "{error}"
        );
        assert!(order(text("£12"), "GBP").is_err());
        assert!(order(text("12"), "POUNDS").is_err());
        let error = line(&[("order_id", text("R-9")), ("currency", text("GBP"))]).unwrap_err();
        assert_eq!(error.to_string(), "order R-9 needs a total");
        let yen = order(FieldValue::Number("1200.0".into()), "JPY");
        assert!(yen.is_err(), "the yen has no decimal places");
        let dinar = order(text("1.5"), "KWD").unwrap();
        assert!(matches!(dinar, Record::Order(o) if o.total.minor == 1500));
    }

    #[test]
    fn keys_fold_to_one_spelling() {
        assert_eq!(fold("Email Address"), "email_address");
        assert_eq!(fold(" FIRST-NAME "), "first_name");
        assert_eq!(
            fold("Unsubscribed from all email"),
            "unsubscribed_from_all_email"
        );
        assert_eq!(fold("UNSUB_TIME"), "unsub_time");
    }
}
