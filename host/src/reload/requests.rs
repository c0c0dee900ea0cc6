//! What an operator asks the running daemon to change now, over the admin API, beside what it
//! watches by itself: apply the config file (`rapport config apply`) and load a connector's new
//! plugin files (`rapport plugin reload`), either forced through a `[[freeze]]`. The admin API
//! sends each request down a channel to the daemon loop that owns the change, and waits for its
//! answer; a pipeline run without that loop (a one-shot sync, a test) answers that it cannot.

use tokio::sync::{mpsc, oneshot, Mutex};

/// Apply the config file now; `force` goes through a freeze.
#[derive(Debug)]
pub struct ApplyConfig {
    pub force: bool,
    /// What was done, or why not.
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// Load `target`'s plugin files now (a connector id, or a plugin id for every connector running
/// it); `force` goes through a freeze.
#[derive(Debug)]
pub struct ReloadPlugin {
    pub target: String,
    pub force: bool,
    /// Each connector's outcome, or why nothing was tried.
    pub reply: oneshot::Sender<Result<Vec<PluginReloaded>, String>>,
}

/// One connector's outcome of a requested reload.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PluginReloaded {
    pub connector: String,
    /// `promoted`, `unchanged`, `held` or `refused`.
    pub outcome: String,
    /// The version now live, the version held, or why it was refused.
    pub detail: String,
}

/// One side of a channel the daemon loop takes when it starts.
struct Lane<T> {
    send: mpsc::UnboundedSender<T>,
    receive: Mutex<Option<mpsc::UnboundedReceiver<T>>>,
}

impl<T> Lane<T> {
    fn new() -> Self {
        let (send, receive) = mpsc::unbounded_channel();
        Lane {
            send,
            receive: Mutex::new(Some(receive)),
        }
    }

    async fn take(&self) -> Option<mpsc::UnboundedReceiver<T>> {
        self.receive.lock().await.take()
    }

    /// Sends `request` made with a reply channel, and waits for the answer.
    async fn ask<A>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<A, String>>) -> T,
        nobody: &str,
    ) -> Result<A, String> {
        if self.receive.lock().await.is_some() {
            return Err(nobody.to_string());
        }
        let (reply, answer) = oneshot::channel();
        self.send
            .send(request(reply))
            .map_err(|_| "the daemon is restarting its pipeline: ask again".to_string())?;
        answer
            .await
            .map_err(|_| "the daemon is restarting its pipeline: ask again".to_string())?
    }
}

/// The channels of one pipeline's requests.
pub struct Requests {
    config: Lane<ApplyConfig>,
    plugins: Lane<ReloadPlugin>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            config: Lane::new(),
            plugins: Lane::new(),
        }
    }
}

impl Requests {
    /// For the config-reload loop of `rapport run`; `None` once taken.
    pub async fn take_config(&self) -> Option<mpsc::UnboundedReceiver<ApplyConfig>> {
        self.config.take().await
    }

    /// For the daemon's plugin watch; `None` once taken.
    pub async fn take_plugins(&self) -> Option<mpsc::UnboundedReceiver<ReloadPlugin>> {
        self.plugins.take().await
    }

    /// Asks the config-reload loop to apply the config file now.
    pub async fn apply_config(&self, force: bool) -> Result<String, String> {
        let nobody = "this daemon was not started by `rapport run` from a config file";
        let request = |reply| ApplyConfig { force, reply };
        self.config.ask(request, nobody).await
    }

    /// Asks the plugin watch to load `target`'s plugin files now.
    pub async fn reload_plugin(
        &self,
        target: &str,
        force: bool,
    ) -> Result<Vec<PluginReloaded>, String> {
        let target = target.to_string();
        let request = |reply| ReloadPlugin {
            target,
            force,
            reply,
        };
        self.plugins
            .ask(request, "this daemon does not watch its plugins")
            .await
    }
}
