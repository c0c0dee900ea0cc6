//! `POST /webhooks/<source id>`: one route per configured source, each bounded before its plugin
//! runs: the source's upload token unless its plugin checks a vendor signature, at most
//! `max_concurrent` requests at once (more get 503 at once), and a body limit (413) that defaults to
//! a quarter of the plugin memory limit, which the body has to fit in beside what it parses into.

use super::openapi::{ErrorBody, WEBHOOKS};
use super::{auth, error, AdminState};
use crate::ingest::push::{PushError, PushPolicy};
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;

/// The push routes of every configured source, and a 404 naming the source for any other.
pub fn routes(state: &AdminState) -> Router<AdminState> {
    let mut router = Router::new().route(
        "/webhooks/{source}",
        post(|Path(source): Path<String>| async move {
            error(
                StatusCode::NOT_FOUND,
                PushError::UnknownSource(source).to_string(),
            )
        }),
    );
    for source in &state.connectors.sources {
        let id = source.id.clone();
        let edge = state.server.source(&id);
        let limit = edge
            .max_body_mib
            .map_or(state.memory_limit_mib << 18, |mib| mib << 20);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let guard = {
            let id = id.clone();
            move |State(state): State<AdminState>, request: Request, next: Next| {
                let id = id.clone();
                async move {
                    if !edge.vendor_signed {
                        if let Err(refused) =
                            auth::require_upload(&state, &id, request.headers()).await
                        {
                            tracing::warn!(source = %id, "push without the source's upload token refused");
                            return refused;
                        }
                    }
                    next.run(request).await
                }
            }
        };
        let too_large = {
            let id = id.clone();
            move |response: Response| {
                let id = id.clone();
                async move {
                    if response.status() != StatusCode::PAYLOAD_TOO_LARGE
                        || response.headers().get(header::CONTENT_TYPE)
                            == Some(&HeaderValue::from_static("application/json"))
                    {
                        return response;
                    }
                    error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "the body is larger than the {limit} bytes source `{id}` takes ([server.sources.{id}] max_body_mib); nothing was kept"
                        ),
                    )
                }
            }
        };
        let overloaded = {
            let id = id.clone();
            move |_: tower::BoxError| {
                let id = id.clone();
                async move {
                    let mut response = error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "source `{id}` is taking as many requests as it may at once ([server.sources.{id}] max_concurrent = {}); try again shortly",
                            edge.max_concurrent
                        ),
                    );
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    response
                }
            }
        };
        let handler = {
            let id = id.clone();
            move |State(state): State<AdminState>,
                  headers: HeaderMap,
                  body: Result<Bytes, BytesRejection>| async move {
                receive(state, &id, headers, body).await
            }
        };
        router = router.route(
            &format!("/webhooks/{id}"),
            post(handler).layer(
                ServiceBuilder::new()
                    .layer(middleware::from_fn_with_state(state.clone(), guard))
                    .layer(middleware::map_response(too_large))
                    .layer(HandleErrorLayer::new(overloaded))
                    .load_shed()
                    .concurrency_limit(edge.max_concurrent)
                    .layer(DefaultBodyLimit::disable())
                    .layer(RequestBodyLimitLayer::new(limit)),
            ),
        );
    }
    router
}

/// One push into a configured source, taken once it is stored.
#[utoipa::path(post, path = "/webhooks/{source}", tag = WEBHOOKS,
    params(("source" = String, Path, description = "The source's id in the config")),
    request_body(content = String, content_type = "application/octet-stream",
        description = "What the source's plugin reads: the vendor's webhook, or an export file"),
    responses(
        (status = 200, description = "The events are stored", body = Object),
        (status = 400, description = "A malformed body, kept once in the webhook inbox", body = ErrorBody),
        (status = 404, description = "No such source", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time; nothing was kept", body = ErrorBody),
        (status = 413, description = "The body is larger than the source takes; nothing was kept", body = ErrorBody),
        (status = 503, description = "Too many pushes at once (with Retry-After)", body = ErrorBody)))]
pub(super) async fn receive(
    state: AdminState,
    source: &str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            // `too_large` words it.
            return rejection.into_response();
        }
        Err(rejection) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive whole within server.body_timeout_ms ({}); nothing was kept",
                    rejection.body_text()
                ),
            )
        }
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let policy = PushPolicy::of(&state.server, source);
    match state
        .intake
        .receive(source, headers, body.to_vec(), false, policy)
        .await
    {
        Ok(report) => Json(json!({
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
        }))
        .into_response(),
        Err(e) => {
            let status = match &e {
                PushError::UnknownSource(_) => StatusCode::NOT_FOUND,
                PushError::Auth(_) => StatusCode::UNAUTHORIZED,
                PushError::Invalid { .. } => StatusCode::BAD_REQUEST,
                PushError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                PushError::Unavailable(_) | PushError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(source = %source, error = %e, "webhook refused");
            error(status, e.to_string())
        }
    }
}
