//! Contract 0.4 (`rapport:connector@0.4.0`) for sinks with a consent feed: a sink that erases a
//! person by the profile key it was sent as well as by their identities (as `rapport-sdk-erasure`)
//! and also reports the consent choices people make at the vendor (as 0.2's consent feed).
//!
//! It is its own crate for the reason `rapport-sdk-erasure` is: 0.4's `crm-sink-consent-feed`
//! world exports the interfaces of `crm-sink` again, and their export macros can exist once per
//! crate.
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//! use rapport_sdk_erasure_consent_feed::{ConsentFeed, ConsentPage, Erasure, ErasureSubject};
//!
//! struct MySink;
//! impl Sink for MySink { /* as for 0.1 */ }
//! impl Erasure for MySink { /* forget_person */ }
//! impl ConsentFeed for MySink { /* consent_changes */ }
//! rapport_sdk_erasure_consent_feed::export_sink!(MySink);
//! ```
//! and `contract = "rapport:connector@0.4.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.4's `crm-sink-consent-feed` world, sharing `rapport-sdk`'s types and host
/// interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/crm-sink-consent-feed@0.4.0",
        path: ["../../wit/v0.1", "../../wit/v0.2", "../../wit/v0.3", "../../wit/v0.4"],
        with: {
            "rapport:connector/types@0.1.0": rapport_sdk::types,
            "rapport:connector/host@0.1.0": rapport_sdk::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_crm_sink_consent_feed_v0_4",
        default_bindings_module: "rapport_sdk_erasure_consent_feed::bindings",
    });
}

pub use bindings::exports::rapport::connector0_2_0::consent_feed::{
    ConsentChange, ConsentPage, Guest as ConsentFeed,
};
pub use bindings::exports::rapport::connector0_4_0::erasure::{ErasureSubject, Guest as Erasure};

rapport_sdk::impl_sink_export!(bindings::exports::rapport::connector0_1_0::sink::Guest);

/// Exports `$ty` (which implements `rapport_sdk::Sink`, [`Erasure`] and [`ConsentFeed`]) as
/// 0.4's `crm-sink-consent-feed` world.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::__export_crm_sink_consent_feed_v0_4!($ty with_types_in $crate::bindings);
    };
}
