//! A file host for POS exports: serves named files over HTTP, as a shop's export link would, with
//! the simulators' switchable faults.

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Files {
    files: Mutex<HashMap<String, Vec<u8>>>,
    requests: AtomicUsize,
    faults: FaultPlan,
}

/// Serves `GET /exports/{name}`.
pub struct ExportServer {
    running: Running,
    files: Arc<Files>,
}

impl ExportServer {
    pub async fn start() -> std::io::Result<ExportServer> {
        let files = Arc::new(Files::default());
        let app = Router::new()
            .route("/exports/{name}", get(fetch))
            .with_state(files.clone());
        Ok(ExportServer {
            running: serve(app, 0).await?,
            files,
        })
    }

    /// Publishes (or replaces) a file; returns its URL.
    pub fn publish(&self, name: &str, bytes: impl Into<Vec<u8>>) -> String {
        self.files
            .files
            .lock()
            .expect("files lock")
            .insert(name.to_string(), bytes.into());
        format!("{}/exports/{name}", self.running.base_url())
    }

    pub fn requests(&self) -> usize {
        self.files.requests.load(Ordering::SeqCst)
    }

    /// Faults to inject into the next downloads (a status answers with a plain-text body).
    pub fn faults(&self) -> &FaultPlan {
        &self.files.faults
    }
}

async fn fetch(State(files): State<Arc<Files>>, Path(name): Path<String>) -> Response {
    files.requests.fetch_add(1, Ordering::SeqCst);
    let injected = (files.faults)
        .intercept(|status| ("text/plain", format!("injected failure ({status})")))
        .await;
    if let Some(response) = injected {
        return response;
    }
    let file = files.files.lock().expect("files lock").get(&name).cloned();
    file.ok_or(StatusCode::NOT_FOUND).into_response()
}
