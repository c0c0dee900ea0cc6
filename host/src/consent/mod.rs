//! Consent in the host: the unsubscribes a CRM reports back (`feed`) are read through the sink plugin
//! and stored as choices. The rules (ledger, marketing gate, contact rules) are in
//! `rapport_core::consent`.

pub mod feed;
