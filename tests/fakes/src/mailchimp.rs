//! A Mailchimp Marketing 3.0 simulator (shapes from VENDOR-NOTES.md; no official spec file is
//! available): audience members keyed by `md5(lowercase email)` with Mailchimp's status rules
//! (`status_if_new` only on create, `status` overwrites, an unsubscribed or cleaned member cannot
//! be set back to `subscribed` by the API), merge fields, tags, member events, e-commerce orders
//! and permanent deletion; the audience's member list filtered by status and `since_last_changed`
//! (exclusive), sorted by `last_changed`, paged by `count` and `offset`; customer journeys started
//! by a member event, whose emails are reported like campaigns, with the opens, clicks and bounces
//! a test marks (`engagement`). Basic auth with the API key as password (401 otherwise); every
//! error, injected faults included, is `application/problem+json`; the 429 carries no
//! `Retry-After`.

mod engagement;

pub use engagement::{Activity, JourneyEmail, Recipient};

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use crate::time::{now_unix, rfc3339_at_offset, rfc3339_millis};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The API key the simulator accepts (the data centre is the suffix).
pub const API_KEY: &str = "0123456789abcdef0123456789abcdef-us21";
/// The statuses a member can have.
pub const STATUSES: [&str; 5] = [
    "subscribed",
    "unsubscribed",
    "cleaned",
    "pending",
    "transactional",
];
const PROBLEM: &str = "application/problem+json";
const ERROR_DOCS: &str = "https://mailchimp.com/developer/marketing/docs/errors/";

/// `md5(lowercase email)` in lower-case hex: a member's id.
pub fn subscriber_hash(email: &str) -> String {
    Md5::digest(email.to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An audience member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub email_address: String,
    /// Mailchimp's id for the address, unlike the member id not derived from it.
    pub unique_email_id: String,
    pub status: String,
    /// When the member last changed, in Unix seconds.
    pub last_changed: i64,
    pub merge_fields: Map<String, Value>,
    pub tags: BTreeSet<String>,
    pub events: Vec<Value>,
}

/// One request as it arrived, with the status it got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
    pub response: Option<Value>,
}

#[derive(Default)]
struct Data {
    /// Members by list, then by subscriber hash.
    lists: BTreeMap<String, BTreeMap<String, Member>>,
    /// Orders by store, then by order id.
    stores: BTreeMap<String, BTreeMap<String, Value>>,
    deleted: Vec<String>,
    /// Customer journeys' emails, in the order they were set up.
    journeys: Vec<JourneyEmail>,
    seen: Vec<Seen>,
}

struct Shared {
    data: Mutex<Data>,
    faults: FaultPlan,
    key: String,
}

impl Shared {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("mailchimp state")
    }
}

/// The running simulator; its API lives under `/3.0`.
pub struct MailchimpSim {
    running: Running,
    shared: Arc<Shared>,
}

impl MailchimpSim {
    /// Starts a simulator that accepts [`API_KEY`].
    pub async fn start() -> std::io::Result<MailchimpSim> {
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            faults: FaultPlan::default(),
            key: API_KEY.to_owned(),
        });
        let member = "/3.0/lists/{list}/members/{hash}";
        let app = Router::new()
            .route("/3.0/ping", get(ping))
            .route("/3.0/lists/{list}/members", get(list_members))
            .route(member, put(upsert_member).get(get_member))
            .route(&format!("{member}/tags"), post(tags))
            .route(&format!("{member}/events"), post(event))
            .route(&format!("{member}/actions/delete-permanent"), post(delete))
            .route("/3.0/ecommerce/stores/{store}/orders", post(add_order))
            .route("/3.0/ecommerce/stores/{store}/orders/{id}", get(get_order))
            .route("/3.0/reports", get(engagement::list_reports))
            .route(
                "/3.0/reports/{campaign}/email-activity",
                get(engagement::email_activity),
            )
            .fallback(|| async { not_found() })
            .layer(from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        Ok(MailchimpSim {
            running: serve(app, 0).await?,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT/3.0`, the sink's `api_base`.
    pub fn api_base(&self) -> String {
        format!("{}/3.0", self.running.base_url())
    }

    /// Creates audience `id`.
    pub fn add_list(&self, id: &str) {
        self.shared.data().lists.entry(id.to_owned()).or_default();
    }

    /// Creates e-commerce store `id`.
    pub fn add_store(&self, id: &str) {
        self.shared.data().stores.entry(id.to_owned()).or_default();
    }

    /// The member of `list` with this email, if any.
    pub fn member(&self, list: &str, email: &str) -> Option<Member> {
        let data = self.shared.data();
        data.lists.get(list)?.get(&subscriber_hash(email)).cloned()
    }

    /// How many members `list` has.
    pub fn member_count(&self, list: &str) -> usize {
        self.shared.data().lists.get(list).map_or(0, BTreeMap::len)
    }

    /// Adds a member as if they had signed up at Mailchimp itself (a form, an import), with
    /// `status` since `last_changed` (Unix seconds).
    pub fn add_member(&self, list: &str, email: &str, status: &str, last_changed: i64) {
        let hash = subscriber_hash(email);
        let member = Member {
            email_address: email.to_owned(),
            unique_email_id: unique_email_id(list, &hash),
            status: status.to_owned(),
            last_changed,
            merge_fields: Map::new(),
            tags: BTreeSet::new(),
            events: Vec::new(),
        };
        let mut data = self.shared.data();
        data.lists
            .get_mut(list)
            .expect("add the list first")
            .insert(hash, member);
    }

    /// Sets a member's status as if the person had acted at Mailchimp (e.g. clicked unsubscribe)
    /// now.
    pub fn set_status(&self, list: &str, email: &str, status: &str) {
        self.set_status_at(list, email, status, now_unix());
    }

    /// Sets a member's status as if the person had acted at Mailchimp at `unix` seconds.
    pub fn set_status_at(&self, list: &str, email: &str, status: &str, unix: i64) {
        let mut data = self.shared.data();
        let member = data
            .lists
            .get_mut(list)
            .and_then(|members| members.get_mut(&subscriber_hash(email)))
            .expect("a member to change");
        member.status = status.to_owned();
        member.last_changed = unix;
    }

    /// The orders of `store`, by id.
    pub fn orders(&self, store: &str) -> BTreeMap<String, Value> {
        self.shared
            .data()
            .stores
            .get(store)
            .cloned()
            .unwrap_or_default()
    }

    /// Hashes of permanently deleted members.
    pub fn deleted(&self) -> Vec<String> {
        self.shared.data().deleted.clone()
    }

    /// Every request received, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.data().seen.clone()
    }

    /// Faults for the next requests (rendered as problem+json) and the latency of every answer.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }
}

/// A problem+json document.
fn problem_body(status: u16, title: &str, detail: &str, errors: &[(&str, &str)]) -> Value {
    let mut body = json!({
        "type": ERROR_DOCS,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": format!("{:032x}", rand::random::<u128>()),
    });
    if !errors.is_empty() {
        body["errors"] = errors
            .iter()
            .map(|(field, message)| json!({"field": field, "message": message}))
            .collect();
    }
    body
}

/// A problem+json error answer.
pub struct Problem {
    status: u16,
    title: &'static str,
    detail: String,
    errors: Vec<(&'static str, &'static str)>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", PROBLEM)],
            problem_body(self.status, self.title, &self.detail, &self.errors).to_string(),
        )
            .into_response()
    }
}

fn problem(status: u16, title: &'static str, detail: &str) -> Problem {
    Problem {
        status,
        title,
        detail: detail.to_owned(),
        errors: Vec::new(),
    }
}

/// The 400 Mailchimp answers for a body that fails validation.
fn invalid(errors: &[(&'static str, &'static str)]) -> Problem {
    Problem {
        errors: errors.to_vec(),
        ..problem(
            400,
            "Invalid Resource",
            "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        )
    }
}

/// The problem+json Mailchimp sends with `status` (used for injected faults).
fn fault_body(status: u16) -> String {
    let (title, detail) = match status {
        400 => ("Invalid Resource", "The resource submitted could not be validated."),
        401 => ("API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter."),
        403 => ("Forbidden", "You don't have permission to access this resource."),
        404 => ("Resource Not Found", "The requested resource could not be found."),
        429 => ("Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
        _ => ("Internal Server Error", "An unexpected internal error has occurred. Please contact Support for more information."),
    };
    problem_body(status, title, detail, &[]).to_string()
}

/// Notes the request, checks Basic auth, applies faults, and records the answer.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        authorization: authorization.clone(),
        body: serde_json::from_slice(&body).ok(),
        status: 0,
        response: None,
    };
    let response = if !basic_auth_ok(authorization.as_deref(), &shared.key) {
        problem(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
        .into_response()
    } else if let Some(fault) = shared
        .faults
        .intercept(|status| (PROBLEM, fault_body(status)))
        .await
    {
        fault
    } else {
        next.run(Request::from_parts(parts, Body::from(body))).await
    };
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    seen.status = parts.status.as_u16();
    seen.response = serde_json::from_slice(&body).ok();
    shared.data().seen.push(seen);
    Response::from_parts(parts, Body::from(body))
}

/// Basic auth with any user name and the API key as password.
fn basic_auth_ok(header: Option<&str>, key: &str) -> bool {
    header
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|pair| String::from_utf8(pair).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, password)| password == key))
        .unwrap_or(false)
}

fn parse(body: &Bytes) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(problem(
            400,
            "JSON Parse Error",
            "We encountered an unspecified JSON parsing error.",
        )),
    }
}

/// A stable 10-hex-digit id for a member that, unlike the member id, is not the hash of the address.
fn unique_email_id(list: &str, hash: &str) -> String {
    subscriber_hash(&format!("unique:{list}:{hash}"))[..10].to_owned()
}

fn member_json(list: &str, hash: &str, m: &Member) -> Value {
    json!({
        "id": hash,
        "email_address": m.email_address,
        "unique_email_id": m.unique_email_id,
        "status": m.status,
        "last_changed": rfc3339_at_offset(m.last_changed, 0),
        "merge_fields": m.merge_fields,
        "tags_count": m.tags.len(),
        "tags": m.tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "list_id": list,
    })
}

async fn ping() -> Json<Value> {
    Json(json!({"health_status": "Everything's Chimpy!"}))
}

fn not_found() -> Problem {
    problem(
        404,
        "Resource Not Found",
        "The requested resource could not be found.",
    )
}

async fn get_member(
    State(shared): State<Arc<Shared>>,
    Path((list, hash)): Path<(String, String)>,
) -> Response {
    let data = shared.data();
    match data.lists.get(&list).and_then(|members| members.get(&hash)) {
        Some(m) => Json(member_json(&list, &hash, m)).into_response(),
        None => not_found().into_response(),
    }
}

/// `GET /lists/{list}/members`: `status`, `since_last_changed` (members changed strictly after
/// it), `sort_field=last_changed` with `sort_dir`, `count` (default 10, at most 1000) and
/// `offset`.
async fn list_members(
    State(shared): State<Arc<Shared>>,
    Path(list): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Problem> {
    let (count, offset) = paging(&params)?;
    let status = params.get("status");
    if status.is_some_and(|s| !STATUSES.contains(&s.as_str())) {
        return Err(invalid(&[(
            "status",
            "Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional",
        )]));
    }
    let since = match params.get("since_last_changed") {
        Some(text) => Some(
            rfc3339_millis(text).ok_or_else(|| {
                invalid(&[("since_last_changed", "The date must be in ISO 8601 format.")])
            })? / 1000,
        ),
        None => None,
    };
    let descending = match (
        params.get("sort_field").map(String::as_str),
        params.get("sort_dir").map(String::as_str),
    ) {
        (None | Some("last_changed"), None | Some("ASC")) => false,
        (None | Some("last_changed"), Some("DESC")) => true,
        _ => {
            return Err(invalid(&[(
                "sort_field",
                "This simulator sorts by last_changed, ASC or DESC.",
            )]))
        }
    };
    let data = shared.data();
    let Some(members) = data.lists.get(&list) else {
        return Err(not_found());
    };
    let mut matching: Vec<(&String, &Member)> = members
        .iter()
        .filter(|(_, m)| status.is_none_or(|s| &m.status == s))
        .filter(|(_, m)| since.is_none_or(|since| m.last_changed > since))
        .collect();
    matching.sort_by_key(|(hash, m)| (m.last_changed, hash.as_str()));
    if descending {
        matching.reverse();
    }
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|(hash, m)| member_json(&list, hash, m))
        .collect();
    Ok(Json(json!({"members": page, "list_id": list, "total_items": total})).into_response())
}

/// A collection's `count` (default 10, at most 1000) and `offset` (default 0).
fn paging(params: &BTreeMap<String, String>) -> Result<(usize, usize), Problem> {
    let number = |name: &'static str, default: usize| -> Result<usize, Problem> {
        params.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| invalid(&[(name, "This value should be a number.")]))
        })
    };
    let count = number("count", 10)?;
    if count > 1000 {
        return Err(invalid(&[("count", "count cannot be greater than 1000.")]));
    }
    Ok((count, number("offset", 0)?))
}

async fn upsert_member(
    State(shared): State<Arc<Shared>>,
    Path((list, hash)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let body = parse(&body)?;
    let Some(email) = body.get("email_address").and_then(Value::as_str) else {
        return Err(invalid(&[(
            "email_address",
            "This value should not be blank.",
        )]));
    };
    if !email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    {
        return Err(problem(
            400,
            "Invalid Resource",
            &format!("{email} looks fake or invalid, please enter a real email address."),
        ));
    }
    if subscriber_hash(email) != hash {
        return Err(invalid(&[(
            "email_address",
            "The subscriber hash in the URL is not the MD5 hash of the lowercase email address.",
        )]));
    }
    let status_of = |field: &'static str| -> Result<Option<String>, Problem> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&[(
                field,
                "Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional",
            )])),
        }
    };
    let (status, status_if_new) = match (status_of("status"), status_of("status_if_new")) {
        (Ok(s), Ok(n)) => (s, n),
        (Err(refused), _) | (_, Err(refused)) => return Err(refused),
    };
    let merge_fields = match body.get("merge_fields") {
        None => Map::new(),
        Some(Value::Object(fields)) if fields.values().all(Value::is_string) => fields.clone(),
        Some(_) => {
            return Err(invalid(&[(
                "merge_fields",
                "Your merge fields were invalid.",
            )]));
        }
    };
    let mut data = shared.data();
    let Some(members) = data.lists.get_mut(&list) else {
        return Err(not_found());
    };
    match members.get_mut(&hash) {
        Some(member) => {
            if let Some(status) = status {
                let compliance = matches!(member.status.as_str(), "unsubscribed" | "cleaned");
                if compliance && status == "subscribed" {
                    return Err(problem(
                        400,
                        "Member In Compliance State",
                        &format!("{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."),
                    ));
                }
                member.status = status;
            }
            member.email_address = email.to_owned();
            member.merge_fields.extend(merge_fields);
            member.last_changed = now_unix();
        }
        None => {
            let Some(status) = status.or(status_if_new) else {
                return Err(invalid(&[(
                    "status_if_new",
                    "The member does not exist yet: status_if_new is required.",
                )]));
            };
            members.insert(
                hash.clone(),
                Member {
                    email_address: email.to_owned(),
                    unique_email_id: unique_email_id(&list, &hash),
                    status,
                    last_changed: now_unix(),
                    merge_fields,
                    tags: BTreeSet::new(),
                    events: Vec::new(),
                },
            );
        }
    }
    Ok(Json(member_json(&list, &hash, &members[&hash])).into_response())
}

async fn tags(
    State(shared): State<Arc<Shared>>,
    Path((list, hash)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let body = parse(&body)?;
    let Some(tags) = body.get("tags").and_then(Value::as_array) else {
        return Err(invalid(&[("tags", "This value should not be blank.")]));
    };
    let mut changes = Vec::new();
    for tag in tags {
        let name = tag
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let active = match tag.get("status").and_then(Value::as_str) {
            Some("active") => true,
            Some("inactive") => false,
            _ => {
                return Err(invalid(&[(
                    "tags",
                    "Each tag needs a status of active or inactive.",
                )]))
            }
        };
        let Some(name) = name else {
            return Err(invalid(&[("tags", "Each tag needs a name.")]));
        };
        changes.push((name.to_owned(), active));
    }
    let mut data = shared.data();
    let Some(member) = data.lists.get_mut(&list).and_then(|m| m.get_mut(&hash)) else {
        return Err(not_found());
    };
    for (name, active) in changes {
        if active {
            member.tags.insert(name);
        } else {
            member.tags.remove(&name);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn event(
    State(shared): State<Arc<Shared>>,
    Path((list, hash)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let body = parse(&body)?;
    let name_ok = body.get("name").and_then(Value::as_str).is_some_and(|n| {
        (2..=30).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !name_ok {
        return Err(invalid(&[(
            "name",
            "The event name must be 2-30 letters, numbers, underscores or dashes.",
        )]));
    }
    if let Some(properties) = body.get("properties") {
        if !properties
            .as_object()
            .is_some_and(|p| p.values().all(Value::is_string))
        {
            return Err(invalid(&[(
                "properties",
                "Event properties must be strings.",
            )]));
        }
    }
    let mut data = shared.data();
    let Some(member) = data.lists.get_mut(&list).and_then(|m| m.get_mut(&hash)) else {
        return Err(not_found());
    };
    let email = member.email_address.clone();
    member.events.push(Value::Object(body.clone()));
    engagement::after_event(&mut data, &list, &hash, &email, &body);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((list, hash)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut data = shared.data();
    let removed = data.lists.get_mut(&list).and_then(|m| m.remove(&hash));
    if removed.is_none() {
        return Err(not_found());
    }
    data.deleted.push(hash);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Validates an order's required fields: id, customer.id, currency_code, order_total and lines
/// (each with id, product_id, product_variant_id, quantity and price).
fn order_errors(order: &Map<String, Value>) -> Vec<(&'static str, &'static str)> {
    let mut errors = Vec::new();
    let is_text = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if !is_text(order.get("id")) {
        errors.push(("id", "This value should not be blank."));
    }
    if !is_text(order.get("customer").and_then(|c| c.get("id"))) {
        errors.push(("customer.id", "This value should not be blank."));
    }
    if !order
        .get("currency_code")
        .and_then(Value::as_str)
        .is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push((
            "currency_code",
            "This value should be a valid ISO 4217 code.",
        ));
    }
    if !order.get("order_total").is_some_and(Value::is_number) {
        errors.push(("order_total", "This value should be a number."));
    }
    let lines_ok = order
        .get("lines")
        .and_then(Value::as_array)
        .is_some_and(|lines| {
            !lines.is_empty()
                && lines.iter().all(|l| {
                    ["id", "product_id", "product_variant_id"]
                        .iter()
                        .all(|f| is_text(l.get(*f)))
                        && l.get("quantity")
                            .is_some_and(|q| q.as_u64().is_some_and(|q| q > 0))
                        && l.get("price").is_some_and(Value::is_number)
                })
        });
    if !lines_ok {
        errors.push((
            "lines",
            "Each line needs id, product_id, product_variant_id, a positive whole quantity and a numeric price.",
        ));
    }
    errors
}

async fn add_order(
    State(shared): State<Arc<Shared>>,
    Path(store): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let order = parse(&body)?;
    let errors = order_errors(&order);
    if !errors.is_empty() {
        return Err(invalid(&errors));
    }
    let mut data = shared.data();
    let Some(orders) = data.stores.get_mut(&store) else {
        return Err(not_found());
    };
    let id = order["id"].as_str().expect("validated id").to_owned();
    if orders.contains_key(&id) {
        return Err(problem(
            400,
            "Invalid Resource",
            &format!("An order with id {id} already exists in store {store}."),
        ));
    }
    orders.insert(id, Value::Object(order.clone()));
    Ok(Json(Value::Object(order)).into_response())
}

async fn get_order(
    State(shared): State<Arc<Shared>>,
    Path((store, id)): Path<(String, String)>,
) -> Response {
    let data = shared.data();
    match data.stores.get(&store).and_then(|orders| orders.get(&id)) {
        Some(order) => Json(order.clone()).into_response(),
        None => not_found().into_response(),
    }
}
