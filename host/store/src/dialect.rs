//! Every difference between SQLite and PostgreSQL the store deals with, each behind a name: how a
//! URL is opened and a connection set up, which migrations apply, how writers take turns, how a
//! claim locks the rows it takes, and how statement parameters are written. The rest of the store
//! writes one SQL for both and asks here where they part.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyConnection, AnyPool, Executor};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if it is one the store supports.
    pub(crate) fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The backend an open connection talks to.
    pub(crate) fn of(conn: &AnyConnection) -> Backend {
        if conn.backend_name() == "SQLite" {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// `url` as the store connects to it: a SQLite file is created if missing (unless the URL
    /// chooses its own mode).
    pub(crate) fn connect_url(self, url: &str) -> String {
        match self {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        }
    }

    /// Sets up a new connection: on SQLite, waiting for the lock, write-ahead logging, durable
    /// commits, foreign keys, and secure deletion (deleted content is overwritten with zeros, so
    /// a forgotten person's details do not survive in free pages). On PostgreSQL, every execution
    /// of a prepared statement is planned for its values: a generic plan, chosen after a
    /// statement's fifth run while a new shop's tables were nearly empty, stays on the
    /// connection as they grow (a claim scanning the whole outbox, 2 s at the 99th percentile at
    /// 1,000 sales/s), where planning costs a fraction of a millisecond.
    pub(crate) async fn prepare(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        match self {
            Backend::Sqlite => {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA secure_delete = ON").await?;
            }
            Backend::Postgres => {
                conn.execute("SET plan_cache_mode = force_custom_plan")
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether the database lets one writer in at a time (SQLite), so the store writes through one
    /// connection and takes turns for bulk writes.
    pub(crate) fn single_writer(self) -> bool {
        self == Backend::Sqlite
    }

    /// This backend's migration set.
    pub(crate) fn migrator(self) -> Migrator {
        match self {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        }
    }

    /// Applies this backend's migration set.
    pub(crate) async fn migrate(self, pool: &AnyPool) -> Result<(), MigrateError> {
        self.migrator().run(pool).await
    }

    /// A query with one `$1` parameter, a table name, answering one row if that table exists.
    pub(crate) fn table_exists_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => {
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }

    /// The statements that ask the database to check itself, each answering rows of text that
    /// describe a problem (SQLite's `ok` aside), at most `limit` of them: SQLite's
    /// `integrity_check` and `foreign_key_check`; PostgreSQL checks its pages itself, so a round
    /// trip is all there is to ask.
    pub(crate) fn integrity_sql(self, limit: usize) -> Vec<String> {
        match self {
            Backend::Sqlite => vec![
                format!("PRAGMA integrity_check({limit})"),
                format!(
                    "SELECT 'foreign key: ' || f.\"table\" || ' row ' || COALESCE(f.rowid, '?') \
                     || ' names a missing ' || f.parent FROM pragma_foreign_key_check AS f LIMIT {limit}"
                ),
            ],
            Backend::Postgres => vec!["SELECT 'ok'".into()],
        }
    }

    /// Takes the write lock at the start of a writing transaction. On SQLite its first statement
    /// must write: a transaction that read first and wrote later could not upgrade once another
    /// connection had committed, and would fail instead of waiting. (`BEGIN IMMEDIATE` would do the
    /// same, but sqlx refuses it on a connection whose earlier transaction SQLite rolled back by
    /// itself, as it does when the disk is full.) PostgreSQL locks rows as they are written.
    pub(crate) async fn lock_for_writing(
        self,
        conn: &mut AnyConnection,
    ) -> Result<(), sqlx::Error> {
        if self == Backend::Sqlite {
            conn.execute("UPDATE sources SET updated_at = updated_at WHERE 0 = 1")
                .await?;
        }
        Ok(())
    }

    /// Makes claims of one queue partition (`partition`: a sink) take turns until the transaction
    /// ends, so a claim sees what earlier claims took as in flight. On PostgreSQL, where several
    /// hosts claim from one table, a transaction-scoped advisory lock; SQLite's single writer
    /// already serialises them.
    pub(crate) async fn take_claim_turn(
        self,
        conn: &mut AnyConnection,
        partition: &str,
    ) -> Result<(), sqlx::Error> {
        if self == Backend::Postgres {
            conn.execute(
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS turn")
                    .bind(partition),
            )
            .await?;
        }
        Ok(())
    }

    /// What ends a claim's selection of rows of the table aliased `alias`: on PostgreSQL it locks
    /// them and skips rows other writers hold; SQLite has one writer, so nothing.
    pub(crate) fn skip_locked(self, alias: &str) -> String {
        match self {
            Backend::Postgres => format!("FOR UPDATE OF {alias} SKIP LOCKED"),
            Backend::Sqlite => String::new(),
        }
    }

    /// How a claim's selection is named in its `WITH`: on PostgreSQL `AS MATERIALIZED`, so it runs
    /// once (a `LIMIT … SKIP LOCKED` subquery inside `IN (…)` may be evaluated again for each row the
    /// UPDATE visits, and then lease more rows than the limit allows); SQLite has one writer and
    /// flattens a plain `AS` into the UPDATE, which spares it building a temporary table per claim.
    pub(crate) fn claim_selection(self) -> &'static str {
        match self {
            Backend::Postgres => "AS MATERIALIZED",
            Backend::Sqlite => "AS",
        }
    }

    /// `column` in a condition or grouping the planner must not answer from an index on it. With
    /// no statistics, SQLite answers `partition = $1 AND id IN (…)` by walking an index on the
    /// partition, every item of a sink (a claim took 15 ms with 100,000 items in the outbox),
    /// rather than look the few ids up, and groups a few rows by walking a whole index that is
    /// ordered by the grouping; `+column` rules that index out. PostgreSQL plans by its
    /// statistics and has no unary plus for text.
    pub(crate) fn not_by_index(self, column: &str) -> String {
        match self {
            Backend::Sqlite => format!("+{column}"),
            Backend::Postgres => column.to_owned(),
        }
    }

    /// Names the index a read of `table` takes, where the planner would not choose it: SQLite,
    /// with no statistics, ranks three equalities on a narrow index above a partial index whose
    /// condition the read repeats, and looks every row up in the table; PostgreSQL plans by its
    /// statistics and has no such clause.
    pub(crate) fn table_by_index(self, table: &str, index: &str) -> String {
        match self {
            Backend::Sqlite => format!("{table} INDEXED BY {index}"),
            Backend::Postgres => table.to_owned(),
        }
    }

    /// An aggregate writing every row's `columns` (SQL expressions, comma-separated) as one JSON
    /// text: an array holding an array per row, in `order` (an `ORDER BY` list, or empty for
    /// any), `[]` for no rows. PostgreSQL's `json_agg` gives NULL for none, and a `json` value the
    /// `Any` driver cannot read, so it is cast to text.
    pub(crate) fn json_rows(self, columns: &str, order: &str) -> String {
        let order = match order {
            "" => String::new(),
            order => format!(" ORDER BY {order}"),
        };
        let row = self.json_array(columns);
        match self {
            Backend::Sqlite => format!("json_group_array({row}{order})"),
            Backend::Postgres => {
                format!("CAST(COALESCE(json_agg({row}{order}), '[]') AS TEXT)")
            }
        }
    }

    /// A JSON array of `columns` (SQL expressions, comma-separated); one nested in another is an
    /// array within it.
    pub(crate) fn json_array(self, columns: &str) -> String {
        match self {
            Backend::Sqlite => format!("json_array({columns})"),
            Backend::Postgres => format!("json_build_array({columns})"),
        }
    }

    /// How statements built at run time number their parameters. SQLite gets anonymous `?`: sqlx
    /// looks up the name of every named parameter it binds, which SQLite finds by a linear scan, so
    /// `$N` costs time quadratic in the parameters of a statement; PostgreSQL requires `$N`.
    pub(crate) fn placeholders(self) -> Placeholders {
        match self {
            Backend::Sqlite => Placeholders::Anonymous,
            Backend::Postgres => Placeholders::Numbered,
        }
    }
}

/// A style of statement parameters: `?` or `$N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    Anonymous,
    Numbered,
}

impl Placeholders {
    /// Appends the `n`th parameter (from 1).
    pub(crate) fn push(self, sql: &mut String, n: usize) {
        match self {
            Placeholders::Anonymous => sql.push('?'),
            Placeholders::Numbered => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
        }
    }

    /// `sql` with its `$1…$k` (each used once, in order) written in this style.
    pub(crate) fn rewrite(self, sql: &str) -> String {
        if self == Placeholders::Numbered {
            return sql.to_string();
        }
        let mut out = String::with_capacity(sql.len());
        let mut rest = sql;
        let mut expected = 1;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            debug_assert_eq!(
                rest[at + 1..at + 1 + digits].parse::<usize>().ok(),
                Some(expected),
                "parameters must be used once each, in order: {sql}"
            );
            expected += 1;
            out.push('?');
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        out
    }
}

/// What a column holds, as backups carry it: the same on both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Integer,
    Real,
    Text,
    Blob,
}

/// Where the two databases part for backups: their catalogs, a consistent read, row order and id
/// counters.
impl Backend {
    /// The tables of the store (not the database's own), one `name` each.
    pub(crate) fn tables_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            }
        }
    }

    /// The columns of the table named by `$1`, in the table's order: `name`, its declared `type`,
    /// and `pk`, its place in the primary key (from 1; 0 if not in it).
    pub(crate) fn columns_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT c.column_name::text AS name, c.data_type::text AS type,
                        COALESCE((SELECT k.ordinal_position::bigint
                                  FROM information_schema.table_constraints t
                                  JOIN information_schema.key_column_usage k
                                    ON k.constraint_name = t.constraint_name
                                   AND k.table_schema = t.table_schema
                                   AND k.table_name = t.table_name
                                  WHERE t.constraint_type = 'PRIMARY KEY'
                                    AND t.table_schema = c.table_schema
                                    AND t.table_name = c.table_name
                                    AND k.column_name = c.column_name), 0) AS pk
                 FROM information_schema.columns c
                 WHERE c.table_schema = current_schema() AND c.table_name = $1
                 ORDER BY c.ordinal_position"
            }
        }
    }

    /// What a column of declared type `declared` holds (SQLite by its type affinity rules), if
    /// backups can carry it.
    pub(crate) fn column_kind(self, declared: &str) -> Option<ColumnKind> {
        let declared = declared.to_ascii_uppercase();
        let has = |part: &str| declared.contains(part);
        match self {
            Backend::Sqlite if has("INT") => Some(ColumnKind::Integer),
            Backend::Sqlite if has("CHAR") || has("CLOB") || has("TEXT") => Some(ColumnKind::Text),
            Backend::Sqlite if has("BLOB") || declared.is_empty() => Some(ColumnKind::Blob),
            Backend::Sqlite if has("REAL") || has("FLOA") || has("DOUB") => Some(ColumnKind::Real),
            Backend::Sqlite => None,
            Backend::Postgres => match declared.as_str() {
                "BIGINT" | "INTEGER" | "SMALLINT" => Some(ColumnKind::Integer),
                "DOUBLE PRECISION" | "REAL" => Some(ColumnKind::Real),
                "TEXT" | "CHARACTER VARYING" | "CHARACTER" => Some(ColumnKind::Text),
                "BYTEA" => Some(ColumnKind::Blob),
                _ => None,
            },
        }
    }

    /// What a read transaction runs first so that all its reads see one moment of the store. A
    /// SQLite read transaction already reads one snapshot from its first statement on.
    pub(crate) fn snapshot_sql(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
            Backend::Sqlite => None,
        }
    }

    /// A term of an `ORDER BY` on `column`: text in byte order on both (SQLite's default; on
    /// PostgreSQL the "C" collation, not the server's locale), so both give the same order.
    pub(crate) fn order_term(self, column: &str, kind: ColumnKind) -> String {
        match (self, kind) {
            (Backend::Postgres, ColumnKind::Text) => format!("\"{column}\" COLLATE \"C\""),
            _ => format!("\"{column}\""),
        }
    }

    /// The id counters of the store's tables: `name` (the table), `col` (its counted column) and
    /// `seq`, the highest id handed out (0 if none).
    pub(crate) fn sequences_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT name, 'rowid' AS col, seq FROM sqlite_sequence",
            Backend::Postgres => {
                "SELECT c.table_name::text AS name, c.column_name::text AS col,
                        COALESCE(s.last_value, 0) AS seq
                 FROM information_schema.columns c
                 JOIN pg_sequences s
                   ON s.schemaname || '.' || s.sequencename
                      = pg_get_serial_sequence(quote_ident(c.table_name), c.column_name)
                 WHERE c.table_schema = current_schema() AND c.column_default LIKE 'nextval(%'"
            }
        }
    }

    /// The column a table's counter counts when the catalog does not list it yet: SQLite lists a
    /// table's counter once a row was inserted, and it always counts the rowid.
    pub(crate) fn unlisted_sequence_column(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("rowid"),
            Backend::Postgres => None,
        }
    }

    /// Statements that set the counter of table `table` (counting column `col`) to `$1`, or to the
    /// highest id in the table if that is higher; each statement binds `$1` once.
    pub(crate) fn set_sequence_sql(self, table: &str, col: &str) -> Vec<String> {
        match self {
            Backend::Sqlite => vec![
                format!("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = '{table}'"),
                format!(
                    "INSERT INTO sqlite_sequence (name, seq) \
                     SELECT '{table}', MAX($1, COALESCE((SELECT MAX(\"{col}\") FROM \"{table}\"), 0)) \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
                ),
            ],
            Backend::Postgres => vec![format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{col}')::regclass, GREATEST(t, 1), t > 0) FROM \
                 (SELECT GREATEST($1, COALESCE((SELECT MAX(\"{col}\") FROM \"{table}\"), 0)) AS t) AS target"
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Backend, Placeholders};

    #[test]
    fn numbered_parameters_become_anonymous_for_sqlite() {
        assert_eq!(
            Placeholders::Anonymous.rewrite("a = $1 AND b IN {list} AND c = $2"),
            "a = ? AND b IN {list} AND c = ?"
        );
        assert_eq!(Placeholders::Numbered.rewrite("a = $1"), "a = $1");
    }

    #[test]
    fn urls_name_their_backend_and_sqlite_files_are_created() {
        assert_eq!(Backend::of_url("sqlite://a.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
        assert_eq!(
            Backend::Sqlite.connect_url("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            Backend::Sqlite.connect_url("sqlite://a.db?x=1"),
            "sqlite://a.db?x=1&mode=rwc"
        );
        assert_eq!(
            Backend::Postgres.connect_url("postgres://h/db"),
            "postgres://h/db"
        );
    }
}
