//! Publisher keys and package signatures: ed25519 over the domain-separated message
//! `b"rapport-package-v1\0" || sha256(rapport.toml) || sha256(plugin.wasm)`, the secret key file
//! (`<key id>.key`, mode 600), the public key's trust-store entry (`<key id>.pub`) and the small TOML
//! `signature` file a signed package carries.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The only signature algorithm, named in key and signature files.
pub const ALGORITHM: &str = "ed25519";

/// Prefix of every signed message, so a package signature can never be mistaken for (or replayed
/// as) a signature over anything else.
pub const DOMAIN: &[u8] = b"rapport-package-v1\0";

/// The bytes a package signature covers: the domain, then the sha256 of the manifest, then the
/// sha256 of the component.
pub fn signed_message(manifest: &[u8], wasm: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + 64);
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(&Sha256::digest(manifest));
    message.extend_from_slice(&Sha256::digest(wasm));
    message
}

/// A short, stable name for a public key (the first 8 bytes of its sha256, in hex), for messages
/// that must tell two keys apart.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Whether `id` is a valid key id: 1-64 characters of a-z, 0-9 and '-' (as a manifest's
/// `publisher`).
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Decodes a base64 ed25519 public key.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!("an ed25519 public key is 32 bytes, this one is {}", b.len())
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 public key".to_string())
}

/// Why a key file could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key id {0:?} must be 1-64 characters of a-z, 0-9 and '-'")]
    KeyId(String),
    #[error(
        "{path} already exists: refusing to overwrite a key (choose another --out or --key-id)"
    )]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} can be read by other users (mode {mode:03o}): run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A publisher's secret signing key and its id.
pub struct PublisherKey {
    pub key_id: String,
    signing_key: SigningKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyFile {
    key_id: String,
    algorithm: String,
    secret_key: String,
}

impl PublisherKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(key_id: &str) -> Result<Self, KeyError> {
        if !is_key_id(key_id) {
            return Err(KeyError::KeyId(key_id.to_string()));
        }
        Ok(PublisherKey {
            key_id: key_id.to_string(),
            signing_key: SigningKey::generate(&mut rand::rngs::OsRng),
        })
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// Writes `<dir>/<key id>.key` (mode 600) and `<dir>/<key id>.pub`; refuses if either exists.
    /// Returns both paths.
    pub fn write_new(&self, dir: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        let secret_path = dir.join(format!("{}.key", self.key_id));
        let public_path = dir.join(format!("{}.pub", self.key_id));
        for path in [&secret_path, &public_path] {
            if path.exists() {
                return Err(KeyError::Exists { path: path.clone() });
            }
        }
        let secret = format!(
            "# rapport publisher signing key `{id}`. Keep it secret: whoever holds it can publish as {id}.\n\
             key_id = \"{id}\"\nalgorithm = \"{ALGORITHM}\"\nsecret_key = \"{key}\"\n",
            id = self.key_id,
            key = BASE64.encode(self.signing_key.to_bytes()),
        );
        write_new_file(&secret_path, secret.as_bytes(), 0o600)?;
        write_new_file(
            &public_path,
            trust_entry(&self.key_id, &self.public_key()).as_bytes(),
            0o644,
        )?;
        Ok((secret_path, public_path))
    }

    /// Reads a key file written by `write_new`; on Unix it must not be readable by group or others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read_error = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |message: String| KeyError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(read_error)?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let raw: RawKeyFile =
            toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
        if raw.algorithm != ALGORITHM {
            return Err(invalid(format!(
                "algorithm {:?} is not supported (only {ALGORITHM:?})",
                raw.algorithm
            )));
        }
        if !is_key_id(&raw.key_id) {
            return Err(invalid(KeyError::KeyId(raw.key_id).to_string()));
        }
        let bytes = BASE64
            .decode(raw.secret_key.trim())
            .map_err(|e| invalid(format!("`secret_key` is not valid base64: {e}")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("`secret_key` must be 32 bytes".to_string()))?;
        Ok(PublisherKey {
            key_id: raw.key_id,
            signing_key: SigningKey::from_bytes(&bytes),
        })
    }

    /// Signs a package's manifest and component.
    pub fn sign(&self, manifest: &[u8], wasm: &[u8]) -> PackageSignature {
        PackageSignature {
            key_id: self.key_id.clone(),
            public_key: self.public_key(),
            signature: self.signing_key.sign(&signed_message(manifest, wasm)),
        }
    }
}

/// The `[[publisher]]` trust-store entry for a public key, ready to append to an operator's
/// `trust.toml`.
pub fn trust_entry(key_id: &str, public_key: &VerifyingKey) -> String {
    format!(
        "# rapport publisher key `{key_id}` (fingerprint {fingerprint}).\n\
         # Operators who trust this publisher append this entry to their trust store (trust.toml).\n\
         [[publisher]]\n\
         key_id = \"{key_id}\"\n\
         public_key = \"{key}\"\n\
         # name = \"Publisher's name\"\n\
         # expires = 2027-01-01\n",
        fingerprint = fingerprint(public_key),
        key = BASE64.encode(public_key.as_bytes()),
    )
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let write_error = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            write_error(source)
        }
    })?;
    file.write_all(contents).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

/// The contents of a package's `signature` file.
///
/// `public_key` is the signer's key, carried only so that a signature by a different key than the
/// trust store holds for `key_id` can be reported as such; verification always uses the trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSignature {
    pub key_id: String,
    pub public_key: VerifyingKey,
    pub signature: Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    key_id: String,
    algorithm: String,
    public_key: String,
    signature: String,
}

impl PackageSignature {
    /// Parses a `signature` file; the error is one line.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
        let raw: RawSignature = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
        if raw.algorithm != ALGORITHM {
            return Err(format!(
                "algorithm {:?} is not supported (only {ALGORITHM:?})",
                raw.algorithm
            ));
        }
        if !is_key_id(&raw.key_id) {
            return Err(format!(
                "key id {:?} must be 1-64 characters of a-z, 0-9 and '-'",
                raw.key_id
            ));
        }
        let public_key =
            decode_public_key(&raw.public_key).map_err(|e| format!("`public_key`: {e}"))?;
        let signature = BASE64
            .decode(raw.signature.trim())
            .map_err(|e| format!("`signature` is not valid base64: {e}"))?;
        let signature = Signature::from_slice(&signature)
            .map_err(|_| "`signature` is not a 64-byte ed25519 signature".to_string())?;
        Ok(PackageSignature {
            key_id: raw.key_id,
            public_key,
            signature,
        })
    }

    /// The `signature` file's text.
    pub fn to_toml(&self) -> String {
        format!(
            "key_id = \"{}\"\nalgorithm = \"{ALGORITHM}\"\npublic_key = \"{}\"\nsignature = \"{}\"\n",
            self.key_id,
            BASE64.encode(self.public_key.as_bytes()),
            BASE64.encode(self.signature.to_bytes()),
        )
    }

    /// Whether this signature, checked with the `trusted` key (never the one it carries), covers
    /// exactly this manifest and component.
    pub fn verifies(&self, trusted: &VerifyingKey, manifest: &[u8], wasm: &[u8]) -> bool {
        trusted
            .verify_strict(&signed_message(manifest, wasm), &self.signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> PublisherKey {
        PublisherKey::generate(id).unwrap()
    }

    #[test]
    fn the_message_is_domain_then_both_digests() {
        let message = signed_message(b"manifest", b"wasm");
        assert_eq!(message.len(), DOMAIN.len() + 64);
        assert!(message.starts_with(b"rapport-package-v1\0"));
        assert_eq!(
            &message[DOMAIN.len()..DOMAIN.len() + 32],
            Sha256::digest(b"manifest").as_slice()
        );
        assert_eq!(
            &message[DOMAIN.len() + 32..],
            Sha256::digest(b"wasm").as_slice()
        );
        // Moving bytes between the two files changes the message.
        assert_ne!(signed_message(b"ab", b"c"), signed_message(b"a", b"bc"));
    }

    #[test]
    fn a_signature_covers_both_files_and_only_the_signer_key() {
        let acme = key("acme");
        let signature = acme.sign(b"manifest", b"wasm");
        let trusted = acme.public_key();
        assert!(signature.verifies(&trusted, b"manifest", b"wasm"));
        assert!(!signature.verifies(&trusted, b"manifest!", b"wasm"));
        assert!(!signature.verifies(&trusted, b"manifest", b"wasm!"));
        assert!(!signature.verifies(&key("acme").public_key(), b"manifest", b"wasm"));
    }

    #[test]
    fn the_signature_file_round_trips() {
        let signature = key("acme").sign(b"m", b"w");
        let text = signature.to_toml();
        assert!(text.contains("algorithm = \"ed25519\""), "{text}");
        assert_eq!(PackageSignature::parse(text.as_bytes()).unwrap(), signature);
        let other = text.replace("ed25519", "rsa");
        assert!(PackageSignature::parse(other.as_bytes())
            .unwrap_err()
            .contains("not supported"));
        assert!(PackageSignature::parse(b"key_id = \"acme\"").is_err());
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let acme = key("acme");
        let (secret, public) = acme.write_new(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = PublisherKey::load(&secret).unwrap();
        assert_eq!(loaded.key_id, "acme");
        assert_eq!(loaded.public_key(), acme.public_key());
        assert!(std::fs::read_to_string(&public)
            .unwrap()
            .contains("[[publisher]]"));
        let err = key("acme").write_new(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err}");
        assert!(PublisherKey::generate("Acme Ltd").is_err());
    }
}
