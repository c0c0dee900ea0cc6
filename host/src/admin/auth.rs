//! Who may use a route: the admin API needs an admin token, as `Authorization: Bearer` or as the
//! browser session the login form set (a cookie, HttpOnly and SameSite=Strict); a state-changing
//! request on a session must show it comes from this server's own pages (CSRF). A push into a
//! source without a vendor signature needs that source's upload token (or an admin token).

use super::tokens::{self, Holder, Role};
use super::{error, guard, AdminState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The browser session cookie's name.
pub const SESSION_COOKIE: &str = "rapport_session";

/// How a credential came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Bearer,
    Session,
}

/// The bearer token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The session cookie's value, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The request's credential and who holds it; a bearer token wins over a cookie.
async fn holder(
    state: &AdminState,
    headers: &HeaderMap,
) -> Result<Option<(Holder, Via)>, Response> {
    let (secret, via) = match (bearer(headers), session_cookie(headers)) {
        (Some(token), _) => (token, Via::Bearer),
        (None, Some(session)) => (session, Via::Session),
        (None, None) => return Ok(None),
    };
    match tokens::check(&state.store, secret).await {
        Ok(found) => Ok(found.map(|h| (h, via))),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

fn unauthorized(message: String) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether a state-changing request shows it comes from this server's own pages: a browser's
/// `Sec-Fetch-Site: same-origin`, or an `Origin` that is the request's Host.
pub fn from_own_pages(request: &Request) -> bool {
    let fetch_site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if let Some(site) = fetch_site {
        return site == "same-origin";
    }
    guard::request_host(request)
        .and_then(|host| guard::same_origin(request, &host))
        .unwrap_or(false)
}

/// Lets a request through to the admin API only with an admin token or an admin's session; a
/// session's state-changing request only from this server's own pages.
pub async fn require_admin(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    require(&state, request, next, &[Role::Admin]).await
}

/// Lets a request through to the routes shop staff use (the staff view of a profile, its service
/// issues) with a staff or an admin token or session; the handler learns which from the request's
/// [`Role`] extension.
pub async fn require_staff(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    require(&state, request, next, &[Role::Admin, Role::Staff]).await
}

async fn require(state: &AdminState, mut request: Request, next: Next, roles: &[Role]) -> Response {
    let found = match holder(state, request.headers()).await {
        Ok(found) => found,
        Err(unavailable) => return unavailable,
    };
    let needed = match roles {
        [Role::Admin] => "an admin token",
        _ => "a staff or admin token",
    };
    match found {
        None => unauthorized(format!(
            "this route needs {needed}: send `Authorization: Bearer <token>` (`rapport token create --role admin|staff` makes one), or log in at /login"
        )),
        Some((holder, _)) if !roles.contains(&holder.role) => error(
            StatusCode::FORBIDDEN,
            format!("a token with the role {} may not use this route", holder.role),
        ),
        Some((_, Via::Session)) if !safe(request.method()) && !from_own_pages(&request) => error(
            StatusCode::FORBIDDEN,
            "a form post on a browser session must come from this server's own pages".into(),
        ),
        Some((holder, _)) => {
            request.extensions_mut().insert(holder.role);
            next.run(request).await
        }
    }
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Lets a push into `source` through with its upload token or an admin token, as
/// `Authorization: Bearer`.
pub async fn require_upload(
    state: &AdminState,
    source: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let token = bearer(headers).ok_or_else(|| {
        unauthorized(format!(
            "pushes into source `{source}` need its upload token, sent as `Authorization: Bearer <token>` (`rapport token create --role upload --source {source}` makes one)"
        ))
    })?;
    match tokens::check(&state.store, token).await {
        Ok(Some(Holder {
            role: Role::Admin, ..
        })) => Ok(()),
        Ok(Some(Holder {
            role: Role::Upload(s),
            ..
        })) if s == source => Ok(()),
        Ok(_) => Err(unauthorized(format!(
            "that token does not allow pushes into source `{source}`: send its upload token"
        ))),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()),
    }
}
