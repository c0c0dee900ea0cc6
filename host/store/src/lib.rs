//! rapport's durable state: sqlx over SQLite (the embedded default, WAL) or PostgreSQL
//! (`postgres://…`), with one migration set per backend. Every SQL statement of the host lives in
//! this crate, grouped by table; the types it reads and writes are `rapport_core`'s model. The host's
//! services open a [`Tx`], call the table functions of the public modules with it, and commit; the
//! decisions between those calls are `rapport_core`'s rules.

pub mod backup;
mod connector_permissions;
pub mod consents;
pub mod cursors;
mod dead_letters;
mod dialect;
pub mod engagement;
pub mod erasures;
pub mod events;
pub mod experiments;
pub mod forgotten;
pub mod health;
mod inbox;
pub mod journey_due;
pub mod journey_entries;
pub mod merges;
pub mod metrics;
pub mod operations;
pub mod outbox;
mod packed;
pub mod pairs;
pub mod predictions;
pub mod preferences;
pub mod privacy_requests;
pub mod profile_facts;
pub mod profile_issues;
pub mod profiles;
mod queue;
pub mod rejected_inputs;
mod retention;
mod rows;
pub mod scrub;
pub mod shadow;
mod sink_pauses;
mod sqlite_file;
mod summary;
mod swap;
pub mod tokens;

pub use dead_letters::{DeadLetter, LetterStatus};
pub use dialect::Backend;
pub use erasures::{ErasureItem, ErasureRecord, ErasureStatus, SinkErasure};
pub use inbox::{Kept, KeptWebhook};
pub use merges::{MergeRecord, NewMerge, SinceMerge};
pub use outbox::{Completion, MessageRoute, OutboxRow, WorkKind};
pub use outbox::{ItemStatus, ItemsOf, StoredItem};
pub use profiles::{ProfileSnapshot, SnapshotDepth};
pub use scrub::{FoundProfile, PersonRef};
pub use sink_pauses::SinkPause;
pub use summary::{OrderStates, Summary};
pub use swap::{Backfill, Retirement};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is not supported: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database file {path} is damaged (SQLite's quick_check: {problems}); rapport will not run on it and has not changed it: restore it from a backup, or move it aside to start afresh", path = .path.display())]
    Damaged { path: PathBuf, problems: String },
    #[error("cannot open the database file {path}: {source} (the user running rapport must be able to read and write it, and to create files in its directory)", path = .path.display())]
    Permission {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The host's database.
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads (and, on PostgreSQL, writes).
    pool: AnyPool,
    /// Writes. On SQLite, one connection: SQLite lets one writer in at a time, and a writer that
    /// finds the lock taken sleeps in its busy handler (1 ms, then longer); queueing for this one
    /// connection instead hands the lock over the moment it is free. On PostgreSQL, `pool` itself.
    writer: AnyPool,
    /// Turns for bulk writes (ingests) on SQLite: one at a time queues for the writer, so a claim
    /// or a completion waits behind at most one ingest, not behind every upload in flight, and
    /// delivery keeps pace while sales pour in.
    bulk_turn: Arc<tokio::sync::Mutex<()>>,
    /// The salt of forgotten identities' digests, read once: it never changes.
    forgotten_salt: Arc<tokio::sync::OnceCell<String>>,
    backend: Backend,
}

/// A write transaction: a service opens one, calls table functions with it and commits; dropped
/// without a commit, it rolls back.
pub struct Tx<'s> {
    pub(crate) inner: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) backend: Backend,
    _turn: Option<tokio::sync::MutexGuard<'s, ()>>,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit().await?)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations. A SQLite file is
    /// checked first (see `sqlite_file`): created owner-only, refused if damaged or not writable.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend =
            Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(redact(url)))?;
        let file = match backend {
            Backend::Sqlite => sqlite_file::path_of(url),
            Backend::Postgres => None,
        };
        if let Some(path) = &file {
            sqlite_file::check(path).await?;
        }
        let connect_error = |source| match (&file, source) {
            (Some(path), sqlx::Error::Database(e)) if e.message().contains("readonly") => {
                StoreError::Permission {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!("permission denied ({})", e.message()),
                    ),
                }
            }
            (_, source) => StoreError::Connect {
                url: redact(url),
                source,
            },
        };
        let options =
            AnyConnectOptions::from_str(&backend.connect_url(url)).map_err(connect_error)?;
        // One connection first, set up as the pool's are: its own error (a read-only file, say)
        // says what is wrong, where a pool would only time out.
        {
            use sqlx::{ConnectOptions, Connection};
            let mut first = options.connect().await.map_err(connect_error)?;
            backend.prepare(&mut first).await.map_err(connect_error)?;
            let _ = first.close().await;
        }
        // No idle timeout and no maximum lifetime, so sqlx runs no reaper task: in sqlx 0.8.6
        // its idle count can wrap below zero when a connection is taken back as it is returned,
        // and the reaper then spins at 100% CPU and hangs the runtime's shutdown
        // (launchbadge/sqlx#3645, fix in #4289, not released). Seen here once: `rapport pairs`
        // exiting, in an e2e run. A connection that breaks is found by sqlx's ping before it is
        // handed out, and replaced.
        let connect = |connections: u32| {
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(move |conn, _| Box::pin(backend.prepare(conn)))
                .connect_with(options.clone())
        };
        let pool = connect(8).await.map_err(connect_error)?;
        let writer = if backend.single_writer() {
            connect(1).await.map_err(connect_error)?
        } else {
            pool.clone()
        };
        backend.migrate(&writer).await?;
        Ok(Store {
            pool,
            writer,
            bulk_turn: Arc::new(tokio::sync::Mutex::new(())),
            forgotten_salt: Arc::default(),
            backend,
        })
    }

    /// Begins a transaction that writes, holding the write lock from its start where the backend
    /// needs that (see [`Backend::lock_for_writing`]).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.writer.begin().await?;
        self.backend.lock_for_writing(&mut tx).await?;
        Ok(tx)
    }

    /// Begins a write transaction for a service to pass to the table functions and commit.
    pub async fn begin(&self) -> Result<Tx<'_>, StoreError> {
        Ok(Tx {
            inner: self.begin_write().await?,
            backend: self.backend,
            _turn: None,
        })
    }

    /// Begins a bulk write transaction (an ingest): on SQLite it first waits for this bulk write's
    /// turn to queue for the writer, so a claim or a completion waits behind at most one bulk write,
    /// not behind every upload in flight. PostgreSQL takes writers side by side.
    pub async fn begin_bulk(&self) -> Result<Tx<'_>, StoreError> {
        let turn = match self.backend.single_writer() {
            true => Some(self.bulk_turn.lock().await),
            false => None,
        };
        Ok(Tx {
            inner: self.begin_write().await?,
            backend: self.backend,
            _turn: turn,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Records which plugin build serves a configured source or sink.
    pub async fn register_connector(
        &self,
        role: ConnectorRole,
        id: &str,
        plugin_id: &str,
        digest: &str,
    ) -> Result<(), StoreError> {
        let table = match role {
            ConnectorRole::Source => "sources",
            ConnectorRole::Sink => "sinks",
        };
        sqlx::query(&format!(
            "INSERT INTO {table} (id, plugin_id, plugin_digest, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET plugin_id = $2, plugin_digest = $3, updated_at = $4"
        ))
        .bind(id)
        .bind(plugin_id)
        .bind(digest)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Whether a connector is a source or a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorRole {
    Source,
    Sink,
}

/// Hides a password in a database URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://a.db"), "sqlite://a.db");
    }
}
