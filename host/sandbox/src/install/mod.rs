//! Installing a verified package into the plugins directory as `<plugins>/<id>/` (`plugin.wasm`,
//! `rapport.toml`, and `signature` or the `DEV-UNSIGNED` marker), atomically: the files are written
//! to a staging directory beside it, then renamed into place, replacing any earlier install.

mod world;

pub use world::{check_world, verify_archive, VerifiedArchive};

use crate::packages::archive::{MANIFEST_FILE, SIGNATURE_FILE, WASM_FILE};
use crate::packages::trust::TrustStore;
use crate::packages::verify::{PackageRefusal, Provenance, DEV_MARKER_FILE};
use crate::packages::Manifest;
use crate::runtime::Runtime;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What the DEV-UNSIGNED marker says to whoever opens it.
const DEV_MARKER_TEXT: &str = "This plugin is not signed. It was installed with \
`rapport plugin install --dev`, for local development only.\n";

/// A package now in the plugins directory.
#[derive(Debug, Clone)]
pub struct Installed {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub provenance: Provenance,
}

/// Why a package was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Refused(#[from] PackageRefusal),
    #[error("cannot install into {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Verifies the archive (see `verify_archive`; `dev` accepts an unsigned package, never a signed one
/// that fails) and installs it as `plugins_dir/<id>/`.
pub fn install(
    archive: &Path,
    plugins_dir: &Path,
    trust: Option<&TrustStore>,
    dev: bool,
    runtime: &Runtime,
) -> Result<Installed, InstallError> {
    let verified = verify_archive(archive, trust, dev, runtime)?;
    let manifest = verified.package.manifest;
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Write { path, source }
    };
    std::fs::create_dir_all(plugins_dir).map_err(write_error(plugins_dir))?;
    // The manifest's id is a slug (a-z, 0-9, '-'), so it is a plain directory name.
    let target = plugins_dir.join(&manifest.id);
    let staging = tempfile::Builder::new()
        .prefix(&format!(".installing-{}-", manifest.id))
        .tempdir_in(plugins_dir)
        .map_err(write_error(plugins_dir))?;
    let mut files = vec![
        (MANIFEST_FILE, verified.files.manifest.as_slice()),
        (WASM_FILE, verified.files.wasm.as_slice()),
    ];
    match &verified.files.signature {
        Some(signature) => files.push((SIGNATURE_FILE, signature.as_slice())),
        None => files.push((DEV_MARKER_FILE, DEV_MARKER_TEXT.as_bytes())),
    }
    for (name, bytes) in files {
        let path = staging.path().join(name);
        let mut file = std::fs::File::create(&path).map_err(write_error(&path))?;
        file.write_all(bytes).map_err(write_error(&path))?;
        file.sync_all().map_err(write_error(&path))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(write_error(staging.path()))?;
    }
    // An earlier install is moved aside (into a directory removed on drop) before the new one is
    // renamed into place, and moved back if that rename fails.
    let replaced = if target.exists() {
        let holder = tempfile::Builder::new()
            .prefix(&format!(".replaced-{}-", manifest.id))
            .tempdir_in(plugins_dir)
            .map_err(write_error(plugins_dir))?;
        let aside = holder.path().join(&manifest.id);
        std::fs::rename(&target, &aside).map_err(write_error(&target))?;
        Some((holder, aside))
    } else {
        None
    };
    let staged = staging.keep();
    if let Err(source) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        if let Some((_, aside)) = &replaced {
            let _ = std::fs::rename(aside, &target);
        }
        return Err(write_error(&target)(source));
    }
    drop(replaced);
    Ok(Installed {
        dir: target,
        manifest,
        provenance: verified.provenance,
    })
}
