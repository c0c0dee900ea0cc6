//! A client of the running daemon's admin API, for the commands that act on the daemon itself
//! (`rapport plugin list | rollback | disable | enable`). It finds the daemon at the config's
//! `server.listen` (over HTTPS when `[server] tls` is set, trusting that certificate), and
//! authenticates with `RAPPORT_TOKEN`, or else with a short-lived admin token it makes in the
//! database (whoever can open it can make tokens anyway) and deletes once answered.

use anyhow::Context as _;
use rapport_host::admin::tokens;
use rapport_host::config::Config;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The daemon a config describes.
pub struct Daemon {
    base: String,
    client: reqwest::Client,
    database_url: String,
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
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30));
        let (base, client) = match &config.server.tls {
            None => (format!("http://{listen}"), client),
            Some(tls) => {
                let pem = std::fs::read(&tls.cert)
                    .with_context(|| format!("reading [server] tls cert {}", tls.cert.display()))?;
                let name = config
                    .server
                    .hostnames
                    .first()
                    .map_or("localhost", String::as_str);
                (
                    format!("https://{name}:{}", listen.port()),
                    client
                        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
                        .resolve(name, listen),
                )
            }
        };
        Ok(Daemon {
            base,
            client: client.build()?,
            database_url: config.store.database_url,
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
        if let Ok(token) = std::env::var("RAPPORT_TOKEN") {
            return self.answer_as(request, &token).await;
        }
        let store = rapport_store::Store::open(&self.database_url).await?;
        let token = tokens::for_command(&store, "rapport plugin").await?;
        let answer = self.answer_as(request, &token).await;
        tokens::end(&store, &token).await?;
        store.close().await;
        answer
    }

    async fn answer_as(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> anyhow::Result<Value> {
        let response = request.bearer_auth(token).send().await.with_context(|| {
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
