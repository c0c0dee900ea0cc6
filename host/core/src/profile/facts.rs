//! A person's facts from their counted sales and refunds: the summary the store keeps current on
//! every ingest, merge and unmerge, and that a full recompute must reproduce exactly.
//!
//! Definitions (the shop's time zone decides what a day is):
//! - orders: counted sales (completed, current version); split by channel into store and online;
//! - visits: distinct days with a counted sale; first and last visit are the first and last sale's
//!   `placed_at`;
//! - returns: current refunds;
//! - spend: in the person's main currency (the one they spent most in), counted sales minus
//!   refunds; sales and refunds in other currencies count as orders and returns, not as spend;
//! - typical basket: the median sale total in the main currency (the mean of the two middle ones,
//!   rounded half away from zero, for an even count);
//! - days between visits: the gaps between consecutive visit days; their mean and median;
//! - category spend: each category's line totals per calendar month (main currency), from which
//!   [`favoured_categories`] picks the top three of the last twelve months when asked.

use crate::model::{Currency, Money, Order, SalesChannel};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A counted sale, as the summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sale {
    pub placed_at: DateTime<Utc>,
    pub total: Money,
    pub channel: SalesChannel,
    /// Spend per category on the sale's lines (minor units of the sale's currency).
    pub categories: Vec<(String, i64)>,
}

/// One category's spend in one calendar month (`YYYY-MM`, shop time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryMonth {
    pub category: String,
    pub month: String,
    pub spend_minor: i64,
}

/// What a person's sales say about them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileFacts {
    pub orders: i64,
    pub store_orders: i64,
    pub online_orders: i64,
    pub visits: i64,
    pub returns: i64,
    pub first_visit_at: Option<DateTime<Utc>>,
    pub last_visit_at: Option<DateTime<Utc>>,
    /// The main currency; `None` before the first sale or refund.
    pub currency: Option<Currency>,
    /// Sales minus refunds in the main currency.
    pub net_spend_minor: i64,
    pub median_basket_minor: Option<i64>,
    pub mean_days_between_visits: Option<f64>,
    pub median_days_between_visits: Option<f64>,
    pub category_spend: Vec<CategoryMonth>,
}

impl ProfileFacts {
    /// Net spend as money, once there is a currency.
    pub fn net_spend(&self) -> Option<Money> {
        self.currency.clone().map(|currency| Money {
            minor: self.net_spend_minor,
            currency,
        })
    }
}

/// An order's spend per category: the totals of its lines that name a category and are in the
/// order's currency, summed per category, in the order the categories first appear.
pub fn sale_categories(order: &Order) -> Vec<(String, i64)> {
    let mut spend: Vec<(String, i64)> = Vec::new();
    for line in &order.lines {
        let Some(category) = line.category.as_deref().map(str::trim) else {
            continue;
        };
        if category.is_empty() || line.total.currency != order.total.currency {
            continue;
        }
        match spend.iter_mut().find(|(c, _)| c == category) {
            Some((_, sum)) => *sum += line.total.minor,
            None => spend.push((category.to_owned(), line.total.minor)),
        }
    }
    spend
}

/// Summarises a person's counted sales and current refunds; the order of either does not matter.
pub fn summarise(sales: &[Sale], refunds: &[Money], zone: Tz) -> ProfileFacts {
    let currency = main_currency(sales, refunds);
    let in_main = |m: &Money| Some(&m.currency) == currency.as_ref();
    let mut facts = ProfileFacts {
        orders: sales.len() as i64,
        returns: refunds.len() as i64,
        first_visit_at: sales.iter().map(|s| s.placed_at).min(),
        last_visit_at: sales.iter().map(|s| s.placed_at).max(),
        ..ProfileFacts::default()
    };
    for sale in sales {
        match sale.channel {
            SalesChannel::InStore => facts.store_orders += 1,
            SalesChannel::Online => facts.online_orders += 1,
            SalesChannel::Other => {}
        }
    }
    let days: BTreeSet<NaiveDate> = sales
        .iter()
        .map(|s| s.placed_at.with_timezone(&zone).date_naive())
        .collect();
    facts.visits = days.len() as i64;
    let gaps: Vec<f64> = days
        .iter()
        .zip(days.iter().skip(1))
        .map(|(a, b)| (*b - *a).num_days() as f64)
        .collect();
    if !gaps.is_empty() {
        facts.mean_days_between_visits = Some(gaps.iter().sum::<f64>() / gaps.len() as f64);
        facts.median_days_between_visits = Some(median_f64(gaps));
    }
    let mut baskets: Vec<i64> = (sales.iter())
        .filter(|s| in_main(&s.total))
        .map(|s| s.total.minor)
        .collect();
    facts.net_spend_minor = baskets.iter().sum::<i64>()
        - refunds
            .iter()
            .filter(|r| in_main(r))
            .map(|r| r.minor)
            .sum::<i64>();
    facts.median_basket_minor = median_minor(&mut baskets);
    let mut by_month: BTreeMap<(String, String), i64> = BTreeMap::new();
    for sale in sales.iter().filter(|s| in_main(&s.total)) {
        let local = sale.placed_at.with_timezone(&zone);
        let month = format!("{:04}-{:02}", local.year(), local.month());
        for (category, spend) in &sale.categories {
            *by_month
                .entry((category.clone(), month.clone()))
                .or_default() += spend;
        }
    }
    facts.category_spend = by_month
        .into_iter()
        .map(|((category, month), spend_minor)| CategoryMonth {
            category,
            month,
            spend_minor,
        })
        .collect();
    facts.currency = currency;
    facts
}

/// The currency the person spent most in (sales, then refunds for someone with refunds only);
/// ties go to the alphabetically first, so the choice never depends on order.
fn main_currency(sales: &[Sale], refunds: &[Money]) -> Option<Currency> {
    let mut spent: BTreeMap<&str, (i64, &Currency)> = BTreeMap::new();
    for money in sales.iter().map(|s| &s.total) {
        spent
            .entry(money.currency.as_str())
            .or_insert((0, &money.currency))
            .0 += money.minor;
    }
    if spent.is_empty() {
        return refunds
            .iter()
            .map(|r| &r.currency)
            .min_by_key(|c| c.as_str())
            .cloned();
    }
    // BTreeMap iterates alphabetically and max_by_key keeps the last maximum: reverse for the first.
    spent
        .values()
        .rev()
        .max_by_key(|(sum, _)| *sum)
        .map(|(_, currency)| (*currency).clone())
}

/// The median of whole minor units: the mean of the two middle values for an even count, rounded
/// half away from zero.
fn median_minor(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    if n % 2 == 1 {
        return Some(values[n / 2]);
    }
    let sum = values[n / 2 - 1] + values[n / 2];
    Some(match sum % 2 {
        0 => sum / 2,
        _ if sum > 0 => sum / 2 + 1,
        _ => sum / 2 - 1,
    })
}

pub(crate) fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n % 2 {
        1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The top `n` categories by spend over the twelve calendar months up to and including `today`'s
/// (shop time), highest first (ties alphabetically); categories with no positive spend are left
/// out.
pub fn favoured_categories(
    spend: &[CategoryMonth],
    today: NaiveDate,
    n: usize,
) -> Vec<(String, i64)> {
    let this_month = today.year() * 12 + today.month0() as i32;
    let in_window = |month: &str| {
        let (y, m) = month.split_once('-')?;
        let index = y.parse::<i32>().ok()? * 12 + m.parse::<i32>().ok()? - 1;
        Some((this_month - 11..=this_month).contains(&index))
    };
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for c in spend.iter().filter(|c| in_window(&c.month) == Some(true)) {
        *totals.entry(&c.category).or_default() += c.spend_minor;
    }
    let mut ranked: Vec<(String, i64)> = totals
        .into_iter()
        .filter(|(_, spend)| *spend > 0)
        .map(|(c, s)| (c.to_owned(), s))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn eur(minor: i64) -> Money {
        Money {
            minor,
            currency: "EUR".to_owned().try_into().unwrap(),
        }
    }

    fn sale(at: &str, minor: i64, channel: SalesChannel, categories: &[(&str, i64)]) -> Sale {
        Sale {
            placed_at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            total: eur(minor),
            channel,
            categories: categories
                .iter()
                .map(|(c, s)| (c.to_string(), *s))
                .collect(),
        }
    }

    #[test]
    fn a_hand_computed_history() {
        use SalesChannel::*;
        // Visits on 1, 3, 10 and 20 March (two sales on the 3rd): gaps 2, 7, 10 days.
        let sales = [
            sale("2026-03-01T10:00:00Z", 1200, InStore, &[("coffee", 1200)]),
            sale(
                "2026-03-03T09:00:00Z",
                800,
                InStore,
                &[("coffee", 500), ("mugs", 300)],
            ),
            sale("2026-03-03T17:00:00Z", 2000, Online, &[("beans", 2000)]),
            sale("2026-03-10T08:00:00Z", 450, InStore, &[("coffee", 450)]),
            sale("2026-03-20T08:00:00Z", 3000, Online, &[("mugs", 3000)]),
        ];
        let facts = summarise(&sales, &[eur(300)], chrono_tz::UTC);
        assert_eq!(
            (facts.orders, facts.store_orders, facts.online_orders),
            (5, 3, 2)
        );
        assert_eq!((facts.visits, facts.returns), (4, 1));
        assert_eq!(facts.net_spend_minor, 1200 + 800 + 2000 + 450 + 3000 - 300);
        // Baskets 450, 800, 1200, 2000, 3000.
        assert_eq!(facts.median_basket_minor, Some(1200));
        assert_eq!(facts.mean_days_between_visits, Some(19.0 / 3.0));
        assert_eq!(facts.median_days_between_visits, Some(7.0));
        assert_eq!(facts.first_visit_at, Some(sales[0].placed_at));
        assert_eq!(facts.last_visit_at, Some(sales[4].placed_at));
        let today = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        assert_eq!(
            favoured_categories(&facts.category_spend, today, 3),
            [
                ("mugs".into(), 3300),
                ("coffee".into(), 2150),
                ("beans".into(), 2000)
            ]
        );
    }

    #[test]
    fn a_visit_is_a_day_in_the_shops_time_zone() {
        // 23:30 and 00:30 UTC are the same evening in New York, two days in UTC.
        let sales = [
            sale("2026-03-01T23:30:00Z", 100, SalesChannel::InStore, &[]),
            sale("2026-03-02T00:30:00Z", 100, SalesChannel::InStore, &[]),
        ];
        assert_eq!(summarise(&sales, &[], chrono_tz::UTC).visits, 2);
        assert_eq!(
            summarise(&sales, &[], chrono_tz::America::New_York).visits,
            1
        );
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two_rounded_half_away_from_zero() {
        assert_eq!(median_minor(&mut [100, 201]), Some(151));
        assert_eq!(median_minor(&mut [400, 100, 300, 200]), Some(250));
        assert_eq!(median_minor(&mut []), None);
    }

    #[test]
    fn spend_is_in_the_main_currency_only() {
        let usd = |minor| Money {
            minor,
            currency: "USD".to_owned().try_into().unwrap(),
        };
        let mut sales = vec![
            sale(
                "2026-03-01T10:00:00Z",
                5000,
                SalesChannel::InStore,
                &[("a", 5000)],
            ),
            sale(
                "2026-03-02T10:00:00Z",
                1000,
                SalesChannel::InStore,
                &[("b", 1000)],
            ),
        ];
        sales[1].total = usd(1000);
        let facts = summarise(&sales, &[usd(500)], chrono_tz::UTC);
        assert_eq!(facts.currency.unwrap().as_str(), "EUR");
        assert_eq!(
            (facts.orders, facts.returns, facts.net_spend_minor),
            (2, 1, 5000)
        );
        assert_eq!(facts.median_basket_minor, Some(5000));
        assert_eq!(facts.category_spend.len(), 1);
    }

    #[test]
    fn nothing_bought_is_no_visit_and_no_rhythm() {
        let facts = summarise(&[], &[eur(200)], chrono_tz::UTC);
        assert_eq!((facts.orders, facts.visits, facts.returns), (0, 0, 1));
        assert_eq!(facts.net_spend_minor, -200);
        assert_eq!(facts.first_visit_at, None);
        assert_eq!(facts.mean_days_between_visits, None);
    }

    #[test]
    fn favoured_categories_look_back_twelve_calendar_months() {
        let month = |m: &str, spend| CategoryMonth {
            category: m.split('/').next().unwrap().into(),
            month: m.split('/').nth(1).unwrap().into(),
            spend_minor: spend,
        };
        let spend = [
            month("old/2025-03", 9000),
            month("new/2025-04", 10),
            month("now/2026-03", 20),
        ];
        let today = Utc
            .with_ymd_and_hms(2026, 3, 15, 0, 0, 0)
            .unwrap()
            .date_naive();
        assert_eq!(
            favoured_categories(&spend, today, 3),
            [("now".into(), 20), ("new".into(), 10)]
        );
    }
}
