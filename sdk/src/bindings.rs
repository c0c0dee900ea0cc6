//! The generated guest bindings for both worlds, sharing one copy of the `types` and `host`
//! interfaces so helpers work for sources and sinks alike.

/// Bindings of the `pos-source` world (and of the shared `types` and `host` interfaces).
pub mod source {
    wit_bindgen::generate!({
        world: "pos-source",
        path: "../wit/v0.1",
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_pos_source",
        default_bindings_module: "rapport_sdk::bindings::source",
    });
}

/// Bindings of the `crm-sink` world.
pub mod sink {
    wit_bindgen::generate!({
        world: "crm-sink",
        path: "../wit/v0.1",
        with: {
            "rapport:connector/types@0.1.0": crate::bindings::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::bindings::source::rapport::connector::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_crm_sink",
        default_bindings_module: "rapport_sdk::bindings::sink",
    });
}
