//! `GET /api/metrics?from=YYYY-MM-DD&to=YYYY-MM-DD`: the business metrics of `[from, to)` beside
//! the period before it (admin token). Either end may be left out: `to` defaults to tomorrow
//! (today included, by the injected clock in the shop's time zone), `from` to 30 days before
//! `to`. A bad parameter is a 400 that names it.

use super::openapi::{ErrorBody, ADMIN};
use super::{error, AdminState};
use crate::metrics::business;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use rapport_core::metrics::period::Period;
use std::collections::BTreeMap;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/api/metrics", get(metrics))
}

/// The day parameter `name` holds, if any, or why it is not one.
fn day(query: &BTreeMap<String, String>, name: &str) -> Result<Option<NaiveDate>, String> {
    query
        .get(name)
        .map(|text| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                format!("{name}={text:?} is not a date: write it YYYY-MM-DD, e.g. 2026-03-01")
            })
        })
        .transpose()
}

/// The period the query asks for, or what is wrong with it.
fn period(query: &BTreeMap<String, String>, today: NaiveDate) -> Result<Period, String> {
    if let Some(other) = query.keys().find(|k| !["from", "to"].contains(&k.as_str())) {
        return Err(format!(
            "unknown parameter {other:?}: /api/metrics takes from=YYYY-MM-DD and to=YYYY-MM-DD"
        ));
    }
    Period::or_default(day(query, "from")?, day(query, "to")?, today).map_err(|e| e.to_string())
}

/// The business metrics of `[from, to)` beside the period before it.
#[utoipa::path(get, path = "/api/metrics", tag = ADMIN,
    params(
        ("from" = Option<String>, Query, format = Date, description = "The first day, YYYY-MM-DD; by default 30 days before `to`"),
        ("to" = Option<String>, Query, format = Date, description = "The day after the last, YYYY-MM-DD; by default tomorrow")),
    responses(
        (status = 200, description = "The period's metrics and the previous period's", body = Object),
        (status = 400, description = "A parameter that is not a date, an unknown one, or from not before to", body = ErrorBody),
        (status = 503, description = "The store cannot be read", body = ErrorBody)))]
pub(super) async fn metrics(
    State(state): State<AdminState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let zone = state.people.zone;
    let today = state.clock.now().with_timezone(&zone).date_naive();
    let period = match period(&query, today) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match business(&state.store, &state.journeys, zone, period, today).await {
        Ok(metrics) => Json(metrics).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_bad_parameter_is_named() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let bad = period(&query(&[("from", "2026-02-30")]), today).unwrap_err();
        assert!(
            bad.starts_with("from=\"2026-02-30\" is not a date"),
            "{bad}"
        );
        let bad = period(&query(&[("to", "yesterday")]), today).unwrap_err();
        assert!(bad.starts_with("to=\"yesterday\""), "{bad}");
        let bad = period(&query(&[("since", "2026-01-01")]), today).unwrap_err();
        assert!(bad.starts_with("unknown parameter \"since\""), "{bad}");
        let empty = period(
            &query(&[("from", "2026-03-02"), ("to", "2026-03-01")]),
            today,
        );
        assert!(empty.unwrap_err().contains("must be before to"));
        let fine = period(
            &query(&[("from", "2026-03-01"), ("to", "2026-03-08")]),
            today,
        );
        assert_eq!(fine.unwrap().days(), 7);
    }
}
