//! The daemon's watch on the plugins directories (the `notify` crate): a change under a connector's
//! plugin directory — an install renamed into place, or files copied in — reloads every connector
//! running it, once the directory has been quiet for `runtime.reload_debounce_ms`, so a file still
//! being written is not loaded half-way (and if it was, the refusal is followed by another try when
//! the writing ends). A directory whose new version is held for approval is tried again every
//! [`HELD_RETRY`], so an approval recorded in the store takes effect without a file change.

use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// How often a directory whose new version is held for approval is tried again.
pub const HELD_RETRY: Duration = Duration::from_secs(1);

/// Watches the parents of `plugin_dirs` until `shutdown` turns true, and calls `reload` with each
/// plugin directory whose files changed once it has been quiet for `quiet`, and again every
/// [`HELD_RETRY`] while `reload` says a version there is held for approval. If the watch cannot be
/// set up, the daemon runs on without hot reload and says so.
pub async fn run<F, Fut>(
    plugin_dirs: BTreeSet<PathBuf>,
    quiet: Duration,
    mut shutdown: watch::Receiver<bool>,
    reload: F,
) where
    F: Fn(PathBuf) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (events, mut incoming) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let _ = events.send(event);
    })
    .and_then(|mut watcher| {
        for parent in plugin_dirs.iter().filter_map(|d| d.parent()) {
            watcher.watch(parent, RecursiveMode::Recursive)?;
        }
        Ok(watcher)
    });
    let _watcher = match watcher {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch the plugins directories: new plugin versions need a restart");
            return;
        }
    };
    tracing::info!(dirs = ?plugin_dirs, "watching plugin directories for new versions");
    let mut held: BTreeSet<PathBuf> = BTreeSet::new();
    // What changed while nothing watched (a version held across a restart of the pipeline, or
    // files dropped while it started) is looked at once now; unchanged files are left as they are.
    for dir in &plugin_dirs {
        if reload(dir.clone()).await {
            held.insert(dir.clone());
        }
    }
    loop {
        let mut changed = BTreeSet::new();
        let retry = async {
            match held.is_empty() {
                true => std::future::pending().await,
                false => tokio::time::sleep(HELD_RETRY).await,
            }
        };
        tokio::select! {
            event = incoming.recv() => match event {
                Some(event) => changed.extend(affected(&plugin_dirs, event)),
                None => return,
            },
            _ = retry => {
                for dir in std::mem::take(&mut held) {
                    let span = tracing::debug_span!("held", dir = %dir.display());
                    if reload(dir.clone()).instrument(span).await {
                        held.insert(dir);
                    }
                }
                continue;
            }
            _ = shutdown.changed() => return,
        }
        if changed.is_empty() {
            continue;
        }
        let first_change = Instant::now();
        while let Ok(Some(event)) = tokio::time::timeout(quiet, incoming.recv()).await {
            changed.extend(affected(&plugin_dirs, event));
        }
        for dir in changed {
            let span = tracing::info_span!("reload", dir = %dir.display());
            span.in_scope(|| {
                tracing::info!(
                    since_change_ms = first_change.elapsed().as_millis() as u64,
                    "plugin files changed"
                )
            });
            match reload(dir.clone()).instrument(span).await {
                true => held.insert(dir),
                false => held.remove(&dir),
            };
        }
    }
}

/// The plugin directories an event touched. Reads and errors touch nothing (errors are logged).
fn affected(plugin_dirs: &BTreeSet<PathBuf>, event: notify::Result<Event>) -> Vec<PathBuf> {
    match event {
        Ok(event) if matches!(event.kind, EventKind::Access(_)) => Vec::new(),
        Ok(event) => event
            .paths
            .iter()
            .filter_map(|path| owner(plugin_dirs, path))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "plugin directory watch reported an error");
            Vec::new()
        }
    }
}

/// The plugin directory `path` is (or is inside), if any.
fn owner(plugin_dirs: &BTreeSet<PathBuf>, path: &Path) -> Option<PathBuf> {
    plugin_dirs.iter().find(|d| path.starts_with(d)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    #[test]
    fn only_changes_inside_a_plugin_directory_count() {
        let dirs: BTreeSet<PathBuf> = ["/p/http-sink", "/p/csv-source"].map(PathBuf::from).into();
        let event = |kind, paths: &[&str]| {
            Ok(paths
                .iter()
                .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p))))
        };
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(
            affected(
                &dirs,
                event(rename, &["/p/.installing-http-sink-x1", "/p/http-sink"])
            ),
            [PathBuf::from("/p/http-sink")]
        );
        assert_eq!(
            affected(
                &dirs,
                event(
                    EventKind::Create(CreateKind::File),
                    &["/p/csv-source/plugin.wasm"]
                )
            ),
            [PathBuf::from("/p/csv-source")]
        );
        assert!(affected(
            &dirs,
            event(
                EventKind::Create(CreateKind::File),
                &["/p/http-sink-old/plugin.wasm"]
            )
        )
        .is_empty());
        assert!(affected(
            &dirs,
            event(
                EventKind::Access(notify::event::AccessKind::Any),
                &["/p/http-sink/plugin.wasm"]
            )
        )
        .is_empty());
    }
}
