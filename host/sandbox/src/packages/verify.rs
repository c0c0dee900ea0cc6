//! Whether a package may run here, and why not: the manifest and contract, the signature against the
//! operator's trust store (publisher known, not revoked, not expired, same key, contents unchanged),
//! and the component against the world its manifest declares. Each refusal is one line that says
//! what to do.

use super::archive::{ArchiveError, PackageFiles, MANIFEST_FILE};
use super::signing::{fingerprint, PackageSignature};
use super::trust::TrustStore;
use super::{Manifest, ManifestError, PluginKind, PluginPackage};
use chrono::{DateTime, Utc};
use std::fmt;
use std::path::{Path, PathBuf};

/// The marker file `rapport plugin install --dev` writes into the install directory of an unsigned
/// package.
pub const DEV_MARKER_FILE: &str = "DEV-UNSIGNED";

/// Where an accepted package's trust comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Signed by this trusted publisher key.
    Signed { key_id: String },
    /// Not signed: installed with `--dev`, for local development only.
    DevUnsigned,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Signed { key_id } => write!(f, "signed by {key_id}"),
            Provenance::DevUnsigned => {
                f.write_str("DEV-UNSIGNED (not signed; for local development only)")
            }
        }
    }
}

/// Why a package was refused. Every message is one line and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PackageRefusal {
    #[error(transparent)]
    Files(#[from] ArchiveError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("package is not signed (sign it with `rapport plugin sign`, or install with --dev for local development)")]
    Unsigned,
    #[error("the package's signature file is malformed: {0} (sign the package again with `rapport plugin sign`)")]
    MalformedSignature(String),
    #[error("signed with key `{key_id}` but the manifest names no publisher (set `publisher = \"{key_id}\"` in rapport.toml, then pack and sign again)")]
    NoPublisher { key_id: String },
    #[error("signed with key `{key_id}` but the manifest names publisher `{publisher}` (sign it with the `{publisher}` key)")]
    PublisherMismatch { key_id: String, publisher: String },
    #[error("package is signed by `{key_id}` but no trust store was given to check it (pass --trust FILE)")]
    NoTrustStore { key_id: String },
    #[error("publisher `{key_id}` is not in the trust store {} (add the publisher's `{key_id}.pub` entry to it if you trust them)", trust.display())]
    UnknownPublisher { key_id: String, trust: PathBuf },
    #[error("publisher `{key_id}`'s key is revoked in the trust store {} (ask the publisher for a package signed with their new key)", trust.display())]
    Revoked { key_id: String, trust: PathBuf },
    #[error("publisher `{key_id}`'s key expired on {expired} (ask the publisher for a package signed with a current key, or renew `expires` in {})", trust.display())]
    Expired {
        key_id: String,
        expired: String,
        trust: PathBuf,
    },
    #[error("signed with a key `{key_id}` (fingerprint {signer}) that is not the one the trust store {} has for `{key_id}` (fingerprint {trusted}); get the package from the publisher, or update their key if they changed it", trust.display())]
    WrongKey {
        key_id: String,
        signer: String,
        trusted: String,
        trust: PathBuf,
    },
    #[error("signature does not match the package contents (plugin.wasm or rapport.toml was changed after signing)")]
    Tampered,
    #[error("plugin.wasm is not a valid WebAssembly component: {cause}")]
    InvalidComponent { cause: String },
    #[error("plugin.wasm does not implement the {kind} world its manifest declares: {cause}")]
    WrongKind { kind: PluginKind, cause: String },
    #[error("plugin.wasm was built for {built_for}, and this host runs {supported} (rebuild the plugin with an SDK for one of those, or upgrade rapport)")]
    UnsupportedContract {
        built_for: String,
        supported: String,
    },
}

/// A package whose manifest, signature and trust checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub provenance: Provenance,
}

/// Checks a package's files: the manifest (which also checks the contract), then the signature
/// against `trust` at time `now`. `origin` (the archive or install directory) names the files in
/// messages. An unsigned package is accepted only when `allow_unsigned`; a signed package is always
/// verified, whatever `allow_unsigned` says. The component itself is checked by `check_world`.
pub fn verify_files(
    files: &PackageFiles,
    origin: &Path,
    trust: Option<&TrustStore>,
    allow_unsigned: bool,
    now: DateTime<Utc>,
) -> Result<Verified, PackageRefusal> {
    let manifest = Manifest::parse(
        &String::from_utf8_lossy(&files.manifest),
        &origin.join(MANIFEST_FILE),
    )?;
    let Some(signature) = &files.signature else {
        return if allow_unsigned {
            Ok(Verified {
                manifest,
                provenance: Provenance::DevUnsigned,
            })
        } else {
            Err(PackageRefusal::Unsigned)
        };
    };
    let signature =
        PackageSignature::parse(signature).map_err(PackageRefusal::MalformedSignature)?;
    let key_id = signature.key_id.clone();
    match &manifest.publisher {
        None => return Err(PackageRefusal::NoPublisher { key_id }),
        Some(publisher) if *publisher != key_id => {
            return Err(PackageRefusal::PublisherMismatch {
                key_id,
                publisher: publisher.clone(),
            })
        }
        Some(_) => {}
    }
    let trust = trust.ok_or_else(|| PackageRefusal::NoTrustStore {
        key_id: key_id.clone(),
    })?;
    let trust_path = trust.path().to_path_buf();
    let Some(publisher) = trust.publisher(&key_id) else {
        return Err(PackageRefusal::UnknownPublisher {
            key_id,
            trust: trust_path,
        });
    };
    if publisher.revoked {
        return Err(PackageRefusal::Revoked {
            key_id,
            trust: trust_path,
        });
    }
    if let Some(expiry) = publisher.expired_at(now) {
        return Err(PackageRefusal::Expired {
            key_id,
            expired: expiry.text.clone(),
            trust: trust_path,
        });
    }
    if signature.public_key != publisher.public_key {
        return Err(PackageRefusal::WrongKey {
            key_id,
            signer: fingerprint(&signature.public_key),
            trusted: fingerprint(&publisher.public_key),
            trust: trust_path,
        });
    }
    if !signature.verifies(&publisher.public_key, &files.manifest, &files.wasm) {
        return Err(PackageRefusal::Tampered);
    }
    Ok(Verified {
        manifest,
        provenance: Provenance::Signed { key_id },
    })
}

/// Opens an installed plugin directory and checks it against the trust store now: it must carry a
/// valid signature by a trusted publisher, or, with no `signature` file, the `DEV-UNSIGNED` marker of
/// `rapport plugin install --dev` (or the host runs in development mode, `dev`). A signature that is
/// present is always checked, in development mode too. The package is built from the very bytes that were verified. The
/// component's world is checked when the runtime loads it.
pub fn open_installed(
    dir: &Path,
    trust: Option<&TrustStore>,
    dev: bool,
) -> Result<(PluginPackage, Provenance), PackageRefusal> {
    let files = PackageFiles::read_dir(dir)?;
    let allow_unsigned = dev || dir.join(DEV_MARKER_FILE).is_file();
    let verified = verify_files(&files, dir, trust, allow_unsigned, Utc::now())?;
    let package = PluginPackage {
        dir: dir.to_path_buf(),
        manifest: verified.manifest,
        wasm: files.wasm,
    };
    Ok((package, verified.provenance))
}

pub fn verify_installed(dir: &Path, trust: &TrustStore) -> Result<Provenance, PackageRefusal> {
    open_installed(dir, Some(trust), false).map(|(_, provenance)| provenance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::signing::{trust_entry, PublisherKey};

    const MANIFEST: &str = "id = \"demo\"\nversion = \"1.0.0\"\nkind = \"crm-sink\"\n\
        contract = \"rapport:connector@0.1.0\"\npublisher = \"acme\"\n";

    fn signed(key: &PublisherKey, manifest: &str) -> PackageFiles {
        let wasm = b"\0asm component".to_vec();
        let signature = key.sign(manifest.as_bytes(), &wasm).to_toml().into_bytes();
        PackageFiles {
            manifest: manifest.as_bytes().to_vec(),
            wasm,
            signature: Some(signature),
        }
    }

    fn store(key: &PublisherKey, extra: &str) -> TrustStore {
        let text = format!("{}{extra}", trust_entry(&key.key_id, &key.public_key()));
        TrustStore::parse(&text, Path::new("trust.toml")).unwrap()
    }

    fn check(files: &PackageFiles, trust: &TrustStore) -> Result<Provenance, String> {
        verify_files(files, Path::new("x.rpk"), Some(trust), false, Utc::now())
            .map(|v| v.provenance)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_trusted_signature_is_accepted() {
        let acme = PublisherKey::generate("acme").unwrap();
        let provenance = check(&signed(&acme, MANIFEST), &store(&acme, "")).unwrap();
        assert_eq!(
            provenance,
            Provenance::Signed {
                key_id: "acme".into()
            }
        );
        assert_eq!(provenance.to_string(), "signed by acme");
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        let acme = PublisherKey::generate("acme").unwrap();
        let trust = store(&acme, "");
        let mut tampered = signed(&acme, MANIFEST);
        tampered.wasm.push(0);
        assert!(check(&tampered, &trust)
            .unwrap_err()
            .starts_with("signature does not match"));
        let err = check(&signed(&acme, MANIFEST), &store(&acme, "revoked = true\n")).unwrap_err();
        assert!(err.contains("revoked"), "{err}");
        let err = check(
            &signed(&acme, MANIFEST),
            &store(&acme, "expires = 2001-01-01\n"),
        )
        .unwrap_err();
        assert!(err.contains("key expired on 2001-01-01"), "{err}");
        let impostor = PublisherKey::generate("acme").unwrap();
        let err = check(&signed(&impostor, MANIFEST), &trust).unwrap_err();
        assert!(err.contains("is not the one the trust store"), "{err}");
        let unsigned = PackageFiles {
            signature: None,
            ..signed(&acme, MANIFEST)
        };
        assert!(check(&unsigned, &trust)
            .unwrap_err()
            .starts_with("package is not signed"));
        let dev = verify_files(&unsigned, Path::new("x"), None, true, Utc::now()).unwrap();
        assert_eq!(dev.provenance, Provenance::DevUnsigned);
        let err = check(&signed(&acme, &MANIFEST.replace("acme", "globex")), &trust).unwrap_err();
        assert!(
            err.starts_with("signed with key `acme` but the manifest names publisher `globex`"),
            "{err}"
        );
        let mut garbled = signed(&acme, MANIFEST);
        garbled.signature = Some(b"key_id = 1".to_vec());
        assert!(check(&garbled, &trust).unwrap_err().contains("malformed"));
    }
}
