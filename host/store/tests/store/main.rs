//! The store's SQL on both backends: every case runs on SQLite and on PostgreSQL.

mod common;
mod erasure;
mod events;
mod merges;
mod metrics;
mod operations;
mod outbox;
mod pairs;
mod predictions;
mod retention;
