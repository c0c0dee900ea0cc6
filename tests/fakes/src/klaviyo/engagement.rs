//! The Klaviyo simulator's engagement: the metrics an account has (`GET /api/metrics`), its
//! events read back (`GET /api/events`, filtered by `metric_id` and `datetime`, sorted, with the
//! profiles included, paged by `links.next`), a flow that sends an email ("Received Email") when
//! an event of its trigger metric arrives, and what a test marks happening to that email
//! ("Opened Email", "Clicked Email", "Bounced Email", …), each an event as Klaviyo records it.

use super::{
    collection_links, document, invalid_parameter, profile_attributes, ApiError, Event, KlaviyoSim,
    Shared,
};
use crate::time::{rfc3339_at_offset, rfc3339_millis};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A metric as Klaviyo lists it: every event name the account has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub id: String,
    pub name: String,
    pub created: String,
}

/// The email a flow sent for one trigger event.
const RECEIVED: &str = "Received Email";

impl KlaviyoSim {
    /// Starts a flow: every event of metric `trigger` sends its profile an email, recorded as a
    /// "Received Email" event at the trigger's time.
    pub fn add_flow(&self, trigger: &str) {
        let mut data = self.shared.data();
        data.flows.push(trigger.to_owned());
    }

    /// Records that the latest email the profile with `email` received had `metric` ("Opened
    /// Email", "Clicked Email", "Bounced Email", "Unsubscribed from Email Marketing") happen at
    /// `at` (ms since the epoch); returns the event's id, or `None` if they received no email.
    pub fn mark(&self, email: &str, metric: &str, at: i64) -> Option<String> {
        let mut data = self.shared.data();
        let profile = data
            .profiles
            .iter()
            .find(|p| p.email.as_deref() == Some(email))?;
        let profile_id = profile.id.clone();
        let received = (data.events.iter().rev())
            .find(|e| e.metric == RECEIVED && e.profile_id == profile_id)?;
        let properties = received.properties.clone();
        let id = self.shared.id();
        record(
            &self.shared,
            &mut data,
            metric,
            &profile_id,
            at,
            properties,
            &id,
        );
        Some(id)
    }

    /// Every metric of the account.
    pub fn metrics(&self) -> Vec<Metric> {
        self.shared.data().metrics.clone()
    }
}

/// Adds `metric` to the account's metrics if it is new; returns its id.
pub(super) fn metric_id(shared: &Shared, data: &mut super::Data, metric: &str) -> String {
    if let Some(known) = data.metrics.iter().find(|m| m.name == metric) {
        return known.id.clone();
    }
    let id = shared.id().chars().rev().take(6).collect::<String>();
    data.metrics.push(Metric {
        id: id.clone(),
        name: metric.to_owned(),
        created: super::now_rfc3339(),
    });
    id
}

/// What follows a new event: a flow triggered by its metric sends the profile an email.
pub(super) fn after_event(shared: &Shared, data: &mut super::Data, event: &Event) {
    if !data.flows.contains(&event.metric) {
        return;
    }
    let flow = metric_id(shared, data, &event.metric);
    let properties = Map::from_iter([
        ("$flow".to_owned(), json!(format!("FLOW{flow}"))),
        ("$message".to_owned(), json!(format!("MSG{flow}"))),
        ("Subject".to_owned(), json!(event.metric)),
    ]);
    let id = shared.id();
    let profile_id = event.profile_id.clone();
    record(
        shared,
        data,
        RECEIVED,
        &profile_id,
        event.at,
        properties,
        &id,
    );
}

fn record(
    shared: &Shared,
    data: &mut super::Data,
    metric: &str,
    profile_id: &str,
    at: i64,
    properties: Map<String, Value>,
    id: &str,
) {
    metric_id(shared, data, metric);
    data.events.push(Event {
        id: id.to_owned(),
        metric: metric.to_owned(),
        profile_id: profile_id.to_owned(),
        unique_id: None,
        time: Some(rfc3339_at_offset(at.div_euclid(1000), 0)),
        at,
        value: None,
        value_currency: None,
        properties,
    });
}

/// When an event happened, as `POST /api/events` gave it (`time`), else now.
pub(super) fn event_at(time: Option<&str>) -> i64 {
    time.and_then(rfc3339_millis)
        .unwrap_or_else(|| crate::time::now_unix() * 1000)
}

/// `GET /api/metrics`: every metric, one page.
pub(super) async fn list_metrics(State(shared): State<Arc<Shared>>) -> Response {
    let base = shared.base_url.lock().expect("base url").clone();
    let data = shared.data();
    let metrics: Vec<Value> = (data.metrics.iter())
        .map(|m| {
            json!({"type": "metric", "id": m.id,
                   "attributes": {"name": m.name, "created": m.created, "updated": m.created,
                                  "integration": {"object": "integration", "id": "0rG4eQ",
                                                  "name": "API", "category": "API"}},
                   "relationships": {"flow-triggers": {"links": {
                       "self": format!("{base}/api/metrics/{}/relationships/flow-triggers", m.id),
                       "related": format!("{base}/api/metrics/{}/flow-triggers", m.id)}}},
                   "links": {"self": format!("{base}/api/metrics/{}", m.id)}})
        })
        .collect();
    document(
        StatusCode::OK,
        json!({"data": metrics, "links": {"self": format!("{base}/api/metrics")}}),
    )
}

/// The filters `GET /api/events` takes here: `equals(metric_id,"…")` or `equals(profile_id,"…")`,
/// alone or in `and(…)` with `greater-or-equal(datetime,…)` / `greater-than(datetime,…)`.
#[derive(Default)]
struct Filter {
    metric_id: Option<String>,
    profile_id: Option<String>,
    /// Events at or after (`true`: strictly after) this time, ms.
    since: Option<(i64, bool)>,
}

fn parse_filter(text: &str) -> Option<Filter> {
    let inner = match text.strip_prefix("and(") {
        Some(rest) => rest.strip_suffix(')')?,
        None => text,
    };
    let mut filter = Filter::default();
    for expression in split_top(inner) {
        let (op, args) = expression.split_once('(')?;
        let (field, value) = args.strip_suffix(')')?.split_once(',')?;
        let quoted = || {
            Some(
                value
                    .trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .to_owned(),
            )
        };
        match (op.trim(), field.trim()) {
            ("equals", "metric_id") => filter.metric_id = Some(quoted()?),
            ("equals", "profile_id") => filter.profile_id = Some(quoted()?),
            ("greater-or-equal", "datetime") => {
                filter.since = Some((rfc3339_millis(value.trim())?, false))
            }
            ("greater-than", "datetime") => {
                filter.since = Some((rfc3339_millis(value.trim())?, true))
            }
            _ => return None,
        }
    }
    Some(filter)
}

/// `a(…),b(…)` split at the commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `GET /api/events`: events filtered (see [`Filter`]), sorted by `datetime` (or `-datetime`;
/// creation order otherwise), `include=profile` adds their profiles under `included`, paged by
/// `page[size]` (1 to 1000, default 200) and `links.next`.
pub(super) async fn list_events(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let parameter = invalid_parameter;
    let filter = match query.get("filter") {
        None => Filter::default(),
        Some(f) => parse_filter(f)
            .ok_or_else(|| parameter("filter", &format!("Invalid filter provided: {f:?}.")))?,
    };
    let size = match query.get("page[size]").map(|s| s.parse::<usize>()) {
        None => 200,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(parameter(
                "page[size]",
                "page[size] must be between 1 and 1000.",
            ))
        }
    };
    let offset = match query.get("page[cursor]").map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(parameter("page[cursor]", "Invalid page cursor.")),
    };
    let include_profile = match query.get("include").map(String::as_str) {
        None => false,
        Some("profile") => true,
        Some(other) => {
            return Err(parameter(
                "include",
                &format!("{other:?} is not a valid relationship for the resource 'event'."),
            ))
        }
    };
    let base = shared.base_url.lock().expect("base url").clone();
    let data = shared.data();
    let metric_of = |name: &str| {
        (data.metrics.iter())
            .find(|m| m.name == name)
            .map(|m| m.id.clone())
            .unwrap_or_default()
    };
    let mut matching: Vec<&Event> = (data.events.iter())
        .filter(|e| {
            filter
                .metric_id
                .as_ref()
                .is_none_or(|id| *id == metric_of(&e.metric))
        })
        .filter(|e| {
            filter
                .profile_id
                .as_ref()
                .is_none_or(|id| *id == e.profile_id)
        })
        .filter(|e| match filter.since {
            None => true,
            Some((since, strict)) => e.at > since || (!strict && e.at == since),
        })
        .collect();
    match query.get("sort").map(String::as_str) {
        None => {}
        Some("datetime") | Some("timestamp") => matching.sort_by_key(|e| e.at),
        Some("-datetime") | Some("-timestamp") => matching.sort_by_key(|e| -e.at),
        Some(other) => {
            return Err(parameter(
                "sort",
                &format!("{other:?} is not a valid sort field."),
            ))
        }
    }
    let page: Vec<&Event> = matching.iter().skip(offset).take(size).copied().collect();
    let mut included: Vec<Value> = Vec::new();
    let events: Vec<Value> = (page.iter())
        .map(|e| {
            let profile = data.profiles.iter().find(|p| p.id == e.profile_id);
            if let (true, Some(p)) = (include_profile, profile) {
                if !included.iter().any(|i| i["id"] == json!(p.id)) {
                    included.push(json!({"type": "profile", "id": p.id,
                        "attributes": profile_attributes(p),
                        "links": {"self": format!("{base}/api/profiles/{}/", p.id)}}));
                }
            }
            let metric = metric_of(&e.metric);
            json!({"type": "event", "id": e.id,
                   "attributes": {"timestamp": e.at.div_euclid(1000),
                                  "event_properties": e.properties,
                                  "datetime": rfc3339_at_offset(e.at.div_euclid(1000), 0),
                                  "uuid": e.id},
                   "relationships": {
                       "profile": {"data": {"type": "profile", "id": e.profile_id},
                                   "links": {"self": format!("{base}/api/events/{}/relationships/profile", e.id),
                                             "related": format!("{base}/api/events/{}/profile", e.id)}},
                       "metric": {"data": {"type": "metric", "id": metric},
                                  "links": {"self": format!("{base}/api/events/{}/relationships/metric", e.id),
                                            "related": format!("{base}/api/events/{}/metric", e.id)}}},
                   "links": {"self": format!("{base}/api/events/{}", e.id)}})
        })
        .collect();
    let links = collection_links(&base, "/api/events", &query, offset + size, matching.len());
    let mut body = json!({"data": events, "links": links});
    if include_profile {
        body["included"] = json!(included);
    }
    Ok(document(StatusCode::OK, body))
}
