//! Property tests over arbitrary input: whatever file a till exports or someone uploads, the reader
//! answers with events and rejected inputs (each with a reason) or an error naming what was wrong,
//! never a panic. Run with `cargo test -p csv-source fuzz` (`PROPTEST_CASES=100000` for longer).

use crate::export::{self, Format};
use proptest::prelude::*;
use rapport_sdk::fuzz::body;

/// Exports that look like the CSV format often enough to reach the row mapping.
fn csv_like() -> impl Strategy<Value = Vec<u8>> {
    let row = "[A-Za-z0-9 .,:@+\"-]{0,12}(,[A-Za-z0-9 .,:@+\"-]{0,12}){0,9}";
    prop::collection::vec(row, 0..8).prop_map(|rows| {
        let mut text = String::from(
            "receipt_id,date,product,quantity,unit_price,currency,total,email,phone,refund_of\n",
        );
        text.push_str(&rows.join("\n"));
        text.into_bytes()
    })
}

/// JSON Lines exports with the export's keys.
fn jsonl_like() -> impl Strategy<Value = Vec<u8>> {
    let fields = &[
        "receipt_id",
        "date",
        "product",
        "quantity",
        "unit_price",
        "currency",
        "total",
        "email",
        "phone",
        "refund_of",
        "sku",
        "customer_id",
        "opt_in",
    ];
    let texts = &[
        "2026-10-01",
        "2026-10-01T09:00:00Z",
        "USD",
        "JPY",
        "KWD",
        "1",
        "2.5",
        "-1",
        "R1",
    ];
    prop::collection::vec(rapport_sdk::fuzz::vendor_json(fields, texts), 0..6).prop_map(|lines| {
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
    })
}

fn upload(bytes: &[u8]) -> Result<(), TestCaseError> {
    for format in [Format::Csv, Format::Jsonl, Format::Auto] {
        if let Ok(entries) = export::read(bytes, format) {
            let push = export::push(entries);
            for rejected in &push.rejected {
                prop_assert!(!rejected.reason.is_empty(), "{rejected:?}");
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_bytes_are_read_or_refused(bytes in body()) {
        upload(&bytes)?;
    }

    #[test]
    fn any_csv_like_export_is_read_or_refused(bytes in csv_like()) {
        upload(&bytes)?;
    }

    #[test]
    fn any_jsonl_like_export_is_read_or_refused(bytes in jsonl_like()) {
        upload(&bytes)?;
    }
}
