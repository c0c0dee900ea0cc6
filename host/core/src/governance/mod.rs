//! Governance rules: which person fields each sink may receive (`fields`), how long each class of
//! stored record is kept (`retention`), and what forgetting a person removes (`erasure`). The host's
//! services apply them; plugins never decide.

pub mod erasure;
pub mod fields;
pub mod retention;
