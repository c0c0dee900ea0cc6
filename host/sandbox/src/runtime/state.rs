//! The data of one `Store`: a WASI context that grants nothing, the plugin's capabilities, and the
//! memory limiter. A fresh one is made for every call batch.

use crate::capabilities::{Capabilities, CapabilitiesView, PluginContext};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much a plugin may print to stdout/stderr in one call before the rest is dropped.
const STDIO_CAPTURE_BYTES: usize = 64 << 10;

/// Per-call store data.
pub struct PluginState {
    capabilities: Capabilities,
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl PluginState {
    pub fn new(context: Arc<PluginContext>, memory_limit: usize) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        // No preopens, no environment, no arguments; the default socket check denies every address.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        PluginState {
            capabilities: Capabilities::new(context),
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            stdout,
            stderr,
        }
    }

    /// `send` calls the host refused during this call.
    pub fn denials_this_call(&self) -> u32 {
        self.capabilities.denials_this_call()
    }

    /// Writes what the plugin printed during the call into the host log, tagged with the plugin.
    pub fn flush_stdio(&self) {
        let ctx = self.capabilities.context();
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                tracing::info!(plugin = %ctx.plugin_id, generation = ctx.generation, stream, "{line}");
            }
        }
    }
}

impl CapabilitiesView for PluginState {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.capabilities
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and remembers whether the cap was hit, so the error can say so.
pub struct MemoryLimiter {
    limit: usize,
    pub hit: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        MemoryLimiter { limit, hit: false }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
