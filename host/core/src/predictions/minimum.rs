//! rapport's minimum data for predictions, and how far a shop is from it. Below it the models are
//! not fitted: their answers would be noise presented as figures.
//!
//! Klaviyo asks for 500 customers with orders, 180 days of history and some customers with three or
//! more orders. rapport is for small shops, so it asks for what the two models need to be
//! identified, with a margin:
//!
//! - 100 customers with a purchase: the BG/NBD has four parameters and the spread of purchase
//!   rates (r, α) is read from how x varies across customers;
//! - 30 repeat customers (x ≥ 1): the Gamma-Gamma is fitted on them alone, and they carry the
//!   BG/NBD's information on purchase timing;
//! - 10 customers with three or more purchase days (x ≥ 2): drop-out (a, b) shows only as silence
//!   after repeated buying, which one repeat purchase cannot tell from a slow buyer;
//! - 90 days from the first purchase to the end of the history: long enough for repeat purchases
//!   and silences to show; with less, every customer is young and P(alive) is all prior.
//!
//! The parameter-recovery test at this size (`predictions::tests`) checks that a fit converges.

use super::summary::ShopHistory;
use std::fmt;

/// The figures the minimum is about, for a shop's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFigures {
    /// Customers with at least one purchase day.
    pub customers: u64,
    /// Customers with two or more purchase days (x ≥ 1).
    pub repeat_customers: u64,
    /// Customers with three or more purchase days (x ≥ 2).
    pub frequent_customers: u64,
    /// Days from the shop's first purchase day to the end of the history.
    pub history_days: u64,
}

/// rapport's minimum.
pub const MINIMUM: DataFigures = DataFigures {
    customers: 100,
    repeat_customers: 30,
    frequent_customers: 10,
    history_days: 90,
};

impl DataFigures {
    /// The figures of a summarised history.
    pub fn of(history: &ShopHistory) -> DataFigures {
        let count = |at_least: u32| {
            (history.customers.values())
                .filter(|c| c.x >= at_least)
                .count() as u64
        };
        let first = history.first_days.values().min();
        DataFigures {
            customers: count(0),
            repeat_customers: count(1),
            frequent_customers: count(2),
            history_days: first.map_or(0, |f| (history.as_of - *f).num_days().max(0) as u64),
        }
    }

    /// What this shop lacks against `MINIMUM`; empty when it meets it.
    pub fn shortfall(&self) -> Shortfall {
        let rows = [
            (Figure::Customers, self.customers, MINIMUM.customers),
            (
                Figure::RepeatCustomers,
                self.repeat_customers,
                MINIMUM.repeat_customers,
            ),
            (
                Figure::FrequentCustomers,
                self.frequent_customers,
                MINIMUM.frequent_customers,
            ),
            (Figure::HistoryDays, self.history_days, MINIMUM.history_days),
        ];
        Shortfall(
            rows.into_iter()
                .filter(|(_, have, need)| have < need)
                .map(|(figure, have, need)| Gap { figure, have, need })
                .collect(),
        )
    }
}

/// One of the figures of the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Customers,
    RepeatCustomers,
    FrequentCustomers,
    HistoryDays,
}

impl Figure {
    /// The figure's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::Customers => "customers",
            Figure::RepeatCustomers => "repeat_customers",
            Figure::FrequentCustomers => "frequent_customers",
            Figure::HistoryDays => "history_days",
        }
    }

    /// What the figure counts, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Figure::Customers => "customers with a purchase",
            Figure::RepeatCustomers => "customers who came back (2+ purchase days)",
            Figure::FrequentCustomers => "customers with 3+ purchase days",
            Figure::HistoryDays => "days of history",
        }
    }
}

/// A figure below the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub figure: Figure,
    pub have: u64,
    pub need: u64,
}

/// What a shop lacks: one gap per figure below the minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall(pub Vec<Gap>);

impl Shortfall {
    pub fn is_met(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gaps: Vec<String> = (self.0.iter())
            .map(|g| {
                format!(
                    "{} {} of {} needed ({} more)",
                    g.have,
                    g.figure.describe(),
                    g.need,
                    g.need - g.have
                )
            })
            .collect();
        write!(f, "{}", gaps.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictions::summary::CustomerSummary;
    use crate::predictions::TimeUnit;
    use std::collections::BTreeMap;

    fn history(xs: &[u32], days: i64) -> ShopHistory {
        let as_of: chrono::NaiveDate = "2026-06-30".parse().unwrap();
        let summary = |x| CustomerSummary {
            x,
            t_x: 0.0,
            t: 0.0,
            mean_spend: None,
        };
        ShopHistory {
            as_of,
            time_unit: TimeUnit::Week,
            currency: Some("GBP".to_owned().try_into().unwrap()),
            customers: (0..).zip(xs.iter().map(|&x| summary(x))).collect(),
            first_days: (0..xs.len() as i64)
                .map(|i| (i, as_of - chrono::Duration::days(days - i.min(days))))
                .collect::<BTreeMap<_, _>>(),
            other_currency_sales: 0,
        }
    }

    #[test]
    fn a_shop_below_the_minimum_is_told_each_figure_it_lacks() {
        let figures = DataFigures::of(&history(&[0, 0, 1, 2, 3], 40));
        assert_eq!(
            figures,
            DataFigures {
                customers: 5,
                repeat_customers: 3,
                frequent_customers: 2,
                history_days: 40
            }
        );
        let shortfall = figures.shortfall();
        assert_eq!(shortfall.0.len(), 4);
        assert_eq!(
            shortfall.to_string(),
            "5 customers with a purchase of 100 needed (95 more); \
             3 customers who came back (2+ purchase days) of 30 needed (27 more); \
             2 customers with 3+ purchase days of 10 needed (8 more); \
             40 days of history of 90 needed (50 more)"
        );
    }

    #[test]
    fn a_shop_at_the_minimum_meets_it() {
        let mut xs = vec![0; 70];
        xs.extend([1; 20]);
        xs.extend([2; 10]);
        let figures = DataFigures::of(&history(&xs, 90));
        assert_eq!(figures, MINIMUM);
        assert!(figures.shortfall().is_met());
        let mut short = figures;
        short.history_days = 89;
        assert_eq!(
            short.shortfall().0,
            vec![Gap {
                figure: Figure::HistoryDays,
                have: 89,
                need: 90
            }]
        );
    }
}
