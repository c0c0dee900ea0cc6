//! The profile routes: one person's staff or marketer view (by profile key, or looked up by email,
//! phone or loyalty number), their service issues, and the shop's segments. Staff tokens see the
//! staff view and may open and close issues; everything else needs an admin token.

use super::openapi::{ErrorBody, ADMIN, STAFF};
use super::{error, AdminState};
use crate::admin::tokens::Role;
use crate::lookup::{find_one, LookupError, LOYALTY_PREFIX};
use crate::profiles::segments::segments;
use crate::profiles::view::{self, ViewKind, ViewRules};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono_tz::Tz;
use rapport_core::identity::Normalizer;
use rapport_core::profile::tiers::Tier;
use rapport_store::FoundProfile;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The shop's rules the profile routes apply: how people are looked up, the loyalty tiers, and the
/// shop's time zone.
pub struct PeopleRules {
    pub normalizer: Normalizer,
    pub tiers: Vec<Tier>,
    pub zone: Tz,
}

/// Routes staff may use (the handlers refuse the marketer view to them).
pub fn staff_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/profiles", get(lookup))
        .route("/api/profiles/{key}", get(by_key))
        .route("/api/profiles/{key}/issues", post(issues))
}

/// Routes for admins only.
pub fn admin_routes() -> Router<AdminState> {
    Router::new().route("/api/segments", get(list_segments))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ViewQuery {
    /// `staff` (the default) or `marketer` (admin only).
    #[serde(default)]
    #[param(inline)]
    view: ViewKind,
}

/// Exactly one of `email`, `phone` and `loyalty`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct LookupQuery {
    email: Option<String>,
    phone: Option<String>,
    /// The loyalty number.
    loyalty: Option<String>,
    /// `staff` (the default) or `marketer` (admin only).
    #[serde(default)]
    #[param(inline)]
    view: ViewKind,
}

/// One person's staff or marketer view, by profile key.
#[utoipa::path(get, path = "/api/profiles/{key}", tag = STAFF,
    params(("key" = String, Path, description = "The profile key, p-…"), ViewQuery),
    responses(
        (status = 200, description = "The staff view, or the marketer view for an admin", body = Object),
        (status = 400, description = "Not a profile key", body = ErrorBody),
        (status = 403, description = "The marketer view on a staff token", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody)))]
pub(super) async fn by_key(
    State(state): State<AdminState>,
    Extension(role): Extension<Role>,
    Path(key): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Response {
    if !key.starts_with("p-") {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{key:?} is not a profile key (they look like p-…); look people up with /api/profiles?email=…, ?phone=… or ?loyalty=…"),
        );
    }
    show(&state, &role, &key, query.view).await
}

/// One person's staff or marketer view, looked up by email, phone or loyalty number.
#[utoipa::path(get, path = "/api/profiles", tag = STAFF, params(LookupQuery),
    responses(
        (status = 200, description = "The staff view, or the marketer view for an admin", body = Object),
        (status = 400, description = "Not exactly one of email, phone and loyalty, or one that is malformed", body = ErrorBody),
        (status = 403, description = "The marketer view on a staff token", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody)))]
pub(super) async fn lookup(
    State(state): State<AdminState>,
    Extension(role): Extension<Role>,
    Query(query): Query<LookupQuery>,
) -> Response {
    let who = match (query.email, query.phone, query.loyalty) {
        (Some(email), None, None) if email.contains('@') => email,
        (Some(email), None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("email {email:?} is not an email address"),
            )
        }
        (None, Some(phone), None) if !phone.contains(':') && !phone.starts_with("p-") => phone,
        (None, None, Some(number)) => format!("{LOYALTY_PREFIX}{number}"),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "look a person up by exactly one of email=…, phone=… or loyalty=…".into(),
            )
        }
    };
    show(&state, &role, &who, query.view).await
}

/// The one profile `who` names, or the response saying why there is none.
async fn found(state: &AdminState, who: &str) -> Result<FoundProfile, Response> {
    find_one(&state.store, &state.people.normalizer, who)
        .await
        .map_err(|e| match e {
            LookupError::Store(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            LookupError::Unknown(_) => error(StatusCode::NOT_FOUND, "no such person".into()),
            e => error(StatusCode::BAD_REQUEST, e.to_string()),
        })
}

async fn show(state: &AdminState, role: &Role, who: &str, kind: ViewKind) -> Response {
    if kind == ViewKind::Marketer && *role != Role::Admin {
        return error(
            StatusCode::FORBIDDEN,
            "the marketer view needs an admin token; staff tokens see view=staff".into(),
        );
    }
    let person = match found(state, who).await {
        Ok(person) => person,
        Err(response) => return response,
    };
    let rules = ViewRules {
        tiers: &state.people.tiers,
        zone: state.people.zone,
        now: state.clock.now(),
    };
    let loaded = match view::load(&state.store, person.id, kind, &rules).await {
        Ok(loaded) => loaded,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    match kind {
        ViewKind::Staff => Json(view::staff(&loaded, &rules)).into_response(),
        ViewKind::Marketer => Json(view::marketer(&loaded, &rules)).into_response(),
    }
}

/// `{"open": "title"}` opens an issue; `{"close": id}` closes one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum IssueChange {
    Open(String),
    Close(i64),
}

/// The answer to an issue change.
#[derive(Serialize, ToSchema)]
pub(super) struct IssueState {
    id: i64,
    /// Whether the issue is open now.
    open: bool,
}

/// Opens or closes one of a person's service issues.
#[utoipa::path(post, path = "/api/profiles/{key}/issues", tag = STAFF,
    params(("key" = String, Path, description = "The profile key, p-…")),
    request_body = IssueChange,
    responses(
        (status = 201, description = "Opened", body = IssueState),
        (status = 200, description = "Closed", body = IssueState),
        (status = 400, description = "Not a profile key, or a body that is neither change", body = ErrorBody),
        (status = 404, description = "No such person, or no such open issue", body = ErrorBody)))]
pub(super) async fn issues(
    State(state): State<AdminState>,
    Extension(role): Extension<Role>,
    Path(key): Path<String>,
    body: Result<Json<IssueChange>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(change)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"open\": \"what is wrong\"} to open an issue or {\"close\": ID} to close one"
                .into(),
        );
    };
    let person = match found(&state, &key).await {
        Ok(person) if key.starts_with("p-") => person,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{key:?} is not a profile key"),
            )
        }
        Err(response) => return response,
    };
    let now = state.clock.now_ms();
    let by = role.to_string();
    match change {
        IssueChange::Open(title) if title.trim().is_empty() => error(
            StatusCode::BAD_REQUEST,
            "an issue needs a title saying what is wrong".into(),
        ),
        IssueChange::Open(title) => {
            match state
                .store
                .open_issue(person.id, title.trim(), &by, now)
                .await
            {
                Ok(id) => {
                    (StatusCode::CREATED, Json(IssueState { id, open: true })).into_response()
                }
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            }
        }
        IssueChange::Close(id) => match state.store.close_issue(person.id, id, &by, now).await {
            Ok(true) => Json(IssueState { id, open: false }).into_response(),
            Ok(false) => error(
                StatusCode::NOT_FOUND,
                format!("{key} has no open issue {id}"),
            ),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
    }
}

/// The shop's segments and how many people are in each.
#[utoipa::path(get, path = "/api/segments", tag = ADMIN,
    responses((status = 200, body = Object), (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn list_segments(State(state): State<AdminState>) -> Response {
    match segments(&state.store).await {
        Ok(found) => Json(found).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
