//! The generated guest bindings for both worlds, sharing one copy of the `types` and `host`
//! interfaces so helpers work for sources and sinks alike, and of contract 0.3's `pos-source`
//! world, which reuses that copy for every type 0.3 leaves unchanged.

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

/// Bindings of contract 0.3's `pos-source` world: 0.3's `types` and `source` interfaces over the
/// 0.1 `types` and `host` of [`source`], so money, identities, consents and every helper are the
/// same for 0.1 and 0.3 sources.
///
/// wit-bindgen names a world's export macro after the world, and exports it from the crate root:
/// 0.3's world is included in one of the SDK's own, under another name, so its macro does not
/// clash with 0.1's `pos-source`. A component built with it has 0.3's `pos-source` imports and
/// exports exactly.
pub mod source_v0_3 {
    wit_bindgen::generate!({
        inline: "
            package rapport:sdk;

            world pos-source-v0-3 {
                include rapport:connector/pos-source@0.3.0;
            }
        ",
        world: "pos-source-v0-3",
        path: ["../wit/v0.1", "../wit/v0.2", "../wit/v0.3"],
        with: {
            "rapport:connector/types@0.1.0": crate::bindings::source::rapport::connector::types,
            "rapport:connector/host@0.1.0": crate::bindings::source::rapport::connector::host,
            "rapport:connector/types@0.3.0": generate,
            "rapport:connector/source@0.3.0": generate,
        },
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_pos_source_v0_3",
        default_bindings_module: "rapport_sdk::bindings::source_v0_3",
    });
}
