//! rapport's host: runs POS-source and CRM-sink connectors as sandboxed WebAssembly components and
//! owns every decision about people — identity, consent, what is sent, when and how often.

pub mod admin;
pub mod config;
pub mod connectors;
pub mod consent;
pub mod daemon;
pub mod delivery;
pub mod governance;
pub mod identity;
pub mod ingest;
pub mod pipeline;
pub mod reload;
