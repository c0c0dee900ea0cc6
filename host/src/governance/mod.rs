//! Data governance in the host: what leaves the shop and to whom, and how long what stays is kept.
//! Plugins never decide it; the host applies it.

pub mod fields;
pub mod retention;
