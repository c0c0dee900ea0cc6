//! Contract 0.4 (`rapport:connector@0.4.0`) for sinks: a sink that erases a person by the profile
//! key the host sent it as well as by their identities, so records the vendor holds under the key
//! alone (a contact made from a phone number, say) are erased too.
//!
//! It is its own crate because 0.4's `crm-sink` world exports the same `sink` interface as 0.1's,
//! and the export macros wit-bindgen generates for one interface can exist once per crate. A 0.4
//! sink that also reports consent choices uses `rapport-sdk-erasure-consent-feed` instead.
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//! use rapport_sdk_erasure::{Erasure, ErasureSubject};
//!
//! struct MySink;
//! impl Sink for MySink { /* as for 0.1; `forget` erases by identities alone */ }
//! impl Erasure for MySink { /* forget_person: by the key and every identity */ }
//! rapport_sdk_erasure::export_sink!(MySink);
//! ```
//! and `contract = "rapport:connector@0.4.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.4's `crm-sink` world, sharing `rapport-sdk`'s types and host interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/crm-sink@0.4.0",
        path: ["../../wit/v0.1", "../../wit/v0.2", "../../wit/v0.3", "../../wit/v0.4"],
        with: {
            "rapport:connector/types@0.1.0": rapport_sdk::types,
            "rapport:connector/host@0.1.0": rapport_sdk::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_crm_sink_v0_4",
        default_bindings_module: "rapport_sdk_erasure::bindings",
    });
}

pub use bindings::exports::rapport::connector0_4_0::erasure::{ErasureSubject, Guest as Erasure};

rapport_sdk::impl_sink_export!(bindings::exports::rapport::connector0_1_0::sink::Guest);

/// Exports `$ty` (which implements `rapport_sdk::Sink` and [`Erasure`]) as 0.4's `crm-sink` world.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::__export_crm_sink_v0_4!($ty with_types_in $crate::bindings);
    };
}
