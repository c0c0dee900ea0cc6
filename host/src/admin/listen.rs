//! Serving the HTTP surface on `server.listen`: plain HTTP, or HTTPS with rustls from the
//! configured PEM files, through axum-server; hyper drops a client that is slow to send its
//! headers, and tower-http one slow to send its body. Shutdown lets requests in flight finish.

use crate::config::ServerConfig;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// Longest a request in flight may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the HTTP server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("cannot load the TLS certificate {cert} and key {key} of [server] tls: {source}", cert = .cert.display(), key = .key.display())]
    Tls {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// The bound listener, with its TLS setup loaded: what can fail is found before the daemon starts
/// its work.
pub struct Listener {
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    header_timeout: Duration,
    body_timeout: Duration,
}

impl Listener {
    /// Binds `server.listen` and loads the TLS certificate and key if `[server] tls` names them.
    pub async fn bind(server: &ServerConfig) -> Result<Listener, ListenError> {
        let listener =
            std::net::TcpListener::bind(&server.listen).map_err(|source| ListenError::Bind {
                listen: server.listen.clone(),
                source,
            })?;
        let tls = match &server.tls {
            Some(tls) => Some(
                RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                    .await
                    .map_err(|source| ListenError::Tls {
                        cert: tls.cert.clone(),
                        key: tls.key.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        Ok(Listener {
            listener,
            tls,
            header_timeout: Duration::from_millis(server.header_timeout_ms),
            body_timeout: Duration::from_millis(server.body_timeout_ms),
        })
    }

    /// Serves `app` until `shutdown` turns true.
    pub async fn serve(
        self,
        app: Router,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ListenError> {
        let app = app.layer(RequestBodyTimeoutLayer::new(self.body_timeout));
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
        });
        let service = app.into_make_service();
        let served = match self.tls {
            Some(config) => {
                let mut https = axum_server::from_tcp_rustls(self.listener, config)
                    .map_err(ListenError::Serve)?
                    .handle(handle)
                    .first_request_timeout(self.header_timeout);
                https
                    .http_builder()
                    .http1()
                    .header_read_timeout(self.header_timeout);
                https.serve(service).await
            }
            None => {
                let mut http = axum_server::from_tcp(self.listener)
                    .map_err(ListenError::Serve)?
                    .handle(handle)
                    .first_request_timeout(self.header_timeout);
                http.http_builder()
                    .http1()
                    .header_read_timeout(self.header_timeout);
                http.serve(service).await
            }
        };
        served.map_err(ListenError::Serve)
    }
}
