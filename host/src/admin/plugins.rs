//! The admin API's plugin routes, which `rapport plugin list | rollback | disable | enable` call:
//! every connector's generations and health, and the operator's rollback, disable and enable.

use super::error;
use crate::pipeline::Pipeline;
use crate::reload::control::{self, ControlError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Pipeline>> {
    Router::new()
        .route(
            "/api/plugins",
            get(|State(pipeline): State<Arc<Pipeline>>| async move {
                Json(pipeline.connectors.reports())
            }),
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
    State(pipeline): State<Arc<Pipeline>>,
    Path(target): Path<String>,
    Query(query): Query<RollbackQuery>,
) -> Response {
    answer(control::rollback(&pipeline.connectors, &target, query.to))
}

async fn disable(State(pipeline): State<Arc<Pipeline>>, Path(target): Path<String>) -> Response {
    answer(control::set_disabled(&pipeline.connectors, &target, true))
}

async fn enable(State(pipeline): State<Arc<Pipeline>>, Path(target): Path<String>) -> Response {
    let result = control::set_disabled(&pipeline.connectors, &target, false);
    // Work that waited while the sink was disabled is due now.
    pipeline.wake_sinks();
    answer(result)
}

fn answer<T: serde::Serialize>(result: Result<T, ControlError>) -> Response {
    match result {
        Ok(done) => Json(done).into_response(),
        Err(e @ ControlError::Unknown { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ControlError::Rollback { .. }) => error(StatusCode::CONFLICT, e.to_string()),
    }
}
