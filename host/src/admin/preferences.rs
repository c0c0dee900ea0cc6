//! `GET` and `POST /preferences/{token}`: the preference page a person reaches from a link in a
//! message, without logging in — the signed token is the credential (`crate::preferences`). A
//! token that opens nothing (malformed, tampered with, expired, or naming someone no longer held)
//! gets one and the same 404 page, which names nobody. The forms carry a hidden field only the
//! host can derive from the token, so a page on another site cannot post them (and the Host and
//! Origin guard runs first, as on every route); bodies are small and bounded. The HTML is rendered
//! here, escaped, with no external assets, readable on a phone.

use super::html::escape;
use super::openapi::PUBLIC;
use super::AdminState;
use crate::preferences::{Changes, Page, PageError, Saved};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use rapport_core::consent::preferences::{parse_quiet_hours, InvalidLink};
use rapport_core::model::{Channel, ConsentState};

/// The largest form body taken: a handful of short fields.
const MAX_BODY: usize = 8 * 1024;

/// The hidden field's name.
const GUARD: &str = "guard";

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/preferences/{token}", get(show).post(change))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A person's preference page; the signed token in the link is the credential.
#[utoipa::path(get, path = "/preferences/{token}", tag = PUBLIC, params(("token" = String, Path, description = "The signed link's token")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 404, description = "A token that opens nothing: one page naming nobody", body = String, content_type = "text/html")))]
pub(super) async fn show(State(state): State<AdminState>, Path(token): Path<String>) -> Response {
    match state.preferences.open(&token).await {
        Ok(page) => respond(StatusCode::OK, render(&state, &token, &page, None)),
        Err(e) => failed(e),
    }
}

/// Saves the page's form: consents per channel, quiet hours, or forgetting.
#[utoipa::path(post, path = "/preferences/{token}", tag = PUBLIC, params(("token" = String, Path, description = "The signed link's token")),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
        description = "The page's form, with its hidden `guard` field"),
    responses(
        (status = 200, description = "The page, saying what was saved", body = String, content_type = "text/html"),
        (status = 400, description = "A form that is not the page's", body = String, content_type = "text/html"),
        (status = 404, description = "A token that opens nothing", body = String, content_type = "text/html")))]
pub(super) async fn change(
    State(state): State<AdminState>,
    Path(token): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let page = match state.preferences.open(&token).await {
        Ok(page) => page,
        Err(e) => return failed(e),
    };
    let field = |name: &str| {
        (form.iter())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if !state
        .preferences
        .form_field_matches(&token, field(GUARD).unwrap_or_default())
    {
        tracing::warn!("a preference form without its page's hidden field was refused");
        return respond(
            StatusCode::FORBIDDEN,
            document(
                "Not saved",
                "<h1>Not saved</h1><p>This form did not come from your preference page. Open the \
                 link in the shop's message again and make your changes there.</p>",
            ),
        );
    }
    let outcome = match field("action") {
        Some("forget") => state
            .preferences
            .ask_to_forget(&token)
            .await
            .map(|asked| Notice::Forget { asked }),
        _ => {
            let quiet = parse_quiet_hours(
                field("quiet_start").unwrap_or_default(),
                field("quiet_end").unwrap_or_default(),
            );
            let quiet_hours = match quiet {
                Ok(hours) => hours,
                Err(why) => {
                    let notice = Notice::Problem(format!("Not saved: {why}."));
                    let body = render(&state, &token, &page, Some(notice));
                    return respond(StatusCode::BAD_REQUEST, body);
                }
            };
            let channels = (page.channels.iter())
                .filter_map(|(channel, _)| {
                    let state = match field(channel.as_str())? {
                        "granted" => ConsentState::Granted,
                        "revoked" => ConsentState::Revoked,
                        _ => return None,
                    };
                    Some((*channel, state))
                })
                .collect();
            let changes = Changes {
                channels,
                quiet_hours,
            };
            state
                .preferences
                .save(&token, &changes)
                .await
                .map(Notice::Saved)
        }
    };
    let notice = match outcome {
        Ok(notice) => notice,
        Err(e) => return failed(e),
    };
    match state.preferences.open(&token).await {
        Ok(page) => respond(StatusCode::OK, render(&state, &token, &page, Some(notice))),
        Err(e) => failed(e),
    }
}

/// What the page says after a post.
enum Notice {
    Saved(Saved),
    Forget { asked: bool },
    Problem(String),
}

impl Notice {
    fn html(&self) -> String {
        let (class, text) = match self {
            Notice::Saved(Saved { choices: 0, .. }) => ("done", "Saved.".to_string()),
            Notice::Saved(_) => (
                "done",
                "Saved. Every tool the shop uses will be told within minutes.".to_string(),
            ),
            Notice::Forget { asked: true } => (
                "done",
                "We have passed your request on. Someone at the shop will confirm it; then \
                 everything the shop holds about you is deleted, here and in every tool it uses. \
                 Until then nothing changes."
                    .to_string(),
            ),
            Notice::Forget { asked: false } => (
                "done",
                "You had already asked; the shop has yet to confirm it.".to_string(),
            ),
            Notice::Problem(text) => ("problem", text.clone()),
        };
        format!("<p class={class} role=status>{}</p>", escape(&text))
    }
}

/// A page that cannot be served: the same 404 for every link that opens nothing.
fn failed(error: PageError) -> Response {
    match error {
        PageError::NotValid(why) => {
            tracing::info!(%why, "a preference link was refused");
            respond(
                StatusCode::NOT_FOUND,
                document(
                    "Link not valid",
                    &format!(
                        "<h1>{}</h1><p>Links to this page work for a while only. Use the link \
                         in the shop's latest message, or ask the shop for a new one.</p>",
                        escape(InvalidLink::OUTWARD)
                    ),
                ),
            )
        }
        PageError::Store(e) => {
            tracing::error!(error = %e, "the preference page could not reach the store");
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                document(
                    "Try again later",
                    "<h1>Something went wrong</h1><p>Nothing was changed. Please try again in a \
                     few minutes.</p>",
                ),
            )
        }
    }
}

/// The page of a person: their channels, their quiet hours and "forget me".
fn render(state: &AdminState, token: &str, page: &Page, notice: Option<Notice>) -> String {
    let guard = format!(
        "<input type=hidden name={GUARD} value=\"{}\">",
        escape(&state.preferences.form_field(token))
    );
    let channels: String = if page.channels.is_empty() {
        "<p>The shop has no way to send you messages.</p>".to_string()
    } else {
        (page.channels.iter())
            .map(|(channel, choice)| channel_row(*channel, *choice))
            .collect()
    };
    let time = |t: Option<chrono::NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
    let (start, end) = (
        time(page.quiet_hours.map(|q| q.start)).unwrap_or_default(),
        time(page.quiet_hours.map(|q| q.end)).unwrap_or_default(),
    );
    let forget = if page.forget_waiting {
        "<p>You have asked to be forgotten. The shop has yet to confirm it; until then nothing \
         changes.</p>"
            .to_string()
    } else {
        format!(
            "<form method=post>{guard}<input type=hidden name=action value=forget>\
             <p>Ask the shop to delete everything it holds about you, here and in every tool it \
             uses. Someone at the shop confirms each request first.</p>\
             <button class=quiet>Forget me</button></form>"
        )
    };
    let body = format!(
        "<h1>Your preferences</h1>{notice}\
         <form method=post>{guard}<input type=hidden name=action value=save>\
         <fieldset><legend>News and offers from the shop</legend>{channels}</fieldset>\
         <fieldset><legend>Quiet hours</legend>\
         <p>No messages between <input type=time name=quiet_start value=\"{start}\"> and \
         <input type=time name=quiet_end value=\"{end}\"> (the shop's time, {zone}). Leave both \
         empty for none.</p></fieldset>\
         <p class=small>A change reaches every tool the shop uses within minutes, before \
         anything else is sent to them.</p>\
         <button>Save</button></form>\
         <fieldset><legend>Forget me</legend>{forget}</fieldset>",
        notice = notice.map(|n| n.html()).unwrap_or_default(),
        zone = escape(page.zone.name()),
    );
    document("Your preferences", &body)
}

/// One channel's yes/no question; neither is ticked if the person never chose.
fn channel_row(channel: Channel, choice: Option<ConsentState>) -> String {
    let name = channel.as_str();
    let label = match channel {
        Channel::Email => "Email",
        Channel::Sms => "Text messages",
        Channel::Push => "App notifications",
        Channel::Postal => "Post",
    };
    let checked = |state| match choice == Some(state) {
        true => " checked",
        false => "",
    };
    let unsaid = match choice {
        None => " <span class=small>(you have not told us yet)</span>",
        Some(_) => "",
    };
    format!(
        "<p><b>{label}</b>{unsaid}<br>\
         <label><input type=radio name={name} value=granted{}> Yes, please</label> \
         <label><input type=radio name={name} value=revoked{}> No, thank you</label></p>",
        checked(ConsentState::Granted),
        checked(ConsentState::Revoked),
    )
}

/// A whole HTML document: `title` and `body`, styled inline (no external assets).
fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>\
         body{{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:0 auto;padding:1rem;color:#222}}\
         fieldset{{border:1px solid #ccc;border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem}}\
         label{{display:inline-block;padding:.4rem 1rem .4rem 0}}\
         input,button{{font:inherit}}button{{padding:.5rem 1.5rem}}\
         .done{{background:#e8f5e9;padding:.75rem;border-radius:.5rem}}\
         .problem{{background:#fdecea;padding:.75rem;border-radius:.5rem}}\
         .small{{font-size:.9rem;color:#555}}\
         </style><body>{body}</body></html>",
        escape(title)
    )
}

/// `body` as an HTML response that no cache keeps, no other site frames and whose address (it
/// holds the token) is never sent on as a referrer.
fn respond(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
