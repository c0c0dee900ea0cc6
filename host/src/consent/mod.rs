//! Consent in the host: what each person agreed to, per channel and purpose, and whether a sink may
//! receive their marketing data, and when a journey message may contact them. Plugins only report
//! choices and relay them; the host decides.

pub mod contact;
pub mod feed;
pub mod gate;
pub mod ledger;
