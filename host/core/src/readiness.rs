//! The verdicts of `rapport check`, the go-live check: what free disk space, the database's
//! migrations and the clock against the newest recorded time mean for a shop about to run. The
//! host measures; these rules judge, so each threshold is tested with plain values.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How one line of the check came out. Only `Fail` makes the check fail: `Skip` marks a line that
/// could not run because a line it needs failed (that line says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Skip,
    Warn,
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Skip => "skip",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        })
    }
}

/// Whether a check whose lines came out as `verdicts` failed.
pub fn failed(verdicts: impl IntoIterator<Item = Verdict>) -> bool {
    verdicts.into_iter().any(|v| v == Verdict::Fail)
}

/// `[check]`: the free disk space below which the check warns, and below which it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskThresholds {
    /// Warn under this many MiB free (default 1024, 1 GiB).
    pub disk_warn_mib: u64,
    /// Fail under this many MiB free (default 100).
    pub disk_fail_mib: u64,
}

impl Default for DiskThresholds {
    fn default() -> Self {
        DiskThresholds {
            disk_warn_mib: 1024,
            disk_fail_mib: 100,
        }
    }
}

impl DiskThresholds {
    /// Refuses a fail threshold above the warn threshold.
    pub fn validate(&self) -> Result<(), String> {
        match self.disk_fail_mib <= self.disk_warn_mib {
            true => Ok(()),
            false => Err(format!(
                "check.disk_fail_mib ({}) must not be above check.disk_warn_mib ({})",
                self.disk_fail_mib, self.disk_warn_mib
            )),
        }
    }

    /// The verdict on `free_bytes` free.
    pub fn verdict(&self, free_bytes: u64) -> Verdict {
        let mib = free_bytes >> 20;
        if mib < self.disk_fail_mib {
            Verdict::Fail
        } else if mib < self.disk_warn_mib {
            Verdict::Warn
        } else {
            Verdict::Ok
        }
    }
}

/// A migration: its version and the checksum of its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub checksum: Vec<u8>,
}

/// A migration the database records as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub migration: Migration,
    /// Whether it finished (a failed one left the schema half changed).
    pub success: bool,
}

/// How the database's migrations compare with the ones this binary knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationReport {
    pub applied: usize,
    /// Known here, not applied yet: the next start applies them.
    pub pending: Vec<i64>,
    /// Applied, unknown here: the database was migrated by a newer rapport.
    pub unknown: Vec<i64>,
    /// Applied with other SQL than this binary's.
    pub changed: Vec<i64>,
    /// Applied but recorded as not finished.
    pub unfinished: Vec<i64>,
}

impl MigrationReport {
    /// Compares the migrations `applied` to a database with those this binary `known`s.
    pub fn new(known: &[Migration], applied: &[Applied]) -> MigrationReport {
        let known_version = |v: i64| known.iter().find(|m| m.version == v);
        let mut report = MigrationReport {
            applied: applied.len(),
            ..MigrationReport::default()
        };
        for a in applied {
            match known_version(a.migration.version) {
                None => report.unknown.push(a.migration.version),
                Some(k) if k.checksum != a.migration.checksum => {
                    report.changed.push(a.migration.version)
                }
                Some(_) => {}
            }
            if !a.success {
                report.unfinished.push(a.migration.version);
            }
        }
        report.pending = known
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|a| a.migration.version == *v))
            .collect();
        report
    }

    /// Unknown, changed or unfinished migrations fail (this binary cannot run on that schema);
    /// pending ones warn (the next start applies them); otherwise ok.
    pub fn verdict(&self) -> Verdict {
        if !self.unknown.is_empty() || !self.changed.is_empty() || !self.unfinished.is_empty() {
            Verdict::Fail
        } else if !self.pending.is_empty() {
            Verdict::Warn
        } else {
            Verdict::Ok
        }
    }

    /// What the report says, in a few words.
    pub fn describe(&self) -> String {
        let list = |versions: &[i64]| {
            versions
                .iter()
                .map(|v| format!("{v:04}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = vec![format!("{} migrations applied", self.applied)];
        if !self.unknown.is_empty() {
            parts.push(format!(
                "unknown to this rapport: {} (the database was migrated by a newer version: run that version)",
                list(&self.unknown)
            ));
        }
        if !self.changed.is_empty() {
            parts.push(format!(
                "applied with other SQL than this rapport's: {}",
                list(&self.changed)
            ));
        }
        if !self.unfinished.is_empty() {
            parts.push(format!(
                "recorded as unfinished: {} (restore a backup)",
                list(&self.unfinished)
            ));
        }
        if !self.pending.is_empty() {
            parts.push(format!(
                "pending: {} (the next start applies them)",
                list(&self.pending)
            ));
        }
        parts.join("; ")
    }
}

/// How far the clock may be behind the newest recorded time and still pass (a host of a shared
/// PostgreSQL database a little behind another one).
pub const CLOCK_TOLERANCE: Duration = Duration::seconds(60);

/// The verdict on the clock reading `now` when the newest time the store recorded is `newest`:
/// behind it by more than [`CLOCK_TOLERANCE`] means the clock went backwards (fail); behind it
/// within the tolerance warns; otherwise, or with nothing recorded, ok.
pub fn clock(now: DateTime<Utc>, newest: Option<DateTime<Utc>>) -> Verdict {
    match newest {
        Some(newest) if newest - now > CLOCK_TOLERANCE => Verdict::Fail,
        Some(newest) if newest > now => Verdict::Warn,
        _ => Verdict::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_warns_then_fails_below_its_thresholds() {
        let t = DiskThresholds::default();
        let mib = |n: u64| n << 20;
        assert_eq!(t.verdict(mib(5000)), Verdict::Ok);
        assert_eq!(t.verdict(mib(1024)), Verdict::Ok);
        assert_eq!(t.verdict(mib(1023)), Verdict::Warn);
        assert_eq!(t.verdict(mib(100)), Verdict::Warn);
        assert_eq!(t.verdict(mib(99)), Verdict::Fail);
        assert_eq!(t.verdict(0), Verdict::Fail);
        assert!(t.validate().is_ok());
        let upside_down = DiskThresholds {
            disk_warn_mib: 10,
            disk_fail_mib: 20,
        };
        assert!(upside_down
            .validate()
            .unwrap_err()
            .contains("disk_fail_mib"));
    }

    fn m(version: i64, checksum: u8) -> Migration {
        Migration {
            version,
            checksum: vec![checksum],
        }
    }

    fn applied(version: i64, checksum: u8) -> Applied {
        Applied {
            migration: m(version, checksum),
            success: true,
        }
    }

    #[test]
    fn migrations_all_applied_pass() {
        let report = MigrationReport::new(&[m(1, 1), m(2, 2)], &[applied(1, 1), applied(2, 2)]);
        assert_eq!(report.verdict(), Verdict::Ok);
        assert_eq!(report.describe(), "2 migrations applied");
    }

    #[test]
    fn pending_migrations_warn_and_unknown_ones_fail() {
        let pending = MigrationReport::new(&[m(1, 1), m(2, 2)], &[applied(1, 1)]);
        assert_eq!(pending.verdict(), Verdict::Warn);
        assert_eq!(pending.pending, [2]);
        assert!(pending.describe().contains("pending: 0002"));

        let fresh = MigrationReport::new(&[m(1, 1)], &[]);
        assert_eq!(fresh.verdict(), Verdict::Warn);

        let unknown = MigrationReport::new(&[m(1, 1)], &[applied(1, 1), applied(99, 9)]);
        assert_eq!(unknown.verdict(), Verdict::Fail);
        assert!(unknown.describe().contains("unknown to this rapport: 0099"));
    }

    #[test]
    fn changed_or_unfinished_migrations_fail() {
        let changed = MigrationReport::new(&[m(1, 1)], &[applied(1, 7)]);
        assert_eq!(changed.verdict(), Verdict::Fail);
        assert_eq!(changed.changed, [1]);
        let mut half = applied(1, 1);
        half.success = false;
        let unfinished = MigrationReport::new(&[m(1, 1)], &[half]);
        assert_eq!(unfinished.verdict(), Verdict::Fail);
        assert!(unfinished.describe().contains("unfinished: 0001"));
    }

    #[test]
    fn a_clock_behind_the_store_fails_beyond_the_tolerance() {
        let now = DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(clock(now, None), Verdict::Ok);
        assert_eq!(clock(now, Some(now - Duration::days(1))), Verdict::Ok);
        assert_eq!(clock(now, Some(now)), Verdict::Ok);
        assert_eq!(clock(now, Some(now + Duration::seconds(5))), Verdict::Warn);
        assert_eq!(clock(now, Some(now + CLOCK_TOLERANCE)), Verdict::Warn);
        assert_eq!(clock(now, Some(now + Duration::hours(2))), Verdict::Fail);
    }

    #[test]
    fn a_check_fails_only_on_a_failed_line() {
        assert!(!failed([Verdict::Ok, Verdict::Warn, Verdict::Skip]));
        assert!(failed([Verdict::Ok, Verdict::Fail]));
    }
}
