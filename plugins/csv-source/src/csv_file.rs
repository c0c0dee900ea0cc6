//! CSV exports: a header row naming the columns (any order, extra columns ignored), then one row
//! per line item; consecutive rows with the same `receipt_id` form one receipt.

use crate::raw::{non_blank, Entry, Fields, RawLine, RawReceipt};
use rapport_sdk::types::ConnectorError;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Columns the header must name.
const REQUIRED: [&str; 7] = [
    "receipt_id",
    "date",
    "product",
    "quantity",
    "unit_price",
    "currency",
    "total",
];

/// One CSV record: where it starts and its cells, as read (a cell becomes text only when a
/// column the reader uses asks for it).
struct Row {
    line: u64,
    end_line: u64,
    cells: csv::ByteRecord,
    problems: Vec<String>,
}

/// Reads a CSV export into receipts. Fails only when the file as a whole is unusable (no header,
/// a required column missing); a bad row is reported in its receipt.
pub fn read(body: &[u8]) -> Result<Vec<Entry>, ConnectorError> {
    let mut rows = records(body)?.into_iter();
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let columns = Columns::new(&header.cells)?;
    let mut entries = Vec::new();
    let mut current: Option<RawReceipt> = None;
    for mut row in rows {
        if row.cells.len() != columns.width {
            row.problems.push(format!(
                "the row has {} fields but the header has {}",
                row.cells.len(),
                columns.width
            ));
        }
        let Some(id) = columns.get(&row, columns.receipt_id) else {
            entries.extend(current.take().map(|r| Entry::Receipt(Box::new(r))));
            row.problems
                .insert(0, "missing required column value: receipt_id".into());
            entries.push(Entry::Unattributed {
                line: row.line,
                end_line: row.end_line,
                reason: row.problems.join("; "),
            });
            continue;
        };
        match current.as_mut() {
            Some(receipt) if receipt.id == id => columns.continue_receipt(receipt, row),
            _ => {
                entries.extend(current.take().map(|r| Entry::Receipt(Box::new(r))));
                current = Some(columns.start_receipt(id, row));
            }
        }
    }
    entries.extend(current.map(|r| Entry::Receipt(Box::new(r))));
    Ok(entries)
}

/// A cell as text: invalid UTF-8 replaced (the row reports it), surrounding space trimmed.
fn text(cell: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(cell) {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    }
}

/// Every non-blank record, with its first and last physical line.
fn records(body: &[u8]) -> Result<Vec<Row>, ConnectorError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rows: Vec<Row> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| ConnectorError::Invalid(format!("the CSV file cannot be read: {e}")))?
    {
        if record.iter().all(|cell| text(cell).is_empty()) {
            continue;
        }
        let line = record
            .position()
            .map_or(1, |p| first_content_line(body, p.byte(), p.line()));
        if let Some(previous) = rows.last_mut() {
            previous.end_line = line - 1;
        }
        let problems = if record.iter().all(|cell| std::str::from_utf8(cell).is_ok()) {
            Vec::new()
        } else {
            vec!["the row is not valid UTF-8 text".to_owned()]
        };
        rows.push(Row {
            line,
            end_line: line,
            cells: record.clone(),
            problems,
        });
    }
    if let Some(last) = rows.last_mut() {
        last.end_line = physical_lines(body).max(last.line);
    }
    Ok(rows)
}

/// The csv reader positions a record where its read began, before the empty lines it skipped.
fn first_content_line(body: &[u8], byte: u64, line: u64) -> u64 {
    let rest = usize::try_from(byte).map_or(&[][..], |b| body.get(b..).unwrap_or_default());
    let skipped = rest
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .filter(|&&b| b == b'\n')
        .count();
    line + skipped as u64
}

fn physical_lines(body: &[u8]) -> u64 {
    let newlines = body.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!body.is_empty() && !body.ends_with(b"\n"))
}

/// Where each column the reader uses is (`None`: the header does not name it), found once per
/// file so that a row's values are picked by position.
struct Columns {
    width: usize,
    receipt_id: Option<usize>,
    kind: Option<usize>,
    refund_of: Option<usize>,
    date: Option<usize>,
    location: Option<usize>,
    channel: Option<usize>,
    reason: Option<usize>,
    customer_email: Option<usize>,
    customer_phone: Option<usize>,
    customer_name: Option<usize>,
    customer_id: Option<usize>,
    customer_birthday: Option<usize>,
    marketing_opt_in: Option<usize>,
    currency: Option<usize>,
    tax: Option<usize>,
    discount: Option<usize>,
    total: Option<usize>,
    sku: Option<usize>,
    product: Option<usize>,
    category: Option<usize>,
    quantity: Option<usize>,
    unit_price: Option<usize>,
    line_total: Option<usize>,
}

impl Columns {
    fn new(header: &csv::ByteRecord) -> Result<Self, ConnectorError> {
        let mut index = BTreeMap::new();
        for (i, cell) in header.iter().enumerate() {
            let name = text(cell)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            index.entry(name).or_insert(i);
        }
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|name| !index.contains_key(**name))
            .map(|name| format!("`{name}`"))
            .collect();
        let at = |name: &str| index.get(name).copied();
        match missing.as_slice() {
            [] => Ok(Self {
                width: header.len(),
                receipt_id: at("receipt_id"),
                kind: at("kind"),
                refund_of: at("refund_of"),
                date: at("date"),
                location: at("location"),
                channel: at("channel"),
                reason: at("reason"),
                customer_email: at("customer_email"),
                customer_phone: at("customer_phone"),
                customer_name: at("customer_name"),
                customer_id: at("customer_id"),
                customer_birthday: at("customer_birthday"),
                marketing_opt_in: at("marketing_opt_in"),
                currency: at("currency"),
                tax: at("tax"),
                discount: at("discount"),
                total: at("total"),
                sku: at("sku"),
                product: at("product"),
                category: at("category"),
                quantity: at("quantity"),
                unit_price: at("unit_price"),
                line_total: at("line_total"),
            }),
            [one] => Err(ConnectorError::Invalid(format!(
                "missing column {one} in header"
            ))),
            many => Err(ConnectorError::Invalid(format!(
                "missing columns {} in header",
                many.join(", ")
            ))),
        }
    }

    /// The non-blank value in `row` of the column at `column`.
    fn get(&self, row: &Row, column: Option<usize>) -> Option<String> {
        non_blank(&text(row.cells.get(column?)?))
    }

    fn start_receipt(&self, id: String, row: Row) -> RawReceipt {
        let get = |column| self.get(&row, column);
        let fields = Fields {
            kind: get(self.kind),
            refund_of: get(self.refund_of),
            date: get(self.date),
            location: get(self.location),
            channel: get(self.channel),
            reason: get(self.reason),
            customer_email: get(self.customer_email),
            customer_phone: get(self.customer_phone),
            customer_name: get(self.customer_name),
            customer_id: get(self.customer_id),
            customer_birthday: get(self.customer_birthday),
            marketing_opt_in: get(self.marketing_opt_in),
            currency: get(self.currency),
            tax: get(self.tax),
            discount: get(self.discount),
            total: get(self.total),
        };
        let mut receipt = RawReceipt {
            id,
            first_line: row.line,
            end_line: row.end_line,
            fields,
            ..RawReceipt::default()
        };
        self.add_line(&mut receipt, row);
        receipt
    }

    fn continue_receipt(&self, receipt: &mut RawReceipt, mut row: Row) {
        if let (Some(currency), Some(first)) =
            (self.get(&row, self.currency), &receipt.fields.currency)
        {
            if !currency.eq_ignore_ascii_case(first) {
                row.problems.push(format!(
                    "currency {currency:?} differs from the receipt's currency {first:?} (line {})",
                    receipt.first_line
                ));
            }
        }
        receipt.end_line = row.end_line;
        self.add_line(receipt, row);
    }

    fn add_line(&self, receipt: &mut RawReceipt, row: Row) {
        let get = |column| self.get(&row, column);
        receipt.lines.push(RawLine {
            line: row.line,
            label: None,
            sku: get(self.sku),
            product: get(self.product),
            category: get(self.category),
            quantity: get(self.quantity),
            unit_price: get(self.unit_price),
            line_total: get(self.line_total),
        });
        receipt
            .problems
            .extend(row.problems.into_iter().map(|p| (row.line, p)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "receipt_id,date,product,quantity,unit_price,currency,total";

    fn receipts(body: &str) -> Vec<RawReceipt> {
        read(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| match e {
                Entry::Receipt(r) => *r,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn consecutive_rows_form_one_receipt() {
        let body = format!(
            "{HEADER}\nR1,2026-11-02 14:31,Tea,1,3.50,USD,5.00\nR1,,Cake,1,1.50,,\n\nR2,2026-11-02 15:00,Tea,2,3.50,USD,7.00\n"
        );
        let r = receipts(&body);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].first_line, r[0].end_line), (2, 4));
        assert_eq!(r[0].lines.len(), 2);
        assert_eq!(r[0].lines[1].line, 3);
        assert_eq!(r[0].lines[1].product.as_deref(), Some("Cake"));
        assert_eq!(r[0].fields.total.as_deref(), Some("5.00"));
        assert_eq!((r[1].first_line, r[1].end_line), (5, 5));
        assert!(r[0].problems.is_empty());
    }

    #[test]
    fn blank_lines_and_crlf_keep_physical_line_numbers() {
        let body = format!(
            "\r\n{HEADER}\r\n\r\n\r\nR1,2026-11-02 14:31,Tea,1,3.50,USD,3.50\r\n\r\nR2,2026-11-02 14:31,Tea,1,3.50,USD,3.50"
        );
        let r = receipts(&body);
        assert_eq!((r[0].first_line, r[0].end_line), (5, 6));
        assert_eq!((r[1].first_line, r[1].end_line), (7, 7));
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let body = "\u{feff}Total,extra,currency,unit_price,quantity,product,date,receipt_id,sku\n\
                    9.00,x,EUR,4.50,2,Soap,2026-11-02 14:31,R9,S-1";
        let r = receipts(body);
        assert_eq!(r[0].id, "R9");
        assert_eq!(r[0].fields.total.as_deref(), Some("9.00"));
        assert_eq!(r[0].lines[0].sku.as_deref(), Some("S-1"));
        assert_eq!(r[0].end_line, 2);
    }

    #[test]
    fn quoted_newlines_keep_physical_line_numbers() {
        let body = format!(
            "{HEADER}\nR1,2026-11-02 14:31,\"Tea\nwith milk\",1,3.50,USD,3.50\nR2,2026-11-02 14:31,Tea,1,3.50,USD,3.50\n"
        );
        let r = receipts(&body);
        assert_eq!((r[0].first_line, r[0].end_line), (2, 3));
        assert_eq!((r[1].first_line, r[1].end_line), (4, 4));
    }

    #[test]
    fn a_missing_header_column_fails_the_file() {
        let missing_total = "receipt_id,date,product,quantity,unit_price,currency\n";
        assert_eq!(
            read(missing_total.as_bytes()),
            Err(ConnectorError::Invalid(
                "missing column `total` in header".into()
            ))
        );
        assert_eq!(
            read(b"receipt_id,product\n"),
            Err(ConnectorError::Invalid(
                "missing columns `date`, `quantity`, `unit_price`, `currency`, `total` in header"
                    .into()
            ))
        );
        assert_eq!(read(b"\n  \n"), Ok(Vec::new()));
    }

    #[test]
    fn row_shape_problems_are_kept_per_line() {
        let body = format!(
            "{HEADER}\nR1,2026-11-02 14:31,Tea,1,3.50,USD,5.00\nR1,2026-11-02 14:31,Cake,1,1.50,EUR,5.00,oops\n,2026-11-02 14:31,Tea,1,3.50,USD,3.50\n"
        );
        let entries = read(body.as_bytes()).unwrap();
        let Entry::Receipt(r1) = &entries[0] else {
            panic!("expected a receipt");
        };
        assert_eq!(
            r1.problems,
            vec![
                (3, "the row has 8 fields but the header has 7".into()),
                (
                    3,
                    "currency \"EUR\" differs from the receipt's currency \"USD\" (line 2)".into()
                ),
            ]
        );
        assert_eq!(
            entries[1],
            Entry::Unattributed {
                line: 4,
                end_line: 4,
                reason: "missing required column value: receipt_id".into()
            }
        );
    }

    #[test]
    fn invalid_utf8_is_a_row_problem() {
        let mut body = format!("{HEADER}\nR1,2026-11-02 14:31,").into_bytes();
        body.extend_from_slice(b"T\xffa,1,3.50,USD,3.50\n");
        let entries = read(&body).unwrap();
        let Entry::Receipt(r) = &entries[0] else {
            panic!("expected a receipt");
        };
        assert_eq!(
            r.problems,
            vec![(2, "the row is not valid UTF-8 text".into())]
        );
    }
}
