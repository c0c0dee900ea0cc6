//! Governance rules: which person fields each sink may receive (`fields`), how long each class of
//! stored record is kept (`retention`), what forgetting a person removes (`erasure`) and how they
//! stay forgotten (`suppression`), and what a vendor's privacy request makes the host do and how
//! much of a birthday is kept (`privacy`). The host's services apply them; plugins never decide.

pub mod erasure;
pub mod fields;
pub mod privacy;
pub mod retention;
pub mod suppression;
