//! Change freezes: windows of shop-local days (the holiday season) during which nothing about the
//! running setup changes by accident. While one is in force the daemon refuses config edits (which
//! is also how sinks are swapped) and new plugin versions unless forced, and it may pause the
//! journeys. These are the rules; the daemon and the CLI apply them.

use crate::clock::day_start;
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// One `[[freeze]]` window, both days included, in the shop's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub name: String,
    #[serde(deserialize_with = "day")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "day")]
    pub to: NaiveDate,
    /// No one enters a journey while the freeze is in force (their waits are let go, with why),
    /// so the busy season gets no automated messages and none pile up for after it.
    #[serde(default)]
    pub pause_journeys: bool,
}

impl Freeze {
    /// The name set and `from` not after `to`; the error names the freeze.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("[[freeze]]: every freeze needs a name".into());
        }
        if self.from > self.to {
            return Err(format!(
                "[[freeze]] {:?}: from ({}) is after to ({})",
                self.name, self.from, self.to
            ));
        }
        Ok(())
    }

    /// Whether `now` falls on one of its days, in `zone`.
    pub fn in_force(&self, now: DateTime<Utc>, zone: Tz) -> bool {
        let today = now.with_timezone(&zone).date_naive();
        self.from <= today && today <= self.to
    }

    /// The moment it ends: the start of the day after `to`, in `zone`.
    pub fn ends_at(&self, zone: Tz) -> DateTime<Utc> {
        day_start(zone, self.to + Days::new(1))
    }

    /// "the freeze "holiday season" (2026-11-20 to 2027-01-05)".
    pub fn describe(&self) -> String {
        format!("the freeze {:?} ({} to {})", self.name, self.from, self.to)
    }
}

/// A day written `"2026-11-20"` or as a TOML date, `2026-11-20` (which serde sees as a map of one
/// entry holding the text).
fn day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    struct Day;
    impl<'de> Visitor<'de> for Day {
        type Value = NaiveDate;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a date like 2026-11-20")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<NaiveDate, E> {
            text.parse()
                .map_err(|_| E::custom(format!("{text:?} is not a date like 2026-11-20")))
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<NaiveDate, M::Error> {
            match map.next_entry::<String, String>()? {
                Some((_, text)) => self.visit_str(&text),
                None => Err(de::Error::custom("a date like 2026-11-20")),
            }
        }
    }
    deserializer.deserialize_any(Day)
}

/// The freeze in force at `now`, if any; of overlapping ones, the one that lasts longest.
pub fn in_force(freezes: &[Freeze], now: DateTime<Utc>, zone: Tz) -> Option<&Freeze> {
    freezes
        .iter()
        .filter(|f| f.in_force(now, zone))
        .max_by_key(|f| f.to)
}

/// The freeze in force at `now` that pauses the journeys, if any.
pub fn pausing_journeys(freezes: &[Freeze], now: DateTime<Utc>, zone: Tz) -> Option<&Freeze> {
    freezes
        .iter()
        .filter(|f| f.pause_journeys && f.in_force(now, zone))
        .max_by_key(|f| f.to)
}

/// Why a change is refused during `freeze`: what was refused, and the command that forces it.
pub fn refusal(freeze: &Freeze, change: &str, force: &str) -> String {
    format!(
        "{change} refused: {} is in force; to apply it anyway: {force}",
        freeze.describe()
    )
}

/// Why a journey wait is let go during `freeze`.
pub fn journeys_paused(freeze: &Freeze) -> String {
    format!("journeys are paused by {}", freeze.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn freeze(name: &str, from: (i32, u32, u32), to: (i32, u32, u32), pause: bool) -> Freeze {
        Freeze {
            name: name.into(),
            from: NaiveDate::from_ymd_opt(from.0, from.1, from.2).unwrap(),
            to: NaiveDate::from_ymd_opt(to.0, to.1, to.2).unwrap(),
            pause_journeys: pause,
        }
    }

    #[test]
    fn a_freeze_covers_its_first_and_last_shop_days_whole() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let season = freeze("holidays", (2026, 11, 20), (2027, 1, 5), false);
        // 04:59 UTC on 20 Nov is still 19 Nov in New York (UTC-5).
        let before = Utc.with_ymd_and_hms(2026, 11, 20, 4, 59, 0).unwrap();
        let first = Utc.with_ymd_and_hms(2026, 11, 20, 5, 0, 0).unwrap();
        let last = Utc.with_ymd_and_hms(2027, 1, 6, 4, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2027, 1, 6, 5, 0, 0).unwrap();
        assert!(!season.in_force(before, zone));
        assert!(season.in_force(first, zone));
        assert!(season.in_force(last, zone));
        assert!(!season.in_force(after, zone));
        assert_eq!(season.ends_at(zone), after);
    }

    #[test]
    fn of_overlapping_freezes_the_longest_lasting_is_in_force() {
        let zone = chrono_tz::UTC;
        let freezes = [
            freeze("black friday", (2026, 11, 25), (2026, 11, 30), true),
            freeze("season", (2026, 11, 20), (2027, 1, 5), false),
        ];
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        assert_eq!(in_force(&freezes, friday, zone).unwrap().name, "season");
        assert_eq!(
            pausing_journeys(&freezes, friday, zone).unwrap().name,
            "black friday"
        );
        let december = Utc.with_ymd_and_hms(2026, 12, 10, 12, 0, 0).unwrap();
        assert_eq!(in_force(&freezes, december, zone).unwrap().name, "season");
        assert!(pausing_journeys(&freezes, december, zone).is_none());
        let spring = Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap();
        assert!(in_force(&freezes, spring, zone).is_none());
    }

    #[test]
    fn days_may_be_written_as_toml_dates_or_as_text() {
        #[derive(Deserialize)]
        struct Doc {
            freeze: Vec<Freeze>,
        }
        let doc: Doc =
            toml::from_str("[[freeze]]\nname = \"a\"\nfrom = 2026-11-20\nto = \"2027-01-05\"\n")
                .unwrap();
        assert_eq!(
            doc.freeze[0],
            freeze("a", (2026, 11, 20), (2027, 1, 5), false)
        );
        let bad =
            toml::from_str::<Doc>("[[freeze]]\nname = \"a\"\nfrom = \"soon\"\nto = 2027-01-05\n");
        let e = bad.err().unwrap().to_string();
        assert!(e.contains("\"soon\" is not a date like 2026-11-20"), "{e}");
    }

    #[test]
    fn a_freeze_must_be_named_and_run_forwards() {
        assert!(freeze("ok", (2026, 1, 1), (2026, 1, 1), false)
            .check()
            .is_ok());
        let backwards = freeze("late", (2026, 2, 1), (2026, 1, 1), false).check();
        assert!(backwards.unwrap_err().contains("\"late\""));
        assert!(freeze(" ", (2026, 1, 1), (2026, 1, 2), false)
            .check()
            .is_err());
    }

    #[test]
    fn a_refusal_names_the_freeze_and_the_way_to_force() {
        let season = freeze("holidays", (2026, 11, 20), (2027, 1, 5), false);
        let why = refusal(&season, "config change", "rapport config apply --force");
        assert_eq!(
            why,
            "config change refused: the freeze \"holidays\" (2026-11-20 to 2027-01-05) is in force; \
             to apply it anyway: rapport config apply --force"
        );
    }
}
