//! The WebAssembly runtime: one wasmtime `Engine` with epoch interruption and a single ticker thread,
//! compiled components cached by sha256, one `InstancePre` per loaded plugin, and a fresh `Store` with
//! memory and time limits for every call batch.

pub mod cache;
pub mod health;
pub mod plugin;
pub mod registry;
pub mod state;

use crate::capabilities::{self, PluginContext};
use crate::contract::Contract;
use crate::packages::{PluginKind, PluginPackage};
use cache::ComponentCache;
use health::HealthPolicy;
use plugin::{Plugin, PluginPre, SinkPre, SourcePre};
use state::PluginState;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every plugin call.
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// Largest linear memory a plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest a call batch may run.
    pub deadline: Duration,
    /// Fuel per call, when the runtime meters fuel.
    pub fuel: Option<u64>,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            fuel: None,
        }
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {plugin}: could not compile plugin.wasm: {cause:#}")]
    Compile {
        plugin: String,
        cause: wasmtime::Error,
    },
    #[error("plugin {plugin}: does not implement the {kind} world of {contract}: {cause:#}")]
    World {
        plugin: String,
        kind: PluginKind,
        contract: Contract,
        cause: wasmtime::Error,
    },
    #[error("plugin {plugin}: plugin.wasm was built for {built_for}, and this host runs {supported} (rebuild the plugin with an SDK for one of those, or upgrade rapport)")]
    Contract {
        plugin: String,
        built_for: String,
        supported: String,
    },
}

/// The engine, linkers and compile cache shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: ComponentCache,
}

impl Runtime {
    /// Builds the engine (pooling allocator where the machine allows it) and starts the epoch ticker.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        Self::with_fuel(cache_dir, false)
    }

    /// Like `new`; with `meter_fuel`, calls can also be bounded by `CallLimits::fuel`.
    pub fn with_fuel(cache_dir: Option<PathBuf>, meter_fuel: bool) -> anyhow::Result<Self> {
        let engine = build_engine(meter_fuel)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Both worlds import the same `host` interface: registering it once serves sources and sinks.
        capabilities::add_to_linker(&mut linker)?;
        Ok(Runtime {
            engine,
            linker,
            cache: ComponentCache::new(cache_dir),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or finds in the cache) and type-checks a plugin against the world its manifest
    /// names, ready to instantiate.
    pub fn load(
        &self,
        package: &PluginPackage,
        context: PluginContext,
        limits: CallLimits,
        health: HealthPolicy,
    ) -> Result<Plugin, LoadError> {
        let pre = self.prepare(package)?;
        Ok(Plugin::new(
            Arc::new(context),
            pre,
            limits,
            cache::digest(&package.wasm),
            health,
        ))
    }

    /// Compiles (or finds in the cache) the component and checks that it implements the world its
    /// manifest names, without instantiating it: how a `crm-sink` manifest over a `pos-source`
    /// component (or the reverse) is caught before install.
    pub fn check_world(&self, package: &PluginPackage) -> Result<(), LoadError> {
        self.prepare(package).map(drop)
    }

    fn prepare(&self, package: &PluginPackage) -> Result<PluginPre, LoadError> {
        let plugin = package.manifest.id.clone();
        let kind = package.manifest.kind;
        let component = self
            .cache
            .get_or_compile(&self.engine, &package.wasm)
            .map_err(|cause| LoadError::Compile {
                plugin: plugin.clone(),
                cause,
            })?;
        if let Some(built_for) = unsupported_contract(&self.engine, &component) {
            return Err(LoadError::Contract {
                plugin,
                built_for,
                supported: Contract::supported_list(),
            });
        }
        let contract = package.manifest.contract;
        let world_error = |cause| LoadError::World {
            plugin: plugin.clone(),
            kind,
            contract,
            cause,
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(world_error)?;
        Ok(match (kind, contract) {
            (PluginKind::PosSource, contract) => {
                PluginPre::Source(SourcePre::new(instance_pre, contract).map_err(world_error)?)
            }
            (PluginKind::CrmSink, contract) => {
                PluginPre::Sink(SinkPre::new(instance_pre, contract).map_err(world_error)?)
            }
        })
    }
}

/// The first `rapport:connector` version the component imports or exports that this host does not
/// run (`rapport:connector@0.9.0`), if any: a plugin built for a newer (or retired) contract is
/// refused by name rather than with a missing-import error.
fn unsupported_contract(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Option<String> {
    let ty = component.component_type();
    let names: Vec<&str> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name))
        .collect();
    names.into_iter().find_map(|name| {
        let (interface, version) = name.split_once('@')?;
        let package = interface.split_once('/')?.0;
        let named = format!("{package}@{version}");
        (package == Contract::PACKAGE && Contract::parse(&named).is_none()).then_some(named)
    })
}

fn build_engine(meter_fuel: bool) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(meter_fuel);
    config.wasm_component_model(true);
    config.max_wasm_stack(1 << 20);
    let mut pooled = config.clone();
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    // Every plugin call gets a fresh instance in a reused slot. Where Linux has the PAGEMAP_SCAN
    // ioctl (6.7 and later), the slot's pages a call dirtied, up to 2 MiB, are put back in place
    // and stay resident, so the next call neither faults them in again nor shoots down TLBs on
    // every core for the `madvise`: the empty call went from 19 to 7 µs and http-sink's cost per
    // activity from 5.0 to 3.7 µs (benches/plugin_calls). Without the ioctl, zeroing the first
    // 2 MiB would cost more than it saves (20 µs of a 43 µs empty call for a MiB, pages a call
    // mostly never touches), so memory goes back to the kernel.
    let pagemap_scan = wasmtime::PoolingAllocationConfig::is_pagemap_scan_available();
    pool.total_component_instances(256)
        .total_memories(256)
        .total_tables(256)
        .max_memory_size(256 << 20)
        .pagemap_scan(if pagemap_scan {
            wasmtime::Enabled::Yes
        } else {
            wasmtime::Enabled::No
        })
        .linear_memory_keep_resident(if pagemap_scan { 2 << 20 } else { 0 })
        .table_keep_resident(64 << 10);
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::info!(error = %e, "pooling allocator unavailable, allocating on demand");
            Ok(Engine::new(&config)?)
        }
    }
}

/// One thread for the whole engine advances the epoch; it stops when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("rapport-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawn epoch ticker thread");
}
