//! Contract 0.5 (`rapport:connector@0.5.0`) for sinks that report engagement: a 0.4 sink (it
//! erases a person by the profile key it was sent, too) that also reports what became of the
//! messages it was given — delivered, opened, clicked, bounced, unsubscribed.
//!
//! It is its own crate for the reason `rapport-sdk-erasure` is: the world exports the interfaces
//! of `crm-sink` again, and their export macros can exist once per crate. A sink that also reports
//! consent choices uses `rapport-sdk-engagement-consent-feed`.
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//! use rapport_sdk_engagement::{Engagement, EngagementPage, Erasure, ErasureSubject};
//!
//! struct MySink;
//! impl Sink for MySink { /* as for 0.1 */ }
//! impl Erasure for MySink { /* forget_person */ }
//! impl Engagement for MySink { /* engagement_events */ }
//! rapport_sdk_engagement::export_sink!(MySink);
//! ```
//! and `contract = "rapport:connector@0.5.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.5's `crm-sink-engagement` world, sharing `rapport-sdk`'s types and host
/// interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/crm-sink-engagement@0.5.0",
        path: [
            "../../wit/v0.1",
            "../../wit/v0.2",
            "../../wit/v0.3",
            "../../wit/v0.4",
            "../../wit/v0.5",
        ],
        with: {
            "rapport:connector/types@0.1.0": rapport_sdk::types,
            "rapport:connector/host@0.1.0": rapport_sdk::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_crm_sink_engagement_v0_5",
        default_bindings_module: "rapport_sdk_engagement::bindings",
    });
}

pub use bindings::exports::rapport::connector0_4_0::erasure::{ErasureSubject, Guest as Erasure};
pub use bindings::exports::rapport::connector0_5_0::engagement::{
    EngagementEvent, EngagementKind, EngagementPage, Guest as Engagement, MessageRef,
};

rapport_sdk::impl_sink_export!(bindings::exports::rapport::connector0_1_0::sink::Guest);

/// Exports `$ty` (which implements `rapport_sdk::Sink`, [`Erasure`] and [`Engagement`]) as 0.5's
/// `crm-sink-engagement` world.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::__export_crm_sink_engagement_v0_5!($ty with_types_in $crate::bindings);
    };
}
