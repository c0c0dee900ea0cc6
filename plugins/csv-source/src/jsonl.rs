//! JSON Lines exports: one receipt per line, money as decimal strings ("12.50") so no amount
//! ever passes through a float.

use crate::raw::{non_blank, Entry, Fields, RawLine, RawReceipt};
use serde_json::{Map, Value};

/// Reads a JSON Lines export into receipts; a line that is not a receipt object is unattributed.
pub fn read(body: &[u8]) -> Vec<Entry> {
    body.split(|&b| b == b'\n')
        .zip(1u64..)
        .filter_map(|(bytes, line)| entry(bytes, line))
        .collect()
}

fn entry(bytes: &[u8], line: u64) -> Option<Entry> {
    let unattributed = |reason: String| {
        Some(Entry::Unattributed {
            line,
            end_line: line,
            reason,
        })
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return unattributed("the line is not valid UTF-8 text".into());
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return unattributed("expected a JSON object (one receipt per line)".into()),
        Err(e) => return unattributed(format!("the line is not valid JSON: {e}")),
    };
    let mut problems = Vec::new();
    let id = Reader::new(&object, "", &mut problems).text("receipt_id");
    let Some(id) = id else {
        problems.insert(0, "missing required column value: receipt_id".to_owned());
        return unattributed(problems.join("; "));
    };
    let mut fields = Reader::new(&object, "", &mut problems);
    let mut receipt = RawReceipt {
        id,
        first_line: line,
        end_line: line,
        fields: Fields {
            kind: fields.text("kind"),
            refund_of: fields.text("refund_of"),
            date: fields.text("date"),
            location: fields.text("location"),
            channel: fields.text("channel"),
            reason: fields.text("reason"),
            currency: fields.text("currency"),
            tax: fields.money("tax"),
            discount: fields.money("discount"),
            total: fields.money("total"),
            ..Fields::default()
        },
        ..RawReceipt::default()
    };
    match object.get("customer") {
        None | Some(Value::Null) => {}
        Some(Value::Object(customer)) => {
            let mut c = Reader::new(customer, "customer.", &mut problems);
            receipt.fields.customer_email = c.text("email");
            receipt.fields.customer_phone = c.text("phone");
            receipt.fields.customer_name = c.text("name");
            receipt.fields.customer_id = c.text("id");
            receipt.fields.customer_birthday = c.text("birthday");
            receipt.fields.marketing_opt_in = c.flag("marketing_opt_in");
        }
        Some(_) => problems.push("customer must be an object".into()),
    }
    match object.get("lines") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (item, n) in items.iter().zip(1..) {
                let label = format!("item {n}");
                let Value::Object(item) = item else {
                    problems.push(format!("{label}: must be an object"));
                    continue;
                };
                let prefix = format!("{label}: ");
                let mut l = Reader::new(item, &prefix, &mut problems);
                receipt.lines.push(RawLine {
                    line,
                    sku: l.text("sku"),
                    product: l.text("product"),
                    category: l.text("category"),
                    quantity: l.quantity("quantity"),
                    unit_price: l.money("unit_price"),
                    line_total: l.money("line_total"),
                    label: Some(label),
                });
            }
        }
        Some(_) => problems.push("lines must be an array".into()),
    }
    receipt.problems = problems.into_iter().map(|p| (line, p)).collect();
    Some(Entry::Receipt(Box::new(receipt)))
}

/// Reads typed values out of one JSON object, noting a problem for each value of the wrong type.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    prefix: &'a str,
    problems: &'a mut Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(object: &'a Map<String, Value>, prefix: &'a str, problems: &'a mut Vec<String>) -> Self {
        Self {
            object,
            prefix,
            problems,
        }
    }

    /// A string (or a number, for ids and codes).
    fn text(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::String(s) => non_blank(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Null => None,
            _ => self.wrong(key, "must be a string"),
        }
    }

    /// A decimal string; a JSON number would have passed through a float.
    fn money(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::String(s) => non_blank(s),
            Value::Null => None,
            Value::Number(n) => self.wrong(
                key,
                &format!("must be a decimal string like \"12.50\", not the JSON number {n}"),
            ),
            _ => self.wrong(key, "must be a decimal string like \"12.50\""),
        }
    }

    /// A decimal string or a JSON number.
    fn quantity(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::String(s) => non_blank(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Null => None,
            _ => self.wrong(key, "must be a number"),
        }
    }

    /// A boolean (or the words the CSV format accepts).
    fn flag(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::Bool(b) => Some(b.to_string()),
            Value::String(s) => non_blank(s),
            Value::Null => None,
            _ => self.wrong(key, "must be true or false"),
        }
    }

    fn wrong(&mut self, key: &str, what: &str) -> Option<String> {
        self.problems.push(format!("{}{key} {what}", self.prefix));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(entry: &Entry) -> &RawReceipt {
        match entry {
            Entry::Receipt(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn one_receipt_per_line() {
        let body = br#"{"receipt_id":"R1","date":"2026-11-02T14:31:00Z","currency":"USD","total":"3.50","customer":{"email":"a@b.c","marketing_opt_in":true,"id":42},"lines":[{"sku":"T","product":"Tea","quantity":1.5,"unit_price":"2.00"},{"product":"Cake","quantity":"2","unit_price":"1.00","line_total":"1.80"}]}

{"receipt_id":7,"kind":"refund","refund_of":"R1","date":"2026-11-02 15:00","currency":"USD","total":"3.50"}
"#;
        let entries = read(body);
        assert_eq!(entries.len(), 2);
        let r1 = receipt(&entries[0]);
        assert_eq!(r1.id, "R1");
        assert_eq!(r1.fields.customer_id.as_deref(), Some("42"));
        assert_eq!(r1.fields.marketing_opt_in.as_deref(), Some("true"));
        assert_eq!(r1.lines[0].quantity.as_deref(), Some("1.5"));
        assert_eq!(r1.lines[1].label.as_deref(), Some("item 2"));
        assert_eq!(r1.lines[1].line_total.as_deref(), Some("1.80"));
        assert!(r1.problems.is_empty());
        let r2 = receipt(&entries[1]);
        assert_eq!((r2.id.as_str(), r2.first_line, r2.end_line), ("7", 3, 3));
        assert_eq!(r2.fields.kind.as_deref(), Some("refund"));
    }

    #[test]
    fn wrong_types_are_problems_of_the_receipt() {
        let body = br#"{"receipt_id":"R1","total":12.5,"customer":{"email":["x"]},"lines":[{"product":"Tea","unit_price":"1","quantity":{}},3]}"#;
        let entries = read(body);
        assert_eq!(
            receipt(&entries[0]).problems,
            vec![
                (
                    1,
                    "total must be a decimal string like \"12.50\", not the JSON number 12.5"
                        .into()
                ),
                (1, "customer.email must be a string".into()),
                (1, "item 1: quantity must be a number".into()),
                (1, "item 2: must be an object".into()),
            ]
        );
    }

    #[test]
    fn lines_that_are_not_receipts_are_unattributed() {
        let entries = read(b"not json\n[1]\n{\"date\":\"x\"}\n\xff\n");
        let reasons: Vec<_> = entries
            .iter()
            .map(|e| match e {
                Entry::Unattributed { line, reason, .. } => (*line, reason.as_str()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(reasons.len(), 4);
        assert!(reasons[0].1.starts_with("the line is not valid JSON"));
        assert_eq!(
            reasons[1],
            (2, "expected a JSON object (one receipt per line)")
        );
        assert_eq!(reasons[2], (3, "missing required column value: receipt_id"));
        assert_eq!(reasons[3], (4, "the line is not valid UTF-8 text"));
    }
}
