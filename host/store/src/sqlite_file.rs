//! The SQLite database file itself, looked at before the store runs on it: a file that does not
//! exist yet is created readable by its owner only (SQLite gives its WAL and shared-memory files
//! the database file's mode), one that others can read is tightened, one this process may not
//! write is refused saying so and naming it, and one that SQLite's `quick_check` finds damaged is
//! refused without being changed: a malformed file written to further only gets worse.

use super::StoreError;
use sqlx::any::AnyConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Most problems `quick_check` reports that a refusal lists.
const PROBLEMS_SHOWN: usize = 5;

/// The file a `sqlite:` URL names, or none for an in-memory database.
pub(crate) fn path_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = file.is_empty() || file.starts_with(':') || query.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(file))
}

/// Checks the database file at `path` before the store opens it, creating it (mode 0600) if it
/// does not exist.
pub(crate) async fn check(path: &Path) -> Result<(), StoreError> {
    let permission = |source: std::io::Error| StoreError::Permission {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(file) => {
            let empty = file.metadata().map_err(permission)?.len() == 0;
            if !empty {
                quick_check(path).await?;
            }
            owner_only(path);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => create(path).map_err(permission),
        Err(e) => Err(permission(e)),
    }
}

/// Creates an empty database file only its owner can read and write.
fn create(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Makes the database file and its WAL and shared-memory files owner-only, if others may read them.
fn owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                continue;
            }
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700)) {
                Ok(()) => tracing::warn!(file = %file.display(), from = format!("{mode:o}"),
                    "the database file could be read by other users: made it owner-only"),
                Err(e) => tracing::warn!(file = %file.display(), error = %e,
                    "the database file can be read by other users, and could not be made owner-only"),
            }
        }
    }
}

/// Runs SQLite's `quick_check` on a read-only connection (which neither recovers nor checkpoints
/// anything into the file), refusing a file that is damaged or not a database.
async fn quick_check(path: &Path) -> Result<(), StoreError> {
    let damaged = |problems: String| StoreError::Damaged {
        path: path.to_path_buf(),
        problems,
    };
    let url = format!("sqlite://{}?mode=ro", path.display());
    let options = AnyConnectOptions::from_str(&url).map_err(|e| damaged(e.to_string()))?;
    let mut conn = options.connect().await.map_err(|e| match e {
        sqlx::Error::Io(source) if source.kind() == ErrorKind::PermissionDenied => {
            StoreError::Permission {
                path: path.to_path_buf(),
                source,
            }
        }
        other => damaged(other.to_string()),
    })?;
    let rows = sqlx::query(&format!("PRAGMA quick_check({PROBLEMS_SHOWN})"))
        .fetch_all(&mut conn)
        .await;
    let _ = conn.close().await;
    let problems: Vec<String> = rows
        .map_err(|e| damaged(e.to_string()))?
        .iter()
        .map(|row| row.try_get::<String, _>(0).unwrap_or_default())
        .filter(|line| line != "ok")
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(damaged(problems.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::path_of;
    use std::path::PathBuf;

    #[test]
    fn urls_name_their_file_unless_in_memory() {
        assert_eq!(
            path_of("sqlite:///var/lib/r.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/r.db"))
        );
        assert_eq!(path_of("sqlite://r.db"), Some(PathBuf::from("r.db")));
        assert_eq!(path_of("sqlite::memory:"), None);
        assert_eq!(path_of("sqlite://x?mode=memory"), None);
        assert_eq!(path_of("postgres://h/db"), None);
    }
}
