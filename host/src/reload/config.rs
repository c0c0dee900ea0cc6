//! The daemon's watch on its own config file: an edited config — a sink added and another marked
//! `retire = true` for a vendor swap, a journey changed — is read as soon as the file is quiet, and
//! if it loads, the daemon starts again from it in place: work in flight is finished and recorded,
//! then the pipeline is started from the new config (which starts a new sink's backfill). A config
//! that does not load is refused with its error, and the running configuration carries on.
//!
//! While a `[[freeze]]` of the running config is in force, an edit that loads is refused too: it
//! waits, and is applied when the freeze ends, or at once by `rapport config apply --force` (an
//! [`ApplyConfig`] request from the admin API, which also applies an edit outside a freeze).

use super::requests::ApplyConfig;
use crate::config::Config;
use notify::{Event, EventKind, RecursiveMode, Watcher};
use rapport_core::freeze::{self, Freeze};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long the file must be quiet before it is read (editors write in several steps).
const QUIET: Duration = Duration::from_millis(200);

/// How often an edit refused during a freeze looks whether the freeze has ended.
const FREEZE_RECHECK: Duration = Duration::from_secs(1);

/// The command that forces a config edit through a freeze.
const FORCE: &str = "rapport config apply --force";

/// Waits until the config file at `path` holds text other than `running` that loads (and no freeze
/// is in force, by `freeze_now`, unless an apply request forces it), and returns it loaded; `None`
/// once `shutdown` turns true (or if the file cannot be watched, which is logged).
pub async fn next_config(
    path: &Path,
    running: &str,
    freeze_now: impl Fn() -> Option<Freeze>,
    mut requests: Option<mpsc::UnboundedReceiver<ApplyConfig>>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<Config> {
    let path: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = path.parent()?.to_path_buf();
    let (events, mut incoming) = mpsc::unbounded_channel();
    let watched = path.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        if let Ok(event) = event {
            if !matches!(event.kind, EventKind::Access(_)) && event.paths.contains(&watched) {
                let _ = events.send(());
            }
        }
    })
    .and_then(|mut watcher| {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    });
    let _watcher = match watcher {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::error!(error = %e, config = %path.display(),
                "cannot watch the config file: config changes need a restart");
            let _ = shutdown.changed().await;
            return None;
        }
    };
    // The text last looked at (so one refusal is logged once), and whether it waits for a freeze.
    let mut seen = running.to_string();
    let mut frozen = false;
    loop {
        let recheck = async {
            match frozen {
                true => tokio::time::sleep(FREEZE_RECHECK).await,
                false => std::future::pending().await,
            }
        };
        let asked = async {
            match requests.as_mut() {
                Some(requests) => requests.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = incoming.recv() => {
                event?;
                while let Ok(Some(())) = tokio::time::timeout(QUIET, incoming.recv()).await {}
            }
            request = asked => {
                let Some(request) = request else {
                    requests = None;
                    continue;
                };
                let (answer, next) = apply(&path, running, request.force, &freeze_now);
                let _ = request.reply.send(answer);
                match next {
                    Some(config) => return Some(config),
                    None => continue,
                }
            }
            _ = recheck => {
                if freeze_now().is_some() {
                    continue;
                }
                tracing::info!("the freeze has ended: applying the config edit that waited for it");
                frozen = false;
                seen = running.to_string();
            }
            _ = shutdown.changed() => return None,
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text == seen {
            continue;
        }
        seen = text.clone();
        frozen = false;
        if text == running {
            continue;
        }
        match Config::load(&path) {
            Ok(config) => match freeze_now() {
                Some(freeze) => {
                    tracing::error!(
                        "{}; it waits, and applies when the freeze ends",
                        freeze::refusal(&freeze, "config change", FORCE)
                    );
                    frozen = true;
                }
                None => {
                    tracing::info!(config = %path.display(), "config changed: restarting the pipeline with it");
                    return Some(config);
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "config change refused; the running configuration carries on");
            }
        }
    }
}

/// Answers a request to apply the config file now: the answer for the asker, and the config to
/// restart with, if it is applied.
fn apply(
    path: &Path,
    running: &str,
    force: bool,
    freeze_now: &impl Fn() -> Option<Freeze>,
) -> (Result<String, String>, Option<Config>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return (Err(format!("cannot read {}: {e}", path.display())), None),
    };
    if text == running {
        let same = "the config file holds the running configuration: nothing to apply";
        return (Ok(same.into()), None);
    }
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => {
            return (
                Err(format!("{e}; the running configuration carries on")),
                None,
            )
        }
    };
    match (freeze_now(), force) {
        (Some(freeze), false) => (Err(freeze::refusal(&freeze, "config change", FORCE)), None),
        (frozen, _) => {
            let through = match frozen {
                Some(freeze) => format!(" (forced through {})", freeze.describe()),
                None => String::new(),
            };
            tracing::warn!(config = %path.display(), "config applied on request{through}: restarting the pipeline with it");
            let done = format!(
                "applying {}{through}: the daemon restarts its pipeline with it",
                path.display()
            );
            (Ok(done), Some(config))
        }
    }
}
