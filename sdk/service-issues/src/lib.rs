//! Contract 0.5 (`rapport:connector@0.5.0`) for sources that report service issues: a 0.3 source
//! (`rapport_sdk::v0_3::Source`) that also reports its customers' issues — a complaint, a
//! repair, a wrong order — as they are opened and closed at the vendor.
//!
//! It is its own crate because the world exports 0.3's `source` interface again, and its export
//! macro can exist once per crate. A 0.5 source without issues builds with `rapport-sdk`'s 0.3
//! prelude and macro and says `contract = "rapport:connector@0.3.0"`.
//!
//! ```ignore
//! use rapport_sdk::v0_3::prelude::*;
//! use rapport_sdk_service_issues::{IssuePage, ServiceIssue, ServiceIssues};
//!
//! struct MySource;
//! impl Source for MySource { /* as for 0.3 */ }
//! impl ServiceIssues for MySource { /* issue_changes */ }
//! rapport_sdk_service_issues::export_source!(MySource);
//! ```
//! and `contract = "rapport:connector@0.5.0"` in `rapport.toml`.

#![warn(missing_docs)]

/// Bindings of 0.5's `pos-source-service-issues` world, sharing `rapport-sdk`'s 0.1 and 0.3
/// types and its host interface.
#[allow(missing_docs)] // generated from the WIT, whose comments are its documentation
pub mod bindings {
    wit_bindgen::generate!({
        world: "rapport:connector/pos-source-service-issues@0.5.0",
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
            "rapport:connector/types@0.3.0": rapport_sdk::v0_3::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_pos_source_service_issues_v0_5",
        default_bindings_module: "rapport_sdk_service_issues::bindings",
    });
}

use bindings::exports::rapport::connector0_3_0::source as export;
pub use bindings::exports::rapport::connector0_5_0::service_issues::{
    Guest as ServiceIssues, IssuePage, ServiceIssue,
};
use rapport_sdk::host::Header;
use rapport_sdk::v0_3::types::{ConnectorError, Descriptor};
use rapport_sdk::v0_3::{Batch, Push, Source};

/// Every 0.3 source is this world's `source` export (whose records are its own copies of 0.3's).
impl<T: Source> export::Guest for T {
    fn describe() -> Descriptor {
        <T as Source>::describe()
    }

    fn check() -> Result<(), ConnectorError> {
        <T as Source>::check()
    }

    fn poll(stream: String, cursor: Option<String>) -> Result<export::Batch, ConnectorError> {
        <T as Source>::poll(stream, cursor).map(|b: Batch| export::Batch {
            events: b.events,
            rejected: b.rejected,
            cursor: b.cursor,
            more: b.more,
        })
    }

    fn webhook(headers: Vec<Header>, body: Vec<u8>) -> Result<export::Push, ConnectorError> {
        <T as Source>::webhook(headers, body).map(|p: Push| export::Push {
            events: p.events,
            rejected: p.rejected,
        })
    }
}

/// Exports `$ty` (which implements `rapport_sdk::v0_3::Source` and [`ServiceIssues`]) as 0.5's
/// `pos-source-service-issues` world.
#[macro_export]
macro_rules! export_source {
    ($ty:ident) => {
        $crate::bindings::__export_pos_source_service_issues_v0_5!($ty with_types_in $crate::bindings);
    };
}
