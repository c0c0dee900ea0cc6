//! The admin API's plugin routes, which `rapport plugin list | rollback | disable | enable` call:
//! every connector's generations and health, and the operator's rollback, disable and enable.

use super::{error, AdminState};
use crate::reload::control::{self, ControlError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route(
            "/api/plugins",
            get(|State(state): State<AdminState>| async move { Json(state.connectors.reports()) }),
        )
        .route("/api/plugins/{target}/rollback", post(rollback))
        .route("/api/plugins/{target}/disable", post(disable))
        .route("/api/plugins/{target}/enable", post(enable))
}

#[derive(Deserialize)]
struct RollbackQuery {
    to: Option<u64>,
}

async fn rollback(
    State(state): State<AdminState>,
    Path(target): Path<String>,
    Query(query): Query<RollbackQuery>,
) -> Response {
    answer(control::rollback(&state.connectors, &target, query.to))
}

async fn disable(State(state): State<AdminState>, Path(target): Path<String>) -> Response {
    answer(control::set_disabled(&state.connectors, &target, true))
}

async fn enable(State(state): State<AdminState>, Path(target): Path<String>) -> Response {
    let result = control::set_disabled(&state.connectors, &target, false);
    // Work that waited while the sink was disabled is due now.
    state.wakers.wake_all();
    answer(result)
}

fn answer<T: serde::Serialize>(result: Result<T, ControlError>) -> Response {
    match result {
        Ok(done) => Json(done).into_response(),
        Err(e @ ControlError::Unknown { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ControlError::Rollback { .. }) => error(StatusCode::CONFLICT, e.to_string()),
    }
}
