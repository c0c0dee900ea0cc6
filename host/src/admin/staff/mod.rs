//! The counter's tablet page, `/staff`: look a customer up by phone, email or loyalty number and
//! read their cues (`GET /api/cues`) in type large enough for a 10-inch screen. Its HTML, CSS and
//! script are compiled into the binary (no file to install, nothing from another site), and the
//! page is only served on a staff or admin session: anyone else gets the login form, which brings
//! them back here.

use super::auth::session_cookie;
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
        .route(
            "/staff/staff.css",
            get(|| async { asset("text/css", STYLE) }),
        )
        .route(
            "/staff/staff.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
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

async fn page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let holder = match session_cookie(&headers) {
        Some(session) => match tokens::check(&state.store, session).await {
            Ok(holder) => holder,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        None => None,
    };
    match holder.map(|h| h.role) {
        Some(Role::Staff | Role::Admin) => asset("text/html; charset=utf-8", PAGE),
        Some(role) => error(
            StatusCode::FORBIDDEN,
            format!("a token with the role {role} may not use the staff page"),
        ),
        None => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/login?next=/staff")],
        )
            .into_response(),
    }
}
