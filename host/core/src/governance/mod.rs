//! Governance rules: which person fields each sink may receive (`fields`) and how long each class
//! of stored record is kept (`retention`). The host's services apply them; plugins never decide.

pub mod fields;
pub mod retention;
