//! Data governance in the host: what leaves the shop, and to whom. Plugins never decide it; the
//! host applies it to every record before a sink sees it.

pub mod fields;
