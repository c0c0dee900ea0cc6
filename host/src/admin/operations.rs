//! `GET /api/operations`: every connector's operations figures (sync latency, error budget,
//! backlog, dead letters, rate-limit waits, plugin generation and health) as JSON, at the host's
//! clock. Behind the admin token, like the rest of `/api`.

use super::openapi::{ErrorBody, ADMIN};
use super::{error, AdminState};
use crate::operations::{self, OperationsReport};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AdminState> {
    Router::new().route("/api/operations", get(figures))
}

/// Every connector's operations figures.
#[utoipa::path(get, path = "/api/operations", tag = ADMIN,
    responses(
        (status = 200, description = "Sync latency, error budget, backlog, dead letters, rate-limit waits, generation and health", body = Object),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn figures(State(state): State<AdminState>) -> Response {
    match read(&state).await {
        Ok(report) => Json(report).into_response(),
        Err(unavailable) => unavailable,
    }
}

/// The figures now, or the answer that says why they cannot be read.
pub(super) async fn read(state: &AdminState) -> Result<OperationsReport, Response> {
    operations::read(&state.store, &state.connectors, state.clock.now())
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}
