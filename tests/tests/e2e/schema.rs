//! The SQLite and PostgreSQL migrations are hand-kept twins: every query the store runs must mean
//! the same on both. This migrates a fresh SQLite file and a fresh PostgreSQL database with the
//! store's own migrations, reads each schema back from the database's catalogue and requires the
//! same tables, columns (type family and nullability) and indexes (table, columns, uniqueness and
//! partial predicate), naming every difference.

use rapport_e2e::PostgresDatabase;
use rapport_store::Store;
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// sqlx's own bookkeeping table, created by sqlx and not by the migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// A column as both backends can describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    family: String,
    nullable: bool,
}

/// An index as both backends can describe it: names differ by design (SQLite names its
/// constraint indexes `sqlite_autoindex_*`, PostgreSQL `*_pkey` and `*_key`), so indexes are
/// compared by what they cover.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IndexShape {
    table: String,
    columns: Vec<String>,
    unique: bool,
    /// The partial index's condition, normalised (see [`normalise_predicate`]).
    predicate: Option<String>,
}

#[derive(Debug, Default)]
struct Schema {
    /// Columns by (table, column).
    columns: BTreeMap<(String, String), Column>,
    /// Index names by what they cover (a primary key counts as a unique index).
    indexes: BTreeMap<IndexShape, Vec<String>>,
}

impl Schema {
    fn tables(&self) -> BTreeSet<&str> {
        self.columns
            .keys()
            .map(|(table, _)| table.as_str())
            .collect()
    }

    fn add_index(&mut self, shape: IndexShape, name: String) {
        self.indexes.entry(shape).or_default().push(name);
    }
}

/// The family of a declared column type, the same for both backends' spellings of it.
fn family(declared: &str) -> String {
    let lower = declared.trim().to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or_default().trim();
    match base {
        "integer" | "int" | "bigint" | "smallint" | "int2" | "int4" | "int8" | "serial"
        | "bigserial" => "integer",
        "text" | "varchar" | "character varying" | "char" | "character" | "clob" => "text",
        "real" | "double" | "double precision" | "float" | "float4" | "float8" => "real",
        "numeric" | "decimal" => "numeric",
        "blob" | "bytea" => "blob",
        "boolean" | "bool" => "boolean",
        "timestamp"
        | "timestamptz"
        | "timestamp with time zone"
        | "timestamp without time zone"
        | "datetime"
        | "date" => "timestamp",
        "json" | "jsonb" => "json",
        _ => return format!("unrecognised type {declared:?}"),
    }
    .to_owned()
}

/// A partial index's condition without what only one backend writes: PostgreSQL's parentheses
/// and casts (`((status = 'pending'::text) AND …)`, and a bigint written as a cast text,
/// `'9223372036854775807'::bigint`), the case of keywords and names (string literals keep
/// theirs) and spacing.
fn normalise_predicate(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut literal_at = 0;
    while let Some(c) = chars.next() {
        match c {
            '\'' if !quoted => {
                quoted = true;
                literal_at = out.len();
                out.push(c);
            }
            '\'' => {
                quoted = false;
                let digits = &out[literal_at + 1..];
                if chars.peek() == Some(&':') && digits.parse::<i64>().is_ok() {
                    out.remove(literal_at);
                } else {
                    out.push(c);
                }
            }
            _ if quoted => out.push(c),
            '(' | ')' => {}
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    chars.next();
                }
            }
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The schema of the SQLite database at `url`, from `sqlite_master` and the table, index-list and
/// index-info pragmas.
async fn sqlite_schema(url: &str) -> Schema {
    let mut db = sqlx::SqliteConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> ?",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut db)
    .await
    .expect("list SQLite tables");
    let mut schema = Schema::default();
    for table in tables {
        let columns = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&mut db)
        .await
        .unwrap_or_else(|e| panic!("columns of SQLite table {table}: {e}"));
        let mut key: Vec<(i64, String)> = columns
            .iter()
            .map(|row| (row.get("pk"), row.get("name")))
            .filter(|(pk, _)| *pk > 0)
            .collect();
        key.sort();
        for row in &columns {
            let name: String = row.get("name");
            let declared: String = row.get("type");
            // A rowid alias (the one `INTEGER PRIMARY KEY` column) never holds NULL, though the
            // pragma says nothing forbids it; any other primary-key column of SQLite's can.
            let rowid_alias =
                key.len() == 1 && key[0].1 == name && declared.eq_ignore_ascii_case("INTEGER");
            let nullable = row.get::<i64, _>("notnull") == 0 && !rowid_alias;
            schema.columns.insert(
                (table.clone(), name),
                Column {
                    family: family(&declared),
                    nullable,
                },
            );
        }
        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY name",
        )
        .bind(&table)
        .fetch_all(&mut db)
        .await
        .unwrap_or_else(|e| panic!("indexes of SQLite table {table}: {e}"));
        let mut key_indexed = false;
        for index in indexes {
            let name: String = index.get("name");
            key_indexed |= index.get::<String, _>("origin") == "pk";
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut db)
                    .await
                    .unwrap_or_else(|e| panic!("columns of SQLite index {name}: {e}"));
            let predicate = if index.get::<i64, _>("partial") == 1 {
                let sql: String = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                )
                .bind(&name)
                .fetch_one(&mut db)
                .await
                .unwrap_or_else(|e| panic!("definition of SQLite index {name}: {e}"));
                let at = sql
                    .to_ascii_uppercase()
                    .rfind(" WHERE ")
                    .unwrap_or_else(|| panic!("partial index {name} has no WHERE: {sql}"));
                Some(normalise_predicate(&sql[at + " WHERE ".len()..]))
            } else {
                None
            };
            let shape = IndexShape {
                table: table.clone(),
                columns,
                unique: index.get::<i64, _>("unique") == 1,
                predicate,
            };
            schema.add_index(shape, name);
        }
        // A rowid alias is the table's own key, with no index of its own in the list.
        if !key.is_empty() && !key_indexed {
            let shape = IndexShape {
                table: table.clone(),
                columns: key.into_iter().map(|(_, name)| name).collect(),
                unique: true,
                predicate: None,
            };
            schema.add_index(shape, format!("{table} primary key"));
        }
    }
    db.close().await.expect("close SQLite");
    schema
}

/// The schema of the PostgreSQL database at `url`, from `information_schema.columns` and
/// `pg_index`.
async fn postgres_schema(url: &str) -> Schema {
    let mut db = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    let mut schema = Schema::default();
    let columns = sqlx::query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable::text AS is_nullable \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut db)
    .await
    .expect("PostgreSQL columns");
    for row in columns {
        schema.columns.insert(
            (row.get("table_name"), row.get("column_name")),
            Column {
                family: family(&row.get::<String, _>("data_type")),
                nullable: row.get::<String, _>("is_nullable") == "YES",
            },
        );
    }
    let indexes = sqlx::query(
        "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                x.indisunique AS is_unique, pg_get_expr(x.indpred, x.indrelid) AS predicate, \
                ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) \
                      FROM generate_series(1, x.indnkeyatts::int) AS k ORDER BY k) AS columns \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND t.relname <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut db)
    .await
    .expect("PostgreSQL indexes");
    for row in indexes {
        let predicate: Option<String> = row.get("predicate");
        let shape = IndexShape {
            table: row.get("table_name"),
            columns: row.get("columns"),
            unique: row.get("is_unique"),
            predicate: predicate.as_deref().map(normalise_predicate),
        };
        schema.add_index(shape, row.get("index_name"));
    }
    db.close().await.expect("close PostgreSQL");
    schema
}

fn describe_column(column: &Column) -> String {
    let null = if column.nullable { "NULL" } else { "NOT NULL" };
    format!("{} {null}", column.family)
}

fn describe_index(shape: &IndexShape, names: &[String]) -> String {
    let unique = if shape.unique { "unique " } else { "" };
    let partial = shape
        .predicate
        .as_ref()
        .map(|p| format!(" WHERE {p}"))
        .unwrap_or_default();
    format!(
        "{unique}index on {} ({}){partial} [{}]",
        shape.table,
        shape.columns.join(", "),
        names.join(", ")
    )
}

/// Every way `left` (called `left_name`) and `right` differ, one line each, by name.
fn differences(left_name: &str, left: &Schema, right_name: &str, right: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let (left_tables, right_tables) = (left.tables(), right.tables());
    for table in left_tables.difference(&right_tables) {
        out.push(format!("table {table}: only in {left_name}"));
    }
    for table in right_tables.difference(&left_tables) {
        out.push(format!("table {table}: only in {right_name}"));
    }
    let shared = |table: &str| left_tables.contains(table) && right_tables.contains(table);
    for ((table, name), column) in &left.columns {
        let key = (table.clone(), name.clone());
        match right.columns.get(&key) {
            None if shared(table) => {
                out.push(format!("column {table}.{name}: only in {left_name}"))
            }
            Some(other) if other != column => out.push(format!(
                "column {table}.{name}: {left_name} {}, {right_name} {}",
                describe_column(column),
                describe_column(other)
            )),
            _ => {}
        }
    }
    for (table, name) in right.columns.keys() {
        if shared(table) && !left.columns.contains_key(&(table.clone(), name.clone())) {
            out.push(format!("column {table}.{name}: only in {right_name}"));
        }
    }
    for (only, side, other) in [(left_name, left, right), (right_name, right, left)] {
        for (shape, names) in &side.indexes {
            if !other.indexes.contains_key(shape) {
                out.push(format!("{}: only in {only}", describe_index(shape, names)));
            }
        }
    }
    out
}

/// A fresh SQLite file in `dir`, migrated by the store; its URL.
async fn migrated_sqlite(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("rapport.db").display());
    Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("migrate SQLite {url}: {e}"))
        .close()
        .await;
    url
}

/// Requires that `schema` (read from `backend`) holds the outbox with its columns and its unique
/// index on (sink_id, idempotency_key): the catalogue was read, so an empty comparison means
/// something.
fn assert_read(backend: &str, schema: &Schema) {
    let column = schema
        .columns
        .get(&("outbox".to_owned(), "idempotency_key".to_owned()));
    assert_eq!(
        column,
        Some(&Column {
            family: "text".into(),
            nullable: false
        }),
        "{backend}: outbox.idempotency_key as text NOT NULL in {:?}",
        schema.columns.keys()
    );
    let unique = IndexShape {
        table: "outbox".into(),
        columns: vec!["sink_id".into(), "idempotency_key".into()],
        unique: true,
        predicate: None,
    };
    assert!(
        schema.indexes.contains_key(&unique),
        "{backend}: the outbox's unique (sink_id, idempotency_key) in {:?}",
        schema.indexes
    );
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_schema(&migrated_sqlite(dir.path()).await).await;
    let database = PostgresDatabase::create().await;
    Store::open(&database.url())
        .await
        .expect("migrate PostgreSQL")
        .close()
        .await;
    let postgres = postgres_schema(&database.url()).await;
    assert_read("SQLite", &sqlite);
    assert_read("PostgreSQL", &postgres);
    let differences = differences("SQLite", &sqlite, "PostgreSQL", &postgres);
    assert!(
        differences.is_empty(),
        "the SQLite and PostgreSQL migrations build different schemas:\n  {}",
        differences.join("\n  ")
    );
}

#[tokio::test]
async fn a_change_to_one_twin_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = migrated_sqlite(dir.path()).await;
    let before = sqlite_schema(&url).await;
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open");
    for change in [
        "ALTER TABLE events ADD COLUMN note TEXT",
        "CREATE UNIQUE INDEX outbox_by_key ON outbox (idempotency_key) WHERE status = 'pending'",
        "DROP INDEX deliveries_sink",
        "CREATE TABLE extra (id INTEGER PRIMARY KEY, weight REAL NOT NULL)",
    ] {
        sqlx::query(change)
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{change}: {e}"));
    }
    db.close().await.expect("close");
    let after = sqlite_schema(&url).await;
    assert_eq!(
        differences("before", &before, "after", &after),
        [
            "table extra: only in after",
            "column events.note: only in after",
            "index on deliveries (sink_id, outcome) [deliveries_sink]: only in before",
            "unique index on extra (id) [extra primary key]: only in after",
            "unique index on outbox (idempotency_key) WHERE status = 'pending' [outbox_by_key]: only in after",
        ]
    );
}
