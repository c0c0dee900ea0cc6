//! The store's side of backups: every table's rows read at one moment, and rows written back into
//! an empty store. Tables and their columns come from the database's catalog, so a column a
//! migration adds is carried without code here; which tables are carried, and in what order, is
//! listed once below, and a table that is in neither list stops every backup until it is added
//! to one. Values are JSON the same way on both databases (integers and reals as numbers, text as
//! strings, bytes as `{"hex": …}`, NULL as null), so a backup of one restores into the other.

use crate::dialect::{Backend, ColumnKind};
use crate::{Store, StoreError, Tx};
use futures_util::TryStreamExt;
use serde_json::{Map, Number, Value};
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{AnyConnection, Row, ValueRef};
use std::collections::{BTreeMap, HashMap};

/// The tables a backup carries, in the order they are written and restored: the configured
/// connectors and their approvals first, then people, what they bought and agreed to, the work
/// owed to sinks, journeys and experiments, and what was worked out from it all.
pub const TABLES: &[&str] = &[
    "sources",
    "sinks",
    "connector_permissions",
    "backfills",
    "cursors",
    "store_salt",
    "preference_key",
    "profiles",
    "identities",
    "consents",
    "consent_ledger",
    "events",
    "rejected_inputs",
    "webhook_inbox",
    "identity_merges",
    "identity_merge_moves",
    "outbox",
    "deliveries",
    "retired_work",
    "sink_pauses",
    "sink_rate_limit_waits",
    "erasures",
    "erasure_sinks",
    "erasure_identities",
    "forgotten_identities",
    "privacy_requests",
    "profile_facts",
    "profile_issues",
    "person_quiet_hours",
    "journey_due",
    "journey_entries",
    "experiment_assignments",
    "attributions",
    "message_engagement",
    "prediction_fits",
    "pair_rules",
    "shadow_periods",
    "shadow_requests",
    "shadow_request_people",
];

/// The tables a backup leaves out, and why.
pub const LEFT_OUT: &[(&str, &str)] = &[
    (
        "access_tokens",
        "credentials and browser sessions must not outlive the database they were made for: make new tokens after a restore",
    ),
    (
        "_sqlx_migrations",
        "the header lists the applied migrations, and the restoring store applies its own",
    ),
];

/// Tables a migration fills, whose rows a restore replaces by the backup's: the salt of forgotten
/// people's digests, which must be the one they were made with.
const SEEDED: &[&str] = &["store_salt"];

/// Why a backup could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the backup: {0}")]
    Write(#[from] std::io::Error),
    #[error("table {0} is in the database but neither backed up nor left out: add it to rapport_store::backup::TABLES (or LEFT_OUT, saying why)")]
    Unlisted(String),
    #[error("table {0} is not in the database")]
    Missing(String),
    #[error("table {table}, column {column}: a backup cannot carry its type {declared:?}")]
    Unsupported {
        table: String,
        column: String,
        declared: String,
    },
    #[error("table {table}, column {column}: {problem}")]
    Value {
        table: String,
        column: String,
        problem: String,
    },
    #[error("no table {0} is backed up")]
    UnknownTable(String),
    #[error("table {0} already holds data: a backup is restored only into an empty store (a new database that rapport has migrated but no `rapport run` has used)")]
    NotEmpty(String),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(StoreError::Query(e))
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: ColumnKind,
    /// Its place in the primary key, from 1; 0 if not in it.
    pk: i64,
}

/// A table's columns, in the table's order.
#[derive(Debug, Clone)]
struct Shape {
    table: String,
    columns: Vec<Column>,
}

impl Shape {
    async fn read(
        conn: &mut AnyConnection,
        backend: Backend,
        table: &str,
    ) -> Result<Shape, BackupError> {
        let rows = sqlx::query(backend.columns_sql())
            .bind(table)
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            return Err(BackupError::Missing(table.to_string()));
        }
        let columns = rows
            .iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let declared: String = row.try_get("type")?;
                let kind =
                    backend
                        .column_kind(&declared)
                        .ok_or_else(|| BackupError::Unsupported {
                            table: table.to_string(),
                            column: name.clone(),
                            declared,
                        })?;
                Ok(Column {
                    name,
                    kind,
                    pk: row.try_get("pk")?,
                })
            })
            .collect::<Result<_, BackupError>>()?;
        Ok(Shape {
            table: table.to_string(),
            columns,
        })
    }

    /// The columns in name order, as a row's JSON lists them.
    fn by_name(&self) -> Vec<&Column> {
        let mut columns: Vec<&Column> = self.columns.iter().collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        columns
    }

    /// Every row, in one order on both databases: by the `id` column where the table has one
    /// (a table's primary key may differ between them: `identities` is keyed by its id on SQLite
    /// and by kind and value on PostgreSQL), else in primary-key order, else by every column.
    fn select_sql(&self, backend: Backend) -> String {
        let mut keys: Vec<&Column> = self.columns.iter().filter(|c| c.name == "id").collect();
        if keys.is_empty() {
            keys = self.columns.iter().filter(|c| c.pk > 0).collect();
            keys.sort_by_key(|c| c.pk);
        }
        if keys.is_empty() {
            keys = self.columns.iter().collect();
        }
        let list = |columns: Vec<String>| columns.join(", ");
        format!(
            "SELECT {} FROM \"{}\" ORDER BY {}",
            list(
                self.by_name()
                    .iter()
                    .map(|c| format!("\"{}\"", c.name))
                    .collect()
            ),
            self.table,
            list(
                keys.iter()
                    .map(|c| backend.order_term(&c.name, c.kind))
                    .collect()
            )
        )
    }

    fn insert_sql(&self, backend: Backend) -> String {
        let mut values = String::new();
        for n in 1..=self.columns.len() {
            if n > 1 {
                values.push_str(", ");
            }
            backend.placeholders().push(&mut values, n);
        }
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        format!(
            "INSERT INTO \"{}\" ({}) VALUES ({values})",
            self.table,
            names.join(", ")
        )
    }

    /// Row `row` of a `SELECT` by [`Shape::select_sql`] as JSON.
    fn to_json(&self, row: &AnyRow) -> Result<Map<String, Value>, BackupError> {
        let mut out = Map::new();
        for (i, column) in self.by_name().into_iter().enumerate() {
            let problem = |problem: String| BackupError::Value {
                table: self.table.clone(),
                column: column.name.clone(),
                problem,
            };
            let raw = row.try_get_raw(i)?;
            let value = if raw.is_null() {
                Value::Null
            } else {
                match raw.type_info().kind() {
                    AnyTypeInfoKind::SmallInt => Value::from(row.try_get::<i16, _>(i)?),
                    AnyTypeInfoKind::Integer => Value::from(row.try_get::<i32, _>(i)?),
                    AnyTypeInfoKind::BigInt => Value::from(row.try_get::<i64, _>(i)?),
                    AnyTypeInfoKind::Real => real(f64::from(row.try_get::<f32, _>(i)?))
                        .ok_or_else(|| problem("a real that is not a number".into()))?,
                    AnyTypeInfoKind::Double => real(row.try_get::<f64, _>(i)?)
                        .ok_or_else(|| problem("a real that is not a number".into()))?,
                    AnyTypeInfoKind::Text => Value::from(row.try_get::<String, _>(i)?),
                    AnyTypeInfoKind::Blob => {
                        let bytes: Vec<u8> = row.try_get(i)?;
                        Value::Object(Map::from_iter([("hex".into(), hex::encode(bytes).into())]))
                    }
                    other => return Err(problem(format!("a value of type {other:?}"))),
                }
            };
            out.insert(column.name.clone(), value);
        }
        Ok(out)
    }

    /// Writes `row` (a backup's JSON of one row of this table) into the table.
    async fn insert(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
        row: &Map<String, Value>,
    ) -> Result<(), BackupError> {
        if let Some(unknown) = row
            .keys()
            .find(|k| !self.columns.iter().any(|c| &c.name == *k))
        {
            return Err(BackupError::Value {
                table: self.table.clone(),
                column: unknown.clone(),
                problem: "the table has no such column".into(),
            });
        }
        let mut query = sqlx::query(sql);
        for column in &self.columns {
            let problem = |problem: &str| BackupError::Value {
                table: self.table.clone(),
                column: column.name.clone(),
                problem: problem.to_string(),
            };
            let value = row.get(&column.name).ok_or_else(|| problem("missing"))?;
            query = match (column.kind, value) {
                (ColumnKind::Integer, Value::Null) => query.bind(None::<i64>),
                (ColumnKind::Integer, v) => query.bind(Some(
                    v.as_i64()
                        .ok_or_else(|| problem(&format!("{v} is not an integer")))?,
                )),
                (ColumnKind::Real, Value::Null) => query.bind(None::<f64>),
                (ColumnKind::Real, v) => query.bind(Some(
                    v.as_f64()
                        .ok_or_else(|| problem(&format!("{v} is not a number")))?,
                )),
                (ColumnKind::Text, Value::Null) => query.bind(None::<String>),
                (ColumnKind::Text, Value::String(text)) => query.bind(Some(text.clone())),
                (ColumnKind::Text, v) => return Err(problem(&format!("{v} is not a string"))),
                (ColumnKind::Blob, Value::Null) => query.bind(None::<Vec<u8>>),
                (ColumnKind::Blob, v) => {
                    let bytes = v["hex"]
                        .as_str()
                        .and_then(|h| hex::decode(h).ok())
                        .ok_or_else(|| problem(&format!("{v} is not {{\"hex\": \"…\"}}")))?;
                    query.bind(Some(bytes))
                }
            };
        }
        query.execute(&mut *conn).await?;
        Ok(())
    }
}

/// A real as JSON, unless it is not a number (JSON has no NaN or infinity).
fn real(value: f64) -> Option<Value> {
    Number::from_f64(value).map(Value::Number)
}

/// The tables in the database that are neither backed up nor left out.
async fn unlisted(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<String>, BackupError> {
    let mut unlisted = Vec::new();
    for row in sqlx::query(backend.tables_sql()).fetch_all(conn).await? {
        let name: String = row.try_get("name")?;
        if !TABLES.contains(&name.as_str()) && !LEFT_OUT.iter().any(|(t, _)| *t == name) {
            unlisted.push(name);
        }
    }
    unlisted.sort();
    Ok(unlisted)
}

/// The id counters of the backed-up tables: table → (counted column, highest id handed out).
async fn sequences(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<BTreeMap<String, (String, i64)>, BackupError> {
    let mut counters = BTreeMap::new();
    for row in sqlx::query(backend.sequences_sql()).fetch_all(conn).await? {
        let table: String = row.try_get("name")?;
        if TABLES.contains(&table.as_str()) {
            counters.insert(table, (row.try_get("col")?, row.try_get("seq")?));
        }
    }
    Ok(counters)
}

/// The whole store as it was at one moment: a read transaction (on PostgreSQL, repeatable read),
/// so a backup taken beside a running daemon is consistent.
pub struct Snapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    shapes: Vec<Shape>,
}

impl Store {
    /// Begins a read of the whole store at one moment. Refuses a store holding a table that is
    /// neither backed up nor left out.
    pub async fn snapshot(&self) -> Result<Snapshot, BackupError> {
        let mut tx = self.pool.begin().await?;
        if let Some(statement) = self.backend.snapshot_sql() {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        if let Some(table) = unlisted(&mut tx, self.backend).await?.into_iter().next() {
            return Err(BackupError::Unlisted(table));
        }
        let mut shapes = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            shapes.push(Shape::read(&mut tx, self.backend, table).await?);
        }
        Ok(Snapshot {
            tx,
            backend: self.backend,
            shapes,
        })
    }

    /// The versions of the migrations this build applies, ascending.
    pub fn migration_versions(&self) -> Vec<i64> {
        let mut versions: Vec<i64> = (self.backend.migrator().iter())
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        versions.sort();
        versions
    }
}

impl Snapshot {
    /// The versions of the migrations applied to the store, ascending.
    pub async fn migrations(&mut self) -> Result<Vec<i64>, BackupError> {
        let rows =
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("version"))
            .collect::<Result<_, _>>()?)
    }

    /// Per backed-up table with an id counter that has handed out ids, the highest one.
    pub async fn sequences(&mut self) -> Result<BTreeMap<String, i64>, BackupError> {
        Ok(sequences(&mut self.tx, self.backend)
            .await?
            .into_iter()
            .filter(|(_, (_, seq))| *seq > 0)
            .map(|(table, (_, seq))| (table, seq))
            .collect())
    }

    /// Each backed-up table, in [`TABLES`] order, with its number of rows.
    pub async fn counts(&mut self) -> Result<Vec<(String, u64)>, BackupError> {
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM \"{table}\""))
                .fetch_one(&mut *self.tx)
                .await?;
            counts.push((table.to_string(), row.try_get::<i64, _>("n")? as u64));
        }
        Ok(counts)
    }

    /// Hands every row of every backed-up table to `write`, table by table in [`TABLES`] order
    /// and in id (or primary-key) order within a table, as (table, the row as JSON).
    pub async fn rows(
        &mut self,
        mut write: impl FnMut(&str, Map<String, Value>) -> std::io::Result<()>,
    ) -> Result<(), BackupError> {
        for shape in &self.shapes {
            let sql = shape.select_sql(self.backend);
            let mut rows = sqlx::query(&sql).fetch(&mut *self.tx);
            while let Some(row) = rows.try_next().await? {
                write(&shape.table, shape.to_json(&row)?)?;
            }
        }
        Ok(())
    }
}

/// Writes a backup's rows into an empty store, in the write transaction it was made with; the
/// caller commits once every row is in (or drops the transaction, and nothing was written).
pub struct Restorer {
    shapes: HashMap<String, (Shape, String)>,
}

impl Restorer {
    /// Checks that the store holds no data in any backed-up table (naming the first that does),
    /// reads the tables' columns and clears the rows a migration seeded.
    pub async fn begin(tx: &mut Tx<'_>) -> Result<Restorer, BackupError> {
        let backend = tx.backend;
        let conn = &mut tx.inner;
        let mut shapes = HashMap::with_capacity(TABLES.len());
        for table in TABLES {
            let shape = Shape::read(conn, backend, table).await?;
            if !SEEDED.contains(table) {
                let any = sqlx::query(&format!("SELECT 1 AS one FROM \"{table}\" LIMIT 1"))
                    .fetch_optional(&mut **conn)
                    .await?;
                if any.is_some() {
                    return Err(BackupError::NotEmpty(table.to_string()));
                }
            }
            let insert = shape.insert_sql(backend);
            shapes.insert(table.to_string(), (shape, insert));
        }
        for table in SEEDED {
            sqlx::query(&format!("DELETE FROM \"{table}\""))
                .execute(&mut **conn)
                .await?;
        }
        Ok(Restorer { shapes })
    }

    /// Writes one row of `table`.
    pub async fn insert(
        &self,
        tx: &mut Tx<'_>,
        table: &str,
        row: &Map<String, Value>,
    ) -> Result<(), BackupError> {
        let (shape, sql) = self
            .shapes
            .get(table)
            .ok_or_else(|| BackupError::UnknownTable(table.to_string()))?;
        shape.insert(&mut tx.inner, sql, row).await
    }

    /// Sets each table's id counter to where the backup's had gone (or past its highest id, if
    /// that is higher), so new rows take ids the restored ones never had.
    pub async fn finish(
        &self,
        tx: &mut Tx<'_>,
        counters: &BTreeMap<String, i64>,
    ) -> Result<(), BackupError> {
        let backend = tx.backend;
        let listed = sequences(&mut tx.inner, backend).await?;
        let mut tables: Vec<&String> = listed.keys().chain(counters.keys()).collect();
        tables.sort();
        tables.dedup();
        for table in tables {
            if !self.shapes.contains_key(table.as_str()) {
                return Err(BackupError::UnknownTable(table.clone()));
            }
            let column = match listed.get(table) {
                Some((column, _)) => column.as_str(),
                None => match backend.unlisted_sequence_column() {
                    Some(column) => column,
                    None => continue,
                },
            };
            let seq = counters.get(table).copied().unwrap_or(0);
            for statement in backend.set_sequence_sql(table, column) {
                sqlx::query(&statement)
                    .bind(seq)
                    .execute(&mut *tx.inner)
                    .await?;
            }
        }
        Ok(())
    }
}
