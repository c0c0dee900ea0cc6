//! The host's HTTP face: webhook intake for sources (acknowledged only once durable), a health check,
//! a JSON summary for operators, and the plugin routes (`plugins`).

mod plugins;

use crate::connectors::Connectors;
use crate::ingest::push::{Intake, PushError, Wakers};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rapport_store::Store;
use serde_json::json;
use std::sync::Arc;

/// Largest webhook body accepted.
const MAX_WEBHOOK_BYTES: usize = 32 << 20;

/// What the HTTP handlers may reach: the store's read-outs, the connectors' controls, the intake of
/// pushed input, and the delivery workers' doorbells.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub connectors: Arc<Connectors>,
    pub intake: Arc<Intake>,
    pub wakers: Wakers,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/summary", get(summary))
        .route("/api/backfills", get(backfills))
        .merge(plugins::routes())
        .route("/webhooks/{source}", post(webhook))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        .with_state(state)
}

async fn summary(State(state): State<AdminState>) -> Response {
    match state.store.summary().await {
        Ok(summary) => Json(summary).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Each sink's backfill: profiles queued when it joined, and how many it still owes.
async fn backfills(State(state): State<AdminState>) -> Response {
    match state.store.backfills().await {
        Ok(backfills) => Json(backfills).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn webhook(
    State(state): State<AdminState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    match state
        .intake
        .receive_push(&source, headers, body.to_vec())
        .await
    {
        Ok(report) => Json(json!({
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
        }))
        .into_response(),
        Err(e) => {
            let status = match &e {
                PushError::UnknownSource(_) => StatusCode::NOT_FOUND,
                PushError::Auth(_) => StatusCode::UNAUTHORIZED,
                PushError::Invalid { .. } => StatusCode::BAD_REQUEST,
                PushError::Unavailable(_) | PushError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(source = %source, error = %e, "webhook refused");
            error(status, e.to_string())
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
