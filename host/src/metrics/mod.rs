//! Business metrics as the host serves them (`GET /api/metrics`, `rapport metrics`): the figures
//! of a period and of the one before it, read from the store and worked out with
//! `rapport_core::metrics` (`business`), beside the predicted lifetime value from the latest fit
//! (`predicted`), and what other services already report — the shop's segments, the stored product
//! pairs, each experiment's report — reused as they are.

pub mod business;
pub mod predicted;

pub use business::{business, BusinessMetrics};
