//! The edge between plugins and the host: a `pos-event` from a source is checked once here and turned
//! into the canonical model. Anything wrong becomes a rejected input naming the event and the field.
//! Events arrive in contract 0.3's types whichever version the source was built for (the sandbox
//! upcasts older ones).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rapport_core::model::*;
use rapport_sandbox::contract::pos as wit;

/// Longest accepted id or name, in bytes.
const MAX_TEXT: usize = 512;

/// Converts and checks one event from a source; `now` bounds its times (a day ahead, for clock
/// skew) and a birth year.
pub fn event(raw: wit::PosEvent, now: DateTime<Utc>) -> Result<Event, RejectedInput> {
    let locator = format!("event {:?}", truncate(&raw.id));
    let reject = |reason: String| RejectedInput {
        locator: locator.clone(),
        reason,
    };
    let source_event_id = text("id", raw.id).map_err(reject)?;
    let occurred_at = time("occurred-at", raw.occurred_at, now).map_err(reject)?;
    let payload = payload(raw.payload, now).map_err(reject)?;
    Ok(Event {
        source_event_id,
        occurred_at,
        payload,
    })
}

fn payload(raw: wit::PosPayload, now: DateTime<Utc>) -> Result<Payload, String> {
    Ok(match raw {
        wit::PosPayload::Order(o) => Payload::Order(order(o, now)?),
        wit::PosPayload::Refund(r) => Payload::Refund(refund(r, now)?),
        wit::PosPayload::Customer(c) => Payload::Customer(customer("customer", c, now)?),
        wit::PosPayload::CustomersMerged(m) => {
            if m.replaced.is_empty() {
                return Err(
                    "customers-merged.replaced is empty (which customers were merged?)".into(),
                );
            }
            Payload::CustomersMerged {
                survivor: customer("customers-merged.survivor", m.survivor, now)?,
                replaced: (m.replaced.into_iter().enumerate())
                    .map(|(i, id)| text(&format!("customers-merged.replaced[{i}]"), id))
                    .collect::<Result<_, _>>()?,
            }
        }
        wit::PosPayload::CustomerDeleted(ids) => {
            if ids.is_empty() {
                return Err("customer-deleted names no identity".into());
            }
            Payload::CustomerDeleted {
                identities: identities("customer-deleted", ids)?,
            }
        }
        wit::PosPayload::PrivacyRequest(p) => {
            let kind = match p.kind {
                wit::PrivacyKind::Redact => PrivacyKind::Redact,
                wit::PrivacyKind::DataRequest => PrivacyKind::DataRequest,
                wit::PrivacyKind::ShopRedact => PrivacyKind::ShopRedact,
            };
            if kind != PrivacyKind::ShopRedact && p.identities.is_empty() {
                return Err(format!(
                    "privacy-request.identities is empty: a {} request must name the person",
                    kind.as_str()
                ));
            }
            Payload::PrivacyRequest {
                id: text("privacy-request.id", p.id)?,
                kind,
                identities: identities("privacy-request", p.identities)?,
            }
        }
        wit::PosPayload::LoyaltyChanged(l) => {
            if l.customer.loyalty.is_none() {
                return Err(
                    "loyalty-changed.customer.loyalty is none (which account changed?)".into(),
                );
            }
            Payload::LoyaltyChanged {
                customer: customer("loyalty-changed.customer", l.customer, now)?,
            }
        }
    })
}

fn order(o: wit::Order, now: DateTime<Utc>) -> Result<Order, String> {
    let id = text("order.id", o.id)?;
    let total = money("order.total", o.total)?;
    let same_currency = |field: &str, m: Money| -> Result<Money, String> {
        if m.currency != total.currency {
            return Err(format!(
                "{field} is in {} but the order total is in {}",
                m.currency, total.currency
            ));
        }
        Ok(m)
    };
    let lines = o
        .lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let l = line(i, l)?;
            same_currency(&format!("order.lines[{i}].total"), l.total.clone())?;
            Ok(l)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Order {
        id,
        customer: o
            .customer
            .map(|c| customer("order.customer", c, now))
            .transpose()?,
        location: optional_text("order.location", o.location)?,
        channel: match o.channel {
            wit::SalesChannel::InStore => SalesChannel::InStore,
            wit::SalesChannel::Online => SalesChannel::Online,
            wit::SalesChannel::Other => SalesChannel::Other,
        },
        state: match o.state {
            wit::OrderState::Open => OrderState::Open,
            wit::OrderState::Completed => OrderState::Completed,
            wit::OrderState::Canceled => OrderState::Canceled,
        },
        lines,
        subtotal: same_currency("order.subtotal", money("order.subtotal", o.subtotal)?)?,
        tax: same_currency("order.tax", money("order.tax", o.tax)?)?,
        discount: same_currency("order.discount", money("order.discount", o.discount)?)?,
        placed_at: time("order.placed-at", o.placed_at, now)?,
        updated_at: time("order.updated-at", o.updated_at, now)?,
        version: o.version,
        total,
    })
}

fn refund(r: wit::Refund, now: DateTime<Utc>) -> Result<Refund, String> {
    let amount = money("refund.amount", r.amount)?;
    if amount.minor < 0 {
        return Err(format!(
            "refund.amount must be positive (the amount given back), got {}",
            amount.minor
        ));
    }
    Ok(Refund {
        id: text("refund.id", r.id)?,
        order_id: text("refund.order-id", r.order_id)?,
        customer: r
            .customer
            .map(|c| customer("refund.customer", c, now))
            .transpose()?,
        amount,
        reason: optional_text("refund.reason", r.reason)?,
        lines: r
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| line(i, l))
            .collect::<Result<_, _>>()?,
        created_at: time("refund.created-at", r.created_at, now)?,
    })
}

fn line(index: usize, l: wit::LineItem) -> Result<LineItem, String> {
    let field = |name: &str| format!("lines[{index}].{name}");
    if l.quantity.scale > 9 {
        return Err(format!(
            "{} has scale {} (at most 9 decimal places)",
            field("quantity"),
            l.quantity.scale
        ));
    }
    Ok(LineItem {
        sku: optional_text(&field("sku"), l.sku)?,
        product: text(&field("product"), l.product)?,
        category: optional_text(&field("category"), l.category)?,
        quantity: Quantity {
            units: l.quantity.units,
            scale: l.quantity.scale,
        },
        unit_price: money(&field("unit-price"), l.unit_price)?,
        total: money(&field("total"), l.total)?,
    })
}

/// The model's kind of a contract identity.
pub fn identity_kind(kind: wit::IdentityKind) -> IdentityKind {
    match kind {
        wit::IdentityKind::Email => IdentityKind::Email,
        wit::IdentityKind::Phone => IdentityKind::Phone,
        wit::IdentityKind::LoyaltyId => IdentityKind::LoyaltyId,
        wit::IdentityKind::VendorCustomer => IdentityKind::VendorCustomer,
    }
}

/// The model's channel of a contract channel.
pub fn channel(channel: wit::Channel) -> Channel {
    match channel {
        wit::Channel::Email => Channel::Email,
        wit::Channel::Sms => Channel::Sms,
        wit::Channel::Push => Channel::Push,
        wit::Channel::Postal => Channel::Postal,
    }
}

/// The model's purpose of a contract purpose.
pub fn purpose(purpose: wit::Purpose) -> Purpose {
    match purpose {
        wit::Purpose::Marketing => Purpose::Marketing,
        wit::Purpose::Transactional => Purpose::Transactional,
    }
}

/// A customer found at `field` ("customer", "order.customer", …), which errors name.
fn customer(field: &str, c: wit::Customer, now: DateTime<Utc>) -> Result<Customer, String> {
    let at = |name: &str| format!("{field}.{name}");
    Ok(Customer {
        identities: identities(field, c.identities)?,
        given_name: optional_text(&at("given-name"), c.given_name)?,
        family_name: optional_text(&at("family-name"), c.family_name)?,
        consents: c
            .consents
            .into_iter()
            .map(|k| {
                Ok(Consent {
                    channel: channel(k.channel),
                    purpose: purpose(k.purpose),
                    state: match k.state {
                        wit::ConsentState::Granted => ConsentState::Granted,
                        wit::ConsentState::Revoked => ConsentState::Revoked,
                    },
                    at: time(&at("consent.at"), k.at, now)?,
                    source: text(&at("consent.source"), k.source)?,
                })
            })
            .collect::<Result<_, String>>()?,
        created_at: c
            .created_at
            .map(|t| time(&at("created-at"), t, now))
            .transpose()?,
        birthday: c
            .birthday
            .map(|b| birthday(&at("birthday"), b, now))
            .transpose()?,
        loyalty: c.loyalty.map(|l| loyalty(&at("loyalty"), l)).transpose()?,
    })
}

/// The identities at `field`, each value checked as text.
fn identities(field: &str, ids: Vec<wit::Identity>) -> Result<Vec<Identity>, String> {
    ids.into_iter()
        .map(|i| {
            Ok(Identity {
                kind: identity_kind(i.kind),
                value: text(&format!("{field}.identity"), i.value)?,
            })
        })
        .collect()
}

/// A birthday whose month and day exist (29 February in any year, and in the year given only if
/// it is a leap year); a year from 1900 up to this one.
fn birthday(field: &str, b: wit::Birthday, now: DateTime<Utc>) -> Result<Birthday, String> {
    const DAYS: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&b.month) {
        return Err(format!(
            "{field}.month = {} is not a month (1 to 12)",
            b.month
        ));
    }
    let last = DAYS[usize::from(b.month - 1)];
    if !(1..=last).contains(&b.day) {
        return Err(format!(
            "{field}.day = {} is not a day of month {} (1 to {last})",
            b.day, b.month
        ));
    }
    if let Some(year) = b.year {
        let this_year = u16::try_from(now.year()).unwrap_or(u16::MAX);
        if !(1900..=this_year).contains(&year) {
            return Err(format!(
                "{field}.year = {year} is not a birth year (1900 to {this_year})"
            ));
        }
        if chrono::NaiveDate::from_ymd_opt(i32::from(year), b.month.into(), b.day.into()).is_none()
        {
            return Err(format!(
                "{field} = {year}-{:02}-{:02} is not a date",
                b.month, b.day
            ));
        }
    }
    Ok(Birthday {
        month: b.month,
        day: b.day,
        year: b.year,
    })
}

/// A loyalty account: an id, and the points ever earned, never negative. The balance may be
/// negative (Square: after a manual adjustment, a refund or an exchange).
fn loyalty(field: &str, l: wit::LoyaltyAccount) -> Result<LoyaltyAccount, String> {
    if l.lifetime < 0 {
        return Err(format!(
            "{field}.lifetime = {} points is negative",
            l.lifetime
        ));
    }
    Ok(LoyaltyAccount {
        id: text(&format!("{field}.id"), l.id)?,
        balance: l.balance,
        lifetime: l.lifetime,
    })
}

fn money(field: &str, m: wit::Money) -> Result<Money, String> {
    Ok(Money {
        minor: m.minor,
        currency: Currency::try_from(m.currency).map_err(|e| format!("{field}: {e}"))?,
    })
}

fn text(field: &str, value: String) -> Result<String, String> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if value.len() > MAX_TEXT {
        return Err(format!("{field} is longer than {MAX_TEXT} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(value)
}

fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| text(field, v))
        .transpose()
}

/// Accepts instants from 2000-01-01 up to a day ahead of `now` (clock skew).
fn time(field: &str, ms: i64, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let earliest = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let latest = now + chrono::Duration::days(1);
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) if t >= earliest && t <= latest => Ok(t),
        _ => Err(format!(
            "{field} = {ms} ms is not a time between 2000-01-01 and tomorrow"
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn day(month: u8, day: u8, year: Option<u16>) -> Result<Birthday, String> {
        birthday(
            "customer.birthday",
            wit::Birthday { month, day, year },
            now(),
        )
    }

    #[test]
    fn a_birthday_must_be_a_day_of_the_calendar() {
        assert!(day(2, 29, None).is_ok());
        assert!(day(2, 29, Some(2000)).is_ok());
        assert_eq!(
            day(2, 29, Some(1999)).unwrap_err(),
            "customer.birthday = 1999-02-29 is not a date"
        );
        assert_eq!(
            day(13, 1, None).unwrap_err(),
            "customer.birthday.month = 13 is not a month (1 to 12)"
        );
        assert_eq!(
            day(4, 31, None).unwrap_err(),
            "customer.birthday.day = 31 is not a day of month 4 (1 to 30)"
        );
        assert!(day(1, 0, None).is_err());
        assert!(day(1, 1, Some(1899)).unwrap_err().contains("year = 1899"));
        assert_eq!(
            day(1, 1, Some(2027)).unwrap_err(),
            "customer.birthday.year = 2027 is not a birth year (1900 to 2026)"
        );
    }

    #[test]
    fn a_loyalty_balance_may_be_negative_and_lifetime_points_may_not() {
        let account = |balance, lifetime| {
            loyalty(
                "customer.loyalty",
                wit::LoyaltyAccount {
                    id: "LA-1".into(),
                    balance,
                    lifetime,
                },
            )
        };
        assert_eq!(account(-20, 100).unwrap().balance, -20);
        assert_eq!(
            account(0, -1).unwrap_err(),
            "customer.loyalty.lifetime = -1 points is negative"
        );
    }

    #[test]
    fn the_new_payloads_must_say_whom_and_what_they_are_about() {
        let merged = payload(
            wit::PosPayload::CustomersMerged(wit::CustomerMerge {
                survivor: wit::Customer {
                    identities: Vec::new(),
                    given_name: None,
                    family_name: None,
                    consents: Vec::new(),
                    created_at: None,
                    birthday: None,
                    loyalty: None,
                },
                replaced: Vec::new(),
            }),
            now(),
        );
        assert!(merged
            .unwrap_err()
            .starts_with("customers-merged.replaced is empty"));
        let deleted = payload(wit::PosPayload::CustomerDeleted(Vec::new()), now());
        assert_eq!(deleted.unwrap_err(), "customer-deleted names no identity");
        let request = |kind| {
            payload(
                wit::PosPayload::PrivacyRequest(wit::PrivacyRequest {
                    id: "PR-1".into(),
                    kind,
                    identities: Vec::new(),
                }),
                now(),
            )
        };
        assert!(request(wit::PrivacyKind::Redact)
            .unwrap_err()
            .contains("a redact request must name the person"));
        assert_eq!(
            request(wit::PrivacyKind::ShopRedact).unwrap(),
            Payload::PrivacyRequest {
                id: "PR-1".into(),
                kind: PrivacyKind::ShopRedact,
                identities: Vec::new(),
            }
        );
    }
}
