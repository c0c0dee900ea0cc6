//! Contract 0.5 (`rapport:connector@0.5.0`) for sinks that report engagement and consent
//! choices: a sink as `rapport-sdk-engagement` builds that also reports the consent choices people
//! make at the vendor (0.2's consent feed).
//!
//! It is its own crate for the reason `rapport-sdk-erasure-consent-feed` is: the world exports the
//! interfaces of `crm-sink` again, and their export macros can exist once per crate.
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//! use rapport_sdk_engagement_consent_feed::{ConsentFeed, Engagement, Erasure};
//!
//! struct MySink;
//! impl Sink for MySink { /* as for 0.1 */ }
//! impl Erasure for MySink { /* forget_person */ }
//! impl ConsentFeed for MySink { /* consent_changes */ }
//! impl Engagement for MySink { /* engagement_events */ }
//! rapport_sdk_engagement_consent_feed::export_sink!(MySink);
//! ```
//! and `contract = "rapport:connector@0.5.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.5's `crm-sink-consent-feed-engagement` world, sharing `rapport-sdk`'s types and
/// host interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/crm-sink-consent-feed-engagement@0.5.0",
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
        export_macro_name: "__export_crm_sink_consent_feed_engagement_v0_5",
        default_bindings_module: "rapport_sdk_engagement_consent_feed::bindings",
    });
}

pub use bindings::exports::rapport::connector0_2_0::consent_feed::{
    ConsentChange, ConsentPage, Guest as ConsentFeed,
};
pub use bindings::exports::rapport::connector0_4_0::erasure::{ErasureSubject, Guest as Erasure};
pub use bindings::exports::rapport::connector0_5_0::engagement::{
    EngagementEvent, EngagementKind, EngagementPage, Guest as Engagement, MessageRef,
};

rapport_sdk::impl_sink_export!(bindings::exports::rapport::connector0_1_0::sink::Guest);

/// Exports `$ty` (which implements `rapport_sdk::Sink`, [`Erasure`], [`ConsentFeed`] and
/// [`Engagement`]) as 0.5's `crm-sink-consent-feed-engagement` world.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::__export_crm_sink_consent_feed_engagement_v0_5!($ty with_types_in $crate::bindings);
    };
}
