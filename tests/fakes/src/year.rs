//! A year of a coffee shop's life up to a given moment, for the demo: regulars who buy every week or
//! every month, occasional and one-off buyers, customers who lapsed months ago, walk-ins nobody
//! knows, returns, an online order that was cancelled, and one person Square knows twice (an
//! online account with their email, a till record with their phone) until the shop merges the two.
//! It is generated from a seed relative to `now`, so it always ends today, and it keeps what it made
//! (each customer's habit, the cancelled order, the twin records) so a caller works out what rapport
//! should show from the data instead of trusting rapport's own figures.
//!
//! [`crate::shop::SampleShop`] stays the four-week shop many tests rely on; this builds a shop of
//! the same types so the Square simulator loads it the same way.

use crate::shop::{Customer, Line, Receipt, SampleShop};
use crate::square::{self, SquareServer};
use crate::time::rfc3339_utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DAY: i64 = 24 * 3600;

/// What the shop sells: (sku, product, category, price in cents).
const COFFEE: &[(&str, &str, &str, i64)] = &[
    ("BEAN-ETH-250", "Ethiopia Yirgacheffe 250g", "coffee", 1450),
    ("BEAN-COL-250", "Colombia Huila 250g", "coffee", 1290),
    ("BEAN-DEC-250", "Swiss Water Decaf 250g", "coffee", 1350),
];
const EXTRAS: &[(&str, &str, &str, i64)] = &[
    ("CAKE-BANANA", "Banana bread slice", "bakery", 375),
    ("FILTER-V60", "V60 paper filters x100", "brewing", 650),
    ("TEA-SEN-100", "Sencha 100g", "tea", 990),
    ("MUG-STONE", "Stoneware mug", "homeware", 1800),
    ("GRINDER-HND", "Hand grinder", "brewing", 4900),
];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloé", "Dev", "Emeka", "Fatima", "Goran", "Hana", "Ines", "Jon", "Kofi", "Lena",
];
const LAST: &[&str] = &[
    "Silva", "Okafor", "Nguyen", "Müller", "Kowalski", "Haddad", "Berg", "Rossi", "Dubois",
];
const LOCATIONS: &[&str] = &["High Street", "Market Hall"];

/// How a customer buys over the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Habit {
    /// Beans (and often a slice of cake) about every week.
    Weekly,
    /// A bag of beans about every month.
    Monthly,
    /// Came every two or three weeks for a while, then stopped, a month to most of a year ago.
    Lapsed,
    /// Two to four visits at random.
    Occasional,
    /// One visit.
    OneOff,
    /// Ordered online once; the order was cancelled before it was paid, so never a sale.
    Cancelled,
    /// One of the two records of the person Square knows twice.
    Twin,
}

/// How many customers of each habit the year has.
const HABITS: &[(Habit, usize)] = &[
    (Habit::Weekly, 15),
    (Habit::Monthly, 30),
    (Habit::Lapsed, 30),
    (Habit::Occasional, 25),
    (Habit::OneOff, 50),
];
/// Sales to people the till does not know.
const WALK_INS: usize = 200;

/// The person Square knows under two customer records until the shop merges them.
#[derive(Debug, Clone)]
pub struct Twin {
    /// Index of the online account: their email, no phone.
    pub email_record: usize,
    /// Index of the till record: their phone, no email.
    pub phone_record: usize,
    /// The id of the customer Square's merge creates.
    pub merged_id: String,
}

/// The order that was placed online and cancelled before it was paid.
#[derive(Debug, Clone)]
pub struct Cancellation {
    /// The order as placed (Square holds it as CANCELED).
    pub order: Receipt,
    /// When it was cancelled, in seconds since the Unix epoch.
    pub cancelled_at: i64,
}

/// The year: the shop (customers, sales, refunds), each customer's habit, and the live sales that
/// arrive "now" by webhook.
#[derive(Debug, Clone)]
pub struct YearShop {
    /// Customers and the year's intact sales and refunds (walk-ins have no customer).
    pub shop: SampleShop,
    /// `habits[i]` is `shop.customers[i]`'s.
    pub habits: Vec<Habit>,
    pub twin: Twin,
    pub cancellation: Cancellation,
    /// Sales made in the last minutes before `now`, each by a customer of `shop`: Square announces
    /// them by webhook. The twin's is made after the merge, under `twin.merged_id`.
    pub live: Vec<Receipt>,
    /// The moment the year ends, in seconds since the Unix epoch.
    pub now: i64,
}

/// A UK phone number from Ofcom's drama range that the host's numbering metadata accepts.
fn phone(i: usize) -> String {
    format!("+44 20 7946 {:04}", i % 1000)
}

impl YearShop {
    /// A year ending at `now` (seconds since the Unix epoch): history on each of the 365 days
    /// before `now`'s UTC day, and a dozen live sales in the minutes before `now`.
    pub fn generate(seed: u64, now: i64) -> YearShop {
        let mut rng = StdRng::seed_from_u64(seed);
        let today = now.div_euclid(DAY) * DAY;
        let first_day = today - 365 * DAY;
        let mut habits: Vec<Habit> = HABITS
            .iter()
            .flat_map(|&(habit, n)| std::iter::repeat_n(habit, n))
            .collect();
        habits.extend([Habit::Cancelled, Habit::Twin, Habit::Twin]);
        let mut customers: Vec<Customer> = habits
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let first = FIRST[rng.gen_range(0..FIRST.len())];
                let last = LAST[rng.gen_range(0..LAST.len())];
                Customer {
                    id: format!("C{i:05}"),
                    email: format!(
                        "{}.{}{i}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    phone: rng.gen_bool(0.5).then(|| phone(i)),
                    name: format!("{first} {last}"),
                    marketing_opt_in: match rng.gen_range(0..6) {
                        0 => Some(false),
                        1 | 2 => Some(true),
                        _ => None,
                    },
                }
            })
            .collect();
        let n = customers.len();
        let twin = Twin {
            email_record: n - 2,
            phone_record: n - 1,
            merged_id: format!("C{n:05}"),
        };
        // One person: the online account has only the email, the till record only the phone.
        let (email_record, phone_record) = (twin.email_record, twin.phone_record);
        customers[phone_record].name = customers[email_record].name.clone();
        customers[phone_record].marketing_opt_in = None;
        customers[email_record].marketing_opt_in = Some(true);
        customers[email_record].phone = None;
        customers[phone_record].email = String::new();
        customers[phone_record].phone = Some(phone(phone_record));

        // (day, customer, online) of every sale.
        let mut visits: Vec<(i64, Option<usize>, bool)> = Vec::new();
        let span = |rng: &mut StdRng, from: i64, to: i64| rng.gen_range(from..to.max(from + 1));
        for (c, habit) in habits.iter().enumerate() {
            let mut days = Vec::new();
            match habit {
                Habit::Weekly => {
                    let mut day = span(&mut rng, 0, 60);
                    while day < 365 {
                        days.push(day);
                        day += 7 + rng.gen_range(-1..=1);
                    }
                }
                Habit::Monthly => {
                    let mut day = span(&mut rng, 0, 40);
                    while day < 365 {
                        days.push(day);
                        day += rng.gen_range(26..=34);
                    }
                }
                Habit::Lapsed => {
                    let mut day = span(&mut rng, 0, 200);
                    for _ in 0..rng.gen_range(4..=10) {
                        if day >= 330 {
                            break;
                        }
                        days.push(day);
                        day += rng.gen_range(10..=20);
                    }
                }
                Habit::Occasional => {
                    for _ in 0..rng.gen_range(2..=4) {
                        days.push(span(&mut rng, 0, 365));
                    }
                }
                Habit::OneOff => days.push(span(&mut rng, 0, 365)),
                Habit::Cancelled => {}
                Habit::Twin if c == email_record => days.extend([40, 150, 250]),
                Habit::Twin => days.extend([60, 120, 200, 330]),
            }
            days.sort_unstable();
            days.dedup();
            let online_share = if c == email_record { 1.0 } else { 0.2 };
            let online = c != phone_record && rng.gen_bool(online_share);
            visits.extend(days.into_iter().map(|d| (d, Some(c), online)));
        }
        for _ in 0..WALK_INS {
            visits.push((span(&mut rng, 0, 365), None, false));
        }
        visits.sort_by_key(|&(day, c, _)| (day, c));

        let mut receipts = Vec::new();
        for (n, &(day, customer, online)) in visits.iter().enumerate() {
            let at = first_day + day * DAY + rng.gen_range(8 * 3600..18 * 3600);
            let weekly = customer.is_some_and(|c| habits[c] == Habit::Weekly);
            let sale = sale(&mut rng, format!("R{n:06}"), at, customer, online, weekly);
            let refundable = customer.is_some_and(|c| habits[c] != Habit::Twin);
            let refund_at = at + rng.gen_range(1..=5) * DAY;
            let refund = (refundable && rng.gen_range(0..25) == 0 && refund_at < today)
                .then(|| refund_of(&sale, format!("F{n:06}"), refund_at));
            receipts.push(sale);
            receipts.extend(refund);
        }
        receipts.sort_by_key(|r| r.at);

        let cancelled_buyer = habits
            .iter()
            .position(|h| *h == Habit::Cancelled)
            .expect("one cancellation");
        let placed = today - 20 * DAY + 11 * 3600;
        let mut order = sale(
            &mut rng,
            "X000001".into(),
            placed,
            Some(cancelled_buyer),
            true,
            false,
        );
        order.location = LOCATIONS[1].into();
        let cancellation = Cancellation {
            order,
            cancelled_at: placed + DAY,
        };

        // Live: regulars back for beans, a lapsed customer returning, the twin after the merge.
        let pick = |habit: Habit, k: usize| {
            habits
                .iter()
                .enumerate()
                .filter(|(_, h)| **h == habit)
                .nth(k)
                .map(|(i, _)| i)
                .expect("enough customers of each habit")
        };
        let buyers = [
            pick(Habit::Weekly, 0),
            pick(Habit::Weekly, 1),
            pick(Habit::Weekly, 2),
            pick(Habit::Weekly, 3),
            pick(Habit::Monthly, 0),
            pick(Habit::Monthly, 1),
            pick(Habit::Monthly, 2),
            pick(Habit::Occasional, 0),
            pick(Habit::OneOff, 0),
            pick(Habit::Lapsed, 0),
            twin.email_record,
        ];
        let live = buyers
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                let at = now - 600 + 30 * k as i64;
                sale(&mut rng, format!("N{k:06}"), at, Some(c), false, false)
            })
            .collect();

        YearShop {
            shop: SampleShop {
                customers,
                receipts,
                currency: "GBP",
            },
            habits,
            twin,
            cancellation,
            live,
            now,
        }
    }

    /// Loads the year into Square as the shop's Square account holds it: every customer (the
    /// twin's till record without an email), every sale as a paid order, every refund, and the
    /// cancelled order (opened online, then cancelled).
    pub fn load(&self, square: &SquareServer) {
        square.load_shop(&self.shop);
        let phone_record = &self.shop.customers[self.twin.phone_record];
        let mut record = square::square_customer(phone_record, self.twin.phone_record);
        if let Some(fields) = record.as_object_mut() {
            fields.remove("email_address");
        }
        square.put_customer(record);
        let order = &self.cancellation.order;
        let buyer = order.customer.map(|c| self.shop.customers[c].id.as_str());
        square.put_order(square::unpaid_order(
            order,
            self.shop.currency,
            buyer,
            "OPEN",
        ));
        let at = square::square_time(&rfc3339_utc(self.cancellation.cancelled_at));
        square.transition(&order.id, "CANCELED", &at);
    }

    /// The Square customer id that buys live sale `r`: the twin's is the merged customer's.
    pub fn live_buyer_id(&self, r: &Receipt) -> Option<&str> {
        let c = r.customer?;
        Some(match c == self.twin.email_record {
            true => self.twin.merged_id.as_str(),
            false => self.shop.customers[c].id.as_str(),
        })
    }

    /// Customers of `habit`.
    pub fn with_habit(&self, habit: Habit) -> impl Iterator<Item = usize> + '_ {
        (self.habits.iter().enumerate())
            .filter(move |(_, h)| **h == habit)
            .map(|(i, _)| i)
    }
}

/// A sale of coffee (and, for weekly regulars, often cake; for others sometimes an extra).
fn sale(
    rng: &mut StdRng,
    id: String,
    at: i64,
    customer: Option<usize>,
    online: bool,
    weekly: bool,
) -> Receipt {
    let bag = COFFEE[rng.gen_range(0..COFFEE.len())];
    let mut picked = vec![bag];
    if weekly && rng.gen_bool(0.6) {
        picked.push(EXTRAS[0]);
    } else if rng.gen_bool(0.3) {
        picked.push(EXTRAS[rng.gen_range(0..EXTRAS.len())]);
    }
    let lines: Vec<Line> = picked
        .iter()
        .map(|&(sku, product, category, unit_cents)| Line {
            sku: sku.into(),
            product: product.into(),
            category: category.into(),
            quantity: 1,
            unit_cents,
        })
        .collect();
    let subtotal: i64 = lines.iter().map(|l| l.unit_cents).sum();
    let tax = (subtotal * 8 + 50) / 100;
    Receipt {
        id,
        refund_of: None,
        at,
        date: rfc3339_utc(at),
        location: LOCATIONS[rng.gen_range(0..LOCATIONS.len())].into(),
        online,
        customer,
        file_lines: Vec::new(),
        lines,
        tax_cents: tax,
        discount_cents: 0,
        total_cents: subtotal + tax,
        malformed: None,
    }
}

/// A refund of `sale`'s first line.
fn refund_of(sale: &Receipt, id: String, at: i64) -> Receipt {
    let line = sale.lines[0].clone();
    Receipt {
        id,
        refund_of: Some(sale.id.clone()),
        at,
        date: rfc3339_utc(at),
        total_cents: line.unit_cents * i64::from(line.quantity),
        lines: vec![line],
        tax_cents: 0,
        discount_cents: 0,
        file_lines: Vec::new(),
        malformed: None,
        ..sale.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000;

    #[test]
    fn the_same_seed_and_moment_make_the_same_year() {
        let (a, b) = (YearShop::generate(5, NOW), YearShop::generate(5, NOW));
        let ids = |y: &YearShop| {
            y.shop
                .receipts
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.shop.customers.len(), b.shop.customers.len());
    }

    #[test]
    fn the_year_ends_before_today_and_spans_a_year() {
        let year = YearShop::generate(5, NOW);
        let today = NOW.div_euclid(DAY) * DAY;
        let (first, last) = (
            year.shop.receipts.first().unwrap().at,
            year.shop.receipts.last().unwrap().at,
        );
        assert!(last < today && first >= today - 365 * DAY);
        assert!(last - first > 300 * DAY);
        assert!(year.live.iter().all(|r| r.at < NOW && r.at > today - DAY));
        assert!(year.shop.receipts.iter().any(|r| r.refund_of.is_some()));
        assert!(year.shop.customers[year.twin.phone_record].email.is_empty());
    }
}
