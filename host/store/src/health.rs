//! The database as `rapport check` looks at it before a go-live: opened on one connection without
//! migrating or creating anything (a SQLite file read-only), it reports which migrations are
//! applied next to the ones this build knows, what the database's own integrity check finds, and
//! the newest time the host recorded. It reads only; the host judges what it finds.

use crate::dialect::Backend;
use crate::{redact, sqlite_file, StoreError};
use rapport_core::readiness::{Applied, Migration};
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Row};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Most problems an integrity check lists.
const PROBLEMS_SHOWN: usize = 5;

/// Where a database URL keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// An in-memory SQLite database.
    Memory,
    /// A PostgreSQL server (the URL, password hidden).
    Server(String),
}

impl Location {
    /// Where `url` keeps its data, if it is a URL the store supports.
    pub fn of(url: &str) -> Result<Location, StoreError> {
        match Backend::of_url(url) {
            None => Err(StoreError::UnsupportedUrl(redact(url))),
            Some(Backend::Postgres) => Ok(Location::Server(redact(url))),
            Some(Backend::Sqlite) => {
                Ok(sqlite_file::path_of(url).map_or(Location::Memory, Location::File))
            }
        }
    }
}

/// One read-only connection to the database, for the go-live check.
pub struct Health {
    conn: AnyConnection,
    backend: Backend,
    /// How long connecting took.
    pub connect_time: Duration,
}

impl Health {
    /// Connects to the database at `url` without migrating it; a SQLite file is opened read-only
    /// and must exist.
    pub async fn open(url: &str) -> Result<Health, StoreError> {
        sqlx::any::install_default_drivers();
        let backend =
            Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(redact(url)))?;
        let connect_url = match sqlite_file::path_of(url) {
            Some(path) => format!("sqlite://{}?mode=ro", path.display()),
            None => backend.connect_url(url),
        };
        let connect_error = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let started = Instant::now();
        let conn = AnyConnectOptions::from_str(&connect_url)
            .map_err(connect_error)?
            .connect()
            .await
            .map_err(connect_error)?;
        Ok(Health {
            conn,
            backend,
            connect_time: started.elapsed(),
        })
    }

    /// The migrations this build knows for the database's backend.
    pub fn known_migrations(&self) -> Vec<Migration> {
        self.backend
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| Migration {
                version: m.version,
                checksum: m.checksum.to_vec(),
            })
            .collect()
    }

    /// Whether table `name` exists.
    async fn has_table(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(self.backend.table_exists_sql())
            .bind(name)
            .fetch_optional(&mut self.conn)
            .await?
            .is_some())
    }

    /// The migrations the database records as applied (none in a database never migrated).
    pub async fn applied_migrations(&mut self) -> Result<Vec<Applied>, StoreError> {
        if !self.has_table("_sqlx_migrations").await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT version, checksum, CASE WHEN success THEN 1 ELSE 0 END AS success
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut self.conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Applied {
                    migration: Migration {
                        version: row.try_get("version")?,
                        checksum: row.try_get("checksum")?,
                    },
                    success: row.try_get::<i32, _>("success")? == 1,
                })
            })
            .collect()
    }

    /// What the database's own integrity check reports wrong (at most a few problems); none if
    /// it is sound.
    pub async fn integrity_problems(&mut self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        for statement in self.backend.integrity_sql(PROBLEMS_SHOWN) {
            for row in sqlx::query(&statement).fetch_all(&mut self.conn).await? {
                let line: String = row.try_get(0)?;
                if line != "ok" {
                    problems.push(line);
                }
            }
        }
        Ok(problems)
    }

    /// The newest time the host recorded (milliseconds since the epoch): the latest event taken
    /// in and the latest start of a connector. None in an empty or unmigrated database.
    pub async fn newest_recorded_ms(&mut self) -> Result<Option<i64>, StoreError> {
        for table in ["events", "sources", "sinks"] {
            if !self.has_table(table).await? {
                return Ok(None);
            }
        }
        let row = sqlx::query(
            "SELECT MAX(t) AS newest FROM (
                 SELECT MAX(ingested_at) AS t FROM events
                 UNION ALL SELECT MAX(updated_at) FROM sources
                 UNION ALL SELECT MAX(updated_at) FROM sinks
             ) AS recorded",
        )
        .fetch_one(&mut self.conn)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("newest")?)
    }

    /// What has been approved for `connector`'s plugin (see `connector_permissions`); `None` in a
    /// database that never started it (or was never migrated).
    pub async fn approved_permissions(
        &mut self,
        connector: &str,
    ) -> Result<Option<BTreeSet<String>>, StoreError> {
        if !self.has_table("connector_permissions").await? {
            return Ok(None);
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT permission FROM connector_permissions WHERE connector_id = $1",
        )
        .bind(connector)
        .fetch_all(&mut self.conn)
        .await?;
        Ok((!rows.is_empty()).then(|| rows.into_iter().collect()))
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
