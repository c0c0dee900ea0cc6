//! An export file from end to end, without the host: pick the format, read it, validate each
//! receipt, and cut the result into poll batches that never split a receipt.

use crate::raw::Entry;
use crate::{csv_file, jsonl, receipt};
use rapport_sdk::v0_3::prelude::*;
use std::collections::BTreeMap;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    /// JSON Lines if the first non-blank byte is `{`, CSV otherwise.
    Auto,
}

impl Format {
    /// The config value `csv`, `jsonl` or `auto` (the default).
    pub fn from_config(value: Option<&str>) -> Result<Self, ConnectorError> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") => Ok(Self::Auto),
            Some("csv") => Ok(Self::Csv),
            Some("jsonl") => Ok(Self::Jsonl),
            Some(_) => Err(ConnectorError::Config(format!(
                "config key `format` must be csv, jsonl or auto, not {:?}",
                value.unwrap_or_default()
            ))),
        }
    }
}

/// Every receipt (and unattributable line) of `body`, in file order.
pub fn read(body: &[u8], format: Format) -> Result<Vec<Entry>, ConnectorError> {
    let is_jsonl = match format {
        Format::Csv => false,
        Format::Jsonl => true,
        Format::Auto => {
            body.strip_prefix("\u{feff}".as_bytes())
                .unwrap_or(body)
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                == Some(&b'{')
        }
    };
    let mut entries = if is_jsonl {
        jsonl::read(body)
    } else {
        csv_file::read(body)?
    };
    reject_repeats(&mut entries);
    Ok(entries)
}

/// A receipt id seen twice in one file would become two events with one id, and the host would
/// drop the second silently: reject it instead.
fn reject_repeats(entries: &mut [Entry]) {
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut repeats = Vec::new();
    for (at, entry) in entries.iter().enumerate() {
        if let Entry::Receipt(r) = entry {
            match seen.get(r.id.as_str()) {
                Some(&first) => repeats.push((at, first)),
                None => {
                    seen.insert(&r.id, r.first_line);
                }
            }
        }
    }
    for (at, first) in repeats {
        if let Entry::Receipt(r) = &mut entries[at] {
            r.problems.push((
                r.first_line,
                format!(
                    "the receipt already appeared at line {first} (a receipt's rows must be consecutive and each receipt listed once)"
                ),
            ));
        }
    }
}

/// The number of the last line consumed, from a poll cursor (`None` = from the start).
pub fn parse_cursor(cursor: Option<&str>) -> Result<u64, ConnectorError> {
    cursor.map_or(Ok(0), |c| {
        c.trim()
            .parse()
            .map_err(|_| ConnectorError::Invalid(format!("cursor {c:?} is not a line number")))
    })
}

/// The whole file as one push (an upload).
pub fn push(entries: Vec<Entry>) -> Push {
    let (events, rejected) = resolve(entries);
    Push { events, rejected }
}

/// At most `limit` entries that start after line `cursor`, with the cursor at the end of the
/// last one.
pub fn batch(entries: Vec<Entry>, cursor: u64, limit: usize) -> Batch {
    let mut after = entries
        .into_iter()
        .filter(|e| e.first_line() > cursor)
        .peekable();
    let taken: Vec<Entry> = after.by_ref().take(limit).collect();
    let more = after.peek().is_some();
    let cursor = taken.last().map(|e| e.end_line().to_string());
    let (events, rejected) = resolve(taken);
    Batch {
        events,
        rejected,
        cursor,
        more,
    }
}

fn resolve(entries: Vec<Entry>) -> (Vec<PosEvent>, Vec<RejectedInput>) {
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    for entry in entries {
        match entry {
            Entry::Receipt(raw) => match receipt::build(&raw) {
                Ok(event) => events.push(event),
                Err(reasons) => rejected.extend(reasons),
            },
            Entry::Unattributed { line, reason, .. } => rejected.push(RejectedInput {
                locator: format!("line {line}"),
                reason,
            }),
        }
    }
    (events, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_2: i64 = 1_793_629_860_000; // 2026-11-02T14:31:00Z
    const HEADER: &str = "receipt_id,kind,refund_of,date,location,channel,customer_email,customer_phone,customer_name,customer_id,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";

    fn csv(rows: &[&str]) -> Vec<u8> {
        let mut text = HEADER.to_owned();
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.push('\n');
        text.into_bytes()
    }

    fn upload(body: &[u8]) -> Push {
        push(read(body, Format::Auto).unwrap())
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: "USD".into(),
        }
    }

    fn order(event: &PosEvent) -> &Order {
        match &event.payload {
            PosPayload::Order(o) => o,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn rejected(push: &Push) -> Vec<(&str, &str)> {
        push.rejected
            .iter()
            .map(|r| (r.locator.as_str(), r.reason.as_str()))
            .collect()
    }

    const SALE: [&str; 2] = [
        "R1,,,2026-11-02 14:31,Main St,,ada@example.com,+1 555 0100,Ada Lovelace King,C-7,yes,T-1,Tea,Drinks,2,3.50,,USD,0.60,1.00,6.60",
        "R1,,,2026-11-02 14:31,Main St,,ada@example.com,+1 555 0100,Ada Lovelace King,C-7,yes,,Cake,,1.5,1.99,,USD,0.60,1.00,6.60",
    ];

    #[test]
    fn a_csv_sale_becomes_an_order() {
        let push = upload(&csv(&SALE));
        assert!(push.rejected.is_empty(), "{:?}", push.rejected);
        let event = &push.events[0];
        assert_eq!((event.id.as_str(), event.occurred_at), ("sale:R1", NOV_2));
        let o = order(event);
        assert_eq!(o.id, "R1");
        assert_eq!(o.location.as_deref(), Some("Main St"));
        assert_eq!(o.channel, SalesChannel::InStore);
        assert_eq!(o.state, OrderState::Completed);
        assert_eq!((o.placed_at, o.updated_at), (NOV_2, NOV_2));
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].sku.as_deref(), Some("T-1"));
        assert_eq!(o.lines[0].category.as_deref(), Some("Drinks"));
        assert_eq!(o.lines[0].quantity, Decimal { units: 2, scale: 0 });
        assert_eq!(o.lines[0].unit_price, usd(350));
        assert_eq!(o.lines[0].total, usd(700));
        assert_eq!(o.lines[1].total, usd(299), "1.5 × 1.99 = 2.985 rounds up");
        assert_eq!(o.subtotal, usd(999));
        assert_eq!((o.tax.clone(), o.discount.clone()), (usd(60), usd(100)));
        assert_eq!(o.total, usd(660));
        let c = o.customer.as_ref().unwrap();
        assert_eq!(
            c.identities,
            vec![
                Identity {
                    kind: IdentityKind::Email,
                    value: "ada@example.com".into()
                },
                Identity {
                    kind: IdentityKind::Phone,
                    value: "+1 555 0100".into()
                },
                Identity {
                    kind: IdentityKind::VendorCustomer,
                    value: "C-7".into()
                },
            ]
        );
        assert_eq!(c.given_name.as_deref(), Some("Ada"));
        assert_eq!(c.family_name.as_deref(), Some("Lovelace King"));
        assert_eq!(
            c.consents,
            vec![Consent {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                state: ConsentState::Granted,
                at: NOV_2,
                source: "pos-checkbox".into(),
            }]
        );
    }

    #[test]
    fn anonymous_sales_have_no_customer_and_zero_tax() {
        let push = upload(&csv(&[
            "R2,sale,,2026-11-02T14:31:00Z,,online,,,,,,,Tea,,1,3.50,3.00,USD,,,3.00",
        ]));
        let o = order(&push.events[0]);
        assert!(o.customer.is_none());
        assert_eq!(o.channel, SalesChannel::Online);
        assert_eq!(o.lines[0].total, usd(300));
        assert_eq!((o.tax.clone(), o.discount.clone()), (usd(0), usd(0)));
    }

    #[test]
    fn opt_outs_are_recorded_as_revoked() {
        let push = upload(&csv(&[
            "R3,,,2026-11-02 14:31,,,bo@example.com,,Bo,,No,,Tea,,1,3.50,,USD,,,3.50",
        ]));
        let c = order(&push.events[0]).customer.clone().unwrap();
        assert_eq!(c.consents[0].state, ConsentState::Revoked);
        assert_eq!((c.given_name.as_deref(), c.family_name), (Some("Bo"), None));
    }

    #[test]
    fn a_birthday_column_is_the_customers_birthday_and_a_bad_one_is_named() {
        let header = format!("{HEADER},customer_birthday");
        let body = format!(
            "{header}\nR5,,,2026-11-02 14:31,,,bo@example.com,,Bo,,yes,,Tea,,1,3.50,,USD,,,3.50,0000-03-04\n\
             R6,,,2026-11-02 14:31,,,cy@example.com,,Cy,,yes,,Tea,,1,3.50,,USD,,,3.50,1990-02-30\n"
        );
        let push = upload(body.as_bytes());
        let customer = order(&push.events[0]).customer.as_ref().unwrap();
        assert_eq!(
            customer.birthday,
            Some(Birthday {
                month: 3,
                day: 4,
                year: None
            })
        );
        assert_eq!(
            rejected(&push),
            [(
                "line 3",
                "receipt \"R6\" rejected: customer_birthday \"1990-02-30\": month 2 of 1990 has no day 30"
            )]
        );
    }

    #[test]
    fn a_refund_becomes_a_refund_event() {
        let push = upload(&csv(&[
            "F1,refund,R1,2026-11-02 14:31,,,ada@example.com,,,,,,Tea,,1,3.50,,USD,,,-3.50",
        ]));
        let event = &push.events[0];
        assert_eq!(event.id, "refund:F1");
        let PosPayload::Refund(r) = &event.payload else {
            panic!("expected a refund");
        };
        assert_eq!((r.id.as_str(), r.order_id.as_str()), ("F1", "R1"));
        assert_eq!(r.amount, usd(350));
        assert_eq!(r.created_at, NOV_2);
        assert_eq!(r.lines.len(), 1);
        assert!(r.reason.is_none());
        assert!(r.customer.is_some());
    }

    #[test]
    fn one_bad_row_rejects_its_receipt_and_only_its_receipt() {
        let push = upload(&csv(&[
            "R1,,,2026-11-02 14:31,,,,,,,,,Tea,,abc,3.50,,USD,,,3.50",
            "R1,,,2026-11-02 14:31,,,,,,,,,Cake,,1,1.00,,USD,,,3.50",
            "R2,,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,3.50",
        ]));
        assert_eq!(push.events.len(), 1);
        assert_eq!(push.events[0].id, "sale:R2");
        assert_eq!(
            rejected(&push),
            vec![
                (
                    "line 2",
                    "receipt \"R1\" rejected: quantity \"abc\" is not a number"
                ),
                (
                    "line 3",
                    "receipt \"R1\" rejected because of problems on line 2"
                ),
            ]
        );
    }

    #[test]
    fn reasons_name_the_column_and_the_value() {
        let push = upload(&csv(&[
            "R1,,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,US,,,3.50",
            "R2,,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,",
            "R3,,,2026-11-02 14:31,,,,,,,,,Tea,,1,\"12,50\",,USD,,,12.50",
            "R3,,,2026-13-02 14:31,,,,,,,,,,,1,12.505,,USD,,,12.50",
            "R4,swap,,yesterday,,shop,,,,,maybe,,Tea,,1,3.50,,USD,,,3.50",
            "R5,refund,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,3.50",
        ]));
        assert!(push.events.is_empty());
        let reasons = rejected(&push);
        let expected = [
            ("line 2", "receipt \"R1\" rejected: currency \"US\" is not an ISO 4217 code"),
            ("line 3", "receipt \"R2\" rejected: missing required column value: total"),
            ("line 4", "receipt \"R3\" rejected: unit_price: amount \"12,50\" is not a decimal number"),
            ("line 5", "receipt \"R3\" rejected: missing required column value: product; unit_price: amount \"12.505\" has more decimal places than USD allows (2)"),
            ("line 6", "receipt \"R4\" rejected: kind \"swap\" is not sale or refund; date: timestamp \"yesterday\" is not valid: expected RFC 3339 (2026-11-02T14:31:00Z) or YYYY-MM-DD HH:MM[:SS] in UTC; channel \"shop\" is not in-store or online; marketing_opt_in \"maybe\" is not yes or no"),
            ("line 7", "receipt \"R5\" rejected: missing required column value: refund_of"),
        ];
        assert_eq!(reasons, expected);
    }

    #[test]
    fn unattributed_and_repeated_rows_are_rejected_not_dropped() {
        let push = upload(&csv(&[
            "R1,,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,3.50",
            ",,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,3.50",
            "R1,,,2026-11-02 14:31,,,,,,,,,Cake,,1,3.50,,USD,,,3.50",
        ]));
        assert_eq!(push.events.len(), 1);
        assert_eq!(
            rejected(&push),
            vec![
                ("line 3", "missing required column value: receipt_id"),
                ("line 4", "receipt \"R1\" rejected: the receipt already appeared at line 2 (a receipt's rows must be consecutive and each receipt listed once)"),
            ]
        );
    }

    #[test]
    fn jsonl_receipts_map_the_same_way() {
        let body = br#"{"receipt_id":"J1","date":"2026-11-02T14:31:00Z","channel":"online","customer":{"email":"ada@example.com","name":"Ada","id":"C-7","marketing_opt_in":false},"currency":"usd","lines":[{"sku":"T-1","product":"Tea","quantity":2,"unit_price":"3.50"}],"tax":"0.70","total":"7.70"}
{"receipt_id":"J2","kind":"refund","refund_of":"J1","reason":"cold","date":"2026-11-02 14:31","currency":"USD","lines":[],"total":"3.50"}
{"receipt_id":"J3","date":"2026-11-02 14:31","currency":"USD","lines":[{"product":"Tea","quantity":"x","unit_price":"3.50"}],"total":"3.50"}
"#;
        let push = upload(body);
        assert_eq!(push.events.len(), 2);
        let o = order(&push.events[0]);
        assert_eq!(o.channel, SalesChannel::Online);
        assert_eq!(o.lines[0].total, usd(700));
        assert_eq!((o.subtotal.clone(), o.tax.clone()), (usd(700), usd(70)));
        let c = o.customer.as_ref().unwrap();
        assert_eq!(c.identities.len(), 2);
        assert_eq!(c.consents[0].state, ConsentState::Revoked);
        let PosPayload::Refund(r) = &push.events[1].payload else {
            panic!("expected a refund");
        };
        assert_eq!(r.reason.as_deref(), Some("cold"));
        assert_eq!(
            rejected(&push),
            vec![(
                "line 3",
                "receipt \"J3\" rejected: item 1: quantity \"x\" is not a number"
            )]
        );
    }

    #[test]
    fn formats_are_chosen_by_config_or_content() {
        assert_eq!(Format::from_config(None), Ok(Format::Auto));
        assert_eq!(Format::from_config(Some("JSONL")), Ok(Format::Jsonl));
        assert!(matches!(
            Format::from_config(Some("xml")),
            Err(ConnectorError::Config(_))
        ));
        let jsonl = b"\n  {\"receipt_id\":\"J1\"}\n";
        assert!(matches!(
            read(jsonl, Format::Auto).unwrap()[0],
            Entry::Receipt(_)
        ));
        assert!(
            read(jsonl, Format::Csv).is_err(),
            "no CSV header in a JSON file"
        );
        assert_eq!(read(b"", Format::Auto), Ok(Vec::new()));
    }

    #[test]
    fn batches_stop_at_receipt_boundaries() {
        let body = csv(&[
            SALE[0],
            SALE[1],
            "R2,,,2026-11-02 14:31,,,,,,,,,Tea,,x,3.50,,USD,,,3.50",
            "R3,,,2026-11-02 14:31,,,,,,,,,Tea,,1,3.50,,USD,,,3.50",
        ]);
        let entries = || read(&body, Format::Csv).unwrap();
        let first = batch(entries(), parse_cursor(None).unwrap(), 2);
        assert_eq!(first.events.len(), 1);
        assert_eq!(first.rejected.len(), 1);
        assert_eq!((first.cursor.as_deref(), first.more), (Some("4"), true));
        let second = batch(entries(), parse_cursor(first.cursor.as_deref()).unwrap(), 2);
        assert_eq!(second.events[0].id, "sale:R3");
        assert_eq!((second.cursor.as_deref(), second.more), (Some("5"), false));
        let done = batch(entries(), 5, 2);
        assert!(done.events.is_empty() && done.rejected.is_empty());
        assert_eq!((done.cursor, done.more), (None, false));
        assert!(matches!(
            parse_cursor(Some("page-2")),
            Err(ConnectorError::Invalid(_))
        ));
    }
}
