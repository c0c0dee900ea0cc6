//! An export as read, before validation: the same shape whichever file format it came from, so
//! one place ([`crate::receipt`]) decides what a valid receipt is.

/// The receipt-level values, taken from a receipt's first row.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fields {
    pub kind: Option<String>,
    pub refund_of: Option<String>,
    pub date: Option<String>,
    pub location: Option<String>,
    pub channel: Option<String>,
    pub reason: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub customer_name: Option<String>,
    pub customer_id: Option<String>,
    pub customer_birthday: Option<String>,
    pub marketing_opt_in: Option<String>,
    pub currency: Option<String>,
    pub tax: Option<String>,
    pub discount: Option<String>,
    pub total: Option<String>,
}

/// One line item as read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawLine {
    /// The physical line it was read from.
    pub line: u64,
    /// How to tell it apart from the receipt's other items on the same physical line ("item 2");
    /// `None` when each item has a line of its own.
    pub label: Option<String>,
    pub sku: Option<String>,
    pub product: Option<String>,
    pub category: Option<String>,
    pub quantity: Option<String>,
    pub unit_price: Option<String>,
    pub line_total: Option<String>,
}

/// One receipt as read, with the problems the reader already found (by physical line).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawReceipt {
    pub id: String,
    pub first_line: u64,
    pub end_line: u64,
    pub fields: Fields,
    pub lines: Vec<RawLine>,
    pub problems: Vec<(u64, String)>,
}

/// A unit of an export: a receipt, or input that cannot be attributed to one.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Receipt(Box<RawReceipt>),
    Unattributed {
        line: u64,
        end_line: u64,
        reason: String,
    },
}

impl Entry {
    pub fn first_line(&self) -> u64 {
        match self {
            Entry::Receipt(r) => r.first_line,
            Entry::Unattributed { line, .. } => *line,
        }
    }

    pub fn end_line(&self) -> u64 {
        match self {
            Entry::Receipt(r) => r.end_line,
            Entry::Unattributed { end_line, .. } => *end_line,
        }
    }
}

/// `Some(trimmed)` unless the value is blank.
pub fn non_blank(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
