//! Plugin packages: the manifest beside each `plugin.wasm`, locating a plugin on disk, and the
//! signed `.rpk` packages publishers ship and operators install (`rapport plugin …`), and what a
//! manifest asks the operator for (`permissions`).

pub mod archive;
pub mod instance;
pub mod manifest;
pub mod permissions;
pub mod signing;
pub mod trust;
pub mod verify;

pub use manifest::{ConfigKey, ConfigType, EgressRule, Manifest, ManifestError, PluginKind};
pub use trust::{TrustStore, TrustStoreError};
pub use verify::{open_installed, verify_installed, PackageRefusal, Provenance};

use std::path::{Path, PathBuf};

/// A plugin on disk: `plugin.wasm` and its `rapport.toml` manifest in one directory.
#[derive(Debug, Clone)]
pub struct PluginPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub wasm: Vec<u8>,
}

/// Why a plugin package could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl PluginPackage {
    /// Reads `dir/rapport.toml` and `dir/plugin.wasm`.
    pub fn open(dir: &Path) -> Result<Self, PackageError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| PackageError::Read { path, source })
        };
        let manifest_path = dir.join("rapport.toml");
        let manifest_text = String::from_utf8_lossy(&read("rapport.toml")?).into_owned();
        let manifest = Manifest::parse(&manifest_text, &manifest_path)?;
        let wasm = read("plugin.wasm")?;
        Ok(PluginPackage {
            dir: dir.to_path_buf(),
            manifest,
            wasm,
        })
    }
}
