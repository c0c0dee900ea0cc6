//! The files of a package, `rapport.toml`, `plugin.wasm` and (once signed) `signature`: read from and
//! written to a `.rpk` archive (an uncompressed tar holding exactly those files, nothing else), or
//! read from an installed plugin's directory.

use super::Manifest;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The manifest's file name, in an archive and an install directory.
pub const MANIFEST_FILE: &str = "rapport.toml";
/// The component's file name.
pub const WASM_FILE: &str = "plugin.wasm";
/// The detached signature's file name.
pub const SIGNATURE_FILE: &str = "signature";

const MAX_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_WASM_BYTES: u64 = 128 << 20;
const MAX_SIGNATURE_BYTES: u64 = 16 << 10;

/// Why a package's files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid package: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The bytes of a package's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFiles {
    pub manifest: Vec<u8>,
    pub wasm: Vec<u8>,
    pub signature: Option<Vec<u8>>,
}

/// `<id>-<version>.rpk`, the conventional name of a package file.
pub fn file_name(manifest: &Manifest) -> String {
    format!("{}-{}.rpk", manifest.id, manifest.version)
}

impl PackageFiles {
    /// Reads a `.rpk` archive. Refuses anything but regular files named `rapport.toml`,
    /// `plugin.wasm` and `signature`, each at most once and within a size limit.
    pub fn read_archive(path: &Path) -> Result<Self, ArchiveError> {
        let read_error = |source| ArchiveError::Read {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |message: String| ArchiveError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(file));
        let (mut manifest, mut wasm, mut signature) = (None, None, None);
        for entry in archive.entries().map_err(read_error)? {
            let entry = entry.map_err(|e| invalid(e.to_string()))?;
            let name = entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            let (slot, limit) = match name.as_str() {
                MANIFEST_FILE => (&mut manifest, MAX_MANIFEST_BYTES),
                WASM_FILE => (&mut wasm, MAX_WASM_BYTES),
                SIGNATURE_FILE => (&mut signature, MAX_SIGNATURE_BYTES),
                _ => {
                    return Err(invalid(format!(
                        "unexpected entry {name:?} (a package holds only {MANIFEST_FILE}, {WASM_FILE} and {SIGNATURE_FILE})"
                    )))
                }
            };
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(invalid(format!("{name} is not a regular file")));
            }
            if slot.is_some() {
                return Err(invalid(format!("{name} appears twice")));
            }
            let mut bytes = Vec::new();
            entry
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| invalid(format!("{name}: {e}")))?;
            if bytes.len() as u64 > limit {
                return Err(invalid(format!("{name} is larger than {limit} bytes")));
            }
            *slot = Some(bytes);
        }
        let missing = |name: &str| invalid(format!("it has no {name}"));
        Ok(PackageFiles {
            manifest: manifest.ok_or_else(|| missing(MANIFEST_FILE))?,
            wasm: wasm.ok_or_else(|| missing(WASM_FILE))?,
            signature,
        })
    }

    /// Writes a `.rpk` archive: to a temporary file beside `path`, then renamed over it, so a
    /// reader never sees half a package. Entries have fixed metadata, so the same files always
    /// give the same bytes.
    pub fn write_archive(&self, path: &Path) -> Result<(), ArchiveError> {
        let write_error = |source| ArchiveError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".rapport-package-")
            .tempfile_in(dir)
            .map_err(write_error)?;
        let mut builder = tar::Builder::new(temp.as_file());
        let mut entries = vec![(MANIFEST_FILE, &self.manifest), (WASM_FILE, &self.wasm)];
        if let Some(signature) = &self.signature {
            entries.push((SIGNATURE_FILE, signature));
        }
        for (name, bytes) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .map_err(write_error)?;
        }
        builder.into_inner().map_err(write_error)?;
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(path).map_err(|e| write_error(e.error))?;
        Ok(())
    }

    /// Reads an installed plugin's directory; `signature` may be absent.
    pub fn read_dir(dir: &Path) -> Result<Self, ArchiveError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| ArchiveError::Read { path, source })
        };
        let signature_path = dir.join(SIGNATURE_FILE);
        let signature = match std::fs::read(&signature_path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ArchiveError::Read {
                    path: signature_path,
                    source,
                })
            }
        };
        Ok(PackageFiles {
            manifest: read(MANIFEST_FILE)?,
            wasm: read(WASM_FILE)?,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> PackageFiles {
        PackageFiles {
            manifest: b"id = \"x\"\n".to_vec(),
            wasm: b"\0asm".to_vec(),
            signature: Some(b"key_id = \"acme\"\n".to_vec()),
        }
    }

    #[test]
    fn archives_round_trip_and_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.rpk"), dir.path().join("b.rpk"));
        files().write_archive(&a).unwrap();
        files().write_archive(&b).unwrap();
        assert_eq!(PackageFiles::read_archive(&a).unwrap(), files());
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let unsigned = PackageFiles {
            signature: None,
            ..files()
        };
        unsigned.write_archive(&a).unwrap();
        assert_eq!(PackageFiles::read_archive(&a).unwrap(), unsigned);
    }

    #[test]
    fn unexpected_or_missing_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rpk");
        let write = |entries: &[(&str, &[u8])]| {
            let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
            for (name, bytes) in entries {
                let mut header = tar::Header::new_ustar();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                builder.append_data(&mut header, name, *bytes).unwrap();
            }
            builder.finish().unwrap();
            PackageFiles::read_archive(&path).unwrap_err().to_string()
        };
        let err = write(&[("rapport.toml", b"a"), ("notes.txt", b"b")]);
        assert!(err.contains("unexpected entry \"notes.txt\""), "{err}");
        let err = write(&[("rapport.toml", b"a")]);
        assert!(err.contains("it has no plugin.wasm"), "{err}");
        let err = write(&[
            ("rapport.toml", b"a"),
            ("plugin.wasm", b"b"),
            ("plugin.wasm", b"c"),
        ]);
        assert!(err.contains("plugin.wasm appears twice"), "{err}");
    }
}
