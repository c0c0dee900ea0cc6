//! The pipeline: store, runtime and connectors wired together — pollers and the webhook server feed
//! ingest, one delivery worker per sink drains the outbox, the erasure worker tells sinks whom to
//! forget, the retention job runs every `retention.interval`, and new plugin versions dropped into
//! the plugins directories are loaded as new generations. `run` is the daemon; `sync_once`
//! polls every source once and delivers everything due (erasures included), for one-shot jobs and
//! the demo.

use crate::config::Config;
use crate::connectors::{Connector, Connectors, HostServices};
use crate::consent::feed::read_consent_feed;
use crate::delivery::SinkWorker;
use crate::governance::erasure::ErasureWorker;
use crate::governance::retention;
use crate::ingest::poll::{poll_source, PollError};
use crate::ingest::{ingest, Delivery};
use crate::reload::{self, Reloaded};
use rapport_core::governance::retention::Mode;
use rapport_core::journeys::{Messaging, Routes};
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::packages::PluginKind;
use rapport_store::{IngestReport, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

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
    wakers: Vec<Arc<Notify>>,
}

/// Why a pushed payload (webhook or uploaded file) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    #[error("signature or credentials refused: {0}")]
    Auth(String),
    #[error("payload refused: {reason} (kept for inspection as webhook inbox item {kept})")]
    Invalid { reason: String, kept: i64 },
    #[error("source is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl Pipeline {
    /// Opens the store, builds the runtime and loads every configured connector.
    pub async fn start(config: Config) -> anyhow::Result<Pipeline> {
        let store = Store::open(&config.store.database_url).await?;
        let host = HostServices::from_config(&config)?;
        let connectors = Connectors::load(&config, &host, &store).await?;
        for sink in connectors.sinks.iter().filter(|s| !s.retiring) {
            if let Some(queued @ 1..) = store.start_backfill(&sink.id).await? {
                tracing::info!(sink = %sink.id, profiles = queued,
                    "backfill started: the new sink is sent every person the shop knows");
            }
        }
        let wakers = connectors
            .sinks
            .iter()
            .map(|_| Arc::new(Notify::new()))
            .collect();
        let routes = Routes {
            sinks: connectors.working_sink_ids(),
            journeys: config.journeys.clone(),
        };
        let messaging = Arc::new(config.messaging());
        Ok(Pipeline {
            store,
            connectors: Arc::new(connectors),
            config,
            routes,
            messaging,
            host,
            wakers,
        })
    }

    /// Tells every delivery worker new work may be waiting.
    pub fn wake_sinks(&self) {
        for waker in &self.wakers {
            waker.notify_one();
        }
    }

    fn workers(&self) -> Vec<SinkWorker> {
        self.connectors
            .sinks
            .iter()
            .zip(&self.wakers)
            .map(|(sink, wake)| {
                SinkWorker::new(
                    self.store.clone(),
                    sink.clone(),
                    self.config.delivery.clone(),
                    self.messaging.clone(),
                    wake.clone(),
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

    /// Runs a webhook payload or an uploaded file through `source_id`'s plugin and stores the result;
    /// returns once it is durable.
    pub async fn receive_push(
        &self,
        source_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<IngestReport, PushError> {
        let source = self
            .connectors
            .source(source_id)
            .ok_or_else(|| PushError::UnknownSource(source_id.to_string()))?
            .clone();
        if source.generations.is_disabled() {
            return Err(PushError::Unavailable(format!(
                "source `{source_id}` is disabled (`rapport plugin enable` turns it back on)"
            )));
        }
        let plugin = source.plugin();
        let (headers, body) = (Arc::new(headers), Arc::new(body));
        let answer = tokio::task::spawn_blocking({
            let (headers, body) = (headers.clone(), body.clone());
            move || plugin.webhook(&headers, &body)
        })
        .await
        .map_err(|e| PushError::Unavailable(e.to_string()))?
        .map_err(|fault| PushError::Unavailable(fault.to_string()))?;
        let push = match answer {
            Ok(push) => push,
            Err(ConnectorError::Auth(m)) => return Err(PushError::Auth(m)),
            Err(ConnectorError::Invalid(reason) | ConnectorError::Config(reason)) => {
                let kept = self
                    .store
                    .keep_webhook(source_id, &reason, &headers, &body)
                    .await?;
                return Err(PushError::Invalid { reason, kept });
            }
            Err(ConnectorError::Transient(m)) => return Err(PushError::Unavailable(m)),
            Err(ConnectorError::RateLimited(ms)) => {
                return Err(PushError::Unavailable(format!("rate limited for {ms} ms")))
            }
        };
        let report = ingest(
            &self.store,
            &source.normalizer,
            source_id,
            &self.routes,
            "webhook",
            None,
            Delivery {
                events: push.events,
                rejected: push.rejected,
            },
        )
        .await?;
        self.wake_sinks();
        Ok(report)
    }

    /// Loads the plugin files in `dir` as the next generation of every connector running them (see
    /// `reload::reload`), logging what each did.
    pub async fn reload_dir(&self, dir: &std::path::Path) {
        for (connector, result) in
            reload::reload_dir(&self.connectors, dir, &self.host, &self.store).await
        {
            match result {
                Ok(Reloaded::Unchanged) => {
                    tracing::debug!(connector = %connector, dir = %dir.display(), "plugin files unchanged")
                }
                Ok(Reloaded::Promoted { .. }) => {}
                Err(refused) => tracing::error!("{refused}"),
            }
        }
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

    /// Reads what `connector` has for the host until it is caught up: a source's streams, or a
    /// sink's consent feed (nothing, for a sink without one).
    async fn poll_once(&self, connector: &Connector) -> Result<IngestReport, PollError> {
        let wake = || self.wake_sinks();
        match connector.kind {
            PluginKind::PosSource => poll_source(&self.store, connector, &self.routes, &wake).await,
            PluginKind::CrmSink => {
                read_consent_feed(&self.store, connector, &self.routes, &wake).await
            }
        }
    }

    /// Delivers until no work is due within `horizon`, or `timeout` passes. Returns what is still owed.
    pub async fn drain(&self, horizon: Duration, timeout: Duration) -> Result<i64, StoreError> {
        let started = Instant::now();
        let workers = self.workers();
        loop {
            let mut claimed = 0;
            for worker in &workers {
                claimed += worker.step().await?.claimed;
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
            let now = rapport_store::now_ms();
            let due_soon = next_due.is_some_and(|at| at <= now + horizon.as_millis() as i64);
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
            let now = rapport_store::now_ms();
            let due_soon = next_at.is_some_and(|at| at <= now + horizon.as_millis() as i64);
            if pending == 0 || !due_soon || started.elapsed() >= timeout {
                return Ok(pending);
            }
            let wait = (next_at.unwrap_or(now) - now).clamp(5, 500);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Polls every source once, then delivers what is due and asks sinks to forget.
    pub async fn sync_once(
        &self,
        horizon: Duration,
        timeout: Duration,
    ) -> Result<SyncReport, StoreError> {
        let (ingested, errors) = self.poll_all_once().await;
        let still_waiting = self.drain(horizon, timeout).await?;
        let erasures_pending = self.drain_erasures(horizon, timeout).await?;
        Ok(SyncReport {
            ingested,
            poll_errors: errors.iter().map(ToString::to_string).collect(),
            still_waiting,
            erasures_pending,
        })
    }

    /// Applies the retention periods now and every `retention.interval` until `shutdown`. A run
    /// cut short by shutdown loses nothing: each chunk it retires is its own transaction.
    async fn retention_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let config = &self.config.retention;
        while !*shutdown.borrow() {
            let run = retention::run(&self.store, config, chrono::Utc::now(), Mode::Apply);
            tokio::select! {
                result = run => match result {
                    Ok(report) if report.total() > 0 => {
                        tracing::info!("retention job:\n{report}");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "retention job failed; it runs again later"),
                },
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(config.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// The daemon: pollers, delivery workers and the HTTP server until `shutdown` turns true. Work in
    /// flight is finished and recorded before it returns.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(&self.config.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", self.config.server.listen))?;
        tracing::info!(listen = %self.config.server.listen, sources = self.connectors.sources.len(),
            sinks = self.connectors.sinks.len(), "rapport running");
        let mut tasks = tokio::task::JoinSet::new();
        for worker in self.workers() {
            tasks.spawn(worker.run(shutdown.clone()));
        }
        tasks.spawn(self.erasure_worker().run(shutdown.clone()));
        // Sinks are polled too: a generation built for contract 0.2 has a consent feed (a reload
        // may bring one), and reading a sink without one does nothing.
        let pollers: Vec<Arc<Connector>> = self
            .connectors
            .sources
            .iter()
            .chain(&self.connectors.sinks)
            .cloned()
            .collect();
        for connector in pollers {
            let pipeline = self.clone();
            let mut shutdown = shutdown.clone();
            tasks.spawn(async move {
                while !*shutdown.borrow() {
                    let wait = match pipeline.poll_once(&connector).await {
                        Ok(_) => connector.poll_interval,
                        Err(e) => {
                            tracing::error!(connector = %connector.id, error = %e, "poll failed");
                            e.retry_after().unwrap_or(connector.poll_interval)
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            });
        }
        tasks.spawn(self.clone().retention_loop(shutdown.clone()));
        tasks.spawn(reload::watch::run(self.clone(), shutdown.clone()));
        let app = crate::admin::router(self.clone());
        let mut server_shutdown = shutdown.clone();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            while !*server_shutdown.borrow() {
                if server_shutdown.changed().await.is_err() {
                    break;
                }
            }
        });
        server.await?;
        while tasks.join_next().await.is_some() {}
        tracing::info!("rapport stopped");
        Ok(())
    }
}
