//! A loaded plugin generation and the calls into it. Every call batch gets a fresh `Store` and
//! instance, so a trap poisons nothing beyond that call; faults come back as `PluginError`s that name
//! the plugin and the cause, count against the plugin's health, and the host carries on.

use super::health::{Admission, Health, HealthPolicy, HealthReport};
use super::state::PluginState;
use super::{CallLimits, EPOCH_TICK};
use crate::capabilities::PluginContext;
use crate::contract::sink::exports::rapport::connector::sink as wit_sink;
use crate::contract::wit::{Activity, ConnectorError, Descriptor, Identity, Outcome, Profile};
use crate::contract::{
    consent_feed, engagement, erasure, pos, service_issues, sink, sink_v0_2, sink_v0_4, source,
    source_v0_3, upcast, Contract,
};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

/// The pre-linked component of a plugin, by world.
pub enum PluginPre {
    Source(SourcePre),
    Sink(SinkPre),
}

/// A pre-linked source, by the contract version it was built for: 0.1 and 0.2 sources export 0.1's
/// `source` interface, 0.3 to 0.5 sources 0.3's; a 0.5 source may also export `service-issues`.
pub enum SourcePre {
    V0_1(source::PosSourcePre<PluginState>),
    V0_3 {
        instance_pre: InstancePre<PluginState>,
        source: source_v0_3::PosSourceIndices,
        service_issues: Option<service_issues::GuestIndices>,
    },
}

/// The name of 0.5's `service-issues` export, which a 0.5 source may leave out.
const SERVICE_ISSUES_EXPORT: &str = "rapport:connector/service-issues@0.5.0";

impl SourcePre {
    /// Type-checks `instance_pre` against the source world of `contract`.
    pub fn new(
        instance_pre: InstancePre<PluginState>,
        contract: Contract,
    ) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_1 | Contract::V0_2 => {
                SourcePre::V0_1(source::PosSourcePre::new(instance_pre)?)
            }
            Contract::V0_3 | Contract::V0_4 | Contract::V0_5 => {
                let exports_issues =
                    contract == Contract::V0_5 && exports(&instance_pre, SERVICE_ISSUES_EXPORT);
                SourcePre::V0_3 {
                    source: source_v0_3::PosSourceIndices::new(&instance_pre)?,
                    service_issues: exports_issues
                        .then(|| service_issues::GuestIndices::new(&instance_pre))
                        .transpose()?,
                    instance_pre,
                }
            }
        })
    }

    fn engine(&self) -> &wasmtime::Engine {
        match self {
            SourcePre::V0_1(pre) => pre.engine(),
            SourcePre::V0_3 { instance_pre, .. } => instance_pre.engine(),
        }
    }

    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<SourceInstance> {
        Ok(match self {
            SourcePre::V0_1(pre) => SourceInstance::V0_1(pre.instantiate(store)?),
            SourcePre::V0_3 {
                instance_pre,
                source,
                service_issues,
            } => {
                let instance = instance_pre.instantiate(&mut *store)?;
                SourceInstance::V0_3 {
                    source: source.load(&mut *store, &instance)?,
                    service_issues: service_issues
                        .as_ref()
                        .map(|issues| issues.load(&mut *store, &instance))
                        .transpose()?,
                }
            }
        })
    }
}

/// An instantiated source, called through the bindings of its version; what a 0.1 source returns
/// is upcast to 0.3's types.
enum SourceInstance {
    V0_1(source::PosSource),
    V0_3 {
        source: source_v0_3::PosSource,
        service_issues: Option<service_issues::Guest>,
    },
}

impl SourceInstance {
    fn call_describe(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Descriptor> {
        match self {
            SourceInstance::V0_1(s) => s.rapport_connector_source().call_describe(store),
            SourceInstance::V0_3 { source: s, .. } => {
                s.rapport_connector0_3_0_source().call_describe(store)
            }
        }
    }

    fn call_check(
        &self,
        store: &mut Store<PluginState>,
    ) -> wasmtime::Result<Result<(), ConnectorError>> {
        match self {
            SourceInstance::V0_1(s) => s.rapport_connector_source().call_check(store),
            SourceInstance::V0_3 { source: s, .. } => {
                s.rapport_connector0_3_0_source().call_check(store)
            }
        }
    }

    fn call_poll(
        &self,
        store: &mut Store<PluginState>,
        stream: &str,
        cursor: Option<&str>,
    ) -> wasmtime::Result<Result<pos::Batch, ConnectorError>> {
        Ok(match self {
            SourceInstance::V0_1(s) => s
                .rapport_connector_source()
                .call_poll(store, stream, cursor)?
                .map(upcast::batch),
            SourceInstance::V0_3 { source: s, .. } => s
                .rapport_connector0_3_0_source()
                .call_poll(store, stream, cursor)?,
        })
    }

    fn call_webhook(
        &self,
        store: &mut Store<PluginState>,
        headers: &[crate::contract::wit_host::Header],
        body: &[u8],
    ) -> wasmtime::Result<Result<pos::Push, ConnectorError>> {
        Ok(match self {
            SourceInstance::V0_1(s) => s
                .rapport_connector_source()
                .call_webhook(store, headers, body)?
                .map(upcast::push),
            SourceInstance::V0_3 { source: s, .. } => s
                .rapport_connector0_3_0_source()
                .call_webhook(store, headers, body)?,
        })
    }
}

/// A pre-linked sink, by the contract version it was built for. Every version exports 0.1's `sink`
/// interface, so every sink is called through the same bindings; later versions add exports:
/// `consent-feed` (0.2 and 0.3, where it is required; 0.4, where it is used if exported) and
/// `erasure` (0.4).
pub enum SinkPre {
    V0_1(sink::CrmSinkPre<PluginState>),
    /// A 0.2, 0.3 or 0.4 sink.
    Extended {
        instance_pre: InstancePre<PluginState>,
        sink: sink::CrmSinkIndices,
        consent_feed: Option<consent_feed::GuestIndices>,
        erasure: Option<erasure::GuestIndices>,
        engagement: Option<engagement::GuestIndices>,
    },
}

/// The name of 0.2's `consent-feed` export, which a 0.4 or 0.5 sink may leave out.
const CONSENT_FEED_EXPORT: &str = "rapport:connector/consent-feed@0.2.0";

/// The name of 0.5's `engagement` export, which a 0.5 sink may leave out.
const ENGAGEMENT_EXPORT: &str = "rapport:connector/engagement@0.5.0";

/// Whether the component exports the interface `name`.
fn exports(instance_pre: &InstancePre<PluginState>, name: &str) -> bool {
    instance_pre
        .component()
        .get_export_index(None, name)
        .is_some()
}

impl SinkPre {
    /// Type-checks `instance_pre` against the sink world of `contract`.
    pub fn new(
        instance_pre: InstancePre<PluginState>,
        contract: Contract,
    ) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_1 => SinkPre::V0_1(sink::CrmSinkPre::new(instance_pre)?),
            Contract::V0_2 | Contract::V0_3 => {
                sink_v0_2::CrmSinkIndices::new(&instance_pre)?;
                SinkPre::Extended {
                    sink: sink::CrmSinkIndices::new(&instance_pre)?,
                    consent_feed: Some(consent_feed::GuestIndices::new(&instance_pre)?),
                    erasure: None,
                    engagement: None,
                    instance_pre,
                }
            }
            Contract::V0_4 | Contract::V0_5 => {
                sink_v0_4::CrmSinkIndices::new(&instance_pre)?;
                let exports_feed = exports(&instance_pre, CONSENT_FEED_EXPORT);
                let exports_engagement =
                    contract == Contract::V0_5 && exports(&instance_pre, ENGAGEMENT_EXPORT);
                SinkPre::Extended {
                    sink: sink::CrmSinkIndices::new(&instance_pre)?,
                    consent_feed: exports_feed
                        .then(|| consent_feed::GuestIndices::new(&instance_pre))
                        .transpose()?,
                    erasure: Some(erasure::GuestIndices::new(&instance_pre)?),
                    engagement: exports_engagement
                        .then(|| engagement::GuestIndices::new(&instance_pre))
                        .transpose()?,
                    instance_pre,
                }
            }
        })
    }

    fn engine(&self) -> &wasmtime::Engine {
        match self {
            SinkPre::V0_1(pre) => pre.engine(),
            SinkPre::Extended { instance_pre, .. } => instance_pre.engine(),
        }
    }

    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<SinkInstance> {
        Ok(match self {
            SinkPre::V0_1(pre) => SinkInstance {
                sink: pre.instantiate(store)?,
                consent_feed: None,
                erasure: None,
                engagement: None,
            },
            SinkPre::Extended {
                instance_pre,
                sink,
                consent_feed,
                erasure,
                engagement,
            } => {
                let instance = instance_pre.instantiate(&mut *store)?;
                SinkInstance {
                    sink: sink.load(&mut *store, &instance)?,
                    consent_feed: consent_feed
                        .as_ref()
                        .map(|feed| feed.load(&mut *store, &instance))
                        .transpose()?,
                    erasure: erasure
                        .as_ref()
                        .map(|erasure| erasure.load(&mut *store, &instance))
                        .transpose()?,
                    engagement: engagement
                        .as_ref()
                        .map(|engagement| engagement.load(&mut *store, &instance))
                        .transpose()?,
                }
            }
        })
    }
}

/// An instantiated plugin, by world.
enum Instance {
    Source(SourceInstance),
    Sink(SinkInstance),
}

/// An instantiated sink: the `sink` export every version has, and the optional exports where they
/// exist.
struct SinkInstance {
    sink: sink::CrmSink,
    consent_feed: Option<consent_feed::Guest>,
    erasure: Option<erasure::Guest>,
    engagement: Option<engagement::Guest>,
}

impl SinkInstance {
    fn sink(&self) -> &wit_sink::Guest {
        self.sink.rapport_connector_sink()
    }

    fn consent_feed(&self) -> Option<&consent_feed::Guest> {
        self.consent_feed.as_ref()
    }
}

/// One loaded generation of a plugin: compiled, type-checked, ready to instantiate.
pub struct Plugin {
    context: Arc<PluginContext>,
    pre: PluginPre,
    limits: CallLimits,
    digest: String,
    health: Mutex<Health>,
}

/// What went wrong inside a plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The call ran past its deadline and was interrupted.
    Deadline(Duration),
    /// The call used up its fuel.
    Fuel(u64),
    /// The plugin tried to grow its memory beyond the cap.
    Memory(usize),
    /// The plugin's stack overflowed (unbounded recursion).
    StackOverflow,
    /// The plugin trapped (a panic, an abort, an invalid operation).
    Trap(String),
    /// The plugin is not of the kind this call needs.
    WrongKind(&'static str),
    /// The plugin is quarantined after repeated faults; it is not called until a probe passes.
    Quarantined {
        retry_in: Duration,
        last_fault: String,
    },
}

impl Fault {
    /// A short name for health counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Deadline(_) => "deadline",
            Fault::Fuel(_) => "fuel",
            Fault::Memory(_) => "memory",
            Fault::StackOverflow => "stack-overflow",
            Fault::Trap(_) => "trap",
            Fault::WrongKind(_) => "wrong-kind",
            Fault::Quarantined { .. } => "quarantined",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Deadline(d) => write!(f, "exceeded its time limit of {} ms", d.as_millis()),
            Fault::Fuel(fuel) => write!(f, "used up its fuel of {fuel} units"),
            Fault::Memory(limit) => write!(f, "exceeded its memory limit of {} MiB", limit >> 20),
            Fault::StackOverflow => write!(f, "overflowed its stack (unbounded recursion?)"),
            Fault::Trap(cause) => write!(f, "trapped: {cause}"),
            Fault::WrongKind(needed) => write!(f, "is not a {needed} plugin"),
            Fault::Quarantined {
                retry_in,
                last_fault,
            } => write!(
                f,
                "is quarantined after repeated faults (last: {last_fault}); next probe in {} s",
                retry_in.as_secs().max(1)
            ),
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
        health: HealthPolicy,
    ) -> Self {
        Plugin {
            context,
            pre,
            limits,
            digest,
            health: Mutex::new(Health::new(health)),
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

    pub fn context(&self) -> &PluginContext {
        &self.context
    }

    pub fn health(&self) -> HealthReport {
        self.health.lock().expect("health lock").report()
    }

    fn new_store(&self) -> Store<PluginState> {
        let state = PluginState::new(self.context.clone(), self.limits.memory_bytes);
        let mut store = Store::new(self.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (self.limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on the engine when a fuel limit is set");
        }
        store
    }

    fn engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            PluginPre::Source(pre) => pre.engine(),
            PluginPre::Sink(pre) => pre.engine(),
        }
    }

    /// Whether this sink reports consent choices made at the vendor (contract 0.2's `consent-feed`).
    pub fn has_consent_feed(&self) -> bool {
        matches!(
            self.pre,
            PluginPre::Sink(SinkPre::Extended {
                consent_feed: Some(_),
                ..
            })
        )
    }

    /// Whether this sink erases a person by the profile key too (contract 0.4's `erasure`).
    pub fn has_erasure(&self) -> bool {
        matches!(
            self.pre,
            PluginPre::Sink(SinkPre::Extended {
                erasure: Some(_),
                ..
            })
        )
    }

    /// Whether this sink reports what became of its messages (contract 0.5's `engagement`).
    pub fn has_engagement(&self) -> bool {
        matches!(
            self.pre,
            PluginPre::Sink(SinkPre::Extended {
                engagement: Some(_),
                ..
            })
        )
    }

    /// Whether this source reports its customers' service issues (contract 0.5's
    /// `service-issues`).
    pub fn has_service_issues(&self) -> bool {
        matches!(
            self.pre,
            PluginPre::Source(SourcePre::V0_3 {
                service_issues: Some(_),
                ..
            })
        )
    }

    fn fault(&self, call: &'static str, fault: Fault) -> PluginError {
        PluginError {
            plugin: self.context.plugin_id.clone(),
            generation: self.context.generation,
            call,
            fault,
        }
    }

    fn classify(&self, store: &Store<PluginState>, e: &wasmtime::Error) -> Fault {
        if store.data().limiter.hit {
            return Fault::Memory(self.limits.memory_bytes);
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault::Deadline(self.limits.deadline),
            Some(Trap::OutOfFuel) => Fault::Fuel(self.limits.fuel.unwrap_or_default()),
            Some(Trap::StackOverflow) => Fault::StackOverflow,
            Some(trap) => Fault::Trap(trap.to_string()),
            None => Fault::Trap(format!("{e:#}")),
        }
    }

    /// Runs one call in a fresh store and records its effect on health. Refused while quarantined,
    /// except that a rested plugin is first probed with `check`.
    fn call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Instance, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let admission = self.health.lock().expect("health lock").admission();
        match admission {
            Admission::Go => {}
            Admission::Wait(retry_in) => {
                let last_fault = self.health().last_fault.unwrap_or_default();
                return Err(self.fault(
                    call,
                    Fault::Quarantined {
                        retry_in,
                        last_fault,
                    },
                ));
            }
            Admission::Probe => {
                let probe = self.run(call, |instance, store| match instance {
                    Instance::Source(s) => s.call_check(store),
                    Instance::Sink(s) => s.sink().call_check(store),
                });
                let (passed, detail) = match &probe {
                    Ok(Ok(())) => (true, String::new()),
                    Ok(Err(e)) => (false, format!("check returned {e:?}")),
                    Err(fault) => (false, fault.to_string()),
                };
                self.health
                    .lock()
                    .expect("health lock")
                    .record_probe(passed, detail.clone());
                if !passed {
                    let retry_in = match self.health.lock().expect("health lock").admission() {
                        Admission::Wait(d) => d,
                        _ => Duration::ZERO,
                    };
                    return Err(self.fault(
                        call,
                        Fault::Quarantined {
                            retry_in,
                            last_fault: detail,
                        },
                    ));
                }
            }
        }
        let (result, denials) = self.run_counting(call, f);
        let mut health = self.health.lock().expect("health lock");
        match (&result, denials) {
            // A pushed body too large for the plugin's memory is the input's fault: the host
            // answers it as too large, and traffic cannot quarantine a healthy plugin.
            (Err(e), _) if call == "webhook" && matches!(e.fault, Fault::Memory(_)) => {}
            (Err(e), _) => health.record_fault(e.fault.kind(), e.to_string()),
            (Ok(_), 0) => health.record_success(),
            (Ok(_), n) => health.record_fault(
                "egress-denied",
                format!("the host refused {n} of its requests in `{call}`"),
            ),
        }
        result
    }

    fn run<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Instance, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.run_counting(call, f).0
    }

    /// Instantiates, calls, flushes the plugin's output to the log; returns the result and how many
    /// of the call's requests the host refused.
    fn run_counting<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Instance, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> (Result<R, PluginError>, u32) {
        let mut store = self.new_store();
        let instance = match &self.pre {
            PluginPre::Source(pre) => pre.instantiate(&mut store).map(Instance::Source),
            PluginPre::Sink(pre) => pre.instantiate(&mut store).map(Instance::Sink),
        };
        let result = instance.and_then(|instance| f(&instance, &mut store));
        store.data().flush_stdio();
        let denials = store.data().denials_this_call();
        let result = result.map_err(|e| self.fault(call, self.classify(&store, &e)));
        (result, denials)
    }

    fn source_call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&SourceInstance, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if !matches!(self.pre, PluginPre::Source(_)) {
            return Err(self.fault(call, Fault::WrongKind("pos-source")));
        }
        self.call(call, |instance, store| match instance {
            Instance::Source(s) => f(s, store),
            Instance::Sink(_) => unreachable!("checked above"),
        })
    }

    fn sink_call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&wit_sink::Guest, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if !matches!(self.pre, PluginPre::Sink(_)) {
            return Err(self.fault(call, Fault::WrongKind("crm-sink")));
        }
        self.call(call, |instance, store| match instance {
            Instance::Sink(s) => f(s.sink(), store),
            Instance::Source(_) => unreachable!("checked above"),
        })
    }

    fn consent_feed_call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&consent_feed::Guest, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if !self.has_consent_feed() {
            return Err(self.fault(call, Fault::WrongKind("consent-feed (contract 0.2)")));
        }
        self.call(call, |instance, store| match instance {
            Instance::Sink(s) => f(s.consent_feed().expect("checked above"), store),
            Instance::Source(_) => unreachable!("checked above"),
        })
    }

    /// The plugin's own description.
    pub fn describe(&self) -> Result<Descriptor, PluginError> {
        self.call("describe", |instance, store| match instance {
            Instance::Source(s) => s.call_describe(store),
            Instance::Sink(s) => s.sink().call_describe(store),
        })
    }

    /// The plugin's configuration and credentials check.
    pub fn check(&self) -> Result<Result<(), ConnectorError>, PluginError> {
        self.call("check", |instance, store| match instance {
            Instance::Source(s) => s.call_check(store),
            Instance::Sink(s) => s.sink().call_check(store),
        })
    }

    /// One poll step of a source, in 0.3's types whichever version the source was built for.
    pub fn poll(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<Result<pos::Batch, ConnectorError>, PluginError> {
        self.source_call("poll", |g, s| g.call_poll(s, stream, cursor))
    }

    /// A webhook delivery (or uploaded file) turned into events by a source, in 0.3's types
    /// whichever version the source was built for.
    pub fn webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Result<pos::Push, ConnectorError>, PluginError> {
        let headers: Vec<_> = headers
            .iter()
            .map(|(name, value)| crate::contract::wit_host::Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        self.source_call("webhook", |g, s| g.call_webhook(s, &headers, body))
    }

    pub fn upsert_profiles(
        &self,
        profiles: &[Profile],
    ) -> Result<Result<Vec<Outcome>, ConnectorError>, PluginError> {
        self.sink_call("upsert-profiles", |g, s| {
            g.call_upsert_profiles(s, profiles)
        })
    }

    pub fn record_activities(
        &self,
        activities: &[Activity],
    ) -> Result<Result<Vec<Outcome>, ConnectorError>, PluginError> {
        self.sink_call("record-activities", |g, s| {
            g.call_record_activities(s, activities)
        })
    }

    /// The sink's `forget`: erase the person these identities name.
    pub fn forget(
        &self,
        identities: &[Identity],
    ) -> Result<Result<(), ConnectorError>, PluginError> {
        self.sink_call("forget", |g, s| g.call_forget(s, identities))
    }

    /// Erases the person the sink knows by profile key `key` and by `identities`: through
    /// `forget-person` where the sink has contract 0.4's `erasure`, otherwise through `forget`
    /// with the identities alone.
    pub fn forget_person(
        &self,
        key: &str,
        identities: &[Identity],
    ) -> Result<Result<(), ConnectorError>, PluginError> {
        if !self.has_erasure() {
            return self.forget(identities);
        }
        let person = erasure::ErasureSubject {
            key: key.to_owned(),
            identities: identities.to_vec(),
        };
        self.call("forget-person", |instance, store| match instance {
            Instance::Sink(s) => s
                .erasure
                .as_ref()
                .expect("checked above")
                .call_forget_person(store, &person),
            Instance::Source(_) => unreachable!("checked above"),
        })
    }

    /// The refusals people made at the vendor since `cursor` (sinks with a consent feed only).
    pub fn consent_changes(
        &self,
        cursor: Option<&str>,
    ) -> Result<Result<consent_feed::ConsentPage, ConnectorError>, PluginError> {
        self.consent_feed_call("consent-changes", |g, s| g.call_consent_changes(s, cursor))
    }

    /// What became of the sink's messages since `cursor` (sinks with `engagement` only).
    pub fn engagement_events(
        &self,
        cursor: Option<&str>,
    ) -> Result<Result<engagement::EngagementPage, ConnectorError>, PluginError> {
        let call = "engagement-events";
        if !self.has_engagement() {
            return Err(self.fault(call, Fault::WrongKind("engagement (contract 0.5)")));
        }
        self.call(call, |instance, store| match instance {
            Instance::Sink(SinkInstance {
                engagement: Some(engagement),
                ..
            }) => engagement.call_engagement_events(store, cursor),
            _ => unreachable!("checked above"),
        })
    }

    /// The service issues opened or closed since `cursor` (sources with `service-issues` only).
    pub fn issue_changes(
        &self,
        cursor: Option<&str>,
    ) -> Result<Result<service_issues::IssuePage, ConnectorError>, PluginError> {
        let call = "issue-changes";
        if !self.has_service_issues() {
            return Err(self.fault(call, Fault::WrongKind("service-issues (contract 0.5)")));
        }
        self.call(call, |instance, store| match instance {
            Instance::Source(SourceInstance::V0_3 {
                service_issues: Some(issues),
                ..
            }) => issues.call_issue_changes(store, cursor),
            _ => unreachable!("checked above"),
        })
    }
}
