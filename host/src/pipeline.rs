//! The pipeline: one config's store, connectors and workflows — polling sources and consent feeds,
//! webhook and upload intake, one delivery worker per sink, the erasure worker, and loading new
//! plugin versions as new generations. `sync_once` polls every source once and delivers everything
//! due (privacy requests and erasures included), for one-shot jobs and the demo; the daemon runs it
//! continuously.

use crate::config::mode::SinkMode;
use crate::config::Config;
use crate::connectors::{Connector, Connectors, HostServices};
use crate::consent::feed::read_consent_feed;
use crate::delivery::SinkWorker;
use crate::engagement::feed::read_engagement;
use crate::governance::erasure::ErasureWorker;
use crate::governance::privacy::{self, Handled, PrivacyError};
use crate::ingest::issues::read_issues;
use crate::ingest::poll::{poll_source, PollError};
use crate::ingest::push::{Intake, Wakers};
use crate::ingest::IngestReport;
use crate::journeys::scheduler;
use crate::reload::control::{self, ControlError};
use crate::reload::requests::{PluginReloaded, Requests};
use crate::reload::{self, Reloaded};
use rapport_core::clock::{SharedClock, SystemClock};
use rapport_core::freeze::{self, Freeze};
use rapport_core::journeys::{Messaging, Routes};
use rapport_sandbox::packages::PluginKind;
use rapport_store::{Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running host.
pub struct Pipeline {
    pub store: Store,
    pub connectors: Arc<Connectors>,
    pub config: Config,
    /// Where ingest sends work: every sink, and each journey's messages to its sink.
    pub routes: Routes,
    messaging: Arc<Messaging>,
    /// The runtime, HTTP client, secrets and trust store new plugin versions load with.
    pub host: HostServices,
    /// Webhooks and uploads.
    pub intake: Arc<Intake>,
    /// One doorbell per sink worker, in the order of `connectors.sinks`.
    pub wakers: Wakers,
    /// What time it is, for every time-based rule.
    pub clock: SharedClock,
    /// The preference page: its links (`Preferences::link`) and the changes people make on it.
    pub preferences: Arc<crate::preferences::Preferences>,
    /// What the admin API asks the daemon to change now (apply the config, reload a plugin).
    pub requests: Arc<Requests>,
}

/// What a one-shot sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub ingested: IngestReport,
    pub poll_errors: Vec<String>,
    /// Work items still owed when the drain stopped (waiting for a later retry).
    pub still_waiting: i64,
    /// Sinks' parts of erasures not yet confirmed when the drain stopped.
    pub erasures_pending: i64,
    /// Privacy requests carried out.
    pub privacy_requests: Vec<Handled>,
}

impl Pipeline {
    /// Opens the store, builds the runtime and loads every configured connector. A start that
    /// fails closes the store it opened, so nothing of it holds the database (a daemon whose
    /// changed config cannot start goes on writing through the pipeline that ran).
    pub async fn start(config: Config) -> anyhow::Result<Pipeline> {
        Pipeline::start_with_clock(config, SystemClock::shared()).await
    }

    /// [`Pipeline::start`] on `clock`: every time-based rule of the pipeline reads it.
    pub async fn start_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Pipeline> {
        let store = Store::open(&config.store.database_url).await?;
        match Pipeline::assemble(config, store.clone(), clock).await {
            Ok(pipeline) => Ok(pipeline),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    /// [`Pipeline::start`] over the store it opened.
    async fn assemble(
        config: Config,
        store: Store,
        clock: SharedClock,
    ) -> anyhow::Result<Pipeline> {
        let host = HostServices::from_config(&config)?;
        crate::profiles::rebuild_if_missing(&store, config.shop.time_zone).await?;
        let connectors = Connectors::load(&config, &host, &store).await?;
        for sink in connectors.sinks.iter().filter(|s| !s.retiring) {
            shadow_or_live(&store, sink, clock.now_ms()).await?;
            if let Some(queued @ 1..) = store.start_backfill(&sink.id).await? {
                tracing::info!(sink = %sink.id, profiles = queued,
                    "backfill started: the new sink is sent every person the shop knows");
            }
        }
        if let released @ 1.. = store
            .release_held_profiles(&connectors.sink_ids(), clock.now_ms())
            .await?
        {
            tracing::info!(
                released,
                "profile updates held by a poll the last process did not finish are due"
            );
        }
        let wakers = Wakers::new(connectors.sinks.len());
        let routes = Routes {
            sinks: connectors.working_sink_ids(),
            journeys: config.journeys.clone(),
            horizon: config.journey_horizon,
            time_zone: config.shop.time_zone,
            tiers: config.profiles.tiers.clone(),
            clock: clock.clone(),
        };
        let preferences = Arc::new(
            crate::preferences::Preferences::start(
                store.clone(),
                &config.server,
                routes.sinks.clone(),
                wakers.clone(),
                clock.clone(),
                config.shop.time_zone,
            )
            .await?,
        );
        let messaging = Arc::new(config.messaging());
        let connectors = Arc::new(connectors);
        let intake = Arc::new(Intake::new(
            store.clone(),
            connectors.clone(),
            routes.clone(),
            wakers.clone(),
        ));
        Ok(Pipeline {
            store,
            connectors,
            config,
            routes,
            messaging,
            host,
            intake,
            wakers,
            clock,
            preferences,
            requests: Arc::default(),
        })
    }

    /// The `[[freeze]]` in force now, by the pipeline's clock in the shop's time zone.
    pub fn freeze_in_force(&self) -> Option<&Freeze> {
        let zone = self.config.shop.time_zone;
        freeze::in_force(&self.config.freezes, self.clock.now(), zone)
    }

    /// One delivery worker per sink.
    pub fn workers(&self) -> Vec<SinkWorker> {
        self.connectors
            .sinks
            .iter()
            .enumerate()
            .map(|(index, sink)| {
                SinkWorker::new(
                    self.store.clone(),
                    sink.clone(),
                    self.config.delivery.clone(),
                    self.messaging.clone(),
                    self.wakers.get(index),
                    self.clock.clone(),
                    self.preferences.clone(),
                )
            })
            .collect()
    }

    /// The worker that tells every sink whom to forget.
    pub fn erasure_worker(&self) -> ErasureWorker {
        ErasureWorker::new(
            self.store.clone(),
            self.connectors.sinks.clone(),
            self.config.delivery.clone(),
        )
    }

    /// Loads the plugin files in `dir` as the next generation of every connector running them (see
    /// `reload::reload`), logging what each did. Returns whether a version is held (for approval,
    /// or by a freeze in force).
    pub async fn reload_dir(&self, dir: &std::path::Path) -> bool {
        let mut held = false;
        let freeze = self.freeze_in_force();
        for (connector, result) in
            reload::reload_dir(&self.connectors, dir, &self.host, &self.store, freeze).await
        {
            match result {
                Ok(Reloaded::Unchanged) => {
                    tracing::debug!(connector = %connector, dir = %dir.display(), "plugin files unchanged")
                }
                Ok(Reloaded::Promoted { .. }) => {}
                Ok(Reloaded::Held { reason, again, .. }) => {
                    held = true;
                    if !again {
                        tracing::warn!(connector = %connector, "new version {reason}");
                    }
                }
                Err(refused) => tracing::error!("{refused}"),
            }
        }
        held
    }

    /// Loads the plugin files of `target`'s connectors now (see `reload::reload`), through a freeze
    /// in force if `force`; what each did.
    pub async fn reload_target(
        &self,
        target: &str,
        force: bool,
    ) -> Result<Vec<PluginReloaded>, ControlError> {
        let freeze = self.freeze_in_force().filter(|_| !force);
        let mut done = Vec::new();
        for connector in control::resolve(&self.connectors, target)? {
            let result = reload::reload(connector, &self.host, &self.store, freeze).await;
            let (outcome, detail) = match result {
                Ok(Reloaded::Unchanged) => ("unchanged", connector.live().version.clone()),
                Ok(Reloaded::Promoted { version, .. }) => ("promoted", version),
                Ok(Reloaded::Held { reason, .. }) => ("held", reason),
                Err(refused) => ("refused", refused.reason),
            };
            tracing::info!(connector = %connector.id, force, outcome, %detail, "plugin reload asked for");
            done.push(PluginReloaded {
                connector: connector.id.clone(),
                outcome: outcome.into(),
                detail,
            });
        }
        Ok(done)
    }

    /// Polls every source, and every sink's consent feed, once (each until caught up).
    pub async fn poll_all_once(&self) -> (IngestReport, Vec<PollError>) {
        let mut total = IngestReport::default();
        let mut errors = Vec::new();
        let pollers = self.connectors.sources.iter().chain(&self.connectors.sinks);
        for connector in pollers {
            match self.poll_once(connector).await {
                Ok(report) => total += report,
                Err(e) => {
                    tracing::error!(connector = %connector.id, error = %e, "poll failed");
                    errors.push(e);
                }
            }
        }
        (total, errors)
    }

    /// Reads what `connector` has for the host until it is caught up: a source's streams and its
    /// service issues, or a sink's consent feed and engagement (nothing, for a plugin without
    /// them).
    pub async fn poll_once(&self, connector: &Connector) -> Result<IngestReport, PollError> {
        let wake = || self.wakers.wake_all();
        let now = self.clock.now_ms();
        match connector.kind {
            PluginKind::PosSource => {
                let grants = self.config.server.source(&connector.id).grants_consent;
                let report =
                    poll_source(&self.store, connector, &self.routes, grants, &wake).await?;
                read_issues(&self.store, connector, now).await?;
                Ok(report)
            }
            PluginKind::CrmSink => {
                let report = read_consent_feed(&self.store, connector, &self.routes, &wake).await?;
                read_engagement(&self.store, connector, now).await?;
                Ok(report)
            }
        }
    }

    /// Delivers until no work is due within `horizon`, or `timeout` passes. Returns what is still owed.
    pub async fn drain(&self, horizon: Duration, timeout: Duration) -> Result<i64, StoreError> {
        let started = Instant::now();
        // A sink held with `enabled = false` owes its work, but none of it is due to go.
        let workers: Vec<_> = (self.workers().into_iter())
            .filter(|w| w.enabled())
            .map(Arc::new)
            .collect();
        loop {
            self.run_journeys().await?;
            let mut sinks = tokio::task::JoinSet::new();
            for worker in &workers {
                sinks.spawn(worker.clone().deliver_due());
            }
            let mut claimed = 0;
            while let Some(sink) = sinks.join_next().await {
                claimed += sink.expect("a sink's delivery panicked")?;
            }
            if claimed > 0 {
                continue;
            }
            let mut owed = 0;
            let mut next_due: Option<i64> = None;
            for worker in &workers {
                let (waiting, next_at) = self.store.backlog(worker.sink_id()).await?;
                owed += waiting;
                next_due = match (next_due, next_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let now = self.clock.now_ms();
            let soon = |at: i64| at <= now + horizon.as_millis() as i64;
            let journey_due = self.store.next_journey_due().await?;
            if journey_due.is_some_and(soon) && started.elapsed() < timeout {
                owed += 1;
                next_due = next_due.min(journey_due).or(journey_due);
            }
            let due_soon = next_due.is_some_and(soon);
            if owed == 0 || !due_soon || started.elapsed() >= timeout {
                for worker in &workers {
                    worker.retire_if_drained().await?;
                }
                return Ok(owed);
            }
            let wait = (next_due.unwrap_or(now) - now).clamp(5, 500);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Lets in every person whose journey wait has fallen due by the pipeline's clock, queuing
    /// their messages, and wakes the sinks that were given some.
    pub async fn run_journeys(&self) -> Result<scheduler::Pass, StoreError> {
        let now = self.clock.now();
        let zone = self.config.shop.time_zone;
        let paused = freeze::pausing_journeys(&self.config.freezes, now, zone);
        let (pass, sinks) =
            scheduler::run_due(&self.store, &self.routes, &self.messaging, now, paused).await?;
        for (index, sink) in self.connectors.sinks.iter().enumerate() {
            if sinks.contains(&sink.id) {
                self.wakers.get(index).notify_one();
            }
        }
        if pass.due > 0 {
            tracing::info!(
                due = pass.due,
                sent = pass.sent,
                held_out = pass.held_out,
                skipped = pass.skipped,
                "journey waits fell due"
            );
        }
        Ok(pass)
    }

    /// Plans the fact-triggered journeys of every profile again from the latest fit (see
    /// `journeys::replan_all`); returns the waits saved.
    pub async fn replan_journeys(&self) -> Result<usize, StoreError> {
        let models = self
            .store
            .latest_fit()
            .await?
            .map(|stored| stored.fit.models());
        crate::journeys::replan_all(&self.store, &self.routes, models.as_ref(), self.clock.now())
            .await
    }

    /// Asks sinks to forget until no erasure item is due within `horizon`, or `timeout` passes.
    /// Returns how many sinks' parts are still pending.
    pub async fn drain_erasures(
        &self,
        horizon: Duration,
        timeout: Duration,
    ) -> Result<i64, StoreError> {
        let started = Instant::now();
        let worker = self.erasure_worker();
        let sinks = worker.sink_ids();
        loop {
            worker.step(None).await?;
            let (pending, next_at) = self.store.erasure_backlog(&sinks).await?;
            let now = self.clock.now_ms();
            let due_soon = next_at.is_some_and(|at| at <= now + horizon.as_millis() as i64);
            if pending == 0 || !due_soon || started.elapsed() >= timeout {
                return Ok(pending);
            }
            let wait = (next_at.unwrap_or(now) - now).clamp(5, 500);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Carries out the privacy requests vendors forwarded that are still pending (forgetting
    /// queues each sink's part for the erasure worker).
    pub async fn handle_privacy_requests(&self) -> Result<Vec<Handled>, PrivacyError> {
        let answers = &self.config.privacy.data_requests;
        privacy::handle_pending(&self.store, &self.routes.sinks, answers).await
    }

    /// Polls every source once, carries out the privacy requests that came with it, then delivers
    /// what is due and asks sinks to forget.
    pub async fn sync_once(
        &self,
        horizon: Duration,
        timeout: Duration,
    ) -> Result<SyncReport, StoreError> {
        let (ingested, errors) = self.poll_all_once().await;
        let privacy_requests = match self.handle_privacy_requests().await {
            Ok(handled) => handled,
            Err(PrivacyError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, "a privacy request is still pending");
                Vec::new()
            }
        };
        let still_waiting = self.drain(horizon, timeout).await?;
        let erasures_pending = self.drain_erasures(horizon, timeout).await?;
        Ok(SyncReport {
            ingested,
            poll_errors: errors.iter().map(ToString::to_string).collect(),
            still_waiting,
            erasures_pending,
            privacy_requests,
        })
    }
}

/// Records that `sink` runs in shadow, or, for a live sink that ran in shadow until now, queues
/// again what it delivered in shadow (the vendor never got it), journey messages aside.
async fn shadow_or_live(store: &Store, sink: &Connector, now: i64) -> Result<(), StoreError> {
    match sink.mode {
        SinkMode::Shadow => store.begin_shadow(&sink.id, now).await,
        SinkMode::Live => {
            if let Some(queued) = store.end_shadow(&sink.id, now).await? {
                tracing::info!(sink = %sink.id, queued,
                    "the shadow sink is live: what it delivered in shadow is queued to be sent for real");
            }
            Ok(())
        }
    }
}
