//! A sample shop: customers, a catalogue and a few weeks of sales and refunds, generated from a seed and
//! written as a POS export (the csv-source's CSV format). The generator keeps what it wrote, so tests
//! derive their expectations from it instead of hard-coding them.

use crate::time::rfc3339_utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

/// A customer of the sample shop.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: String,
    pub phone: Option<String>,
    pub name: String,
    pub marketing_opt_in: Option<bool>,
}

/// One line of a receipt; prices in cents.
#[derive(Debug, Clone)]
pub struct Line {
    pub sku: String,
    pub product: String,
    pub category: String,
    pub quantity: u32,
    pub unit_cents: i64,
}

/// A receipt in the export: a sale, or a refund of an earlier sale.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub refund_of: Option<String>,
    /// When it happened, in seconds since the Unix epoch.
    pub at: i64,
    /// `at` in RFC 3339, UTC.
    pub date: String,
    pub location: String,
    pub online: bool,
    /// Index into `SampleShop::customers`; `None` for anonymous walk-in sales.
    pub customer: Option<usize>,
    pub lines: Vec<Line>,
    pub tax_cents: i64,
    pub discount_cents: i64,
    pub total_cents: i64,
    /// Physical lines of the export this receipt occupies (the header is line 1).
    pub file_lines: Vec<usize>,
    /// Why the receipt was deliberately broken, if it was.
    pub malformed: Option<&'static str>,
}

/// The generated shop and its export.
#[derive(Debug, Clone)]
pub struct SampleShop {
    pub customers: Vec<Customer>,
    pub receipts: Vec<Receipt>,
    pub currency: &'static str,
}

const CATALOGUE: &[(&str, &str, &str, i64)] = &[
    ("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", "coffee", 1450),
    ("BEAN-COL-250", "Colombia Huila 250g", "coffee", 1290),
    ("BEAN-DEC-250", "Swiss Water Decaf 250g", "coffee", 1350),
    ("TEA-SEN-100", "Sencha 100g", "tea", 990),
    ("MUG-STONE", "Stoneware mug", "homeware", 1800),
    ("FILTER-V60", "V60 paper filters x100", "brewing", 650),
    ("GRINDER-HND", "Hand grinder", "brewing", 4900),
    ("CAKE-BANANA", "Banana bread slice", "bakery", 375),
];
const LOCATIONS: &[&str] = &["High Street", "Market Hall"];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloé", "Dev", "Emeka", "Fatima", "Goran", "Hana", "Ines", "Jon",
];
const LAST: &[&str] = &[
    "Silva", "Okafor", "Nguyen", "Müller", "Kowalski", "Haddad", "Berg", "Rossi",
];
/// Ofcom's ranges for drama (never assigned to anyone) that the host's numbering metadata accepts as
/// valid — 07700 900xxx is not among them. A thousand numbers each: London, Belfast, Cardiff.
const DRAMA_PHONES: &[&str] = &["+44 20 7946 ", "+44 28 9018 ", "+44 29 2018 "];
const BROKEN: &[&str] = &["quantity", "unit_price", "product", "date"];
const HEADER: &str = "receipt_id,kind,refund_of,date,location,channel,customer_id,customer_email,customer_phone,customer_name,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";

/// Formats cents as a decimal string in major units ("12.50", "-3.05").
pub fn decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Customer `i`'s phone: distinct for the first 3,000 customers.
fn drama_phone(i: usize) -> String {
    let range = DRAMA_PHONES[(i / 1000) % DRAMA_PHONES.len()];
    format!("{range}{:04}", i % 1000)
}

/// How a generated shop is laid out: how many sales over how long, at how many locations, to how
/// many customers, and how often a sale is later partly refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub sales: usize,
    /// At least one.
    pub customers: usize,
    /// When the first sale is, in seconds since the Unix epoch.
    pub start: i64,
    /// The span the sales are spread evenly over.
    pub days: i64,
    /// The first `locations` of the shop's two (High Street, Market Hall), taken in turn.
    pub locations: usize,
    /// About one sale with a known customer in `refund_one_in` is partly refunded three days
    /// later.
    pub refund_one_in: u32,
}

impl Shape {
    /// The shop many tests rely on: `sales` sales over four weeks from 2026-10-01 at both
    /// locations, a customer per three sales, about one refund per 15 sales with a known customer.
    pub fn four_weeks(sales: usize) -> Shape {
        Shape {
            sales,
            customers: (sales / 3).max(1),
            start: 1_790_845_200, // 2026-10-01T09:00:00Z
            days: 28,
            locations: LOCATIONS.len(),
            refund_one_in: 15,
        }
    }
}

impl SampleShop {
    /// `sales` sales over four weeks from 2026-10-01 (see [`Shape::four_weeks`]), a fifth of them
    /// anonymous, and every `malformed_every`-th receipt broken in one field (0: none).
    pub fn generate(seed: u64, sales: usize, malformed_every: usize) -> SampleShop {
        SampleShop::generate_shaped(seed, &Shape::four_weeks(sales), malformed_every)
    }

    /// A shop laid out as `shape` says, a fifth of its sales anonymous, and every
    /// `malformed_every`-th receipt broken in one field (0: none). The same seed and shape give
    /// the same shop.
    pub fn generate_shaped(seed: u64, shape: &Shape, malformed_every: usize) -> SampleShop {
        assert!(
            shape.customers > 0 && shape.refund_one_in > 0,
            "a shop has customers, and refunds one sale in at least one"
        );
        assert!(
            (1..=LOCATIONS.len()).contains(&shape.locations),
            "the sample shop has one or two locations"
        );
        let sales = shape.sales;
        let mut rng = StdRng::seed_from_u64(seed);
        let customers = (0..shape.customers)
            .map(|i| {
                let first = FIRST[rng.gen_range(0..FIRST.len())];
                let last = LAST[rng.gen_range(0..LAST.len())];
                Customer {
                    id: format!("C{i:05}"),
                    email: format!(
                        "{}.{}{i}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    phone: rng.gen_bool(0.6).then(|| drama_phone(i)),
                    name: format!("{first} {last}"),
                    marketing_opt_in: match rng.gen_range(0..3) {
                        0 => Some(true),
                        1 => Some(false),
                        _ => None,
                    },
                }
            })
            .collect::<Vec<_>>();
        let start = shape.start;
        let span = shape.days * 24 * 3600;
        let mut receipts: Vec<Receipt> = Vec::new();
        let mut next_line = 2;
        for i in 0..sales {
            let at = start + (span * i as i64) / sales as i64;
            let lines = (0..rng.gen_range(1..=3))
                .map(|_| {
                    let (sku, product, category, price) =
                        CATALOGUE[rng.gen_range(0..CATALOGUE.len())];
                    Line {
                        sku: sku.into(),
                        product: product.into(),
                        category: category.into(),
                        quantity: rng.gen_range(1..=3),
                        unit_cents: price,
                    }
                })
                .collect::<Vec<_>>();
            let subtotal: i64 = lines
                .iter()
                .map(|l| l.unit_cents * i64::from(l.quantity))
                .sum();
            let tax = (subtotal * 8 + 50) / 100;
            let discount = if rng.gen_bool(0.1) {
                200.min(subtotal)
            } else {
                0
            };
            let malformed = (malformed_every > 0 && i % malformed_every == malformed_every - 1)
                .then(|| BROKEN[(i / malformed_every) % BROKEN.len()]);
            let receipt = Receipt {
                id: format!("R{i:06}"),
                refund_of: None,
                at,
                date: rfc3339_utc(at),
                location: LOCATIONS[i % shape.locations].into(),
                online: rng.gen_bool(0.25),
                customer: (!rng.gen_bool(0.2)).then(|| rng.gen_range(0..customers.len())),
                file_lines: (next_line..next_line + lines.len()).collect(),
                lines,
                tax_cents: tax,
                discount_cents: discount,
                total_cents: subtotal + tax - discount,
                malformed,
            };
            next_line += receipt.lines.len();
            let refundable = receipt.customer.is_some() && receipt.malformed.is_none();
            receipts.push(receipt);
            if refundable && rng.gen_range(0..shape.refund_one_in) == 0 {
                let sale = receipts.last().expect("just pushed").clone();
                let line = sale.lines[0].clone();
                let amount = line.unit_cents * i64::from(line.quantity);
                receipts.push(Receipt {
                    id: format!("F{i:06}"),
                    refund_of: Some(sale.id.clone()),
                    at: at + 3 * 24 * 3600,
                    date: rfc3339_utc(at + 3 * 24 * 3600),
                    file_lines: vec![next_line],
                    lines: vec![line],
                    tax_cents: 0,
                    discount_cents: 0,
                    total_cents: amount,
                    malformed: None,
                    ..sale
                });
                next_line += 1;
            }
        }
        SampleShop {
            customers,
            receipts,
            currency: "GBP",
        }
    }

    /// Makes this the `n`-th of several exports fed to one store: every receipt id, refund
    /// reference, customer id and email is prefixed with `prefix`, and customers get phone numbers
    /// after those of the earlier exports, so exports share neither receipts nor people (beyond a
    /// phone number reused once the fictional ranges run out, as a household might share one).
    pub fn as_export(self, n: usize, prefix: &str) -> SampleShop {
        let mut shop = self.with_receipt_prefix(prefix);
        let first_phone = n * shop.customers.len();
        for (i, c) in shop.customers.iter_mut().enumerate() {
            c.id = format!("{prefix}{}", c.id);
            c.email = format!("{}{}", prefix.to_lowercase(), c.email);
            if c.phone.is_some() {
                c.phone = Some(drama_phone(first_phone + i));
            }
        }
        shop
    }

    /// Prefixes every receipt id (and refund reference) with `prefix`, so several generated exports
    /// of the same customers can be fed to one store without their receipts colliding.
    pub fn with_receipt_prefix(mut self, prefix: &str) -> SampleShop {
        for r in &mut self.receipts {
            r.id = format!("{prefix}{}", r.id);
            if let Some(original) = r.refund_of.as_mut() {
                *original = format!("{prefix}{original}");
            }
        }
        self
    }

    /// Moves every receipt `seconds` later (earlier if negative), as a later (or older) export of
    /// the same shop.
    pub fn shifted(mut self, seconds: i64) -> SampleShop {
        for r in &mut self.receipts {
            r.at += seconds;
            r.date = rfc3339_utc(r.at);
        }
        self
    }

    /// The export as CSV, one row per receipt line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(HEADER);
        out.push('\n');
        for r in &self.receipts {
            let customer = r.customer.map(|c| &self.customers[c]);
            for (n, line) in r.lines.iter().enumerate() {
                let broken = |field: &str| r.malformed == Some(field) && n == 0;
                let field = |s: &str| csv_field(s);
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    r.id,
                    if r.refund_of.is_some() {
                        "refund"
                    } else {
                        "sale"
                    },
                    r.refund_of.as_deref().unwrap_or(""),
                    if broken("date") {
                        "31/02/2026"
                    } else {
                        &r.date
                    },
                    field(&r.location),
                    if r.online { "online" } else { "in-store" },
                    customer.map_or("", |c| &c.id),
                    customer.map_or("", |c| &c.email),
                    customer.and_then(|c| c.phone.as_deref()).unwrap_or(""),
                    field(customer.map_or("", |c| &c.name)),
                    customer
                        .and_then(|c| c.marketing_opt_in)
                        .map_or("", |b| if b { "yes" } else { "no" }),
                    line.sku,
                    if broken("product") { "" } else { &line.product },
                    line.category,
                    if broken("quantity") {
                        "abc".to_string()
                    } else {
                        line.quantity.to_string()
                    },
                    if broken("unit_price") {
                        "\"12,50\"".to_string()
                    } else {
                        decimal(line.unit_cents)
                    },
                    decimal(line.unit_cents * i64::from(line.quantity)),
                    self.currency,
                    decimal(r.tax_cents),
                    decimal(r.discount_cents),
                    decimal(r.total_cents),
                );
            }
        }
        out
    }

    /// Receipts the export carries intact.
    pub fn valid_receipts(&self) -> impl Iterator<Item = &Receipt> {
        self.receipts.iter().filter(|r| r.malformed.is_none())
    }

    /// Intact sales with a known customer: each becomes one "Placed Order" activity.
    pub fn attributed_sales(&self) -> impl Iterator<Item = &Receipt> {
        self.valid_receipts()
            .filter(|r| r.refund_of.is_none() && r.customer.is_some())
    }

    /// Whether the receipt's buyer refused marketing (`marketing_opt_in = false`).
    pub fn buyer_opted_out(&self, receipt: &Receipt) -> bool {
        receipt
            .customer
            .is_some_and(|c| self.customers[c].marketing_opt_in == Some(false))
    }

    /// Physical lines of the broken receipts, in file order.
    pub fn malformed_lines(&self) -> Vec<usize> {
        self.receipts
            .iter()
            .filter(|r| r.malformed.is_some())
            .flat_map(|r| r.file_lines.iter().copied())
            .collect()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shaped_shop_spreads_its_sales_over_its_days_at_its_locations() {
        let shape = Shape {
            customers: 40,
            start: 1_764_579_600, // 2025-12-01T09:00:00Z
            days: 365,
            locations: 1,
            refund_one_in: 4,
            ..Shape::four_weeks(2000)
        };
        let shop = SampleShop::generate_shaped(9, &shape, 0);
        let sales: Vec<&Receipt> = shop
            .receipts
            .iter()
            .filter(|r| r.refund_of.is_none())
            .collect();
        assert_eq!((sales.len(), shop.customers.len()), (2000, 40));
        assert_eq!(sales[0].date, "2025-12-01T09:00:00Z");
        assert!(sales.last().unwrap().at > shape.start + 364 * 24 * 3600);
        assert!(shop.receipts.iter().all(|r| r.location == "High Street"));
        let refunds = shop.receipts.len() - sales.len();
        assert!((300..500).contains(&refunds), "{refunds} refunds");
        let again = SampleShop::generate_shaped(9, &shape, 0);
        assert_eq!(again.to_csv(), shop.to_csv());
    }

    #[test]
    fn export_lines_match_recorded_positions() {
        let shop = SampleShop::generate(7, 50, 10);
        let csv = shop.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        for r in &shop.receipts {
            for &n in &r.file_lines {
                assert!(
                    lines[n - 1].starts_with(&r.id),
                    "line {n} should hold {}",
                    r.id
                );
            }
        }
        assert_eq!(
            shop.malformed_lines().len(),
            shop.receipts
                .iter()
                .filter(|r| r.malformed.is_some())
                .map(|r| r.lines.len())
                .sum::<usize>()
        );
    }
}
