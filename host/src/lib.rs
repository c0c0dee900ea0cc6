//! rapport's host: runs POS-source and CRM-sink connectors as sandboxed WebAssembly components and
//! owns every decision about people — identity, consent, what is sent, when and how often.
//!
//! This crate holds the services: each reads through `rapport_store`, decides with the pure rules of
//! `rapport_core`, calls plugins through `rapport_sandbox`, and writes back. `daemon` wires a
//! running host together once (tasks, HTTP server, config reload); `admin` is the HTTP face over a
//! narrow state; `main.rs` and `cli/` are the command line. Nothing below this crate depends on it.

pub mod admin;
pub mod backup;
pub mod check;
pub mod config;
pub mod conformance;
pub mod connectors;
pub mod consent;
pub mod daemon;
pub mod delivery;
pub mod dry_run;
pub mod engagement;
pub mod experiments;
pub mod explain;
pub mod governance;
pub mod identity;
pub mod ingest;
pub mod journeys;
pub mod lookup;
pub mod metrics;
pub mod operations;
pub mod pairs;
pub mod pilot;
pub mod pipeline;
pub mod playbook;
pub mod predictions;
pub mod preferences;
pub mod profiles;
pub mod reload;
pub mod scaffold;
