//! The store's SQL on both backends: every case runs on SQLite and on PostgreSQL.

mod common;
mod erasure;
mod ingest;
mod merges;
mod outbox;
mod retention;
