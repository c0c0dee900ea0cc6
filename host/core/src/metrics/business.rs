//! The business figures of a period read from the shop's sales: how many buyers came back, how
//! often people visit, how long a first purchase waits for a second, and what a buyer is worth.
//!
//! Definitions (the shop's time zone decides what a day is; `P` is the period `[from, to)`):
//! - a sale is a counted sale: a completed order's current version (a cancelled order is none);
//!   a refund does not undo the visit it refunds, it only lowers net spend;
//! - a visit is a distinct day with a sale; a person's visits are counted over their whole
//!   history up to the end of `P`, so merged identities (whose sales the survivor holds) are one
//!   person with one set of visits;
//! - buyers: the people with a visit in `P`;
//! - repeat purchase rate: buyers with two or more visits in `P`, over buyers;
//! - days between visits: for every visit in `P` that follows an earlier visit of the same person
//!   (the earlier one may be before `P`), the days since that earlier visit; their mean, pooled
//!   over all such return visits;
//! - time to second order: for every person whose second visit falls in `P`, the days from their
//!   first visit to it; the median (the mean of the middle two for an even count) and how many
//!   fall in each of [`BUCKETS`];
//! - historic customer lifetime value: each buyer's net spend over their whole history up to the
//!   end of `P` (sales minus refunds made before then), in the shop's currency (the one most sales
//!   up to then are in; ties go to the first by name; money in other currencies is left out), and
//!   its mean per buyer, rounded half away from zero to a minor unit.

use super::period::Period;
use crate::model::{Currency, Money};
use crate::profile::facts::median_f64;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A counted sale of a known person.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub person: i64,
    pub placed_at: DateTime<Utc>,
    pub total: Money,
}

/// A refund of a known person, at the time it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub person: i64,
    pub at: DateTime<Utc>,
    pub amount: Money,
}

/// The ranges of days the time to a second order is counted in: `(first, last)` day, inclusive;
/// `None` for no upper end.
pub const BUCKETS: [(i64, Option<i64>); 6] = [
    (0, Some(7)),
    (8, Some(30)),
    (31, Some(90)),
    (91, Some(180)),
    (181, Some(365)),
    (366, None),
];

/// The figures of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesFigures {
    pub buyers: u64,
    /// Buyers with two or more visits in the period.
    pub repeat_buyers: u64,
    /// `repeat_buyers / buyers`; `None` without buyers.
    pub repeat_purchase_rate: Option<f64>,
    /// Visits in the period that follow an earlier visit of the same person.
    pub return_visits: u64,
    pub mean_days_between_visits: Option<f64>,
    pub second_order: SecondOrders,
    pub lifetime_value: LifetimeValue,
}

/// Time to a second order, for the people whose second visit fell in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondOrders {
    pub people: u64,
    pub median_days: Option<f64>,
    pub distribution: Vec<Bucket>,
}

/// How many people's second visit came within a range of days of their first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// "0–7", …, "366+".
    pub days: String,
    pub people: u64,
}

/// What the period's buyers have spent over their lifetime, net of refunds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifetimeValue {
    /// Their net spend together; `None` without a sale up to the period's end.
    pub net_spend: Option<Money>,
    /// Per buyer; `None` without buyers.
    pub mean_per_buyer: Option<Money>,
}

/// Every sale and refund of the shop on its calendar, each person's sales by day: what the
/// figures of any period are worked out from. Built once for a period and the one before it, so
/// each sale's day is worked out once.
#[derive(Debug, Clone)]
pub struct SalesHistory {
    /// Every sale, by buyer and day.
    sales: Vec<OnDay>,
    refunds: Vec<OnDay>,
}

/// A sale's total or a refund's amount, with whose it is and the day of the shop it fell on.
#[derive(Debug, Clone)]
struct OnDay {
    person: i64,
    day: NaiveDate,
    money: Money,
}

impl SalesHistory {
    /// The history of every sale and refund the shop holds (any order), in time zone `zone`.
    pub fn new(purchases: &[Purchase], refunds: &[Refund], zone: Tz) -> SalesHistory {
        let day = |at: &DateTime<Utc>| at.with_timezone(&zone).date_naive();
        let mut sales: Vec<OnDay> = (purchases.iter())
            .map(|p| OnDay {
                person: p.person,
                day: day(&p.placed_at),
                money: p.total.clone(),
            })
            .collect();
        sales.sort_unstable_by_key(|sale| (sale.person, sale.day));
        SalesHistory {
            sales,
            refunds: (refunds.iter())
                .map(|r| OnDay {
                    person: r.person,
                    day: day(&r.at),
                    money: r.amount.clone(),
                })
                .collect(),
        }
    }

    /// The figures of `period`: only what happened before its end counts.
    pub fn figures(&self, period: Period) -> SalesFigures {
        // Each buyer's sales before the period's end, by buyer (people are in id order).
        let mut buyers: Vec<&[OnDay]> = Vec::new();
        let mut repeat_buyers = 0;
        let (mut return_visits, mut days_between) = (0u64, 0i64);
        let mut seconds: Vec<i64> = Vec::new();
        for sales in self.sales.chunk_by(|a, b| a.person == b.person) {
            let sales = &sales[..sales.partition_point(|sale| sale.day < period.to)];
            if sales.last().is_none_or(|last| last.day < period.from) {
                continue;
            }
            // The visit before this one; at the second visit, that is the first.
            let mut previous: Option<NaiveDate> = None;
            let (mut visits, mut in_period) = (0, 0);
            for OnDay { day, .. } in sales {
                if previous == Some(*day) {
                    continue;
                }
                if period.contains(*day) {
                    in_period += 1;
                    if let Some(previous) = previous {
                        return_visits += 1;
                        days_between += (*day - previous).num_days();
                        if visits == 1 {
                            seconds.push((*day - previous).num_days());
                        }
                    }
                }
                previous = Some(*day);
                visits += 1;
            }
            buyers.push(sales);
            if in_period >= 2 {
                repeat_buyers += 1;
            }
        }
        SalesFigures {
            buyers: buyers.len() as u64,
            repeat_buyers,
            repeat_purchase_rate: share(repeat_buyers, buyers.len() as u64),
            return_visits,
            mean_days_between_visits: (return_visits > 0)
                .then(|| days_between as f64 / return_visits as f64),
            second_order: second_orders(&seconds),
            lifetime_value: self.lifetime_value(&buyers, period.to),
        }
    }

    /// What `buyers` (each one's sales before `end`, by buyer) spent before `end`, net of what was
    /// refunded before then.
    fn lifetime_value(&self, buyers: &[&[OnDay]], end: NaiveDate) -> LifetimeValue {
        let before_end = (self.sales.iter()).filter(|sale| sale.day < end);
        let Some(currency) = main_currency(before_end.map(|sale| &sale.money)) else {
            return LifetimeValue {
                net_spend: None,
                mean_per_buyer: None,
            };
        };
        let in_currency = |money: &&Money| money.currency == currency;
        let sold: i64 = (buyers.iter())
            .flat_map(|sales| sales.iter().map(|sale| &sale.money))
            .filter(in_currency)
            .map(|total| total.minor)
            .sum();
        let is_buyer =
            |person| (buyers.binary_search_by_key(&person, |sales| sales[0].person)).is_ok();
        let refunded: i64 = (self.refunds.iter())
            .filter(|refund| refund.day < end && is_buyer(refund.person))
            .map(|refund| &refund.money)
            .filter(in_currency)
            .map(|amount| amount.minor)
            .sum();
        let net = sold - refunded;
        LifetimeValue {
            mean_per_buyer: (!buyers.is_empty()).then(|| Money {
                minor: divide_rounded(net, buyers.len() as i64),
                currency: currency.clone(),
            }),
            net_spend: Some(Money {
                minor: net,
                currency,
            }),
        }
    }
}

/// `part / whole`; `None` when `whole` is 0.
pub fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn second_orders(days: &[i64]) -> SecondOrders {
    let distribution = BUCKETS
        .iter()
        .map(|(first, last)| Bucket {
            days: match last {
                Some(last) => format!("{first}–{last}"),
                None => format!("{first}+"),
            },
            people: (days.iter())
                .filter(|d| **d >= *first && last.is_none_or(|last| **d <= last))
                .count() as u64,
        })
        .collect();
    SecondOrders {
        people: days.len() as u64,
        median_days: (!days.is_empty())
            .then(|| median_f64(days.iter().map(|d| *d as f64).collect())),
        distribution,
    }
}

/// The currency most of `money` is in; ties go to the first by name.
pub fn main_currency<'m>(money: impl Iterator<Item = &'m Money>) -> Option<Currency> {
    // A shop takes one currency or a few: a list searched in turn, not a map, for every sale.
    let mut counts: Vec<(&Currency, u64)> = Vec::new();
    for m in money {
        match counts.iter_mut().find(|(c, _)| **c == m.currency) {
            Some((_, n)) => *n += 1,
            None => counts.push((&m.currency, 1)),
        }
    }
    (counts.into_iter())
        .max_by(|(a, n), (b, m)| n.cmp(m).then_with(|| b.as_str().cmp(a.as_str())))
        .map(|(c, _)| c.clone())
}

/// `n / d` rounded half away from zero (`d` > 0).
pub fn divide_rounded(n: i64, d: i64) -> i64 {
    let (quotient, remainder) = (n / d, n % d);
    match (2 * remainder.abs()).cmp(&d) {
        std::cmp::Ordering::Less => quotient,
        _ => quotient + n.signum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: &str, hour: u32) -> DateTime<Utc> {
        let day: NaiveDate = day.parse().unwrap();
        Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
    }

    fn money(minor: i64, currency: &str) -> Money {
        Money {
            minor,
            currency: currency.to_string().try_into().unwrap(),
        }
    }

    fn sale(person: i64, day: &str, minor: i64) -> Purchase {
        Purchase {
            person,
            placed_at: at(day, 12),
            total: money(minor, "EUR"),
        }
    }

    fn refund(person: i64, day: &str, minor: i64) -> Refund {
        Refund {
            person,
            at: at(day, 15),
            amount: money(minor, "EUR"),
        }
    }

    fn march() -> Period {
        Period::new("2026-03-01".parse().unwrap(), "2026-04-01".parse().unwrap()).unwrap()
    }

    /// Five people, March the period, February the one before (31 days: 29 Jan – 28 Feb):
    /// - 1 visits 10 Jan, 5 Mar, 5 Mar again (one visit), 20 Mar: repeat buyer in March;
    /// - 2 visits 1 Mar only;
    /// - 3 visits 15 Feb and 17 Mar, refunds 10.00 on 18 Mar;
    /// - 4 visits 2 Apr only (after the period);
    /// - 5 visits 1 Jan 2025 and 3 Mar 2026.
    fn shop() -> (Vec<Purchase>, Vec<Refund>) {
        let purchases = vec![
            sale(1, "2026-01-10", 1000),
            sale(1, "2026-03-05", 2000),
            sale(1, "2026-03-05", 500),
            sale(1, "2026-03-20", 1500),
            sale(2, "2026-03-01", 4000),
            sale(3, "2026-02-15", 3000),
            sale(3, "2026-03-17", 2500),
            sale(4, "2026-04-02", 9900),
            sale(5, "2025-01-01", 700),
            sale(5, "2026-03-03", 800),
        ];
        let refunds = vec![refund(3, "2026-03-18", 1000), refund(1, "2026-04-03", 2000)];
        (purchases, refunds)
    }

    #[test]
    fn a_month_worked_out_by_hand() {
        let (purchases, refunds) = shop();
        let f = SalesHistory::new(&purchases, &refunds, chrono_tz::UTC).figures(march());
        // Buyers in March: 1, 2, 3, 5 (4 came in April). Two March visits: 1 only (5 and 20 Mar).
        assert_eq!((f.buyers, f.repeat_buyers), (4, 1));
        assert_eq!(f.repeat_purchase_rate, Some(0.25));
        // Return visits in March and the days since the visit before:
        // 1: 10 Jan → 5 Mar = 54, 5 Mar → 20 Mar = 15; 3: 15 Feb → 17 Mar = 30;
        // 5: 1 Jan 2025 → 3 Mar 2026 = 365 + 61 = 426. Mean (54 + 15 + 30 + 426) / 4 = 131.25.
        assert_eq!(f.return_visits, 4);
        assert_eq!(f.mean_days_between_visits, Some(131.25));
        // Second visits in March: 1 (54 days), 3 (30), 5 (426); 1's third visit is not a
        // second. Median 54.
        assert_eq!(f.second_order.people, 3);
        assert_eq!(f.second_order.median_days, Some(54.0));
        let buckets: Vec<(&str, u64)> = (f.second_order.distribution.iter())
            .map(|b| (b.days.as_str(), b.people))
            .collect();
        assert_eq!(
            buckets,
            [
                ("0–7", 0),
                ("8–30", 1),
                ("31–90", 1),
                ("91–180", 0),
                ("181–365", 0),
                ("366+", 1)
            ]
        );
        // Lifetime net spend of the March buyers up to 31 March: 1: 10 + 20 + 5 + 15 = 50.00
        // (the April refund is after the period); 2: 40.00; 3: 30 + 25 − 10 = 45.00;
        // 5: 7 + 8 = 15.00. Together 150.00, per buyer 37.50.
        assert_eq!(f.lifetime_value.net_spend, Some(money(15_000, "EUR")));
        assert_eq!(f.lifetime_value.mean_per_buyer, Some(money(3_750, "EUR")));
    }

    #[test]
    fn the_period_before_sees_nothing_after_its_end() {
        let (purchases, refunds) = shop();
        let february = march().previous();
        let f = SalesHistory::new(&purchases, &refunds, chrono_tz::UTC).figures(february);
        // 29 Jan – 28 Feb: only 3 (15 Feb, a first visit). No return visit, no second order.
        assert_eq!((f.buyers, f.repeat_buyers), (1, 0));
        assert_eq!(f.repeat_purchase_rate, Some(0.0));
        assert_eq!((f.return_visits, f.mean_days_between_visits), (0, None));
        assert_eq!(
            (f.second_order.people, f.second_order.median_days),
            (0, None)
        );
        // 3's spend up to 1 March: 30.00; the March sale and refund are later.
        assert_eq!(f.lifetime_value.mean_per_buyer, Some(money(3_000, "EUR")));
    }

    #[test]
    fn a_visit_is_a_day_of_the_shops_calendar() {
        // 23:00 UTC on 28 Feb is 18:00 in New York, and 03:00 UTC on 1 March is 22:00 on the 28th:
        // one visit in February there, none in March; in UTC, one in each month.
        let purchases = [
            Purchase {
                placed_at: Utc.with_ymd_and_hms(2026, 2, 28, 23, 0, 0).unwrap(),
                ..sale(1, "2026-01-01", 100)
            },
            Purchase {
                placed_at: Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap(),
                ..sale(1, "2026-01-01", 100)
            },
        ];
        let new_york =
            SalesHistory::new(&purchases, &[], chrono_tz::America::New_York).figures(march());
        assert_eq!(new_york.buyers, 0);
        let utc = SalesHistory::new(&purchases, &[], chrono_tz::UTC).figures(march());
        assert_eq!((utc.buyers, utc.second_order.median_days), (1, Some(1.0)));
    }

    #[test]
    fn nobody_bought_so_nothing_is_a_rate() {
        let f = SalesHistory::new(&[], &[], chrono_tz::UTC).figures(march());
        assert_eq!((f.buyers, f.repeat_purchase_rate), (0, None));
        assert_eq!(f.lifetime_value.net_spend, None);
        assert!(f.second_order.distribution.iter().all(|b| b.people == 0));
    }

    #[test]
    fn lifetime_value_is_in_the_currency_most_sales_are_in() {
        // Two USD sales, one EUR: USD. Person 2 bought only in EUR: a buyer, with no USD spend.
        let usd = |person, minor| Purchase {
            total: money(minor, "USD"),
            ..sale(person, "2026-03-02", 0)
        };
        let purchases = [usd(1, 1001), usd(1, 1000), sale(2, "2026-03-03", 5000)];
        let f = SalesHistory::new(&purchases, &[], chrono_tz::UTC).figures(march());
        assert_eq!(f.buyers, 2);
        assert_eq!(f.lifetime_value.net_spend, Some(money(2001, "USD")));
        // 20.01 / 2 = 10.005 → 10.01, half away from zero.
        assert_eq!(f.lifetime_value.mean_per_buyer, Some(money(1001, "USD")));
    }

    #[test]
    fn a_tie_of_currencies_goes_to_the_first_by_name() {
        let money = [
            money(1, "USD"),
            money(2, "EUR"),
            money(3, "GBP"),
            money(4, "USD"),
        ];
        assert_eq!(main_currency(money.iter()), Some(money[3].currency.clone()));
        let tied = [money[0].clone(), money[2].clone(), money[1].clone()];
        assert_eq!(main_currency(tied.iter()), Some(money[1].currency.clone()));
        assert_eq!(main_currency([].iter()), None);
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        assert_eq!(divide_rounded(5, 2), 3);
        assert_eq!(divide_rounded(-5, 2), -3);
        assert_eq!(divide_rounded(4, 3), 1);
        assert_eq!(divide_rounded(-7, 3), -2);
        assert_eq!(divide_rounded(6, 3), 2);
    }
}
