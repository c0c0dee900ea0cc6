//! Host-side bindings of every supported `rapport:connector` contract version, generated from the
//! frozen WIT snapshots in `wit/v*/` (one per version, as Zed keeps `since_v*`).
//!
//! Contract 0.2 reuses 0.1's `types`, `host`, `source` and `sink` interfaces unchanged and adds the
//! optional `consent-feed` export, so every version shares one copy of the generated types, and a
//! 0.2 sink's `sink` export is called through 0.1's bindings: the capability code implements `host`
//! once, and the delivery code calls a sink the same way whichever version it was built for.
//!
//! Contract 0.3 changes the source side only: its own `types` (customers with a birthday and a
//! loyalty account, orders with the vendor's version, four new payload cases) and `source`
//! interfaces, over 0.1's unchanged types and `host`. A source is called through the bindings of
//! its version, and what a 0.1 or 0.2 source returns is upcast to 0.3's types (`upcast`), so
//! everything past the sandbox sees one set of source types: [`pos`]. Its sinks are 0.2's.
//!
//! Contract 0.4 changes the sink side only: a sink also exports `erasure`, whose `forget-person`
//! is given the profile key the host sent the sink as well as the person's identities, and its
//! `consent-feed` is optional (used when exported). Its sources are 0.3's. A sink of any version is
//! still called through 0.1's `sink` bindings; only the optional exports differ.
//!
//! Contract 0.5 adds two optional exports and changes nothing else: a sink may export
//! `engagement` (what became of the messages it was given) and a source `service-issues` (its
//! customers' issues opened and closed). Its sinks are otherwise 0.4's and its sources 0.3's, so
//! they are type-checked and called through those bindings, and the optional exports are looked
//! for by name.

use std::fmt;

/// A version of the `rapport:connector` contract this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contract {
    V0_1,
    /// Adds the optional `consent-feed` sink export.
    V0_2,
    /// Adds birthdays, loyalty accounts, order versions, merged and deleted customers, privacy
    /// requests and loyalty changes to sources; sinks are 0.2's.
    V0_3,
    /// Adds the sink export `erasure` (forget a person by the profile key too); `consent-feed` is
    /// optional; sources are 0.3's.
    V0_4,
    /// Adds the optional sink export `engagement` and source export `service-issues`; sinks are
    /// otherwise 0.4's, sources 0.3's.
    V0_5,
}

impl Contract {
    /// Every version this host runs, oldest first.
    pub const SUPPORTED: [Contract; 5] = [
        Contract::V0_1,
        Contract::V0_2,
        Contract::V0_3,
        Contract::V0_4,
        Contract::V0_5,
    ];
    /// The package name every version shares; a version is `<PACKAGE>@<semver>`.
    pub const PACKAGE: &'static str = "rapport:connector";

    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "rapport:connector@0.1.0",
            Contract::V0_2 => "rapport:connector@0.2.0",
            Contract::V0_3 => "rapport:connector@0.3.0",
            Contract::V0_4 => "rapport:connector@0.4.0",
            Contract::V0_5 => "rapport:connector@0.5.0",
        }
    }

    /// The version named `rapport:connector@X.Y.Z`, if this host runs it.
    pub fn parse(name: &str) -> Option<Contract> {
        Contract::SUPPORTED.into_iter().find(|c| c.as_str() == name)
    }

    /// The supported versions, for messages: `rapport:connector@0.1.0, rapport:connector@0.2.0`.
    pub fn supported_list() -> String {
        Contract::SUPPORTED.map(Contract::as_str).join(", ")
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 0.1's `pos-source` world (and the shared `types` and `host` interfaces).
pub mod source {
    wasmtime::component::bindgen!({
        world: "rapport:connector/pos-source@0.1.0",
        path: "../../wit/v0.1",
        additional_derives: [PartialEq],
    });
}

/// 0.1's `crm-sink` world.
pub mod sink {
    wasmtime::component::bindgen!({
        world: "rapport:connector/crm-sink@0.1.0",
        path: "../../wit/v0.1",
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
        },
    });
}

/// 0.2's `crm-sink` world: 0.1's sink plus `consent-feed`.
pub mod sink_v0_2 {
    wasmtime::component::bindgen!({
        world: "rapport:connector/crm-sink@0.2.0",
        path: ["../../wit/v0.1", "../../wit/v0.2"],
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
        },
    });
}

/// 0.3's `pos-source` world: 0.3's `types` and `source` over 0.1's types and `host`.
pub mod source_v0_3 {
    wasmtime::component::bindgen!({
        world: "rapport:connector/pos-source@0.3.0",
        path: ["../../wit/v0.1", "../../wit/v0.2", "../../wit/v0.3"],
        additional_derives: [PartialEq],
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
        },
    });
}

/// 0.4's `crm-sink` world: 0.1's sink plus `erasure` (`consent-feed`, optional in 0.4, is 0.2's).
pub mod sink_v0_4 {
    wasmtime::component::bindgen!({
        world: "rapport:connector/crm-sink@0.4.0",
        path: ["../../wit/v0.1", "../../wit/v0.2", "../../wit/v0.3", "../../wit/v0.4"],
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
        },
    });
}

/// 0.5's `crm-sink-engagement` world: 0.4's sink plus `engagement`.
pub mod sink_v0_5 {
    wasmtime::component::bindgen!({
        world: "rapport:connector/crm-sink-engagement@0.5.0",
        path: [
            "../../wit/v0.1",
            "../../wit/v0.2",
            "../../wit/v0.3",
            "../../wit/v0.4",
            "../../wit/v0.5",
        ],
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
        },
    });
}

/// 0.5's `pos-source-service-issues` world: 0.3's source plus `service-issues`.
pub mod source_v0_5 {
    wasmtime::component::bindgen!({
        world: "rapport:connector/pos-source-service-issues@0.5.0",
        path: [
            "../../wit/v0.1",
            "../../wit/v0.2",
            "../../wit/v0.3",
            "../../wit/v0.4",
            "../../wit/v0.5",
        ],
        with: {
            "rapport:connector/types@0.1.0": crate::contract::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::contract::source::rapport::connector::host,
            "rapport:connector/types@0.3.0": crate::contract::source_v0_3::rapport::connector0_3_0::types,
        },
    });
}

pub mod upcast;

pub use sink_v0_2::exports::rapport::connector0_2_0::consent_feed;
pub use sink_v0_4::exports::rapport::connector0_4_0::erasure;
pub use sink_v0_5::exports::rapport::connector0_5_0::engagement;
pub use source::rapport::connector::{host as wit_host, types as wit};
pub use source_v0_5::exports::rapport::connector0_5_0::service_issues;

/// What every source's calls return past the sandbox, whichever version it was built for: 0.3's
/// source types (0.1's unchanged ones under the same names), and the `batch` of a poll and `push`
/// of a webhook.
pub mod pos {
    pub use super::source_v0_3::exports::rapport::connector0_3_0::source::{Batch, Push};
    pub use super::source_v0_3::rapport::connector0_3_0::types::*;
}
