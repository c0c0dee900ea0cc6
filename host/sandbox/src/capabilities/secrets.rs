//! Secrets by name: the operator supplies values (environment variables `RAPPORT_SECRET_<NAME>`, or a
//! TOML file only its owner can read), plugins name them, and no host function ever hands a value back
//! to a plugin: secrets only leave the host inside injected request headers and as HMAC keys.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Every secret the operator supplied.
#[derive(Clone, Default)]
pub struct SecretStore {
    file: HashMap<String, String>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("file_entries", &self.file.len())
            .finish()
    }
}

/// The environment variable holding secret `name`.
pub fn env_var_for(name: &str) -> String {
    format!(
        "RAPPORT_SECRET_{}",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

impl SecretStore {
    /// Reads the operator's secrets file (`name = "value"` lines), refusing one that others can read.
    pub fn load(file: Option<&Path>) -> Result<SecretStore, String> {
        let Some(path) = file else {
            return Ok(SecretStore::default());
        };
        let shown = path.display();
        let metadata = std::fs::metadata(path).map_err(|e| format!("secrets file {shown}: {e}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "secrets file {shown} can be read by other users (mode {mode:o}): run `chmod 600 {shown}`"
                ));
            }
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("secrets file {shown}: {e}"))?;
        let file: HashMap<String, String> =
            toml::from_str(&text).map_err(|e| format!("secrets file {shown}: {}", e.message()))?;
        Ok(SecretStore { file })
    }

    /// The value of secret `name`: the environment first, then the file.
    fn value(&self, name: &str) -> Option<Vec<u8>> {
        std::env::var(env_var_for(name))
            .ok()
            .or_else(|| self.file.get(name).cloned())
            .map(String::into_bytes)
    }

    /// Whether the operator supplied secret `name`.
    pub fn has(&self, name: &str) -> bool {
        std::env::var_os(env_var_for(name)).is_some() || self.file.contains_key(name)
    }

    /// The secrets a plugin declared, as far as the operator supplied them.
    pub fn for_plugin(&self, declared: &[String]) -> Secrets {
        Secrets {
            values: declared
                .iter()
                .filter_map(|name| self.value(name).map(|v| (name.clone(), v)))
                .collect(),
        }
    }
}

/// The secrets one plugin instance may use.
#[derive(Clone, Default)]
pub struct Secrets {
    values: HashMap<String, Vec<u8>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.values.keys().collect();
        names.sort();
        f.debug_struct("Secrets").field("names", &names).finish()
    }
}

impl Secrets {
    fn missing(name: &str) -> String {
        format!(
            "secret {name:?} is not available: declare it in the manifest's `secrets` and set {} or add it to the secrets file",
            env_var_for(name)
        )
    }

    /// The value, for the host's own use (injected headers); never for a plugin.
    pub(crate) fn reveal(&self, name: &str) -> Result<&[u8], String> {
        self.values
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| Self::missing(name))
    }

    /// HMAC-SHA256 of `data` keyed by secret `name`.
    pub fn hmac_sha256(&self, name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.reveal(name)?)
            .map_err(|e| format!("secret {name:?}: {e}"))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}
