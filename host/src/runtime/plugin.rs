//! A loaded plugin generation and the calls into it. Every call batch gets a fresh `Store` and
//! instance, so a trap poisons nothing beyond that call; faults come back as `PluginError`s that name
//! the plugin and the cause, and the host carries on.

use super::bindings::sink::exports::rapport::connector::sink as wit_sink;
use super::bindings::source::exports::rapport::connector::source as wit_source;
use super::bindings::wit::{Activity, ConnectorError, Descriptor, Identity, Outcome, Profile};
use super::bindings::{sink, source};
use super::state::PluginState;
use super::{CallLimits, EPOCH_TICK};
use crate::capabilities::PluginContext;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Store, Trap};

/// The pre-linked component of a plugin, by world.
pub enum PluginPre {
    Source(source::PosSourcePre<PluginState>),
    Sink(sink::CrmSinkPre<PluginState>),
}

/// One loaded generation of a plugin: compiled, type-checked, ready to instantiate.
pub struct Plugin {
    context: Arc<PluginContext>,
    pre: PluginPre,
    limits: CallLimits,
    digest: String,
}

/// What went wrong inside a plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The call ran past its deadline and was interrupted.
    Deadline(Duration),
    /// The plugin tried to grow its memory beyond the cap.
    Memory(usize),
    /// The plugin's stack overflowed (unbounded recursion).
    StackOverflow,
    /// The plugin trapped (a panic, an abort, an invalid operation).
    Trap(String),
    /// The plugin is not of the kind this call needs.
    WrongKind(&'static str),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Deadline(d) => write!(f, "exceeded its time limit of {} ms", d.as_millis()),
            Fault::Memory(limit) => write!(f, "exceeded its memory limit of {} MiB", limit >> 20),
            Fault::StackOverflow => write!(f, "overflowed its stack (unbounded recursion?)"),
            Fault::Trap(cause) => write!(f, "trapped: {cause}"),
            Fault::WrongKind(needed) => write!(f, "is not a {needed} plugin"),
        }
    }
}

/// A failed plugin call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {plugin} (generation {generation}) failed in `{call}`: {fault}")]
pub struct PluginError {
    pub plugin: String,
    pub generation: u64,
    pub call: &'static str,
    pub fault: Fault,
}

impl Plugin {
    pub(super) fn new(
        context: Arc<PluginContext>,
        pre: PluginPre,
        limits: CallLimits,
        digest: String,
    ) -> Self {
        Plugin {
            context,
            pre,
            limits,
            digest,
        }
    }

    pub fn id(&self) -> &str {
        &self.context.plugin_id
    }

    pub fn generation(&self) -> u64 {
        self.context.generation
    }

    /// sha256 of the plugin's wasm.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    fn new_store(&self) -> Store<PluginState> {
        let state = PluginState::new(self.context.clone(), self.limits.memory_bytes);
        let mut store = Store::new(self.pre_engine(), state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (self.limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    fn pre_engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            PluginPre::Source(pre) => pre.engine(),
            PluginPre::Sink(pre) => pre.engine(),
        }
    }

    fn fault(&self, call: &'static str, fault: Fault) -> PluginError {
        PluginError {
            plugin: self.context.plugin_id.clone(),
            generation: self.context.generation,
            call,
            fault,
        }
    }

    fn classify(
        &self,
        call: &'static str,
        store: &Store<PluginState>,
        e: wasmtime::Error,
    ) -> PluginError {
        let fault = if store.data().limiter.hit {
            Fault::Memory(self.limits.memory_bytes)
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => Fault::Deadline(self.limits.deadline),
                Some(Trap::StackOverflow) => Fault::StackOverflow,
                Some(trap) => Fault::Trap(trap.to_string()),
                None => Fault::Trap(format!("{e:#}")),
            }
        };
        self.fault(call, fault)
    }

    fn with_source<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&wit_source::Guest, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let PluginPre::Source(pre) = &self.pre else {
            return Err(self.fault(call, Fault::WrongKind("pos-source")));
        };
        let mut store = self.new_store();
        let result = pre
            .instantiate(&mut store)
            .and_then(|instance| f(instance.rapport_connector_source(), &mut store));
        store.data().flush_stdio();
        result.map_err(|e| self.classify(call, &store, e))
    }

    fn with_sink<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&wit_sink::Guest, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let PluginPre::Sink(pre) = &self.pre else {
            return Err(self.fault(call, Fault::WrongKind("crm-sink")));
        };
        let mut store = self.new_store();
        let result = pre
            .instantiate(&mut store)
            .and_then(|instance| f(instance.rapport_connector_sink(), &mut store));
        store.data().flush_stdio();
        result.map_err(|e| self.classify(call, &store, e))
    }

    /// The plugin's own description.
    pub fn describe(&self) -> Result<Descriptor, PluginError> {
        match &self.pre {
            PluginPre::Source(_) => self.with_source("describe", |g, s| g.call_describe(s)),
            PluginPre::Sink(_) => self.with_sink("describe", |g, s| g.call_describe(s)),
        }
    }

    /// The plugin's configuration and credentials check.
    pub fn check(&self) -> Result<Result<(), ConnectorError>, PluginError> {
        match &self.pre {
            PluginPre::Source(_) => self.with_source("check", |g, s| g.call_check(s)),
            PluginPre::Sink(_) => self.with_sink("check", |g, s| g.call_check(s)),
        }
    }

    pub fn poll(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<Result<wit_source::Batch, ConnectorError>, PluginError> {
        self.with_source("poll", |g, s| g.call_poll(s, stream, cursor))
    }

    pub fn webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Result<wit_source::Push, ConnectorError>, PluginError> {
        let headers: Vec<_> = headers
            .iter()
            .map(|(name, value)| super::bindings::wit_host::Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        self.with_source("webhook", |g, s| g.call_webhook(s, &headers, body))
    }

    pub fn upsert_profiles(
        &self,
        profiles: &[Profile],
    ) -> Result<Result<Vec<Outcome>, ConnectorError>, PluginError> {
        self.with_sink("upsert-profiles", |g, s| {
            g.call_upsert_profiles(s, profiles)
        })
    }

    pub fn record_activities(
        &self,
        activities: &[Activity],
    ) -> Result<Result<Vec<Outcome>, ConnectorError>, PluginError> {
        self.with_sink("record-activities", |g, s| {
            g.call_record_activities(s, activities)
        })
    }

    pub fn forget(
        &self,
        identities: &[Identity],
    ) -> Result<Result<(), ConnectorError>, PluginError> {
        self.with_sink("forget", |g, s| g.call_forget(s, identities))
    }
}
