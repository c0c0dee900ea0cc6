//! From a person's sales to what the models read: the days they bought on, in the shop's time
//! zone, and the summary (x, tₓ, T, mean spend) the papers define.
//!
//! Definitions, as in Fader, Hardie & Lee (2005) and their CDNOW summary: a purchase is a day on
//! which the person bought (several orders on one day are one purchase, their amounts added); x is
//! the number of purchase days after the first; tₓ the time from the first purchase day to the
//! last; T the time from the first purchase day to the end of the history (the `as_of` date,
//! whose sales count); the mean spend is the mean of the repeat purchase days' amounts (the first
//! day's is left out, as the Gamma-Gamma paper does), in major units of the shop's currency.
//!
//! Refunds do not enter: a refunded order was still a visit, and the spend is what was sold. Sales
//! in other currencies than the shop's main one (the one most of its sales are in) are left out,
//! since spends in two currencies cannot be averaged.

use super::TimeUnit;
use crate::model::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// One completed order of a person, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sale {
    pub profile_id: i64,
    pub placed_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub currency: Currency,
}

/// What the models know of one customer: x, tₓ and T in the fit's time unit, and the mean spend
/// of the repeat purchase days (`None` when x = 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerSummary {
    /// x: purchase days after the first.
    pub x: u32,
    /// tₓ: from the first purchase day to the last.
    pub t_x: f64,
    /// T: from the first purchase day to the end of the history.
    pub t: f64,
    /// z̄: the mean spend of the repeat purchase days, in major units.
    pub mean_spend: Option<f64>,
}

/// A shop's history up to a date, summarised per customer.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopHistory {
    pub as_of: NaiveDate,
    pub time_unit: TimeUnit,
    /// The currency whose sales were summarised; `None` when there were none.
    pub currency: Option<Currency>,
    /// Each customer with a purchase on or before `as_of`, by profile id.
    pub customers: BTreeMap<i64, CustomerSummary>,
    /// Each customer's first purchase day.
    pub first_days: BTreeMap<i64, NaiveDate>,
    /// Sales left out for being in another currency.
    pub other_currency_sales: usize,
}

impl ShopHistory {
    /// Summarises `sales` (any order) up to and including the day `as_of` in `time_zone`. The
    /// shop's currency is the one most of the sales up to then are in (ties: the first by name).
    pub fn summarise(
        sales: &[Sale],
        time_zone: Tz,
        as_of: NaiveDate,
        time_unit: TimeUnit,
    ) -> ShopHistory {
        let in_history: Vec<(&Sale, NaiveDate)> = sales
            .iter()
            .map(|s| (s, s.placed_at.with_timezone(&time_zone).date_naive()))
            .filter(|(_, day)| *day <= as_of)
            .collect();
        let mut per_currency: BTreeMap<&str, (usize, &Currency)> = BTreeMap::new();
        for (sale, _) in &in_history {
            let code = sale.currency.as_str();
            per_currency.entry(code).or_insert((0, &sale.currency)).0 += 1;
        }
        let currency = per_currency
            .iter()
            .max_by(|a, b| (a.1).0.cmp(&(b.1).0).then(b.0.cmp(a.0)))
            .map(|(_, (_, c))| (*c).clone());
        ShopHistory::summarise_in(sales, time_zone, as_of, time_unit, currency)
    }

    /// Summarises `sales` as [`summarise`](Self::summarise) does, in a given currency: one
    /// person's sales in the currency of the shop's fit.
    pub fn summarise_in(
        sales: &[Sale],
        time_zone: Tz,
        as_of: NaiveDate,
        time_unit: TimeUnit,
        currency: Option<Currency>,
    ) -> ShopHistory {
        let in_history = sales
            .iter()
            .map(|s| (s, s.placed_at.with_timezone(&time_zone).date_naive()))
            .filter(|(_, day)| *day <= as_of);
        let exponent = currency
            .as_ref()
            .map_or(2, |c| minor_unit_exponent(c.as_str()));
        let mut other_currency_sales = 0;
        let mut sold: Vec<(i64, NaiveDate, i64)> = Vec::new();
        for (sale, day) in in_history {
            if Some(&sale.currency) != currency.as_ref() {
                other_currency_sales += 1;
                continue;
            }
            sold.push((sale.profile_id, day, sale.amount_minor));
        }
        // By customer and day, then each customer's days with their spend (sorted, where a map
        // per customer cost a node per sale).
        sold.sort_unstable_by_key(|(profile, day, _)| (*profile, *day));
        let mut customers = BTreeMap::new();
        let mut first_days = BTreeMap::new();
        let (mut spent, mut days): (Vec<(NaiveDate, i64)>, Vec<PurchaseDay>) = Default::default();
        for (i, (profile, day, minor)) in sold.iter().enumerate() {
            match spent.last_mut() {
                Some((last, sum)) if last == day => *sum += minor,
                _ => spent.push((*day, *minor)),
            }
            if sold.get(i + 1).is_some_and(|(next, _, _)| next == profile) {
                continue;
            }
            days.extend(spent.drain(..).map(|(day, minor)| PurchaseDay {
                day,
                spend: minor as f64 / 10f64.powi(exponent),
            }));
            if let Some(summary) = summarise_days(&days, as_of, time_unit) {
                customers.insert(*profile, summary);
                first_days.insert(*profile, days[0].day);
            }
            days.clear();
        }
        ShopHistory {
            as_of,
            time_unit,
            currency,
            customers,
            first_days,
            other_currency_sales,
        }
    }
}

/// A day a person bought on, with what they spent that day (major units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurchaseDay {
    pub day: NaiveDate,
    pub spend: f64,
}

/// The summary of one person's purchase days (distinct, in ascending order) up to `as_of`; `None`
/// if none is on or before it.
pub fn summarise_days(
    days: &[PurchaseDay],
    as_of: NaiveDate,
    time_unit: TimeUnit,
) -> Option<CustomerSummary> {
    let days: Vec<&PurchaseDay> = days.iter().filter(|d| d.day <= as_of).collect();
    let first = days.first()?;
    let last = days.last()?;
    let x = days.len() - 1;
    let since_first = |day: NaiveDate| time_unit.of_days((day - first.day).num_days() as f64);
    let repeat_spend: f64 = days[1..].iter().map(|d| d.spend).sum();
    Some(CustomerSummary {
        x: x as u32,
        t_x: since_first(last.day),
        t: since_first(as_of),
        mean_spend: (x > 0).then(|| repeat_spend / x as f64),
    })
}

/// How many decimal places the minor unit of an ISO 4217 currency has: 0 for the yen and its
/// like, 3 for the dinars and rials that count thousandths, 2 for the rest.
pub fn minor_unit_exponent(currency: &str) -> i32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn sale(profile_id: i64, at: &str, amount_minor: i64, currency: &str) -> Sale {
        Sale {
            profile_id,
            placed_at: at.parse().unwrap(),
            amount_minor,
            currency: currency.to_owned().try_into().unwrap(),
        }
    }

    #[test]
    fn a_summary_counts_days_after_the_first_in_weeks() {
        let days = [
            PurchaseDay {
                day: day("1997-01-01"),
                spend: 29.33,
            },
            PurchaseDay {
                day: day("1997-01-18"),
                spend: 29.73,
            },
            PurchaseDay {
                day: day("1997-08-02"),
                spend: 14.96,
            },
            PurchaseDay {
                day: day("1997-12-12"),
                spend: 26.48,
            },
        ];
        // CDNOW customer 1 over the 39-week calibration: x = 2, tₓ = 30.43, T = 38.86, z̄ = 22.35.
        let s = summarise_days(&days, day("1997-09-30"), TimeUnit::Week).unwrap();
        assert_eq!(s.x, 2);
        assert!((s.t_x - 213.0 / 7.0).abs() < 1e-12);
        assert!((s.t - 272.0 / 7.0).abs() < 1e-12);
        assert!((s.mean_spend.unwrap() - 22.345).abs() < 1e-9);
        let once = summarise_days(&days[..1], day("1997-01-01"), TimeUnit::Day).unwrap();
        assert_eq!(
            once,
            CustomerSummary {
                x: 0,
                t_x: 0.0,
                t: 0.0,
                mean_spend: None
            }
        );
        assert_eq!(
            summarise_days(&days, day("1996-12-31"), TimeUnit::Week),
            None
        );
    }

    #[test]
    fn a_shop_history_groups_days_in_the_shop_time_zone_and_keeps_one_currency() {
        let sales = [
            // 23:30 UTC on the 1st is the 2nd in Berlin: both orders fall on one day there.
            sale(1, "2026-03-01T23:30:00Z", 1000, "EUR"),
            sale(1, "2026-03-02T09:00:00Z", 250, "EUR"),
            sale(1, "2026-03-09T10:00:00Z", 500, "EUR"),
            sale(1, "2026-03-20T10:00:00Z", 700, "EUR"),
            sale(2, "2026-03-05T10:00:00Z", 900, "EUR"),
            sale(2, "2026-03-06T10:00:00Z", 300, "USD"),
            sale(3, "2026-03-07T10:00:00Z", 8000, "JPY"),
        ];
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let history = ShopHistory::summarise(&sales, tz, day("2026-03-16"), TimeUnit::Day);
        assert_eq!(history.currency.as_ref().unwrap().as_str(), "EUR");
        assert_eq!(history.other_currency_sales, 2);
        assert_eq!(history.customers.len(), 2);
        assert_eq!(
            history.customers[&1],
            CustomerSummary {
                x: 1,
                t_x: 7.0,
                t: 14.0,
                mean_spend: Some(5.0)
            }
        );
        assert_eq!(history.customers[&2].x, 0);
        assert_eq!(history.first_days[&1], day("2026-03-02"));
        let utc = ShopHistory::summarise(&sales, chrono_tz::UTC, day("2026-03-16"), TimeUnit::Day);
        assert_eq!(utc.customers[&1].x, 2);
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_unit_exponent("JPY"), 0);
        assert_eq!(minor_unit_exponent("KWD"), 3);
        assert_eq!(minor_unit_exponent("GBP"), 2);
    }
}
