//! What a valid receipt is and how it maps to the contract: a sale becomes an `order` event, a
//! refund a `refund` event. Any bad value rejects the whole receipt, naming each bad line, the
//! column and the value.

use crate::raw::{Fields, RawLine, RawReceipt};
use rapport_sdk::birthday;
use rapport_sdk::money::{exponent, parse_decimal, parse_money, times};
use rapport_sdk::time::parse_timestamp;
use rapport_sdk::v0_3::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Display;

/// Where a marketing opt-in recorded at the till comes from.
const CONSENT_SOURCE: &str = "pos-checkbox";

enum Kind {
    Sale,
    Refund { of: String },
}

/// The event for `raw`, or one rejection per physical line of the receipt.
pub fn build(raw: &RawReceipt) -> Result<PosEvent, Vec<RejectedInput>> {
    let mut p = Problems(raw.problems.clone());
    let first = raw.first_line;
    let f = &raw.fields;
    let kind = match f.kind.as_deref() {
        None => Some(Kind::Sale),
        Some(k) if k.eq_ignore_ascii_case("sale") => Some(Kind::Sale),
        Some(k) if k.eq_ignore_ascii_case("refund") => p
            .required(first, "", "refund_of", &f.refund_of)
            .map(|of| Kind::Refund { of: of.to_owned() }),
        Some(k) => p.note(first, format!("kind {k:?} is not sale or refund")),
    };
    let date = p
        .required(first, "", "date", &f.date)
        .and_then(|d| p.check(first, "date: ", parse_timestamp(d)));
    let currency = p
        .required(first, "", "currency", &f.currency)
        .map(str::to_ascii_uppercase)
        .and_then(|c| p.check(first, "", exponent(&c)).map(|_| c));
    let cur = currency.as_deref();
    let total = p
        .required(first, "", "total", &f.total)
        .and_then(|t| p.money(first, "", "total", t, cur));
    let tax = p.optional_money(first, "tax", &f.tax, cur);
    let discount = p.optional_money(first, "discount", &f.discount, cur);
    let channel = p.check(first, "", channel(f.channel.as_deref()));
    let opt_in = p.check(first, "", opt_in(f.marketing_opt_in.as_deref()));
    let birthday = match f.customer_birthday.as_deref() {
        None => Some(None),
        Some(text) => p
            .check(
                first,
                &format!("customer_birthday {text:?}: "),
                birthday::parse(text),
            )
            .map(Some),
    };
    let lines: Option<Vec<LineItem>> = raw
        .lines
        .iter()
        .map(|l| p.line_item(l, cur))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let subtotal = match (&lines, cur) {
        (Some(lines), Some(c)) => sum(lines, c).or_else(|| {
            p.note(
                first,
                "the line totals add up to an amount that is too large",
            )
        }),
        _ => None,
    };
    let (
        Some(kind),
        Some(date),
        Some(total),
        Some(tax),
        Some(discount),
        Some(channel),
        Some(opt_in),
        Some(birthday),
        Some(lines),
        Some(subtotal),
    ) = (
        kind, date, total, tax, discount, channel, opt_in, birthday, lines, subtotal,
    )
    else {
        return Err(p.rejections(raw));
    };
    if !p.0.is_empty() {
        return Err(p.rejections(raw));
    }
    let customer = customer(f, opt_in, birthday, date);
    let id = raw.id.clone();
    Ok(match kind {
        Kind::Sale => PosEvent {
            id: format!("sale:{id}"),
            occurred_at: date,
            payload: PosPayload::Order(Order {
                id,
                customer,
                location: f.location.clone(),
                channel,
                state: OrderState::Completed,
                lines,
                subtotal,
                tax,
                discount,
                total,
                placed_at: date,
                updated_at: date,
                version: None,
            }),
        },
        Kind::Refund { of } => PosEvent {
            id: format!("refund:{id}"),
            occurred_at: date,
            payload: PosPayload::Refund(Refund {
                id,
                order_id: of,
                customer,
                amount: Money {
                    minor: total.minor.abs(),
                    ..total
                },
                reason: f.reason.clone(),
                lines,
                created_at: date,
            }),
        },
    })
}

/// The buyer, if the receipt names one by any means.
fn customer(
    f: &Fields,
    opt_in: Option<ConsentState>,
    birthday: Option<Birthday>,
    date: Timestamp,
) -> Option<Customer> {
    let identities: Vec<Identity> = [
        (IdentityKind::Email, &f.customer_email),
        (IdentityKind::Phone, &f.customer_phone),
        (IdentityKind::VendorCustomer, &f.customer_id),
    ]
    .into_iter()
    .filter_map(|(kind, value)| value.clone().map(|value| Identity { kind, value }))
    .collect();
    if identities.is_empty() && f.customer_name.is_none() && opt_in.is_none() {
        return None;
    }
    let (given_name, family_name) = match f.customer_name.as_deref().map(|n| n.split_once(' ')) {
        None => (None, None),
        Some(None) => (f.customer_name.clone(), None),
        Some(Some((given, family))) => (
            Some(given.to_owned()),
            Some(family.trim().to_owned()).filter(|s| !s.is_empty()),
        ),
    };
    let consents = opt_in
        .map(|state| Consent {
            channel: Channel::Email,
            purpose: Purpose::Marketing,
            state,
            at: date,
            source: CONSENT_SOURCE.to_owned(),
        })
        .into_iter()
        .collect();
    Some(Customer {
        identities,
        given_name,
        family_name,
        consents,
        created_at: None,
        birthday,
        loyalty: None,
    })
}

fn channel(value: Option<&str>) -> Result<SalesChannel, String> {
    match value {
        None => Ok(SalesChannel::InStore),
        Some(v) if v.eq_ignore_ascii_case("in-store") => Ok(SalesChannel::InStore),
        Some(v) if v.eq_ignore_ascii_case("online") => Ok(SalesChannel::Online),
        Some(v) => Err(format!("channel {v:?} is not in-store or online")),
    }
}

fn opt_in(value: Option<&str>) -> Result<Option<ConsentState>, String> {
    let Some(v) = value else {
        return Ok(None);
    };
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(Some(ConsentState::Granted)),
        "no" | "false" | "0" => Ok(Some(ConsentState::Revoked)),
        _ => Err(format!("marketing_opt_in {v:?} is not yes or no")),
    }
}

fn sum(lines: &[LineItem], currency: &str) -> Option<Money> {
    let minor = lines
        .iter()
        .try_fold(0i64, |acc, l| acc.checked_add(l.total.minor))?;
    Some(Money {
        minor,
        currency: currency.to_owned(),
    })
}

/// Problems found so far, by physical line.
struct Problems(Vec<(u64, String)>);

impl Problems {
    /// Records a problem; returns `None` so callers can use it as the failed value.
    fn note<T>(&mut self, line: u64, reason: impl Into<String>) -> Option<T> {
        self.0.push((line, reason.into()));
        None
    }

    fn check<T, E: Display>(&mut self, line: u64, prefix: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => self.note(line, format!("{prefix}{e}")),
        }
    }

    fn required<'v>(
        &mut self,
        line: u64,
        prefix: &str,
        column: &str,
        value: &'v Option<String>,
    ) -> Option<&'v str> {
        match value {
            Some(v) => Some(v),
            None => self.note(
                line,
                format!("{prefix}missing required column value: {column}"),
            ),
        }
    }

    /// `amount` in `currency`; `None` without a note when the currency is already known bad.
    fn money(
        &mut self,
        line: u64,
        prefix: &str,
        column: &str,
        amount: &str,
        currency: Option<&str>,
    ) -> Option<Money> {
        let result = parse_money(amount, currency?);
        self.check(line, &format!("{prefix}{column}: "), result)
    }

    /// An optional amount, zero when absent.
    fn optional_money(
        &mut self,
        line: u64,
        column: &str,
        amount: &Option<String>,
        currency: Option<&str>,
    ) -> Option<Money> {
        match amount {
            Some(a) => self.money(line, "", column, a, currency),
            None => currency.map(|c| Money {
                minor: 0,
                currency: c.to_owned(),
            }),
        }
    }

    fn line_item(&mut self, l: &RawLine, currency: Option<&str>) -> Option<LineItem> {
        let prefix = l
            .label
            .as_ref()
            .map(|x| format!("{x}: "))
            .unwrap_or_default();
        let (line, pre) = (l.line, prefix.as_str());
        let product = self.required(line, pre, "product", &l.product);
        let quantity = self
            .required(line, pre, "quantity", &l.quantity)
            .and_then(|q| self.check(line, pre, parse_decimal(q)));
        let unit_price = self
            .required(line, pre, "unit_price", &l.unit_price)
            .and_then(|u| self.money(line, pre, "unit_price", u, currency));
        let total = match (&l.line_total, &unit_price, &quantity) {
            (Some(t), _, _) => self.money(line, pre, "line_total", t, currency),
            (None, Some(price), Some(qty)) => {
                self.check(line, &format!("{pre}line_total: "), times(price, qty))
            }
            (None, _, _) => None,
        };
        Some(LineItem {
            sku: l.sku.clone(),
            product: product?.to_owned(),
            category: l.category.clone(),
            quantity: quantity?,
            unit_price: unit_price?,
            total: total?,
        })
    }

    /// One rejection per physical line of the receipt, each naming the receipt: the bad lines
    /// with what is wrong, the others pointing at the bad ones.
    fn rejections(self, raw: &RawReceipt) -> Vec<RejectedInput> {
        let mut by_line: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (line, reason) in self.0 {
            by_line.entry(line).or_default().push(reason);
        }
        let bad: Vec<String> = by_line.keys().map(u64::to_string).collect();
        let others = format!(
            "because of problems on line{} {}",
            if bad.len() == 1 { "" } else { "s" },
            bad.join(", ")
        );
        let mut lines: Vec<u64> = raw.lines.iter().map(|l| l.line).collect();
        lines.push(raw.first_line);
        lines.extend(by_line.keys());
        lines.sort_unstable();
        lines.dedup();
        lines
            .into_iter()
            .map(|line| RejectedInput {
                locator: format!("line {line}"),
                reason: match by_line.get(&line) {
                    Some(reasons) => {
                        format!("receipt {:?} rejected: {}", raw.id, reasons.join("; "))
                    }
                    None => format!("receipt {:?} rejected {others}", raw.id),
                },
            })
            .collect()
    }
}
