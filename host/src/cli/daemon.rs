//! A client of the running daemon's admin API, for the commands that act on the daemon itself
//! (`rapport plugin list | rollback | disable | enable`). It finds the daemon at the config's
//! `server.listen`.

use anyhow::Context as _;
use rapport_host::config::Config;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The daemon a config describes.
pub struct Daemon {
    base: String,
    client: reqwest::Client,
}

impl Daemon {
    pub fn from_config(path: &Path) -> anyhow::Result<Daemon> {
        let config = Config::load(path)?;
        let mut listen: SocketAddr = config
            .server
            .listen
            .parse()
            .context("server.listen is not host:port")?;
        if listen.ip().is_unspecified() {
            listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Daemon {
            base: format!("http://{listen}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.answer(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.answer(self.client.post(self.url(path))).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| {
            format!(
                "no rapport daemon answers at {} (is `rapport run` running with this config?)",
                self.base
            )
        })?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| {
            format!("the daemon at {} answered {status} without JSON", self.base)
        })?;
        if !status.is_success() {
            anyhow::bail!(
                "{}",
                body["error"]
                    .as_str()
                    .map_or_else(|| format!("the daemon answered {status}"), str::to_string)
            );
        }
        Ok(body)
    }
}
