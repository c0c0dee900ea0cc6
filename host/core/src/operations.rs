//! Operations figures, pure: a sink's service-level objective and the error budget it leaves, and
//! the nearest-rank percentile the sync latency is read at. The store counts and ranks; these rules
//! say which rank is a percentile and how much of a budget a window's failures burned.

use std::time::Duration;

/// A connector's service-level objective: the share of its finished work items that should reach
/// the CRM, over a trailing window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Slo {
    /// Between 0 and 1, exclusive: 0.995 allows one failure in 200 items.
    pub target: f64,
    /// The trailing window the objective is measured over.
    #[serde(with = "whole_days")]
    pub window: Duration,
}

/// Why an objective cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    #[error("slo must be above 0 and below 1 (0.995 allows one failure in 200), not {0}")]
    Target(f64),
    #[error("slo_window_days must be between 1 and 366, not {0}")]
    Window(u32),
}

impl Slo {
    /// The objective when the config names none: 99.5 % over 28 days.
    pub const DEFAULT_TARGET: f64 = 0.995;
    pub const DEFAULT_WINDOW_DAYS: u32 = 28;

    pub fn new(target: f64, window_days: u32) -> Result<Slo, SloError> {
        if !(target > 0.0 && target < 1.0) {
            return Err(SloError::Target(target));
        }
        if !(1..=366).contains(&window_days) {
            return Err(SloError::Window(window_days));
        }
        Ok(Slo {
            target,
            window: Duration::from_secs(u64::from(window_days) * 86_400),
        })
    }
}

impl Default for Slo {
    fn default() -> Self {
        Slo::new(Slo::DEFAULT_TARGET, Slo::DEFAULT_WINDOW_DAYS).expect("the default is valid")
    }
}

/// How a sink's work items finished within a window. Items withheld for consent were never
/// attempted and count in none of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcomes {
    /// Confirmed by the sink.
    pub delivered: u64,
    /// Refused for good by the vendor.
    pub rejected: u64,
    /// Retries exhausted (dead-lettered).
    pub dead: u64,
}

impl Outcomes {
    pub fn finished(&self) -> u64 {
        self.delivered + self.rejected + self.dead
    }

    /// Items that never reached the CRM: rejected or dead.
    pub fn failed(&self) -> u64 {
        self.rejected + self.dead
    }
}

/// What a window's failures did to a sink's error budget. The budget is the failures the
/// objective allows among the items finished in the window, `(1 - target) × finished`; a failure is
/// an item rejected or dead-lettered (see [`Outcomes::failed`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ErrorBudget {
    /// Failures the objective allows in the window.
    pub allowed_failures: f64,
    pub failures: u64,
    /// Share of the budget used: 1 is all of it, above 1 is overspent. 0 when nothing finished.
    pub burned: f64,
    /// `1 - burned`: negative once overspent.
    pub remaining: f64,
}

impl ErrorBudget {
    pub fn of(slo: &Slo, outcomes: &Outcomes) -> ErrorBudget {
        let allowed_failures = (1.0 - slo.target) * outcomes.finished() as f64;
        let failures = outcomes.failed();
        let burned = match outcomes.finished() {
            0 => 0.0,
            _ => failures as f64 / allowed_failures,
        };
        ErrorBudget {
            allowed_failures,
            failures,
            burned,
            remaining: 1.0 - burned,
        }
    }
}

/// The 1-based rank of the `quantile` (0 < q ≤ 1) among `count` values sorted ascending, by the
/// nearest-rank method: the smallest value at least `q` of the values are at or below, `⌈q × n⌉`.
/// `None` when there are no values.
pub fn nearest_rank(count: u64, quantile: f64) -> Option<u64> {
    (count > 0).then(|| ((quantile * count as f64).ceil() as u64).clamp(1, count))
}

/// Values counted by value, for their percentiles by the nearest-rank method: a window's latencies
/// as the store counts them, without a row per delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedValues {
    /// Each value and how many times it occurs, smallest first.
    counts: Vec<(i64, u64)>,
    total: u64,
}

impl CountedValues {
    /// The values of `counts` (each value with how many times it occurs; any order, a value may
    /// repeat).
    pub fn new(mut counts: Vec<(i64, u64)>) -> CountedValues {
        counts.sort_unstable();
        CountedValues {
            total: counts.iter().map(|(_, n)| n).sum(),
            counts,
        }
    }

    /// How many values there are.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value at `quantile` (0 < q ≤ 1), the one at its [`nearest_rank`]; `None` when there
    /// are no values.
    pub fn at_quantile(&self, quantile: f64) -> Option<i64> {
        let rank = nearest_rank(self.total, quantile)?;
        let mut upto = 0;
        (self.counts.iter())
            .find(|(_, n)| {
                upto += n;
                upto >= rank
            })
            .map(|(value, _)| *value)
    }
}

/// Serialises a window as its whole number of days.
mod whole_days {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(window: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(window.as_secs() / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_counted_values_match_the_values_sorted() {
        // 3 × 10 ms, 1 × 5 ms, 5 × 40 ms, 1 × 7 ms (given out of order, 40 split in two): sorted,
        // 5 7 10 10 10 40 40 40 40 40. p50 is the 5th (10), p90 the 9th (40), p10 the 1st (5),
        // p20 the 2nd (7).
        let values = CountedValues::new(vec![(10, 3), (40, 2), (5, 1), (40, 3), (7, 1)]);
        assert_eq!(values.total(), 10);
        let at = |q| values.at_quantile(q);
        assert_eq!(
            (at(0.1), at(0.2), at(0.5), at(0.6), at(0.9), at(1.0)),
            (Some(5), Some(7), Some(10), Some(40), Some(40), Some(40))
        );
        assert_eq!(CountedValues::new(vec![]).at_quantile(0.5), None);
    }

    #[test]
    fn nearest_rank_of_ten_values() {
        // Ten values: the median is the 5th (⌈0.5 × 10⌉), p99 the 10th (⌈9.9⌉), p90 the 9th.
        assert_eq!(nearest_rank(10, 0.5), Some(5));
        assert_eq!(nearest_rank(10, 0.99), Some(10));
        assert_eq!(nearest_rank(10, 0.9), Some(9));
        // Two hundred: p99 is the 198th (⌈198.0⌉), p50 the 100th.
        assert_eq!(nearest_rank(200, 0.99), Some(198));
        assert_eq!(nearest_rank(200, 0.5), Some(100));
        // One value is every percentile; none has none.
        assert_eq!(nearest_rank(1, 0.5), Some(1));
        assert_eq!(nearest_rank(1, 0.99), Some(1));
        assert_eq!(nearest_rank(0, 0.5), None);
    }

    #[test]
    fn a_half_burned_budget() {
        // 99 % over 200 items allows 2 failures; one rejection burns half.
        let slo = Slo::new(0.99, 7).unwrap();
        let outcomes = Outcomes {
            delivered: 199,
            rejected: 1,
            dead: 0,
        };
        let budget = ErrorBudget::of(&slo, &outcomes);
        assert!((budget.allowed_failures - 2.0).abs() < 1e-9, "{budget:?}");
        assert_eq!(budget.failures, 1);
        assert!((budget.burned - 0.5).abs() < 1e-9, "{budget:?}");
        assert!((budget.remaining - 0.5).abs() < 1e-9, "{budget:?}");
    }

    #[test]
    fn an_overspent_budget_goes_negative() {
        // 99.5 % over 400 items allows 2 failures; 1 rejected and 2 dead burn 150 %.
        let outcomes = Outcomes {
            delivered: 397,
            rejected: 1,
            dead: 2,
        };
        let budget = ErrorBudget::of(&Slo::default(), &outcomes);
        assert!((budget.allowed_failures - 2.0).abs() < 1e-9, "{budget:?}");
        assert_eq!(budget.failures, 3);
        assert!((budget.burned - 1.5).abs() < 1e-9, "{budget:?}");
        assert!((budget.remaining + 0.5).abs() < 1e-9, "{budget:?}");
    }

    #[test]
    fn nothing_finished_burns_nothing() {
        let budget = ErrorBudget::of(&Slo::default(), &Outcomes::default());
        assert_eq!(
            (budget.failures, budget.burned, budget.remaining),
            (0, 0.0, 1.0)
        );
    }

    #[test]
    fn objectives_outside_their_range_are_refused() {
        assert_eq!(Slo::new(1.0, 28), Err(SloError::Target(1.0)));
        assert_eq!(Slo::new(0.0, 28), Err(SloError::Target(0.0)));
        assert!(matches!(Slo::new(f64::NAN, 28), Err(SloError::Target(_))));
        assert_eq!(Slo::new(0.99, 0), Err(SloError::Window(0)));
        assert_eq!(Slo::new(0.99, 367), Err(SloError::Window(367)));
        let slo = Slo::default();
        assert_eq!(
            (slo.target, slo.window),
            (0.995, Duration::from_secs(28 * 86_400))
        );
    }
}
