//! The host's HTTP face: webhook intake for sources (acknowledged only once durable, each source's
//! route bounded in `webhooks`), a health check, a JSON summary for operators, the plugin routes
//! (`plugins`), the operations figures as JSON (`operations`) and as Prometheus text at `/metrics`
//! (`prometheus`), the profile and segment routes (`profiles`), the staff cues (`cues`), the
//! counter's tablet page (`staff`), the operator's dashboard at `/` (`dashboard`), the login form
//! (`login`) and the customers' preference page (`preferences`, whose signed link is its
//! credential). Every request passes the Host and Origin `guard`; every route but `/health`, the
//! login form, the tablet page's and the dashboard's stylesheets and scripts, the preference page
//! and signed vendor webhooks needs a token (`auth`, `tokens`). `listen` serves it, over TLS when
//! configured.

pub mod auth;
mod cues;
mod dashboard;
pub mod guard;
mod html;
pub mod listen;
mod login;
mod metrics;
mod openapi;
mod operations;
mod plugins;
mod preferences;
pub mod profiles;
mod prometheus;
mod staff;
pub mod tokens;
mod webhooks;

use crate::config::ServerConfig;
use crate::connectors::Connectors;
use crate::ingest::push::{Intake, Wakers};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use openapi::ErrorBody;
use rapport_store::Store;
use serde_json::json;
use std::sync::Arc;

/// What the HTTP handlers may reach: the store's read-outs, the connectors' controls, the intake of
/// pushed input, the delivery workers' doorbells, and the `[server]` rules and the plugin memory
/// limit the routes are bounded by.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub connectors: Arc<Connectors>,
    pub intake: Arc<Intake>,
    pub wakers: Wakers,
    pub server: Arc<ServerConfig>,
    /// `runtime.memory_limit_mib`: a source's default body limit is a quarter of it.
    pub memory_limit_mib: u64,
    /// How the profile routes look people up and read their profiles.
    pub people: Arc<profiles::PeopleRules>,
    /// What time it is.
    pub clock: rapport_core::clock::SharedClock,
    /// The preference page people reach by a signed link, without logging in.
    pub preferences: Arc<crate::preferences::Preferences>,
    /// The configured journeys, whose entries, windows and experiments the metrics read.
    pub journeys: Arc<[rapport_core::journeys::Journey]>,
    /// Changes asked of the daemon now: apply the config file, reload a plugin.
    pub requests: Arc<crate::reload::requests::Requests>,
}

pub fn router(state: AdminState) -> Router {
    let admin = Router::new()
        .route("/api/summary", get(summary))
        .route("/api/backfills", get(backfills))
        .merge(plugins::routes())
        .merge(profiles::admin_routes())
        .merge(metrics::routes())
        .merge(operations::routes())
        .merge(prometheus::routes())
        .merge(openapi::routes())
        .merge(dashboard::admin_routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    let staff = (profiles::staff_routes().merge(cues::staff_routes())).route_layer(
        middleware::from_fn_with_state(state.clone(), auth::require_staff),
    );
    let rules = Arc::new(guard::HostRules::new(&state.server));
    Router::new()
        .route("/health", get(health))
        .merge(preferences::routes())
        .merge(login::routes())
        .merge(staff::routes())
        .merge(dashboard::routes())
        .merge(admin)
        .merge(staff)
        .merge(webhooks::routes(&state))
        .layer(middleware::from_fn_with_state(rules, guard::check))
        .with_state(state)
}

/// `{"status": "ok"}` while the host answers.
#[utoipa::path(get, path = "/health", tag = openapi::PUBLIC,
    responses((status = 200, description = "The host answers", body = Object, example = json!({"status": "ok"}))))]
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// What the store holds, in numbers.
#[utoipa::path(get, path = "/api/summary", tag = openapi::ADMIN,
    responses((status = 200, description = "Orders, refunds, profiles and each sink's figures", body = Object),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
async fn summary(State(state): State<AdminState>) -> Response {
    match state.store.summary().await {
        Ok(summary) => Json(summary).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Each sink's backfill: profiles queued when it joined, and how many it still owes.
#[utoipa::path(get, path = "/api/backfills", tag = openapi::ADMIN,
    responses((status = 200, body = [rapport_store::Backfill]),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
async fn backfills(State(state): State<AdminState>) -> Response {
    match state.store.backfills().await {
        Ok(backfills) => Json(backfills).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { error: message })).into_response()
}
