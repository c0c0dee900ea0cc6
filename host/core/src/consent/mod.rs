//! Consent rules: what each person agreed to, per channel and purpose (`ledger`), whether a sink may
//! receive their marketing data (`gate`), when a journey message may contact them (`contact`), and
//! the signed links of the preference page where people change their own choices (`preferences`).
//! Plugins only report choices and relay them; these rules decide.

pub mod contact;
pub mod gate;
pub mod ledger;
pub mod preferences;

use crate::model::{Channel, ConsentState, Purpose};

/// A consent in force, as stored: the choice on one channel and purpose, when and where it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConsent {
    pub channel: Channel,
    pub purpose: Purpose,
    pub state: ConsentState,
    pub at: i64,
    pub source: String,
}
