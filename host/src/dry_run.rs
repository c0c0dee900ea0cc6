//! `rapport sync --dry-run`: what a sync would send, change, withhold and refuse per sink, without
//! sending or recording anything. It polls no source (what the POS has new is not known until it
//! is taken in, which stores it) and lets no journey wait in (that queues messages): it covers the
//! work already in each sink's outbox that is due now. Every sink's plugin is loaded in capture
//! mode and given the items exactly as delivery renders them (`SinkWorker::preview`), so its own
//! refusals are known; connectors are loaded without being registered, approved or backfilled.
//! The one thing it may write is the shop's preference-link key, on a database that never had
//! one (the links in journey messages are signed with it).

use crate::config::mode::{ModeSetting, SinkMode};
use crate::config::Config;
use crate::connectors::{held_reason, not_approved, open_package, Connector, HostServices};
use crate::delivery::dry_run::SinkPreview;
use crate::delivery::SinkWorker;
use crate::ingest::push::Wakers;
use crate::preferences::Preferences;
use rapport_core::clock::SharedClock;
use rapport_sandbox::packages::permissions::permissions;
use rapport_sandbox::packages::PluginKind;
use rapport_store::Store;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Notify;

/// What a sync would do, per sink.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// What the dry run leaves out.
    pub scope: &'static str,
    pub sinks: Vec<SinkDryRun>,
}

/// One sink's part: its mode, what a sync would do first, and its items.
#[derive(Debug, Clone, Serialize)]
pub struct SinkDryRun {
    pub mode: SinkMode,
    /// Work a real sync would queue before these items (a backfill, a shadow sink gone live).
    pub first: Vec<String>,
    #[serde(flatten)]
    pub preview: SinkPreview,
}

pub const SCOPE: &str = "no source polled and no journey wait let in: the work already queued \
                         and due now; nothing sent, nothing recorded";

/// The dry run of `config`'s sinks at `clock`'s time.
pub async fn run(mut config: Config, clock: SharedClock) -> anyhow::Result<DryRun> {
    let modes: Vec<SinkMode> = config.sinks.iter().map(|s| s.mode()).collect();
    for sink in &mut config.sinks {
        sink.mode = Some(ModeSetting::Known(SinkMode::Shadow));
    }
    let store = Store::open(&config.store.database_url).await?;
    let result = preview_all(&config, &modes, &store, clock).await;
    store.close().await;
    result
}

async fn preview_all(
    config: &Config,
    modes: &[SinkMode],
    store: &Store,
    clock: SharedClock,
) -> anyhow::Result<DryRun> {
    let host = HostServices::from_config(config)?;
    let backfilled: HashSet<String> = (store.backfills().await?.into_iter())
        .map(|b| b.sink)
        .collect();
    let working: Vec<String> = (config.sinks.iter())
        .filter(|s| !s.retire)
        .map(|s| s.id.clone())
        .collect();
    let preferences = Arc::new(
        Preferences::start(
            store.clone(),
            &config.server,
            working,
            Wakers::new(config.sinks.len()),
            clock.clone(),
            config.shop.time_zone,
        )
        .await?,
    );
    let messaging = Arc::new(config.messaging());
    let mut sinks = Vec::with_capacity(config.sinks.len());
    for (c, mode) in config.sinks.iter().zip(modes) {
        let (package, provenance) = open_package(c, PluginKind::CrmSink, &host)?;
        let approved = store.approved_permissions(&c.id).await?;
        let unapproved = not_approved(&permissions(&package.manifest), &approved);
        if !approved.is_empty() && !unapproved.is_empty() {
            let (plugin, version) = (&package.manifest.id, &package.manifest.version);
            anyhow::bail!(
                "sink `{}`: {}",
                c.id,
                held_reason(plugin, version, &unapproved, &c.id)
            );
        }
        let sink =
            Connector::from_package(c, PluginKind::CrmSink, &host, package, provenance).await?;
        let mut first = Vec::new();
        if !c.retire && !backfilled.contains(&c.id) {
            first.push(
                "its backfill: the sink is new, so a sync first queues an update of every person \
                 the shop knows"
                    .to_string(),
            );
        }
        if *mode == SinkMode::Live && store.shadow_since(&c.id).await?.is_some() {
            first.push(
                "what it delivered in shadow: the sink is live now, so a sync first queues again \
                 every item it only pretended to send (journey messages aside)"
                    .to_string(),
            );
        }
        let worker = SinkWorker::new(
            store.clone(),
            Arc::new(sink),
            config.delivery.clone(),
            messaging.clone(),
            Arc::new(Notify::new()),
            clock.clone(),
            preferences.clone(),
        );
        sinks.push(SinkDryRun {
            mode: *mode,
            first,
            preview: worker.preview().await?,
        });
    }
    Ok(DryRun {
        scope: SCOPE,
        sinks,
    })
}
