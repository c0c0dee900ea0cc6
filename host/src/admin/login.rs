//! The login form for browsers: an operator pastes a token once, and gets a session cookie
//! (HttpOnly, SameSite=Strict, Secure when served over TLS) that stands for it for a while; the
//! token itself never sits in the browser. Logging out ends the session.

use super::auth::{self, SESSION_COOKIE};
use super::html::escape;
use super::openapi::{ErrorBody, PUBLIC};
use super::tokens::{self, Role};
use super::{error, AdminState};
use axum::extract::{FromRequest as _, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/login", get(form).post(login))
        .route("/logout", post(logout))
}

/// `?next=/path`: where the form goes after logging in (the staff page sends people here so).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FormQuery {
    /// A path on this server to go to after logging in.
    next: Option<String>,
}

/// The login form.
#[utoipa::path(get, path = "/login", tag = PUBLIC, params(FormQuery),
    responses((status = 200, description = "The form", body = String, content_type = "text/html")))]
pub(super) async fn form(Query(query): Query<FormQuery>) -> Html<String> {
    Html(page("", query.next.as_deref()))
}

/// The form, saying `message`, going on to `next` (a local path) once logged in.
fn page(message: &str, next: Option<&str>) -> String {
    let next = match next {
        Some(_) => format!(
            "<input type=hidden name=next value=\"{}\">",
            escape(local_path(next))
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><meta charset=utf-8><title>rapport: log in</title>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <body style=\"font:1.4rem system-ui,sans-serif;margin:2rem\">\
         <form method=post action=/login>\
         <p>{message}</p>{next}\
         <label>Token <input name=token type=password autocomplete=off required \
         style=\"font:inherit\"></label> <button style=\"font:inherit\">Log in</button></form>"
    )
}

#[derive(Deserialize, ToSchema)]
pub(super) struct LoginForm {
    token: String,
    /// Where to go after logging in: a path on this server.
    next: Option<String>,
}

/// A path on this server to go to after logging in (never another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/api/summary",
    }
}

fn cookie(state: &AdminState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.server.tls.is_some() || state.server.tls_proxy {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a session cookie is a valid header value")
}

/// Logs in with a token: a session cookie, and off to `next`.
#[utoipa::path(post, path = "/login", tag = PUBLIC,
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Logged in: a session cookie, and a redirect to `next` (by default /api/summary)"),
        (status = 401, description = "The form again, saying the token is not valid", body = String, content_type = "text/html"),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn login(State(state): State<AdminState>, request: Request) -> Response {
    // A login posted from another site is refused too (login CSRF); the guard already refused a
    // foreign Origin, and a browser that says where it posted from must say this server.
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site != "same-origin" && site != "none");
    if cross_site {
        return error(
            StatusCode::FORBIDDEN,
            "a login must be posted from this server's own login page".into(),
        );
    }
    let form = match Form::<LoginForm>::from_request(request, &state).await {
        Ok(Form(form)) => form,
        Err(rejection) => return rejection.into_response(),
    };
    let holder = match tokens::check(&state.store, form.token.trim()).await {
        Ok(Some(holder)) if matches!(holder.role, Role::Admin | Role::Staff) => holder,
        Ok(_) => {
            return (
                StatusCode::UNAUTHORIZED,
                Html(page(
                    "That token is not an admin or staff token in force.",
                    form.next.as_deref(),
                )),
            )
                .into_response()
        }
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    match tokens::start_session(&state.store, &holder).await {
        Ok(session) => {
            let max_age = tokens::SESSION_LIFETIME.as_secs();
            let mut response = (
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    local_path(form.next.as_deref()).to_string(),
                )],
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, cookie(&state, &session, max_age));
            response
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Ends the session and goes back to the login form.
#[utoipa::path(post, path = "/logout", tag = PUBLIC,
    responses(
        (status = 303, description = "The session is ended; a redirect to /login"),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn logout(State(state): State<AdminState>, request: Request) -> Response {
    if !auth::from_own_pages(&request) {
        return error(
            StatusCode::FORBIDDEN,
            "a logout must be posted from this server's own pages".into(),
        );
    }
    if let Some(session) = auth::session_cookie(request.headers()) {
        if let Err(e) = tokens::end(&state.store, session).await {
            return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::{local_path, page};

    #[test]
    fn after_login_only_a_local_path_is_followed() {
        assert_eq!(local_path(Some("/api/plugins")), "/api/plugins");
        for next in [
            None,
            Some("//evil.example/"),
            Some("https://evil.example"),
            Some("/\\evil"),
        ] {
            assert_eq!(local_path(next), "/api/summary", "{next:?}");
        }
    }

    #[test]
    fn the_form_carries_a_local_next_path_escaped() {
        assert!(page("", Some("/staff")).contains("name=next value=\"/staff\""));
        assert!(page("", Some("/a\"><script>")).contains("value=\"/a&quot;&gt;&lt;script&gt;\""));
        assert!(page("", Some("//evil.example")).contains("value=\"/api/summary\""));
        assert!(!page("", None).contains("name=next"));
    }
}
