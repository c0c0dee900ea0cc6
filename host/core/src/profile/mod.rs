//! What rapport understands of a person from their sales, as pure rules: the facts kept current on
//! ingest (`facts`: visits, spend, typical basket, rhythm, favoured categories), the shop-relative
//! RFM scores and the named segments they map to (`rfm`), and loyalty tiers (`tiers`).

pub mod facts;
pub mod rfm;
pub mod tiers;
