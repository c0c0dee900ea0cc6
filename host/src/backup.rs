//! Backups of the whole store as one JSONL file, so the database is never the only copy: a header
//! line (`rapport_core::backup::Header`), then one line per row, `{"table": …, "row": {…}}`, in
//! the store's fixed table order and each table's id (or primary-key) order, read in one consistent
//! snapshot beside a running daemon. `export` writes one (to a file whole or not at all), `restore`
//! loads one into an empty store in one transaction, and `schedule` takes them on the daemon's
//! clock as `[backup]` says, keeping the newest.

use crate::config::backup::BackupConfig;
use chrono::{DateTime, Utc};
use rapport_core::backup::{self as rules, Header, Refusal, TableRows, FORMAT, VERSION};
use rapport_core::clock::SharedClock;
use rapport_store::backup::{BackupError, Restorer};
use rapport_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// One row of a backup, as written.
#[derive(Serialize)]
struct LineOut<'a> {
    table: &'a str,
    row: &'a Map<String, Value>,
}

/// One row of a backup, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    table: String,
    row: Map<String, Value>,
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tables: usize,
    pub rows: u64,
}

impl Summary {
    fn of(tables: &[TableRows]) -> Summary {
        Summary {
            tables: tables.len(),
            rows: tables.iter().map(|t| t.rows).sum(),
        }
    }
}

/// Writes a backup of `store`, as it is at one moment, to `out`; `created_at` goes in its header.
pub async fn export(
    store: &Store,
    created_at: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<Summary, BackupError> {
    let mut snapshot = store.snapshot().await?;
    let tables: Vec<TableRows> = (snapshot.counts().await?.into_iter())
        .map(|(table, rows)| TableRows { table, rows })
        .collect();
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at,
        migrations: snapshot.migrations().await?,
        sequences: snapshot.sequences().await?,
        tables,
    };
    serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    snapshot
        .rows(|table, row| {
            serde_json::to_writer(&mut *out, &LineOut { table, row: &row })
                .map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        })
        .await?;
    out.flush()?;
    Ok(Summary::of(&header.tables))
}

/// [`export`] into the file `path`, whole or not at all: written to `<path>.partial` beside it,
/// synced, then renamed into place, so a crash never leaves half a backup under its name.
pub async fn export_to_file(
    store: &Store,
    created_at: DateTime<Utc>,
    path: &Path,
) -> Result<Summary, BackupError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = async {
        let file = std::fs::File::create(&partial)?;
        let mut out = std::io::BufWriter::new(file);
        let summary = export(store, created_at, &mut out).await?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(summary)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Why a backup was not restored. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading the backup: {0}")]
    Read(#[from] std::io::Error),
    #[error("the backup is empty: it has no header line")]
    Empty,
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] BackupError),
    #[error("the backup ends early: it has {found} of the {expected} rows of table {table} its header lists")]
    Short {
        table: String,
        found: u64,
        expected: u64,
    },
}

/// Loads the backup read from `input` into `store`, which must be empty, in one transaction: all
/// of it, or (on any error) nothing. Returns what it held and when it was taken.
pub async fn restore(
    store: &Store,
    input: impl BufRead,
) -> Result<(Summary, DateTime<Utc>), RestoreError> {
    let mut lines = input.lines();
    let header: Header = match lines.next() {
        None => return Err(RestoreError::Empty),
        Some(line) => serde_json::from_str(&line?).map_err(|e| RestoreError::Line {
            line: 1,
            problem: format!("not a rapport backup's header: {e}"),
        })?,
    };
    header.check(&store.migration_versions())?;
    let expected: HashMap<&str, u64> = (header.tables.iter())
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    let mut found: HashMap<String, u64> = HashMap::new();
    let mut tx = store.begin_bulk().await.map_err(BackupError::from)?;
    let restorer = Restorer::begin(&mut tx).await?;
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let problem = |problem: String| RestoreError::Line {
            line: number,
            problem,
        };
        let line: LineIn = serde_json::from_str(&line?)
            .map_err(|e| problem(format!("not a row of a backup: {e}")))?;
        let Some(&rows) = expected.get(line.table.as_str()) else {
            return Err(problem(format!(
                "table {} is not in the backup's header",
                line.table
            )));
        };
        let count = found.entry(line.table.clone()).or_default();
        *count += 1;
        if *count > rows {
            return Err(problem(format!(
                "more rows of table {} than the {rows} its header lists",
                line.table
            )));
        }
        restorer
            .insert(&mut tx, &line.table, &line.row)
            .await
            .map_err(|e| problem(e.to_string()))?;
    }
    for table in &header.tables {
        let rows = found.get(&table.table).copied().unwrap_or(0);
        if rows < table.rows {
            return Err(RestoreError::Short {
                table: table.table.clone(),
                found: rows,
                expected: table.rows,
            });
        }
    }
    restorer.finish(&mut tx, &header.sequences).await?;
    tx.commit().await.map_err(BackupError::from)?;
    Ok((Summary::of(&header.tables), header.created_at))
}

/// A scheduled backup taken.
#[derive(Debug, Clone)]
pub struct Taken {
    pub path: PathBuf,
    pub summary: Summary,
    /// The older backups deleted to keep the newest `keep`.
    pub deleted: Vec<PathBuf>,
}

/// Why a scheduled backup was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("backup directory {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// The file names in the backup directory (created if missing).
fn names_in(dir: &Path) -> Result<Vec<String>, ScheduleError> {
    let error = |source| ScheduleError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(error)?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        names.push(
            entry
                .map_err(error)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    Ok(names)
}

/// Takes a backup into `config.dir` if one is due at `now` (`config.every` after the newest
/// there), then deletes the oldest until the newest `config.keep` stay. Old backups are deleted
/// only once the new one is written.
pub async fn take_if_due(
    store: &Store,
    config: &BackupConfig,
    now: DateTime<Utc>,
) -> Result<Option<Taken>, ScheduleError> {
    let mut names = names_in(&config.dir)?;
    if !rules::due(&names, now, config.every) {
        return Ok(None);
    }
    let name = rules::file_name(now);
    let path = config.dir.join(&name);
    let summary = export_to_file(store, now, &path).await?;
    names.push(name);
    let mut deleted = Vec::new();
    for old in rules::to_delete(&names, config.keep) {
        let old = config.dir.join(old);
        std::fs::remove_file(&old).map_err(|source| ScheduleError::Dir {
            dir: config.dir.clone(),
            source,
        })?;
        deleted.push(old);
    }
    Ok(Some(Taken {
        path,
        summary,
        deleted,
    }))
}

/// Longest the schedule sleeps before it looks again (the clock may jump, a backup be deleted).
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// Takes the scheduled backups on `clock` until `shutdown`, logging each.
pub async fn schedule(
    store: Store,
    config: BackupConfig,
    clock: SharedClock,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match take_if_due(&store, &config, clock.now()).await {
            Ok(Some(taken)) => tracing::info!(file = %taken.path.display(),
                tables = taken.summary.tables, rows = taken.summary.rows,
                deleted = taken.deleted.len(), "backup taken"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "a scheduled backup failed; it is tried again"),
        }
        let newest = names_in(&config.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| rules::taken_at(n))
            .max();
        let wait = rules::next_due(newest, config.every)
            .and_then(|due| (due - clock.now()).to_std().ok())
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_secs(1), LOOK_AGAIN);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}
