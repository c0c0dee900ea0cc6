//! Subcommands of the `rapport` command line that are large enough to live outside `main.rs`.

pub mod backup;
pub mod check;
pub mod daemon;
pub mod dlq;
pub mod experiment;
pub mod explain;
pub mod forget;
pub mod generations;
pub mod identity;
pub mod metrics;
pub mod oneshot;
pub mod pairs;
pub mod pilot;
pub mod plugin;
pub mod predict;
pub mod privacy;
pub mod profile;
pub mod retention;
pub mod status;
pub mod swap;
pub mod token;
