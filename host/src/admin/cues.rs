//! `GET /api/cues?identity=…`: the prompts for the person at the counter and their receipt footer
//! (`crate::profiles::cues`), for staff tokens and sessions as for admins. Names no contact detail.

use super::openapi::{ErrorBody, STAFF};
use super::{error, AdminState};
use crate::profiles::cues::{for_identity, CuesError};
use crate::profiles::view::ViewRules;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

/// Routes staff may use.
pub fn staff_routes() -> Router<AdminState> {
    Router::new().route("/api/cues", get(cues))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CuesQuery {
    /// The customer's email, phone or loyalty number.
    #[param(required = true)]
    identity: Option<String>,
}

const ASK: &str = "look a customer up with ?identity= and their email, phone or loyalty number";

/// The prompts for the person at the counter and their receipt footer.
#[utoipa::path(get, path = "/api/cues", tag = STAFF, params(CuesQuery),
    responses(
        (status = 200, description = "The cues; no contact detail", body = Object),
        (status = 400, description = "No identity, or one that is malformed", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody)))]
pub(super) async fn cues(
    State(state): State<AdminState>,
    query: Result<Query<CuesQuery>, QueryRejection>,
) -> Response {
    let identity = match query {
        Ok(Query(CuesQuery {
            identity: Some(identity),
        })) if !identity.trim().is_empty() => identity,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the parameter `identity` is missing: {ASK}"),
            )
        }
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{}: {ASK}", rejection.body_text()),
            )
        }
    };
    let rules = ViewRules {
        tiers: &state.people.tiers,
        zone: state.people.zone,
        now: state.clock.now(),
    };
    match for_identity(&state.store, &state.people.normalizer, &rules, &identity).await {
        Ok(cues) => Json(cues).into_response(),
        Err(e @ CuesError::Unknown(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ CuesError::Store(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
