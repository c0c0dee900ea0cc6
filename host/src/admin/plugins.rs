//! The admin API's plugin routes, which `rapport plugin list | rollback | disable | enable |
//! reload` call: every connector's generations and health, and the operator's rollback, disable,
//! enable and reload; and `rapport config apply`'s route. Reload and apply may be forced through a
//! `[[freeze]]`; rollback, disable and enable are how a change is undone, so a freeze never stops them.

use super::openapi::{ErrorBody, ADMIN};
use super::{error, AdminState};
use crate::reload::control::{self, ControlError, RolledBack, Switched};
use crate::reload::requests::PluginReloaded;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/plugins", get(list))
        .route("/api/plugins/{target}/rollback", post(rollback))
        .route("/api/plugins/{target}/disable", post(disable))
        .route("/api/plugins/{target}/enable", post(enable))
        .route("/api/plugins/{target}/reload", post(reload))
        .route("/api/config/apply", post(apply_config))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ForceQuery {
    /// Go through a `[[freeze]]` in force.
    #[serde(default)]
    force: bool,
}

/// Loads the plugin files of the connector, or of every connector running the plugin, now; a
/// freeze in force holds a new version unless `force`.
#[utoipa::path(post, path = "/api/plugins/{target}/reload", tag = ADMIN,
    params(("target" = String, Path, description = "A connector id, or a plugin name for every connector running it"), ForceQuery),
    responses((status = 200, body = [PluginReloaded]),
        (status = 404, description = "No connector or plugin of that name", body = ErrorBody),
        (status = 409, description = "The daemon cannot reload now", body = ErrorBody)))]
pub(super) async fn reload(
    State(state): State<AdminState>,
    Path(target): Path<String>,
    Query(query): Query<ForceQuery>,
) -> Response {
    if let Err(e) = control::resolve(&state.connectors, &target) {
        return answer::<()>(Err(e));
    }
    match state.requests.reload_plugin(&target, query.force).await {
        Ok(done) => Json(done).into_response(),
        Err(why) => error(StatusCode::CONFLICT, why),
    }
}

/// Applies the config file now (the daemon restarts its pipeline with it); a freeze in force
/// refuses it unless `force`.
#[utoipa::path(post, path = "/api/config/apply", tag = ADMIN, params(ForceQuery),
    responses((status = 200, description = "What was done", body = Object, example = json!({"done": "applying rapport.toml: the daemon restarts its pipeline with it"})),
        (status = 409, description = "Refused: a freeze is in force, the file does not load, or the daemon watches no config file", body = ErrorBody)))]
pub(super) async fn apply_config(
    State(state): State<AdminState>,
    Query(query): Query<ForceQuery>,
) -> Response {
    match state.requests.apply_config(query.force).await {
        Ok(done) => Json(serde_json::json!({ "done": done })).into_response(),
        Err(why) => error(StatusCode::CONFLICT, why),
    }
}

/// Every connector's generations and health.
#[utoipa::path(get, path = "/api/plugins", tag = ADMIN,
    responses((status = 200, description = "Each connector's report", body = [Object])))]
pub(super) async fn list(State(state): State<AdminState>) -> Response {
    Json(state.connectors.reports()).into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RollbackQuery {
    /// The generation to go back to; by default each connector's newest kept one older than live.
    to: Option<u64>,
}

/// Rolls the connector, or every connector running the plugin, back a generation.
#[utoipa::path(post, path = "/api/plugins/{target}/rollback", tag = ADMIN,
    params(("target" = String, Path, description = "A connector id, or a plugin name for every connector running it"), RollbackQuery),
    responses((status = 200, body = [RolledBack]),
        (status = 404, description = "No connector or plugin of that name", body = ErrorBody),
        (status = 409, description = "A connector cannot roll back", body = ErrorBody)))]
pub(super) async fn rollback(
    State(state): State<AdminState>,
    Path(target): Path<String>,
    Query(query): Query<RollbackQuery>,
) -> Response {
    answer(control::rollback(&state.connectors, &target, query.to))
}

/// Disables the connector, or every connector running the plugin.
#[utoipa::path(post, path = "/api/plugins/{target}/disable", tag = ADMIN, params(("target" = String, Path, description = "A connector id, or a plugin name for every connector running it")),
    responses((status = 200, body = [Switched]),
        (status = 404, description = "No connector or plugin of that name", body = ErrorBody)))]
pub(super) async fn disable(
    State(state): State<AdminState>,
    Path(target): Path<String>,
) -> Response {
    answer(control::set_disabled(&state.connectors, &target, true))
}

/// Enables the connector, or every connector running the plugin.
#[utoipa::path(post, path = "/api/plugins/{target}/enable", tag = ADMIN, params(("target" = String, Path, description = "A connector id, or a plugin name for every connector running it")),
    responses((status = 200, body = [Switched]),
        (status = 404, description = "No connector or plugin of that name", body = ErrorBody)))]
pub(super) async fn enable(
    State(state): State<AdminState>,
    Path(target): Path<String>,
) -> Response {
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
