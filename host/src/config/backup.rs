//! `[backup]`: the daemon's scheduled backups (taken by `host/src/backup.rs`). Without the
//! section nothing is scheduled; with it, every value has a default:
//!
//! - `every = "1d"`: how often, a duration as `[retention]` writes them (hours `h`, days `d` or
//!   weeks `w`); a day's sales lost is the most a shop should risk.
//! - `keep = 7`: the newest seven backups stay (a week of dailies), older ones are deleted.
//! - `dir = "backups"`: where they go, relative to the config file's directory.

use chrono::Duration;
use rapport_core::governance::retention::parse_duration;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct BackupConfig {
    pub every: Duration,
    pub keep: usize,
    pub dir: PathBuf,
}

/// `[backup]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    every: Option<String>,
    keep: Option<usize>,
    dir: Option<PathBuf>,
}

impl TryFrom<RawBackup> for BackupConfig {
    type Error = String;

    fn try_from(raw: RawBackup) -> Result<Self, String> {
        let text = raw.every.unwrap_or_else(|| "1d".into());
        let every = parse_duration(&text)
            .and_then(|d| Duration::from_std(d).ok())
            .ok_or_else(|| {
                format!(
                    "[backup] every: {text:?} is not a duration like \"1d\" \
                     (a whole number of hours \"h\", days \"d\" or weeks \"w\")"
                )
            })?;
        let keep = raw.keep.unwrap_or(7);
        if keep == 0 {
            return Err("[backup] keep must be at least 1 (the newest backup stays)".into());
        }
        Ok(BackupConfig {
            every,
            keep,
            dir: raw.dir.unwrap_or_else(|| "backups".into()),
        })
    }
}

impl<'de> Deserialize<'de> for BackupConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawBackup::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn nothing_is_scheduled_without_the_section_and_defaults_fill_it() {
        assert!(Config::parse("", Path::new("/shop"))
            .unwrap()
            .backup
            .is_none());
        let config = Config::parse("[backup]\n", Path::new("/shop")).unwrap();
        let backup = config.backup.unwrap();
        assert_eq!(backup.every, chrono::Duration::days(1));
        assert_eq!(backup.keep, 7);
        assert_eq!(backup.dir, Path::new("/shop/backups"));
        let text = "[backup]\nevery = \"6h\"\nkeep = 3\ndir = \"/var/backups/rapport\"\n";
        let backup = Config::parse(text, Path::new("/shop"))
            .unwrap()
            .backup
            .unwrap();
        assert_eq!(backup.every, chrono::Duration::hours(6));
        assert_eq!(backup.keep, 3);
        assert_eq!(backup.dir, Path::new("/var/backups/rapport"));
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        for (text, named) in [
            ("every = \"daily\"", "[backup] every: \"daily\""),
            ("keep = 0", "[backup] keep"),
            ("kept = 3", "kept"),
        ] {
            let err = Config::parse(&format!("[backup]\n{text}\n"), Path::new(".")).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }
}
