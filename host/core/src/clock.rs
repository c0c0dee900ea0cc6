//! The one clock every time-based rule reads. The daemon runs on the system clock; tests inject a
//! [`ManualClock`] and move it forward, so a year of shop life (journeys falling due, quiet hours
//! passing, caps emptying, predictions refitted) runs in seconds with nothing else faked.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// What time it is, for every rule and workflow that asks.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;

    /// [`Clock::now`] in milliseconds since the Unix epoch, as the store keeps times.
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// A shared clock, as the pipeline and its workers hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's own clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// A clock that stands still until told to move: set or advanced by whoever holds it (clones share
/// the same time). Time never goes backwards through [`ManualClock::advance`].
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn starting_at(at: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(at)),
        }
    }

    /// Moves the clock forward by `by` (a negative duration leaves it where it is).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by.max(Duration::zero());
    }

    /// Sets the clock to `at`, if that is not earlier than it reads now.
    pub fn set(&self, at: DateTime<Utc>) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = (*now).max(at);
    }

    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The first instant of `day` in `zone`: its midnight (the earliest, where a clock change repeats
/// midnight), or the first hour that exists where a clock change skips it.
pub fn day_start(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .find_map(|hour| {
            let local = day.and_hms_opt(hour, 0, 0)?;
            Some(
                zone.from_local_datetime(&local)
                    .earliest()?
                    .with_timezone(&Utc),
            )
        })
        .unwrap_or_else(|| day.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_forward_and_its_clones_share_the_time() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        let shared = clock.shared();
        clock.advance(Duration::days(365));
        assert_eq!(shared.now(), start + Duration::days(365));
        clock.advance(Duration::hours(-5));
        clock.set(start);
        assert_eq!(shared.now(), start + Duration::days(365));
        assert_eq!(
            shared.now_ms(),
            (start + Duration::days(365)).timestamp_millis()
        );
    }
}
