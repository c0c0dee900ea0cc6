//! Compiled components, cached by the sha256 of their bytes: in memory for this process, and on disk
//! (wasmtime's serialized form) so a restart or a re-install of the same plugin skips compilation.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The sha256 of a component's bytes, in hex.
pub fn digest(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// Compile-once cache of components.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Component>>,
}

impl ComponentCache {
    /// `dir`: where serialized artifacts are kept; `None` keeps them in memory only.
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache {
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled component for `wasm`, compiling it only if no cache level has it.
    pub fn get_or_compile(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let key = digest(wasm);
        if let Some(component) = self.memory.lock().expect("cache lock").get(&key) {
            return Ok(component.clone());
        }
        let component = match self.load_from_disk(engine, &key) {
            Some(component) => component,
            None => {
                let component = Component::new(engine, wasm)?;
                self.store_on_disk(&key, &component);
                release_compiler_scratch();
                component
            }
        };
        self.memory
            .lock()
            .expect("cache lock")
            .insert(key, component.clone());
        Ok(component)
    }

    fn artifact_path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.cwasm")))
    }

    fn load_from_disk(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.artifact_path(key)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is in the host's own cache directory and was written by
        // `Component::serialize` from this key's bytes; wasmtime checks that it matches this engine's
        // configuration and refuses it otherwise (we then recompile).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring stale compiled artifact");
                None
            }
        }
    }

    fn store_on_disk(&self, key: &str, component: &Component) {
        let Some(path) = self.artifact_path(key) else {
            return;
        };
        let write = || -> anyhow::Result<()> {
            std::fs::create_dir_all(path.parent().expect("artifact has a parent"))?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, component.serialize()?)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
        }
    }
}

/// Hands the memory compilation freed back to the operating system. Cranelift compiles on
/// several threads, and glibc keeps what each thread freed in that thread's arena: about 15 MiB
/// for six plugins, which a daemon otherwise holds while idle.
fn release_compiler_scratch() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
