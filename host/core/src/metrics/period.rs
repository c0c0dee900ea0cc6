//! The date range business metrics cover: whole days of the shop's calendar, `[from, to)` (`to`
//! is not included, so two adjacent ranges share no day), and the previous range of equal length
//! that every figure is shown beside.

use crate::clock::day_start;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// How many days the metrics cover when no range is given: the last 30, today included.
pub const DEFAULT_DAYS: i64 = 30;

/// Days `from` (included) to `to` (excluded), in the shop's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Why a range is not a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("from {from} must be before to {to} (the range is [from, to): to is not included)")]
pub struct EmptyPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The range `[from, to)`; refused unless it holds at least one day.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, EmptyPeriod> {
        match from < to {
            true => Ok(Period { from, to }),
            false => Err(EmptyPeriod { from, to }),
        }
    }

    /// The range between `from` and `to`, either of which may be missing: `to` defaults to the
    /// day after `today` (today included), `from` to [`DEFAULT_DAYS`] before `to`.
    pub fn or_default(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Period, EmptyPeriod> {
        let to = to.unwrap_or(today + Duration::days(1));
        Period::new(from.unwrap_or(to - Duration::days(DEFAULT_DAYS)), to)
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// The range of equal length that ends where this one starts.
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - Duration::days(self.days()),
            to: self.from,
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day < self.to
    }

    /// The instants the range starts and ends (excluded) in `zone`: the starts of `from` and `to`.
    pub fn bounds(&self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (day_start(zone, self.from), day_start(zone, self.to))
    }

    /// The last day the range holds.
    pub fn last_day(&self) -> NaiveDate {
        self.to - Duration::days(1)
    }
}

/// A figure for a period, and the same figure for the period before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compared<T> {
    pub current: T,
    pub previous: T,
}

impl<T> Compared<T> {
    /// `figure` of `period` and of the period before it.
    pub fn of(period: Period, figure: impl Fn(Period) -> T) -> Compared<T> {
        Compared {
            current: figure(period),
            previous: figure(period.previous()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn bounds_are_the_local_midnights_even_across_a_clock_change() {
        // New York springs forward on 8 March 2026: the period holds 23 + 24 hours.
        let period = Period::new(day("2026-03-08"), day("2026-03-10")).unwrap();
        let (from, to) = period.bounds(chrono_tz::America::New_York);
        assert_eq!(from.to_rfc3339(), "2026-03-08T05:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-10T04:00:00+00:00");
        // Santiago's clocks skip midnight (to 01:00) on 6 September 2026: the day starts at 01:00.
        let skipped = Period::new(day("2026-09-06"), day("2026-09-07")).unwrap();
        let (from, _) = skipped.bounds(chrono_tz::America::Santiago);
        assert_eq!(from.to_rfc3339(), "2026-09-06T04:00:00+00:00");
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_where_this_one_starts() {
        // 1 to 31 March: 30 days; the 30 before start on 30 January (February has 28 days).
        let march = Period::new(day("2026-03-01"), day("2026-03-31")).unwrap();
        assert_eq!(march.days(), 30);
        assert_eq!(
            march.previous(),
            Period {
                from: day("2026-01-30"),
                to: day("2026-03-01")
            }
        );
        assert!(march.contains(day("2026-03-01")) && march.contains(day("2026-03-30")));
        assert!(!march.contains(day("2026-03-31")) && !march.contains(day("2026-02-28")));
        assert_eq!(march.last_day(), day("2026-03-30"));
    }

    #[test]
    fn a_range_without_a_day_is_refused_with_both_ends_named() {
        let same = Period::new(day("2026-03-01"), day("2026-03-01")).unwrap_err();
        assert_eq!(
            same.to_string(),
            "from 2026-03-01 must be before to 2026-03-01 (the range is [from, to): to is not \
             included)"
        );
        assert!(Period::new(day("2026-03-02"), day("2026-03-01")).is_err());
    }

    #[test]
    fn the_default_is_the_last_thirty_days_today_included() {
        // Today 15 March: to is the 16th (excluded), from 30 days before it, the 14th of February.
        let today = day("2026-03-15");
        let period = Period::or_default(None, None, today).unwrap();
        assert_eq!(
            (period.from, period.to),
            (day("2026-02-14"), day("2026-03-16"))
        );
        assert_eq!(period.days(), DEFAULT_DAYS);
        // Only `to` given: the 30 days before it.
        let before = Period::or_default(None, Some(day("2026-03-01")), today).unwrap();
        assert_eq!(before.from, day("2026-01-30"));
        // Only `from` given: up to today.
        let since = Period::or_default(Some(day("2026-03-10")), None, today).unwrap();
        assert_eq!((since.from, since.days()), (day("2026-03-10"), 6));
        assert!(Period::or_default(Some(day("2026-04-01")), None, today).is_err());
    }
}
