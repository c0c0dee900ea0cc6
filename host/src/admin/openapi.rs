//! The OpenAPI document of the host's HTTP surface, served at `GET /api/openapi.json` (admin
//! token), so clients and operators read the routes, their parameters and their answers from the
//! code instead of from prose. Each handler carries its own `#[utoipa::path]` beside it; `ApiDoc`
//! lists every one of them once. A handler's tag says who may call it, and `Access` turns the tag
//! into the security requirement and the refusals that go with it, so no route repeats them.

use super::AdminState;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref};
use utoipa::{Modify, OpenApi, ToSchema};

/// Routes for admin tokens and sessions only.
pub const ADMIN: &str = "admin";
/// Routes a staff token or session may use as well as an admin one.
pub const STAFF: &str = "staff";
/// Routes that need no token: the health check, the login form, the tablet page's files, the
/// preference page (its signed link is the credential).
pub const PUBLIC: &str = "public";
/// Pushes from sources: the source's upload token, unless its plugin checks the vendor's signature.
pub const WEBHOOKS: &str = "webhooks";

/// The `{"error": …}` body of every refusal and failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words for a person.
    pub error: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rapport",
        description = "The host's HTTP surface: the admin API under /api, the staff routes, \
                       Prometheus text at /metrics, source webhooks and the browser pages."
    ),
    paths(
        super::health,
        super::summary,
        super::backfills,
        document,
        super::plugins::list,
        super::plugins::rollback,
        super::plugins::disable,
        super::plugins::enable,
        super::plugins::reload,
        super::plugins::apply_config,
        super::profiles::lookup,
        super::profiles::by_key,
        super::profiles::issues,
        super::profiles::list_segments,
        super::cues::cues,
        super::metrics::metrics,
        super::operations::figures,
        super::prometheus::scrape,
        super::login::form,
        super::login::login,
        super::login::logout,
        super::staff::page,
        super::staff::style,
        super::staff::script,
        super::preferences::show,
        super::preferences::change,
        super::webhooks::receive,
        super::dashboard::page,
        super::dashboard::style,
        super::dashboard::script,
        super::dashboard::segment_people,
        super::dashboard::journeys,
        super::dashboard::failures,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Access),
    tags(
        (name = ADMIN, description = "An admin token (`Authorization: Bearer …`) or session."),
        (name = STAFF, description = "A staff or admin token or session; staff see the staff view only."),
        (name = PUBLIC, description = "No token."),
        (name = WEBHOOKS, description = "The source's upload token, or the vendor's signature when the source is `vendor_signed`."),
    )
)]
pub struct ApiDoc;

/// The document's route, behind the admin token like the rest of `/api`.
pub fn routes() -> Router<AdminState> {
    Router::new().route("/api/openapi.json", get(document))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = ADMIN,
    responses((status = 200, description = "The OpenAPI 3.1 document of every route", body = Object))
)]
async fn document() -> Json<Document> {
    Json(ApiDoc::openapi())
}

/// Gives each operation the security requirement its tag names, the refusals that follow from it
/// (401 without a valid token, 403 for a token of the wrong role) and the 403 the Host and Origin
/// guard answers on every route.
struct Access;

impl Modify for Access {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["token", "upload"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post];
            for operation in operations.into_iter().flatten() {
                guard(operation);
            }
        }
    }
}

fn guard(operation: &mut Operation) {
    let tag = operation
        .tags
        .as_ref()
        .and_then(|tags| tags.first())
        .cloned();
    let token = || vec![SecurityRequirement::new("token", Vec::<String>::new())];
    let (security, refusals): (_, &[(&str, &str)]) = match tag.as_deref() {
        Some(ADMIN) => (
            token(),
            &[
                ("401", "No token, or one that is not valid"),
                ("403", "A token of another role, a session's form post not from the server's own pages, or a Host or Origin not this server's"),
            ],
        ),
        Some(STAFF) => (
            token(),
            &[
                ("401", "No token, or one that is not valid"),
                ("403", "An upload token, a staff token asking for an admin's answer, or a Host or Origin not this server's"),
            ],
        ),
        Some(WEBHOOKS) => (
            vec![
                SecurityRequirement::new("upload", Vec::<String>::new()),
                SecurityRequirement::default(),
            ],
            &[
                ("401", "No upload token, or the vendor's signature does not match; nothing was kept"),
                ("403", "A Host or Origin not this server's"),
            ],
        ),
        _ => (Vec::new(), &[("403", "A Host or Origin not this server's")]),
    };
    if !security.is_empty() {
        operation.security = Some(security);
    }
    for (status, description) in refusals {
        let refusal = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        (operation.responses.responses)
            .entry((*status).to_string())
            .or_insert(refusal.into());
    }
}
