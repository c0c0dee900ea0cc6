//! The identity graph as an operator sees it: a person's identities, consents, orders and merges,
//! and operator merges and unmerges. Normalisation and merge planning are pure rules in
//! `rapport_core::identity`; this module reads and writes them through the store.

pub mod graph;
