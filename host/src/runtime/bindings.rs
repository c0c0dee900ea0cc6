//! Host-side bindings of the `rapport:connector@0.1.0` worlds, generated from `wit/`.
//!
//! Both worlds share one copy of the `types` and `host` interfaces, so the capability code
//! implements the `host` interface once for sources and sinks alike.

/// The `pos-source` world (and the shared `types` and `host` interfaces).
pub mod source {
    wasmtime::component::bindgen!({
        world: "pos-source",
        path: "../wit",
        additional_derives: [PartialEq],
    });
}

/// The `crm-sink` world.
pub mod sink {
    wasmtime::component::bindgen!({
        world: "crm-sink",
        path: "../wit",
        with: {
            "rapport:connector/types@0.1.0": crate::runtime::bindings::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::runtime::bindings::source::rapport::connector::host,
        },
    });
}

pub use source::rapport::connector::{host as wit_host, types as wit};
