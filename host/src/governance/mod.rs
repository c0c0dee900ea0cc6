//! Data governance in the host: what leaves the shop, and to whom, and forgetting a person on
//! request. Plugins never decide it; the host applies it to every record before a sink sees it.

pub mod erasure;
pub mod fields;
pub mod forget;
