//! The checks that need the runtime: a package's component is compiled and must implement the world
//! its manifest declares. Kept apart from `packages::verify`, which checks files, signatures and
//! trust without an engine.

use crate::packages::archive::PackageFiles;
use crate::packages::trust::TrustStore;
use crate::packages::verify::{verify_files, PackageRefusal, Provenance};
use crate::packages::PluginPackage;
use crate::runtime::{LoadError, Runtime};
use chrono::Utc;
use std::path::Path;

/// Compiles the component (through the runtime's cache) and checks it implements the world its
/// manifest declares: a `crm-sink` manifest over a `pos-source` component is refused here.
pub fn check_world(runtime: &Runtime, package: &PluginPackage) -> Result<(), PackageRefusal> {
    let one_line = |cause: &wasmtime::Error| format!("{cause:#}").replace('\n', " ");
    runtime.check_world(package).map_err(|e| match e {
        LoadError::Compile { cause, .. } => PackageRefusal::InvalidComponent {
            cause: one_line(&cause),
        },
        LoadError::World { kind, cause, .. } => PackageRefusal::WrongKind {
            kind,
            cause: one_line(&cause),
        },
        LoadError::Contract {
            built_for,
            supported,
            ..
        } => PackageRefusal::UnsupportedContract {
            built_for,
            supported,
        },
    })
}

/// A `.rpk` archive that passed every check, with its files.
#[derive(Debug, Clone)]
pub struct VerifiedArchive {
    pub files: PackageFiles,
    pub package: PluginPackage,
    pub provenance: Provenance,
}

/// Reads a `.rpk` archive and runs every check: manifest and contract, signature and trust
/// (`verify_files`), then the component's world (`check_world`).
pub fn verify_archive(
    path: &Path,
    trust: Option<&TrustStore>,
    allow_unsigned: bool,
    runtime: &Runtime,
) -> Result<VerifiedArchive, PackageRefusal> {
    let files = PackageFiles::read_archive(path)?;
    let verified = verify_files(&files, path, trust, allow_unsigned, Utc::now())?;
    let package = PluginPackage {
        dir: path.to_path_buf(),
        manifest: verified.manifest,
        wasm: files.wasm.clone(),
    };
    check_world(runtime, &package)?;
    Ok(VerifiedArchive {
        files,
        package,
        provenance: verified.provenance,
    })
}
