//! The one wiring point of the daemon: a pipeline's pollers, delivery and erasure workers, the
//! privacy requests, the retention job, the daily refit of the predictions, the product pairs
//! worked out on their schedule, the scheduled backups, the plugin-directory watch and the HTTP
//! server, run until shutdown; and the config-reload loop of `rapport run`, which starts the
//! pipeline again whenever its config file changes and loads.

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::connectors::Connector;
use crate::governance::retention;
use crate::journeys::scheduler;
use crate::pipeline::Pipeline;
use crate::predictions;
use crate::reload;
use rapport_core::governance::retention::Mode;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The HTTP routes of a running pipeline: webhooks, health, summaries and the plugin controls.
pub fn admin_router(pipeline: &Pipeline) -> axum::Router {
    admin::router(AdminState {
        store: pipeline.store.clone(),
        connectors: pipeline.connectors.clone(),
        intake: pipeline.intake.clone(),
        wakers: pipeline.wakers.clone(),
        server: Arc::new(pipeline.config.server.clone()),
        memory_limit_mib: pipeline.config.runtime.memory_limit_mib,
        people: Arc::new(admin::profiles::PeopleRules {
            normalizer: rapport_core::identity::Normalizer::new(
                pipeline.config.shop.region,
                &pipeline.config.identity,
            ),
            tiers: pipeline.config.profiles.tiers.clone(),
            zone: pipeline.config.shop.time_zone,
        }),
        clock: pipeline.clock.clone(),
        preferences: pipeline.preferences.clone(),
        journeys: pipeline.config.journeys.clone().into(),
        requests: pipeline.requests.clone(),
    })
}

/// Reloads a connector's plugin whenever the files in its directory change.
async fn watch_plugins(pipeline: Arc<Pipeline>, shutdown: watch::Receiver<bool>) {
    let plugin_dirs: BTreeSet<PathBuf> = pipeline
        .connectors
        .all()
        .map(|c| c.config.plugin.clone())
        .collect();
    let quiet = Duration::from_millis(pipeline.config.runtime.reload_debounce_ms);
    reload::watch::run(plugin_dirs, quiet, shutdown, |dir: PathBuf| {
        let pipeline = pipeline.clone();
        async move { pipeline.reload_dir(&dir).await }
    })
    .await;
}

/// Answers the admin API's requests to load a connector's plugin files now, until `shutdown`.
async fn plugin_requests(pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    let Some(mut requests) = pipeline.requests.take_plugins().await else {
        return;
    };
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                let done = pipeline.reload_target(&request.target, request.force).await;
                let _ = request.reply.send(done.map_err(|e| e.to_string()));
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// How often the daemon looks for privacy requests to carry out.
const PRIVACY_INTERVAL: Duration = Duration::from_secs(1);

/// Carries out the privacy requests vendors forward, soon after they arrive, until `shutdown`. A
/// request that fails stays pending and is tried again.
async fn privacy_loop(pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if let Err(e) = pipeline.handle_privacy_requests().await {
            tracing::error!(error = %e, "a privacy request is still pending; it is tried again");
        }
        tokio::select! {
            _ = tokio::time::sleep(PRIVACY_INTERVAL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Applies the retention periods now and every `retention.interval` until `shutdown`. A run
/// cut short by shutdown loses nothing: each chunk it retires is its own transaction.
async fn retention_loop(pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    let config = &pipeline.config.retention;
    while !*shutdown.borrow() {
        let run = retention::run(&pipeline.store, config, pipeline.clock.now(), Mode::Apply);
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

/// Lets people into journeys as their waits fall due, until `shutdown`: it sleeps until the
/// earliest wait (at most `scheduler::IDLE`, as ingest plans new ones meanwhile).
async fn journeys_loop(pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    let idle = scheduler::IDLE;
    while !*shutdown.borrow() {
        if let Err(e) = pipeline.run_journeys().await {
            tracing::error!(error = %e, "the journey scheduler failed; it tries again shortly");
        }
        let wait = match pipeline.store.next_journey_due().await {
            Ok(Some(at)) => Duration::from_millis((at - pipeline.clock.now_ms()).max(50) as u64),
            _ => idle,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.min(idle)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// How often the daemon refits the customer-base models.
const REFIT_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Refits the customer-base models daily until `shutdown`: when the latest fit is a day old (or
/// there is none), then a day after. Below rapport's minimum data it logs why and tries the next day.
async fn predictions_loop(pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
    let time_zone = pipeline.config.shop.time_zone;
    while !*shutdown.borrow() {
        let wait = match pipeline.store.latest_fit().await {
            Ok(Some(latest)) => {
                let age = (pipeline.clock.now_ms() - latest.fitted_at).max(0);
                REFIT_INTERVAL.saturating_sub(Duration::from_millis(age as u64))
            }
            Ok(None) => Duration::ZERO,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the latest prediction fit");
                REFIT_INTERVAL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => continue,
        }
        let now = pipeline.clock.now();
        let as_of = predictions::today(now, time_zone);
        let refitted = predictions::refit(&pipeline.store, time_zone, as_of, now).await;
        match pipeline.replan_journeys().await {
            Ok(waits) => tracing::info!(waits, "journeys planned again from the profiles"),
            Err(e) => tracing::error!(error = %e, "planning the journeys again failed"),
        }
        match refitted {
            Ok(predictions::Refit::Fitted(stored)) => {
                let b = stored.fit.bgnbd.params;
                tracing::info!(%as_of, r = b.r, alpha = b.alpha, a = b.a, b = b.b,
                    "customer-base models refitted");
            }
            Ok(predictions::Refit::Refused { refusal, .. }) => {
                tracing::info!(%as_of, "predictions skipped: {refusal}");
                tokio::select! {
                    _ = tokio::time::sleep(REFIT_INTERVAL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "refitting the customer-base models failed; tried again tomorrow");
                tokio::select! {
                    _ = tokio::time::sleep(REFIT_INTERVAL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// The daemon: pollers, delivery workers and the HTTP server until `shutdown` turns true. Work in
/// flight is finished and recorded before it returns.
pub async fn run(pipeline: Arc<Pipeline>, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let listener = admin::listen::Listener::bind(&pipeline.config.server).await?;
    tracing::info!(listen = %pipeline.config.server.listen, sources = pipeline.connectors.sources.len(),
        sinks = pipeline.connectors.sinks.len(), "rapport running");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in pipeline.workers() {
        tasks.spawn(worker.run(shutdown.clone()));
    }
    tasks.spawn(pipeline.erasure_worker().run(shutdown.clone()));
    // Sinks are polled too: a generation built for contract 0.2 has a consent feed (a reload
    // may bring one), and reading a sink without one does nothing.
    let pollers: Vec<Arc<Connector>> = pipeline
        .connectors
        .sources
        .iter()
        .chain(&pipeline.connectors.sinks)
        .cloned()
        .collect();
    for connector in pollers {
        let pipeline = pipeline.clone();
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
    tasks.spawn(retention_loop(pipeline.clone(), shutdown.clone()));
    tasks.spawn(predictions_loop(pipeline.clone(), shutdown.clone()));
    tasks.spawn(journeys_loop(pipeline.clone(), shutdown.clone()));
    tasks.spawn(privacy_loop(pipeline.clone(), shutdown.clone()));
    let (store, pairs) = (pipeline.store.clone(), pipeline.config.pairs.clone());
    let clock = pipeline.clock.clone();
    tasks.spawn(crate::pairs::schedule(
        store,
        pairs,
        clock,
        shutdown.clone(),
    ));
    tasks.spawn(watch_plugins(pipeline.clone(), shutdown.clone()));
    tasks.spawn(plugin_requests(pipeline.clone(), shutdown.clone()));
    if let Some(backup) = pipeline.config.backup.clone() {
        let (store, clock) = (pipeline.store.clone(), pipeline.clock.clone());
        tasks.spawn(crate::backup::schedule(
            store,
            backup,
            clock,
            shutdown.clone(),
        ));
    }
    listener
        .serve(admin_router(&pipeline), shutdown.clone())
        .await?;
    while tasks.join_next().await.is_some() {}
    tracing::info!("rapport stopped");
    Ok(())
}

/// `rapport run`: starts the pipeline from the config file and runs it until `shutdown`. When the
/// file changes and loads, the work in flight is finished and the pipeline starts again from the
/// new config; an edit that loads but cannot start sends it back to the config that ran.
pub async fn serve(
    config_path: &Path,
    dev: bool,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    let mut previous: Option<Config> = None;
    loop {
        config.trust.dev |= dev;
        let pipeline = match Pipeline::start(config.clone()).await {
            Ok(pipeline) => Arc::new(pipeline),
            Err(e) => match previous.take() {
                Some(running) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the changed config cannot start; going back to the one that ran"
                    );
                    config = running;
                    continue;
                }
                None => return Err(e),
            },
        };
        // The first run makes the admin token, shown this once; only its hash is kept.
        if let Some(first) = admin::tokens::first_run(&pipeline.store).await? {
            println!(
                "rapport: the admin token (shown once; `rapport token create` makes more):\n{}",
                first.token
            );
        }
        // This pipeline runs until the daemon stops or its config file changes and loads.
        let (restart, restarted) = watch::channel(false);
        let text = std::fs::read_to_string(config_path).unwrap_or_default();
        let (path, stopping) = (config_path.to_path_buf(), shutdown.clone());
        let requests = pipeline.requests.take_config().await;
        let frozen = pipeline.clone();
        let freeze_now = move || frozen.freeze_in_force().cloned();
        let next = tokio::spawn(async move {
            let next =
                reload::config::next_config(&path, &text, freeze_now, requests, stopping).await;
            let _ = restart.send(true);
            next
        });
        let result = run(pipeline.clone(), restarted).await;
        pipeline.store.close().await;
        result?;
        match next.await? {
            Some(next) => previous = Some(std::mem::replace(&mut config, next)),
            None => return Ok(()),
        }
    }
}
