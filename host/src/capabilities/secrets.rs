//! Secrets by name: the operator supplies values (environment variables `RAPPORT_SECRET_<NAME>`),
//! plugins name them, and no host function ever hands a value back to a plugin.

use std::collections::HashMap;
use std::fmt;

/// The secrets one plugin instance may use, resolved when it is loaded.
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

/// The environment variable holding secret `name`.
pub fn env_var_for(name: &str) -> String {
    format!(
        "RAPPORT_SECRET_{}",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

impl Secrets {
    /// Resolves the declared secret names from the environment; a declared secret the operator did
    /// not supply is simply absent (the plugin gets an error naming it when it asks).
    pub fn from_env(declared: &[String]) -> Self {
        let values = declared
            .iter()
            .filter_map(|name| {
                std::env::var(env_var_for(name))
                    .ok()
                    .map(|v| (name.clone(), v.into_bytes()))
            })
            .collect();
        Secrets { values }
    }

    /// HMAC-SHA256 of `data` keyed by secret `name`.
    pub fn hmac_sha256(&self, name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        use hmac::{Hmac, Mac};
        let key = self.values.get(name).ok_or_else(|| {
            format!(
                "secret {name:?} is not available: declare it in the manifest's `secrets` and set {}",
                env_var_for(name)
            )
        })?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key)
            .map_err(|e| format!("secret {name:?}: {e}"))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}
