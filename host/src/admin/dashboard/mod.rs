//! The operator's dashboard, `/`: the north-star numbers of `/api/metrics` beside the period
//! before, every connector's operations figures (`/api/operations`), and drill-downs: a segment to
//! its people to one profile's marketer view, a journey to its experiment's arms, a sink to its
//! failing deliveries with the vendor's own reason. Its HTML, CSS and script are compiled into the
//! binary and served like the tablet page (`staff`): the page itself on an admin session only
//! (anyone else is sent to the login form, which brings them back), under the same strict policy.
//! The lists the other routes lack are the admin JSON routes here: the people of a segment, each
//! journey's experiment, and a sink's failing deliveries.

use super::openapi::{ErrorBody, ADMIN, PUBLIC};
use super::staff::{asset, gated_page};
use super::tokens::Role;
use super::{error, AdminState};
use crate::profiles::view::scored_buyers;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rapport_core::model::Channel;
use rapport_core::profile::rfm::Segment;
use rapport_store::{LetterStatus, SnapshotDepth};
use serde::Serialize;
use utoipa::ToSchema;

const PAGE: &str = include_str!("index.html");
const STYLE: &str = include_str!("dashboard.css");
const SCRIPT: &str = include_str!("dashboard.js");

/// Failing deliveries listed per status (dead, rejected): the newest.
const FAILURES_SHOWN: i64 = 50;

/// The page and its files.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(page))
        .route("/dashboard/dashboard.css", get(style))
        .route("/dashboard/dashboard.js", get(script))
}

/// The dashboard's stylesheet.
#[utoipa::path(get, path = "/dashboard/dashboard.css", tag = PUBLIC,
    responses((status = 200, body = String, content_type = "text/css")))]
pub(super) async fn style() -> Response {
    asset("text/css", STYLE)
}

/// The dashboard's script.
#[utoipa::path(get, path = "/dashboard/dashboard.js", tag = PUBLIC,
    responses((status = 200, body = String, content_type = "text/javascript")))]
pub(super) async fn script() -> Response {
    asset("text/javascript", SCRIPT)
}

/// The JSON the drill-downs read (behind the admin token).
pub fn admin_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/segments/{segment}/people", get(segment_people))
        .route("/api/journeys", get(journeys))
        .route("/api/sinks/{sink}/failures", get(failures))
}

/// The operator's dashboard, on an admin session.
#[utoipa::path(get, path = "/", tag = PUBLIC,
    responses(
        (status = 200, description = "The page, on an admin session", body = String, content_type = "text/html"),
        (status = 303, description = "No session: off to the login form, which comes back here"),
        (status = 403, description = "A session of another role", body = ErrorBody)))]
pub(super) async fn page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    gated_page(&state, &headers, &[Role::Admin], PAGE, "/").await
}

/// One person of a segment.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SegmentPerson {
    key: String,
    given_name: Option<String>,
    family_name: Option<String>,
    visits: i64,
    /// Milliseconds since the epoch.
    last_visit_at: Option<i64>,
    net_spend_minor: i64,
    currency: Option<String>,
}

/// `GET /api/segments/{segment}/people`: everyone RFM puts in `segment` (named as `/api/segments`
/// names it, e.g. `needs_attention`), by net spend, highest first.
#[utoipa::path(get, path = "/api/segments/{segment}/people", tag = ADMIN,
    params(("segment" = String, Path, description = "A segment as /api/segments names it, e.g. needs_attention")),
    responses(
        (status = 200, description = "The segment and its people, highest net spend first", body = Object),
        (status = 404, description = "No such segment", body = ErrorBody),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn segment_people(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Response {
    let Some(segment) = Segment::ALL
        .into_iter()
        .find(|s| s.as_str().replace(' ', "_") == name)
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no segment {name:?}: /api/segments lists them"),
        );
    };
    let buyers = match scored_buyers(&state.store).await {
        Ok(buyers) => buyers,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let mut members: Vec<_> = (buyers.into_iter())
        .filter(|(_, score)| score.segment() == segment)
        .map(|(buyer, _)| buyer)
        .collect();
    members.sort_by_key(|b| (std::cmp::Reverse(b.net_spend_minor), b.profile_id));
    let ids: Vec<i64> = members.iter().map(|b| b.profile_id).collect();
    let mut snapshots = match state
        .store
        .profile_snapshots(&ids, SnapshotDepth::Basic)
        .await
    {
        Ok(snapshots) => snapshots,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let people: Vec<SegmentPerson> = (members.into_iter())
        .filter_map(|buyer| {
            let snapshot = snapshots.remove(&buyer.profile_id)?;
            Some(SegmentPerson {
                key: snapshot.key,
                given_name: snapshot.given_name,
                family_name: snapshot.family_name,
                visits: buyer.visits,
                last_visit_at: buyer.last_visit_at,
                net_spend_minor: buyer.net_spend_minor,
                currency: buyer.currency,
            })
        })
        .collect();
    Json(serde_json::json!({ "segment": segment, "people": people })).into_response()
}

/// One configured journey and the experiment it runs, if any.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JourneyLine<'a> {
    journey: &'a str,
    sink: &'a str,
    #[schema(value_type = String)]
    channel: Channel,
    experiment: Option<&'a str>,
}

/// `GET /api/journeys`: the configured journeys, each with its experiment's name (the name
/// `/api/metrics` reports the experiment's arms under).
#[utoipa::path(get, path = "/api/journeys", tag = ADMIN,
    responses((status = 200, body = [JourneyLine])))]
pub(super) async fn journeys(State(state): State<AdminState>) -> Response {
    let lines: Vec<JourneyLine> = (state.journeys.iter())
        .map(|j| JourneyLine {
            journey: &j.name,
            sink: &j.sink,
            channel: j.channel,
            experiment: j.experiment.as_ref().map(|e| e.name.as_str()),
        })
        .collect();
    Json(lines).into_response()
}

/// `GET /api/sinks/{sink}/failures`: the sink's newest dead and rejected deliveries, newest
/// first, each with the error the vendor gave (what `rapport dlq` lists).
#[utoipa::path(get, path = "/api/sinks/{sink}/failures", tag = ADMIN,
    params(("sink" = String, Path, description = "A configured sink's id")),
    responses(
        (status = 200, description = "The sink and its newest dead and rejected deliveries", body = Object),
        (status = 404, description = "No such sink", body = ErrorBody),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn failures(
    State(state): State<AdminState>,
    Path(sink): Path<String>,
) -> Response {
    if !state.connectors.sinks.iter().any(|s| s.id == sink) {
        return error(StatusCode::NOT_FOUND, format!("no sink {sink:?}"));
    }
    let mut letters = Vec::new();
    for status in [LetterStatus::Dead, LetterStatus::Rejected] {
        match state
            .store
            .dead_letters(Some(&sink), status, FAILURES_SHOWN)
            .await
        {
            Ok(found) => letters.extend(found),
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
    letters.sort_by_key(|l| std::cmp::Reverse(l.id));
    Json(serde_json::json!({ "sink": sink, "failures": letters })).into_response()
}
