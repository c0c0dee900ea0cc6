//! rapport's sandbox: runs connectors as WebAssembly components and decides nothing about people.
//!
//! It owns the wasmtime engine and the compile cache (`runtime`), the bindings of every supported
//! contract version (`contract`), what a plugin may call (`capabilities`: `send` under the egress
//! policy, secrets by name, HMAC, config, clock), plugin packages with their manifests, signatures
//! and trust (`packages`), and the checks that need the engine before a package is installed
//! (`install`). It knows neither the store nor the domain rules; its modules depend one way:
//! contract → capabilities → packages → runtime → install.

pub mod capabilities;
pub mod contract;
pub mod install;
pub mod packages;
pub mod runtime;
