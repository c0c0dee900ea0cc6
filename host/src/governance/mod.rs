//! Data governance in the host: what leaves the shop and to whom, how long what stays is kept, and
//! the plain-language policy that says so. Plugins never decide it; the host applies it.

pub mod fields;
pub mod policy;
pub mod retention;
