//! `[pairs]`: the guards product pairs are mined under (`rapport_core::pairs`), the window of sales
//! they are mined from and how often the daemon mines them again. The defaults keep a small shop
//! from being told noise:
//!
//! - `min_baskets = 100`: below a hundred sales a pair seen five times is one sale in twenty, and
//!   one regular's habit makes it; a shop with 40 sales a day is past it in three days.
//! - `min_pair_baskets = 5`: a pair in fewer baskets can be one customer or one party's order, and
//!   two rare items bought together twice show a lift in the tens that means nothing.
//! - `min_support = 0.005`: one basket in two hundred. In a year of 40 sales a day (14,600
//!   baskets) that is 73 baskets, a pair that comes up every few days; rarer pairs are the long
//!   tail, too seldom to act on.
//! - `min_confidence = 0.1`: at least one buyer of the first item in ten takes the second; a
//!   suggestion right less often than that is mostly an interruption. Lift must exceed 1 always:
//!   otherwise the first item says nothing for the second.
//! - `window_days = 365`: a year holds every season's pairs, and older baskets speak of a range
//!   the shop may no longer sell.
//! - `interval_hours = 24`: one day's baskets barely move a year's counts.

use rapport_core::pairs::Guards;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairsConfig {
    /// Baskets (sales with items) in the window before any pair is reported.
    pub min_baskets: u64,
    /// Baskets that must hold both items of a pair.
    pub min_pair_baskets: u64,
    /// Least share of baskets holding both items, between 0 and 1.
    pub min_support: f64,
    /// Least share of the first item's baskets that hold the second, between 0 and 1.
    pub min_confidence: f64,
    /// Days of sales, back from now, pairs are mined from.
    pub window_days: u32,
    /// How often the daemon mines pairs again.
    pub interval_hours: u64,
}

impl Default for PairsConfig {
    fn default() -> Self {
        PairsConfig {
            min_baskets: 100,
            min_pair_baskets: 5,
            min_support: 0.005,
            min_confidence: 0.1,
            window_days: 365,
            interval_hours: 24,
        }
    }
}

impl PairsConfig {
    pub fn guards(&self) -> Guards {
        Guards {
            min_baskets: self.min_baskets,
            min_pair_baskets: self.min_pair_baskets,
            min_support: self.min_support,
            min_confidence: self.min_confidence,
        }
    }

    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.window_days))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_hours * 3600)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.min_pair_baskets < 1 || self.min_baskets < self.min_pair_baskets {
            return Err(format!(
                "[pairs] min_pair_baskets must be at least 1 and min_baskets at least min_pair_baskets (they are {} and {})",
                self.min_pair_baskets, self.min_baskets
            ));
        }
        for (name, share) in [
            ("min_support", self.min_support),
            ("min_confidence", self.min_confidence),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "[pairs] {name} is a share of baskets, between 0 and 1, not {share}"
                ));
            }
        }
        if self.window_days == 0 || !(1..=24 * 366).contains(&self.interval_hours) {
            return Err(
                "[pairs] window_days must be at least 1 and interval_hours between 1 and 8784"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn defaults_and_settings_are_read() {
        let config = Config::parse("", Path::new(".")).unwrap();
        let guards = config.pairs.guards();
        assert_eq!((guards.min_baskets, guards.min_pair_baskets), (100, 5));
        assert_eq!((guards.min_support, guards.min_confidence), (0.005, 0.1));
        assert_eq!(config.pairs.window(), chrono::Duration::days(365));
        assert_eq!(config.pairs.interval().as_secs(), 86_400);
        let text = "[pairs]\nmin_baskets = 20\nmin_pair_baskets = 3\nwindow_days = 90\n";
        let config = Config::parse(text, Path::new(".")).unwrap();
        assert_eq!(config.pairs.guards().min_baskets, 20);
        assert_eq!(config.pairs.window(), chrono::Duration::days(90));
    }

    #[test]
    fn bad_guards_are_refused_naming_them() {
        for (text, named) in [
            ("min_pair_baskets = 0", "min_pair_baskets"),
            ("min_baskets = 4", "min_baskets"),
            ("min_support = 1.5", "min_support"),
            ("min_confidence = -0.1", "min_confidence"),
            ("window_days = 0", "window_days"),
            ("interval_hours = 0", "interval_hours"),
            ("min_lift = 2", "min_lift"),
        ] {
            let err = Config::parse(&format!("[pairs]\n{text}\n"), Path::new(".")).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }
}
