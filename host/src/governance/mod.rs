//! Data governance in the host: what leaves the shop and to whom, how long what stays is kept,
//! forgetting a person on request, the privacy requests vendors forward, and the plain-language
//! policy that says so. Plugins never decide
//! it; the host applies it.

pub mod erasure;
pub mod forget;
pub mod policy;
pub mod privacy;
pub mod retention;
