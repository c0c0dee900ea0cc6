//! Backups, as rules: what a backup file's header says and whether this build may restore it, and
//! the schedule (when the next backup is due, given the newest one; which old ones to delete so
//! the newest `keep` stay). The host writes and reads the files; nothing here touches them.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the first line of every backup names as its format.
pub const FORMAT: &str = "rapport-backup";
/// The version of the format this build writes and reads.
pub const VERSION: u32 = 1;

/// The first line of a backup: the format, when it was taken, the migrations of the store it came
/// from, how far each table's id counter had gone, and each table with its number of rows, in the
/// order the rows follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    /// The versions of the migrations applied to the store, ascending.
    pub migrations: Vec<i64>,
    /// Per table with an id counter, the highest id it has handed out (rows deleted since
    /// included), so ids are not handed out again after a restore.
    pub sequences: BTreeMap<String, i64>,
    pub tables: Vec<TableRows>,
}

/// A table of a backup and how many rows of it follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

/// Why a backup cannot be restored by this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this is not a rapport backup (its header names the format {0:?}, not \"{FORMAT}\")")]
    NotABackup(String),
    #[error("the backup is in format version {0}, which this build does not read (it reads version {VERSION}): restore it with the rapport that made it")]
    Version(u32),
    #[error("the backup was made by a newer rapport: its store has migration {0}, which this build does not know; restore it with that rapport or a later one")]
    NewerMigration(i64),
    #[error("the backup was made by an older rapport: its store lacks migration {0}, which this build applies; restore it with the rapport that made it, then upgrade")]
    OlderMigration(i64),
}

impl Header {
    /// Whether a build whose migrations are `known` (ascending versions) can restore this backup:
    /// the format and its version, and the same migrations (the rows' columns are theirs).
    pub fn check(&self, known: &[i64]) -> Result<(), Refusal> {
        if self.format != FORMAT {
            return Err(Refusal::NotABackup(self.format.clone()));
        }
        if self.version != VERSION {
            return Err(Refusal::Version(self.version));
        }
        if let Some(newer) = self.migrations.iter().find(|m| !known.contains(m)) {
            return Err(Refusal::NewerMigration(*newer));
        }
        match known.iter().find(|m| !self.migrations.contains(m)) {
            Some(older) => Err(Refusal::OlderMigration(*older)),
            None => Ok(()),
        }
    }
}

/// What a scheduled backup's file name starts and ends with.
const PREFIX: &str = "rapport-backup-";
const SUFFIX: &str = ".jsonl";
/// The time in a file name: sortable, UTC, no characters a file system refuses.
const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// The file name of a backup taken at `at`, e.g. `rapport-backup-20261206T093000Z.jsonl`: names
/// sort as their times do.
pub fn file_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format(STAMP))
}

/// When the backup named `name` was taken, if it is a scheduled backup's name.
pub fn taken_at(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// When the next scheduled backup is due: `every` after the newest one, or at once without any.
pub fn next_due(newest: Option<DateTime<Utc>>, every: Duration) -> Option<DateTime<Utc>> {
    newest.map(|at| at + every)
}

/// Whether a backup is due at `now`, the newest of `names` (file names in the backup directory;
/// others than backups' are ignored) being the last one taken.
pub fn due<S: AsRef<str>>(names: &[S], now: DateTime<Utc>, every: Duration) -> bool {
    let newest = names.iter().filter_map(|n| taken_at(n.as_ref())).max();
    next_due(newest, every).is_none_or(|at| at <= now)
}

/// The backups among `names` to delete so that the newest `keep` stay (never a file that is not
/// a scheduled backup's), oldest first.
pub fn to_delete<S: AsRef<str>>(names: &[S], keep: usize) -> Vec<String> {
    let mut backups: Vec<(DateTime<Utc>, &str)> = names
        .iter()
        .filter_map(|n| taken_at(n.as_ref()).map(|at| (at, n.as_ref())))
        .collect();
    backups.sort();
    let old = backups.len().saturating_sub(keep);
    backups[..old]
        .iter()
        .map(|(_, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 30, 0).unwrap()
    }

    fn header(migrations: Vec<i64>) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            created_at: at(6, 9),
            migrations,
            sequences: BTreeMap::new(),
            tables: vec![],
        }
    }

    #[test]
    fn names_carry_their_time_and_sort_by_it() {
        assert_eq!(file_name(at(6, 9)), "rapport-backup-20261206T093000Z.jsonl");
        assert_eq!(taken_at(&file_name(at(6, 9))), Some(at(6, 9)));
        assert!(file_name(at(6, 9)) < file_name(at(6, 10)));
        assert!(file_name(at(6, 23)) < file_name(at(7, 0)));
        for other in [
            "notes.txt",
            "rapport-backup-20261206T093000Z.jsonl.partial",
            "rapport-backup-yesterday.jsonl",
        ] {
            assert_eq!(taken_at(other), None, "{other}");
        }
    }

    #[test]
    fn a_backup_is_due_every_interval_after_the_newest() {
        let day = Duration::days(1);
        let none: [&str; 0] = [];
        assert!(due(&none, at(6, 9), day), "the first is due at once");
        let names = [file_name(at(5, 9)), file_name(at(4, 9)), "notes.txt".into()];
        assert!(!due(&names, at(6, 8), day));
        assert!(due(&names, at(6, 9), day));
        assert_eq!(next_due(Some(at(5, 9)), day), Some(at(6, 9)));
        assert_eq!(next_due(None, day), None);
    }

    #[test]
    fn the_newest_keep_stay() {
        let names = [
            file_name(at(3, 9)),
            "notes.txt".into(),
            file_name(at(5, 9)),
            file_name(at(1, 9)),
            file_name(at(4, 9)),
        ];
        assert_eq!(
            to_delete(&names, 2),
            vec![file_name(at(1, 9)), file_name(at(3, 9))]
        );
        assert!(to_delete(&names, 4).is_empty());
        assert!(to_delete(&names, 10).is_empty());
    }

    #[test]
    fn only_a_backup_of_the_same_migrations_restores() {
        let known = [1, 2, 3];
        assert_eq!(header(vec![1, 2, 3]).check(&known), Ok(()));
        assert_eq!(
            header(vec![1, 2, 3, 4]).check(&known),
            Err(Refusal::NewerMigration(4))
        );
        assert_eq!(
            header(vec![1, 2]).check(&known),
            Err(Refusal::OlderMigration(3))
        );
        let mut other = header(vec![1, 2, 3]);
        other.format = "pg_dump".into();
        assert!(matches!(other.check(&known), Err(Refusal::NotABackup(_))));
        let mut later = header(vec![1, 2, 3]);
        later.version = 2;
        assert_eq!(later.check(&known), Err(Refusal::Version(2)));
        let message = header(vec![1, 2, 3, 31]).check(&known).unwrap_err();
        assert!(message.to_string().contains("migration 31"), "{message}");
    }
}
