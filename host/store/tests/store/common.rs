//! The databases every store test runs on: a SQLite file in a temporary directory, always, and a
//! fresh PostgreSQL database when a server answers (under CI=true it must). Each test gets its own
//! database, dropped afterwards, so tests run side by side.

use rapport_store::Store;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Connection, PgConnection};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

/// A store under test, with a plain connection pool to the same database for setting up states and
/// reading tables directly.
pub struct Db {
    pub store: Store,
    pub sql: AnyPool,
}

impl Db {
    async fn open(url: &str) -> Db {
        let store = Store::open(url).await.expect("open the store");
        let sql = AnyPool::connect(url)
            .await
            .expect("connect to the store's database");
        Db { store, sql }
    }

    async fn close(self) {
        self.store.close().await;
        self.sql.close().await;
    }

    /// Runs a statement with integer and text parameters.
    pub async fn run(&self, sql: &str, params: &[Param<'_>]) -> u64 {
        let mut query = sqlx::query(sql);
        for p in params {
            query = match p {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(*v),
            };
        }
        query
            .execute(&self.sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    }

    /// The rows a query returns.
    pub async fn rows(&self, sql: &str, params: &[Param<'_>]) -> Vec<AnyRow> {
        let mut query = sqlx::query(sql);
        for p in params {
            query = match p {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(*v),
            };
        }
        query
            .fetch_all(&self.sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Queues a pending outbox item for `sink`, due at `due`; returns its id.
    pub async fn queue_item(&self, sink: &str, kind: &str, profile: i64, due: i64) -> i64 {
        let key = format!(
            "{kind}:{profile}:{due}:{}",
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let row = self
            .rows(
                "INSERT INTO outbox (sink_id, kind, profile_id, idempotency_key, status, attempts,
                                     next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) RETURNING id",
                &[
                    Param::Text(sink),
                    Param::Text(kind),
                    Param::Int(profile),
                    Param::Text(&key),
                    Param::Int(due),
                ],
            )
            .await;
        sqlx::Row::get(&row[0], "id")
    }
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// Numbers test databases and keys apart within this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs `case` on SQLite, then on PostgreSQL.
pub async fn on_both<F, Fut>(case: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = Db>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("rapport.db").display());
    case(Db::open(&url).await).await.close().await;
    if let Some(database) = PostgresDatabase::create().await {
        case(Db::open(&database.url()).await).await.close().await;
    }
}

/// A fresh PostgreSQL database, dropped with this value.
struct PostgresDatabase {
    server: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates one on the server at `RAPPORT_TEST_POSTGRES` (by default the local one). Without a
    /// server, PostgreSQL is skipped with a notice, unless CI=true, where that fails the test.
    async fn create() -> Option<PostgresDatabase> {
        let server = std::env::var("RAPPORT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let mut admin = match PgConnection::connect(&format!("{server}/test")).await {
            Ok(admin) => admin,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("NOTICE: PostgreSQL at {server} is unreachable ({e}): skipped");
                return None;
            }
            Err(e) => panic!("PostgreSQL at {server} is needed under CI: {e}"),
        };
        let name = format!(
            "rapport_store_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(&statement)
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        Some(PostgresDatabase { server, name })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin = format!("{}/test", self.server);
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // On a thread of its own: the test's runtime may be gone, or busy dropping this.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime to drop the test database");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&statement).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Stores an order or refund event `id` of profile `profile` (12.50 EUR, occurred and placed at
/// `at` ms), superseded if its id ends in `-old`; its payload names it (`{"id": id}`).
pub async fn event(db: &Db, id: &str, kind: &str, profile: Option<i64>, state: &str, at: i64) {
    let superseded = i64::from(id.ends_with("-old"));
    sqlx::query(
        "INSERT INTO events (source_id, source_event_id, kind, object_id, profile_id, amount_minor,
                             currency, occurred_at, ingested_at, payload, state, placed_at,
                             superseded)
         VALUES ('pos', $1, $2, $3, $4, 1250, 'EUR', $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(kind)
    .bind(id)
    .bind(profile)
    .bind(at)
    .bind(at)
    .bind(serde_json::json!({ "id": id }).to_string())
    .bind(state)
    .bind(at)
    .bind(superseded)
    .execute(&db.sql)
    .await
    .unwrap();
}

/// `N` new profiles (keys `p-1`, `p-2`, …), their ids in that order.
pub async fn profiles<const N: usize>(db: &Db) -> [i64; N] {
    let mut ids = [0; N];
    for (n, id) in ids.iter_mut().enumerate() {
        let key = format!("p-{}", n + 1);
        let row = db
            .rows(
                "INSERT INTO profiles (key, created_at, updated_at) VALUES ($1, 0, 0) RETURNING id",
                &[Param::Text(&key)],
            )
            .await;
        *id = sqlx::Row::get(&row[0], "id");
    }
    ids
}
