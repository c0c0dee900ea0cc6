//! Everything a rapport connector author needs: the guest bindings of the `rapport:connector`
//! contract, the `export_source!`/`export_sink!` entry points, and small helpers for the jobs every
//! connector repeats (HTTP through the host, status mapping and vendor error reading, URL
//! encoding, the page loop of polling sources and pages read straight into a source's types,
//! webhook signatures, money, time, config, logging).
//!
//! ```ignore
//! use rapport_sdk::prelude::*;
//!
//! struct MySink;
//! impl Sink for MySink { /* ... */ }
//! rapport_sdk::export_sink!(MySink);
//! ```
//!
//! A source built for contract 0.3 (birthdays, loyalty accounts, order versions, merged and
//! deleted customers, privacy requests, loyalty changes) uses 0.3's prelude and export macro, and
//! says `contract = "rapport:connector@0.3.0"` in `rapport.toml`:
//!
//! ```ignore
//! use rapport_sdk::v0_3::prelude::*;
//!
//! struct MySource;
//! impl Source for MySource { /* ... */ }
//! rapport_sdk::export_source_v0_3!(MySource);
//! ```
//!
//! A sink built for contract 0.4 (erase a person by the profile key it was sent, too) uses
//! `rapport-sdk-erasure` (or `rapport-sdk-erasure-consent-feed`, with a consent feed), which build
//! a 0.4 component from a [`Sink`] and the 0.4 `Erasure` trait.
//!
//! A sink built for contract 0.5 that reports what became of its messages uses
//! `rapport-sdk-engagement` (or `rapport-sdk-engagement-consent-feed`); a 0.5 source that reports
//! service issues uses `rapport-sdk-service-issues`.

#![warn(missing_docs)]

pub mod amount;
pub mod batch;
// Generated from the WIT, whose own comments are its documentation; a few WIT items carry none.
#[allow(missing_docs)]
pub mod bindings;
pub mod birthday;
pub mod config;
pub mod feeds;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod http;
pub mod items;
pub mod journey;
pub mod log;
pub mod money;
pub mod outcome;
pub mod people;
pub mod per_item;
pub mod time;
pub mod url;
pub mod vendor;
pub mod watermark;
pub mod webhook;

pub use bindings::sink::exports::rapport::connector::sink::Guest as Sink;
pub use bindings::source::exports::rapport::connector::source::Guest as Source;
pub use bindings::source::rapport::connector::{host, types};

/// The types most connectors use, in one import.
pub mod prelude {
    pub use crate::bindings::source::exports::rapport::connector::source::{Batch, Push};
    pub use crate::host::Header;
    pub use crate::types::*;
    pub use crate::{Sink, Source};
}

/// Contract 0.3 for sources (`rapport:connector@0.3.0`): its `types` (every 0.1 type it leaves
/// unchanged under the same name, which is the same Rust type as in [`crate::types`]), its
/// `source` interface, and a prelude.
pub mod v0_3 {
    pub use crate::bindings::source_v0_3::exports::rapport::connector0_3_0::source::{
        Batch, Guest as Source, Push,
    };
    pub use crate::bindings::source_v0_3::rapport::connector0_3_0::types;

    /// The types most 0.3 sources use, in one import.
    pub mod prelude {
        pub use super::types::*;
        pub use super::{Batch, Push, Source};
        pub use crate::host::Header;
    }
}

/// Exports `$ty` (which implements [`Source`]) as the `pos-source` world's component exports.
#[macro_export]
macro_rules! export_source {
    ($ty:ident) => {
        $crate::bindings::source::__export_pos_source!($ty with_types_in $crate::bindings::source);
    };
}

/// Exports `$ty` (which implements [`Sink`]) as the `crm-sink` world's component exports.
#[macro_export]
macro_rules! export_sink {
    ($ty:ident) => {
        $crate::bindings::sink::__export_crm_sink!($ty with_types_in $crate::bindings::sink);
    };
}

/// Exports `$ty` (which implements [`v0_3::Source`]) as contract 0.3's `pos-source` world.
#[macro_export]
macro_rules! export_source_v0_3 {
    ($ty:ident) => {
        $crate::bindings::source_v0_3::__export_pos_source_v0_3!($ty with_types_in $crate::bindings::source_v0_3);
    };
}

/// Implements the `sink` export trait `$export` of a later contract's bindings (which reuse 0.1's
/// `sink` interface but generate their own trait for it) for every [`Sink`], so a connector
/// implements `Sink` once whichever contract it is built for.
#[doc(hidden)]
#[macro_export]
macro_rules! impl_sink_export {
    ($export:path) => {
        impl<T: $crate::Sink> $export for T {
            fn describe() -> $crate::types::Descriptor {
                <T as $crate::Sink>::describe()
            }
            fn check() -> Result<(), $crate::types::ConnectorError> {
                <T as $crate::Sink>::check()
            }
            fn upsert_profiles(
                profiles: Vec<$crate::types::Profile>,
            ) -> Result<Vec<$crate::types::Outcome>, $crate::types::ConnectorError> {
                <T as $crate::Sink>::upsert_profiles(profiles)
            }
            fn record_activities(
                activities: Vec<$crate::types::Activity>,
            ) -> Result<Vec<$crate::types::Outcome>, $crate::types::ConnectorError> {
                <T as $crate::Sink>::record_activities(activities)
            }
            fn forget(
                identities: Vec<$crate::types::Identity>,
            ) -> Result<(), $crate::types::ConnectorError> {
                <T as $crate::Sink>::forget(identities)
            }
        }
    };
}
