//! Contract 0.2 (`rapport:connector@0.2.0`) for sinks: a sink that also reports the consent choices
//! people make at the vendor, so unsubscribes flow back into the host's consent ledger.
//!
//! It is its own crate because 0.2's `crm-sink` world exports the same `sink` interface as 0.1's,
//! and the export macros wit-bindgen generates for one interface can exist once per crate.
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//! use rapport_sdk_consent_feed::{ConsentFeed, ConsentPage};
//!
//! struct MySink;
//! impl Sink for MySink { /* as for 0.1 */ }
//! impl ConsentFeed for MySink { /* consent_changes */ }
//! rapport_sdk_consent_feed::export_sink!(MySink);
//! ```
//! and `contract = "rapport:connector@0.2.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.2's `crm-sink` world, sharing `rapport-sdk`'s types and host interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/crm-sink@0.2.0",
        path: ["../../wit/v0.1", "../../wit/v0.2"],
        with: {
            "rapport:connector/types@0.1.0": rapport_sdk::types,
            "rapport:connector/host@0.1.0": rapport_sdk::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_crm_sink_v0_2",
        default_bindings_module: "rapport_sdk_consent_feed::bindings",
    });
}

use bindings::exports::rapport::connector0_1_0::sink::Guest as SinkExport;
use rapport_sdk::types::{Activity, ConnectorError, Descriptor, Identity, Outcome, Profile};

pub use bindings::exports::rapport::connector0_2_0::consent_feed::{
    ConsentChange, ConsentPage, Guest as ConsentFeed,
};

/// Every 0.1 sink is a 0.2 sink: the `sink` interface is the same.
impl<T: rapport_sdk::Sink> SinkExport for T {
    fn describe() -> Descriptor {
        <T as rapport_sdk::Sink>::describe()
    }
    fn check() -> Result<(), ConnectorError> {
        <T as rapport_sdk::Sink>::check()
    }
    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        <T as rapport_sdk::Sink>::upsert_profiles(profiles)
    }
    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        <T as rapport_sdk::Sink>::record_activities(activities)
    }
    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        <T as rapport_sdk::Sink>::forget(identities)
    }
}

/// Exports `$ty` (which implements `rapport_sdk::Sink` and [`ConsentFeed`]) as 0.2's `crm-sink`
/// world.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::__export_crm_sink_v0_2!($ty with_types_in $crate::bindings);
    };
}
