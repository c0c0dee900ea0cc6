//! The daemon's watch on its own config file: an edited config — a sink added and another marked
//! `retire = true` for a vendor swap, a journey changed — is read as soon as the file is quiet, and
//! if it loads, the daemon starts again from it in place: work in flight is finished and recorded,
//! then the pipeline is started from the new config (which starts a new sink's backfill). A config
//! that does not load is refused with its error, and the running configuration carries on.

use crate::config::Config;
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long the file must be quiet before it is read (editors write in several steps).
const QUIET: Duration = Duration::from_millis(200);

/// Waits until the config file at `path` holds text other than `current` that loads, and returns
/// it loaded; `None` once `shutdown` turns true (or if the file cannot be watched, which is logged).
pub async fn next_config(
    path: &Path,
    current: &str,
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
    let mut current = current.to_string();
    loop {
        tokio::select! {
            event = incoming.recv() => event?,
            _ = shutdown.changed() => return None,
        }
        while let Ok(Some(())) = tokio::time::timeout(QUIET, incoming.recv()).await {}
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text == current {
            continue;
        }
        match Config::load(&path) {
            Ok(config) => {
                tracing::info!(config = %path.display(), "config changed: restarting the pipeline with it");
                return Some(config);
            }
            Err(e) => {
                tracing::error!(error = %e, "config change refused; the running configuration carries on");
                current = text;
            }
        }
    }
}
