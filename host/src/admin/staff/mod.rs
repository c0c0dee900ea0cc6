//! The counter's tablet page, `/staff`: look a customer up by phone, email or loyalty number and
//! read their cues (`GET /api/cues`) in type large enough for a 10-inch screen. Its HTML, CSS and
//! script are compiled into the binary (no file to install, nothing from another site), and the
//! page is only served on a staff or admin session: anyone else gets the login form, which brings
//! them back here.

use super::auth::session_cookie;
use super::openapi::{ErrorBody, PUBLIC};
use super::tokens::{self, Role};
use super::{error, AdminState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("index.html");
const STYLE: &str = include_str!("staff.css");
const SCRIPT: &str = include_str!("staff.js");

/// The page's own files only: no inline script or style, no other site, no framing.
const POLICY: &str = concat!(
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; ",
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
);

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/staff", get(page))
        .route("/staff/staff.css", get(style))
        .route("/staff/staff.js", get(script))
}

/// The tablet page's stylesheet.
#[utoipa::path(get, path = "/staff/staff.css", tag = PUBLIC,
    responses((status = 200, body = String, content_type = "text/css")))]
pub(super) async fn style() -> Response {
    asset("text/css", STYLE)
}

/// The tablet page's script.
#[utoipa::path(get, path = "/staff/staff.js", tag = PUBLIC,
    responses((status = 200, body = String, content_type = "text/javascript")))]
pub(super) async fn script() -> Response {
    asset("text/javascript", SCRIPT)
}

pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// The counter's tablet page, on a staff or admin session.
#[utoipa::path(get, path = "/staff", tag = PUBLIC,
    responses(
        (status = 200, description = "The page, on a staff or admin session", body = String, content_type = "text/html"),
        (status = 303, description = "No session: off to the login form, which comes back here"),
        (status = 403, description = "A session of another role", body = ErrorBody)))]
pub(super) async fn page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    gated_page(
        &state,
        &headers,
        &[Role::Staff, Role::Admin],
        PAGE,
        "/staff",
    )
    .await
}

/// `html` on a session of one of the `roles`; another role is refused, and anyone without a
/// session is sent to the login form, which brings them back to `path`.
pub(super) async fn gated_page(
    state: &AdminState,
    headers: &HeaderMap,
    roles: &[Role],
    html: &'static str,
    path: &str,
) -> Response {
    let holder = match session_cookie(headers) {
        Some(session) => match tokens::check(&state.store, session).await {
            Ok(holder) => holder,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        None => None,
    };
    match holder.map(|h| h.role) {
        Some(role) if roles.contains(&role) => asset("text/html; charset=utf-8", html),
        Some(role) => error(
            StatusCode::FORBIDDEN,
            format!("a token with the role {role} may not use the page {path}"),
        ),
        None => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/login?next={path}"))],
        )
            .into_response(),
    }
}
