//! A Klaviyo simulator (API revision 2026-07-15, `tests/fakes/specs/klaviyo/stable.json`): profile
//! import, profiles listed by filter (`GET /api/profiles`), events deduplicated by `unique_id`,
//! subscription bulk jobs per list, data-privacy deletion jobs and `GET /api/accounts`. Every request needs `Authorization: Klaviyo-API-Key …`
//! (401) and a `revision` header (400); bodies are validated as JSON:API; errors, injected faults
//! included, are JSON:API `{"errors":[…]}`; a burst limit answers 429 with `Retry-After`, and
//! other answers carry `RateLimit-Limit/Remaining/Reset`. Every exchange is kept so tests can
//! check requests and responses against the official spec. Engagement (metrics, events read
//! back, a flow's emails and what tests mark happening to them) is `engagement`.

mod engagement;

pub use engagement::Metric;

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use crate::time::{now_unix, rfc3339_at_offset};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API key the simulator accepts, unless [`KlaviyoSim::start_with_key`] says otherwise.
pub const API_KEY: &str = "pk_test_rapport";
/// The revision this simulator implements.
pub const REVISION: &str = "2026-07-15";
/// The JSON:API media type Klaviyo speaks.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Requests allowed per second (Klaviyo's burst limit for profile import).
pub const BURST_PER_SECOND: u32 = 75;
/// Most profiles in one subscribe job.
pub const MAX_SUBSCRIBE: usize = 1000;
/// Most profiles in one unsubscribe job.
pub const MAX_UNSUBSCRIBE: usize = 100;

/// A profile as Klaviyo holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub properties: Map<String, Value>,
    pub email_marketing: Option<Consent>,
    pub sms_marketing: Option<Consent>,
    pub created: String,
    pub updated: String,
}

/// A marketing consent state on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// `SUBSCRIBED` or `UNSUBSCRIBED`.
    pub consent: String,
    /// When the person consented, as the caller reported it (historical imports only).
    pub consented_at: Option<String>,
    pub custom_source: Option<String>,
}

/// An event Klaviyo recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub metric: String,
    pub profile_id: String,
    pub unique_id: Option<String>,
    pub time: Option<String>,
    /// When it happened (its `time`, else when it arrived), ms since the epoch.
    pub at: i64,
    pub value: Option<Value>,
    pub value_currency: Option<String>,
    pub properties: Map<String, Value>,
}

/// One request and the simulator's answer, bodies parsed as JSON where they were JSON.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// The query string, as sent (percent-encoded), if any.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub request: Option<Value>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response: Option<Value>,
}

impl Exchange {
    /// The first value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The first value of response header `name` (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Default)]
struct Data {
    profiles: Vec<Profile>,
    events: Vec<Event>,
    event_posts: BTreeMap<String, usize>,
    lists: BTreeMap<String, BTreeSet<String>>,
    deleted: Vec<Value>,
    metrics: Vec<Metric>,
    /// The trigger metrics of the account's flows.
    flows: Vec<String>,
    exchanges: Vec<Exchange>,
    window: Option<(Instant, u32)>,
}

struct Shared {
    data: Mutex<Data>,
    faults: FaultPlan,
    key: String,
    base_url: Mutex<String>,
    next_id: AtomicU64,
}

impl Shared {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("klaviyo state")
    }

    fn id(&self) -> String {
        format!("01KLAV{:020}", self.next_id.fetch_add(1, Ordering::SeqCst))
    }
}

/// The running simulator.
pub struct KlaviyoSim {
    running: Running,
    shared: Arc<Shared>,
}

impl KlaviyoSim {
    /// Starts a simulator that accepts [`API_KEY`].
    pub async fn start() -> std::io::Result<KlaviyoSim> {
        Self::start_with_key(API_KEY).await
    }

    /// Starts a simulator that accepts `key`.
    pub async fn start_with_key(key: &str) -> std::io::Result<KlaviyoSim> {
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            faults: FaultPlan::default(),
            key: key.to_owned(),
            base_url: Mutex::new(String::new()),
            next_id: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/api/accounts", get(accounts))
            .route("/api/profile-import", post(profile_import))
            .route("/api/profiles", get(list_profiles))
            .route(
                "/api/events",
                post(create_event).get(engagement::list_events),
            )
            .route("/api/metrics", get(engagement::list_metrics))
            .route(
                "/api/profile-subscription-bulk-create-jobs",
                post(subscribe_job),
            )
            .route(
                "/api/profile-subscription-bulk-delete-jobs",
                post(unsubscribe_job),
            )
            .route("/api/data-privacy-deletion-jobs", post(deletion_job))
            .fallback(not_found)
            .layer(from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        let running = serve(app, 0).await?;
        *shared.base_url.lock().expect("base url") = running.base_url();
        Ok(KlaviyoSim { running, shared })
    }

    /// `http://127.0.0.1:PORT`, the sink's `api_base`.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// Creates list `id` (subscription jobs naming an unknown list get 404).
    pub fn add_list(&self, id: &str) {
        self.shared.data().lists.entry(id.to_owned()).or_default();
    }

    /// Every profile, in creation order.
    pub fn profiles(&self) -> Vec<Profile> {
        self.shared.data().profiles.clone()
    }

    /// The profile with this email, if any.
    pub fn profile_by_email(&self, email: &str) -> Option<Profile> {
        let data = self.shared.data();
        data.profiles
            .iter()
            .find(|p| p.email.as_deref() == Some(email))
            .cloned()
    }

    /// Every event recorded (a repeated `unique_id` is recorded once).
    pub fn events(&self) -> Vec<Event> {
        self.shared.data().events.clone()
    }

    /// How many accepted `POST /api/events` carried this `unique_id`.
    pub fn event_posts(&self, unique_id: &str) -> usize {
        self.shared
            .data()
            .event_posts
            .get(unique_id)
            .copied()
            .unwrap_or(0)
    }

    /// The profile ids on list `id`.
    pub fn list_members(&self, id: &str) -> BTreeSet<String> {
        self.shared
            .data()
            .lists
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether one record the account keeps about people (a profile, an event, a list's members)
    /// contains every one of `texts`, ignoring case. The request log and the deletion jobs are not
    /// such records.
    pub fn holds(&self, texts: &[&str]) -> bool {
        let data = self.shared.data();
        let records = (data.profiles.iter().map(|r| format!("{r:?}")))
            .chain(data.events.iter().map(|r| format!("{r:?}")))
            .chain(data.lists.iter().map(|r| format!("{r:?}")));
        crate::records::any_holds_all(records, texts)
    }

    /// The `profile` identifiers of accepted deletion jobs.
    pub fn deletions(&self) -> Vec<Value> {
        self.shared.data().deleted.clone()
    }

    /// Every request received and its answer, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.data().exchanges.clone()
    }

    /// Faults for the next requests (rendered as JSON:API errors) and the latency of every answer.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }
}

/// A JSON:API error answer: `{"errors":[{"id","status","code","title","detail","source"}]}`.
pub struct ApiError {
    status: u16,
    code: &'static str,
    title: &'static str,
    detail: String,
    pointer: Option<String>,
    /// The query parameter at fault (`source.parameter`).
    parameter: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut object = json!({
            "id": format!("{:032x}", rand::random::<u128>()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        });
        if let Some(pointer) = self.pointer {
            object["source"] = json!({ "pointer": pointer });
        }
        if let Some(parameter) = self.parameter {
            object["source"] = json!({ "parameter": parameter });
        }
        (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", MEDIA_TYPE)],
            json!({ "errors": [object] }).to_string(),
        )
            .into_response()
    }
}

fn error(
    status: u16,
    code: &'static str,
    title: &'static str,
    detail: &str,
    pointer: Option<&str>,
) -> ApiError {
    ApiError {
        status,
        code,
        title,
        detail: detail.to_owned(),
        pointer: pointer.map(str::to_owned),
        parameter: None,
    }
}

/// The JSON:API error body Klaviyo sends with `status` (used for injected faults too).
fn error_body(status: u16) -> String {
    let (code, title, detail) = match status {
        400 => ("invalid", "Invalid input.", "The request is invalid."),
        401 => (
            "not_authenticated",
            "Authentication credentials were not provided.",
            "Missing or invalid private key.",
        ),
        403 => (
            "permission_denied",
            "You do not have permission to perform this action.",
            "The API key is missing a required scope.",
        ),
        404 => ("not_found", "Not found.", "The resource does not exist."),
        429 => (
            "throttled",
            "Request was throttled.",
            "Request was throttled. Expected available in 1 second.",
        ),
        503 => (
            "service_unavailable",
            "Service unavailable.",
            "Klaviyo is temporarily unavailable.",
        ),
        _ => (
            "error",
            "A server error occurred.",
            "A server error occurred.",
        ),
    };
    json!({"errors": [{
        "id": format!("{:032x}", rand::random::<u128>()),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
    }]})
    .to_string()
}

/// Records the exchange around auth, revision, rate limit and fault checks, then the route.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    let headers = pairs(&parts.headers);
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        request: serde_json::from_slice(&body).ok(),
        status: 0,
        response_headers: Vec::new(),
        response: None,
    };
    let response = match check(&shared, &parts.headers).await {
        Some(refused) => refused,
        None => {
            let mut response = next.run(Request::from_parts(parts, Body::from(body))).await;
            rate_headers(&shared, response.headers_mut());
            response
        }
    };
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    exchange.status = parts.status.as_u16();
    exchange.response_headers = pairs(&parts.headers);
    exchange.response = serde_json::from_slice(&body).ok();
    shared.data().exchanges.push(exchange);
    Response::from_parts(parts, Body::from(body))
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Refuses a request without the right key (401), without a revision (400), over the burst
/// limit (429 + `Retry-After`), or with an injected fault.
async fn check(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("authorization").and_then(|v| v.strip_prefix("Klaviyo-API-Key ")) {
        None => {
            return Some(
                error(
                    401,
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                    "Missing `Authorization: Klaviyo-API-Key <private key>` header.",
                    None,
                )
                .into_response(),
            )
        }
        Some(key) if key != shared.key => {
            return Some(
                error(
                    401,
                    "authentication_failed",
                    "Incorrect authentication credentials.",
                    "The private API key is not valid.",
                    None,
                )
                .into_response(),
            )
        }
        Some(_) => {}
    }
    match header("revision") {
        None => {
            return Some(
                error(
                    400,
                    "invalid",
                    "Invalid input.",
                    "The `revision` header is required (format: YYYY-MM-DD[.suffix]).",
                    None,
                )
                .into_response(),
            )
        }
        Some(r) if !is_date(r.split('.').next().unwrap_or_default()) => {
            return Some(
                error(
                    400,
                    "invalid",
                    "Invalid input.",
                    &format!("Invalid revision {r:?} (format: YYYY-MM-DD[.suffix])."),
                    None,
                )
                .into_response(),
            )
        }
        Some(_) => {}
    }
    if !take_token(shared) {
        let mut refused = error(
            429,
            "throttled",
            "Request was throttled.",
            "Request was throttled. Expected available in 1 second.",
            None,
        )
        .into_response();
        refused
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return Some(refused);
    }
    shared
        .faults
        .intercept(|status| (MEDIA_TYPE, error_body(status)))
        .await
}

/// Counts the request in the current one-second window; false if the window is full.
fn take_token(shared: &Shared) -> bool {
    let mut data = shared.data();
    let now = Instant::now();
    let (start, used) = match data.window {
        Some((start, used)) if now.duration_since(start) < Duration::from_secs(1) => (start, used),
        _ => (now, 0),
    };
    data.window = Some((start, used + 1));
    used < BURST_PER_SECOND
}

fn rate_headers(shared: &Shared, headers: &mut HeaderMap) {
    let (used, reset) = match shared.data().window {
        Some((start, used)) => (used, 1u64.saturating_sub(start.elapsed().as_secs()).max(1)),
        None => (0, 1),
    };
    headers.insert("ratelimit-limit", HeaderValue::from(BURST_PER_SECOND));
    headers.insert(
        "ratelimit-remaining",
        HeaderValue::from(BURST_PER_SECOND.saturating_sub(used)),
    );
    headers.insert("ratelimit-reset", HeaderValue::from(reset));
}

async fn not_found() -> ApiError {
    error(404, "not_found", "Not found.", "No such endpoint.", None)
}

async fn accounts(State(shared): State<Arc<Shared>>) -> Response {
    let base = shared.base_url.lock().expect("base url").clone();
    document(
        StatusCode::OK,
        json!({"data": [{"type": "account", "id": "RAPPORT", "attributes": {
            "contact_information": {"organization_name": "rapport test shop"},
        }, "links": {"self": format!("{base}/api/accounts/RAPPORT/")}}],
        "links": {"self": format!("{base}/api/accounts")}}),
    )
}

fn document(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", MEDIA_TYPE)], body.to_string()).into_response()
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// A 400 `invalid` error pointing at `pointer`.
fn invalid(pointer: &str, detail: &str) -> ApiError {
    error(400, "invalid", "Invalid input.", detail, Some(pointer))
}

/// The body as a JSON:API document whose `data.type` is `kind`; returns `data.attributes`.
fn resource(body: &Bytes, kind: &str) -> Result<(Value, Map<String, Value>), ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        error(
            400,
            "parse_error",
            "Malformed request.",
            &format!("JSON parse error - {e}"),
            None,
        )
    })?;
    let data = doc
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid("/data", "`data` is required and must be an object."))?;
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(error(
            409,
            "conflict",
            "Conflict.",
            &format!("The resource type must be {kind:?}."),
            Some("/data/type"),
        ));
    }
    let attributes = data
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            invalid(
                "/data/attributes",
                "`attributes` is required and must be an object.",
            )
        })?;
    Ok((data.clone(), attributes))
}

/// A string field that may be absent or null; anything else is a 400.
fn text(
    attributes: &Map<String, Value>,
    field: &str,
    pointer: &str,
) -> Result<Option<String>, ApiError> {
    match attributes.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(
            &format!("{pointer}/{field}"),
            &format!("`{field}` must be a string."),
        )),
    }
}

fn is_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !s.contains(char::is_whitespace)
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `YYYY-MM-DDTHH:MM:SS…` (RFC 3339); returns the seconds-precision prefix for comparisons.
fn date_time(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let ok = b.len() >= 20
        && is_date(&s[..10])
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':'
        && [11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    ok.then(|| &s[..19])
}

/// Identifiers of a profile in a request, validated.
struct Identifiers {
    email: Option<String>,
    phone_number: Option<String>,
    external_id: Option<String>,
}

fn identifiers(attributes: &Map<String, Value>, pointer: &str) -> Result<Identifiers, ApiError> {
    let ids = Identifiers {
        email: text(attributes, "email", pointer)?,
        phone_number: text(attributes, "phone_number", pointer)?,
        external_id: text(attributes, "external_id", pointer)?,
    };
    if let Some(email) = ids.email.as_deref().filter(|e| !is_email(e)) {
        return Err(invalid(
            &format!("{pointer}/email"),
            &format!("Invalid email address: {email:?}."),
        ));
    }
    if let Some(phone) = ids.phone_number.as_deref().filter(|p| !is_e164(p)) {
        return Err(invalid(
            &format!("{pointer}/phone_number"),
            &format!("Invalid phone number format (must be E.164): {phone:?}."),
        ));
    }
    Ok(ids)
}

/// Finds the profile these identifiers name (email, then phone, then external id) or creates it.
/// Returns its index and whether it was created.
fn upsert(shared: &Shared, data: &mut Data, ids: &Identifiers) -> (usize, bool) {
    let found = data.profiles.iter().position(|p| {
        ids.email.is_some() && p.email == ids.email
            || ids.phone_number.is_some() && p.phone_number == ids.phone_number
            || ids.external_id.is_some() && p.external_id == ids.external_id
    });
    let now = now_rfc3339();
    let index = match found {
        Some(i) => i,
        None => {
            data.profiles.push(Profile {
                id: shared.id(),
                email: None,
                phone_number: None,
                external_id: None,
                first_name: None,
                last_name: None,
                properties: Map::new(),
                email_marketing: None,
                sms_marketing: None,
                created: now.clone(),
                updated: now.clone(),
            });
            data.profiles.len() - 1
        }
    };
    let profile = &mut data.profiles[index];
    for (field, value) in [
        (&mut profile.email, &ids.email),
        (&mut profile.phone_number, &ids.phone_number),
        (&mut profile.external_id, &ids.external_id),
    ] {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    profile.updated = now;
    (index, found.is_none())
}

async fn profile_import(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, attributes) = resource(&body, "profile")?;
    let pointer = "/data/attributes";
    let ids = identifiers(&attributes, pointer)?;
    if ids.email.is_none() && ids.phone_number.is_none() && ids.external_id.is_none() {
        return Err(invalid(
            pointer,
            "One of `email`, `phone_number` or `external_id` is required.",
        ));
    }
    let mut names = Vec::new();
    for field in ["first_name", "last_name"] {
        match attributes.get(field) {
            None => names.push(None),
            Some(_) => names.push(Some(text(&attributes, field, pointer)?)),
        }
    }
    let properties = match attributes.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(invalid(
                "/data/attributes/properties",
                "`properties` must be an object.",
            ))
        }
    };
    let mut data = shared.data();
    let (index, created) = upsert(&shared, &mut data, &ids);
    let profile = &mut data.profiles[index];
    for (field, value) in [&mut profile.first_name, &mut profile.last_name]
        .into_iter()
        .zip(names)
    {
        if let Some(value) = value {
            *field = value;
        }
    }
    profile.properties.extend(properties);
    let base = shared.base_url.lock().expect("base url").clone();
    let body = json!({
        "data": {
            "type": "profile",
            "id": profile.id,
            "attributes": profile_attributes(profile),
            "relationships": {
                "lists": {"links": {"self": format!("{base}/api/profiles/{}/relationships/lists/", profile.id), "related": format!("{base}/api/profiles/{}/lists/", profile.id)}},
                "segments": {"links": {"self": format!("{base}/api/profiles/{}/relationships/segments/", profile.id), "related": format!("{base}/api/profiles/{}/segments/", profile.id)}},
            },
            "links": {"self": format!("{base}/api/profiles/{}/", profile.id)},
        },
        "links": {"self": format!("{base}/api/profile-import")},
    });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(document(status, body))
}

async fn create_event(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, attributes) = resource(&body, "event")?;
    let base = "/data/attributes";
    let Some(properties) = attributes
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
    else {
        return Err(invalid(
            &format!("{base}/properties"),
            "`properties` is required and must be an object.",
        ));
    };
    let metric = attributes
        .get("metric")
        .and_then(|m| m.get("data"))
        .filter(|m| m["type"] == "metric")
        .and_then(|m| m.pointer("/attributes/name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && n.chars().count() < 128);
    let Some(metric) = metric.map(str::to_owned) else {
        return Err(invalid(
            &format!("{base}/metric/data/attributes/name"),
            "A metric of type `metric` with a `name` under 128 characters is required.",
        ));
    };
    let profile = attributes
        .get("profile")
        .and_then(|p| p.get("data"))
        .filter(|p| p["type"] == "profile")
        .and_then(|p| p.get("attributes"))
        .and_then(Value::as_object);
    let Some(profile) = profile else {
        return Err(invalid(
            &format!("{base}/profile/data"),
            "A profile of type `profile` with `attributes` is required.",
        ));
    };
    let ids = identifiers(profile, &format!("{base}/profile/data/attributes"))?;
    if ids.email.is_none() && ids.phone_number.is_none() && ids.external_id.is_none() {
        return Err(invalid(
            &format!("{base}/profile/data/attributes"),
            "The profile needs at least one identifier (`email`, `phone_number` or `external_id`).",
        ));
    }
    let time = text(&attributes, "time", base)?;
    if time
        .as_deref()
        .is_some_and(|t| date_time(t).is_none_or(|t| t < "1990-01-01T00:00:00"))
    {
        return Err(invalid(
            &format!("{base}/time"),
            "`time` must be an ISO 8601 date-time after 1990.",
        ));
    }
    let value = attributes.get("value").filter(|v| !v.is_null()).cloned();
    if value.as_ref().is_some_and(|v| !v.is_number()) {
        return Err(invalid(
            &format!("{base}/value"),
            "`value` must be a number.",
        ));
    }
    let unique_id = text(&attributes, "unique_id", base)?;
    let value_currency = text(&attributes, "value_currency", base)?;
    let mut data = shared.data();
    let (index, _) = upsert(&shared, &mut data, &ids);
    let profile_id = data.profiles[index].id.clone();
    if let Some(unique) = &unique_id {
        *data.event_posts.entry(unique.clone()).or_default() += 1;
        let seen: HashSet<(&str, &str)> = data
            .events
            .iter()
            .filter_map(|e| Some((e.metric.as_str(), e.unique_id.as_deref()?)))
            .collect();
        if seen.contains(&(metric.as_str(), unique.as_str())) {
            return Ok(accepted());
        }
    }
    let id = shared.id();
    engagement::metric_id(&shared, &mut data, &metric);
    let event = Event {
        id,
        metric,
        profile_id,
        unique_id,
        at: engagement::event_at(time.as_deref()),
        time,
        value,
        value_currency,
        properties,
    };
    engagement::after_event(&shared, &mut data, &event);
    data.events.push(event);
    Ok(accepted())
}

/// The `profiles.data` of a subscription job, at most `max` of them.
fn job_profiles(attributes: &Map<String, Value>, max: usize) -> Result<Vec<Value>, ApiError> {
    let pointer = "/data/attributes/profiles/data";
    let profiles = attributes
        .get("profiles")
        .and_then(|p| p.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| invalid(pointer, "`profiles.data` is required and must be an array."))?;
    if profiles.is_empty() || profiles.len() > max {
        return Err(invalid(
            pointer,
            &format!("Between 1 and {max} profiles are allowed per job."),
        ));
    }
    Ok(profiles)
}

/// The list a job names, which must exist; `None` when the job names no list.
fn job_list(data: &Data, job: &Value) -> Result<Option<String>, ApiError> {
    let Some(list) = job.pointer("/relationships/list/data") else {
        return Ok(None);
    };
    let id = list
        .get("id")
        .and_then(Value::as_str)
        .filter(|_| list["type"] == "list")
        .ok_or_else(|| {
            invalid(
                "/data/relationships/list/data",
                "A list needs `type: list` and an `id`.",
            )
        })?;
    if !data.lists.contains_key(id) {
        return Err(error(
            404,
            "not_found",
            "Not found.",
            &format!("List {id:?} does not exist."),
            Some("/data/relationships/list/data/id"),
        ));
    }
    Ok(Some(id.to_owned()))
}

/// The marketing parameters a job profile gives per channel (`email`, `sms`).
type ChannelParameters<'a> = Vec<(&'static str, &'a Map<String, Value>)>;

/// Who one job profile is and the channel changes it asks for.
fn channels<'a>(
    profile: &'a Value,
    at: &str,
) -> Result<(Identifiers, ChannelParameters<'a>), ApiError> {
    let attributes = profile
        .get("attributes")
        .and_then(Value::as_object)
        .filter(|_| profile["type"] == "profile")
        .ok_or_else(|| invalid(at, "Each profile needs `type: profile` and `attributes`."))?;
    let ids = identifiers(attributes, &format!("{at}/attributes"))?;
    let subscriptions = attributes
        .get("subscriptions")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            invalid(
                &format!("{at}/attributes/subscriptions"),
                "`subscriptions` is required.",
            )
        })?;
    let mut wanted = Vec::new();
    for (channel, needs) in [("email", &ids.email), ("sms", &ids.phone_number)] {
        if let Some(marketing) = subscriptions
            .get(channel)
            .and_then(|c| c.get("marketing"))
            .and_then(Value::as_object)
        {
            if needs.is_none() {
                return Err(invalid(
                    &format!("{at}/attributes"),
                    &format!(
                        "A {channel} subscription needs the profile's {}.",
                        if channel == "email" {
                            "email"
                        } else {
                            "phone_number"
                        }
                    ),
                ));
            }
            wanted.push((channel, marketing));
        }
    }
    if wanted.is_empty() {
        return Err(invalid(
            &format!("{at}/attributes/subscriptions"),
            "No email or SMS marketing subscription given.",
        ));
    }
    Ok((ids, wanted))
}

async fn subscribe_job(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (job, attributes) = resource(&body, "profile-subscription-bulk-create-job")?;
    let historical = attributes.get("historical_import").and_then(Value::as_bool) == Some(true);
    let custom_source = attributes
        .get("custom_source")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let profiles = job_profiles(&attributes, MAX_SUBSCRIBE)?;
    let now = now_rfc3339();
    let mut changes = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let at = format!("/data/attributes/profiles/data/{i}");
        let (ids, wanted) = channels(profile, &at)?;
        let mut consents = Vec::new();
        for (channel, marketing) in wanted {
            let pointer = format!("{at}/attributes/subscriptions/{channel}/marketing");
            if marketing.get("consent").and_then(Value::as_str) != Some("SUBSCRIBED") {
                return Err(invalid(
                    &format!("{pointer}/consent"),
                    "`consent` must be \"SUBSCRIBED\".",
                ));
            }
            let consented_at = marketing.get("consented_at").and_then(Value::as_str);
            match (historical, consented_at) {
                (false, Some(_)) => {
                    return Err(invalid(
                        &format!("{pointer}/consented_at"),
                        "`consented_at` is only allowed when `historical_import` is true.",
                    ))
                }
                (true, None) => {
                    return Err(invalid(
                        &format!("{pointer}/consented_at"),
                        "`consented_at` is required when `historical_import` is true.",
                    ))
                }
                (true, Some(t)) if date_time(t).is_none_or(|t| t > &now[..19]) => {
                    return Err(invalid(
                        &format!("{pointer}/consented_at"),
                        "`consented_at` must be an ISO 8601 date-time in the past.",
                    ))
                }
                _ => {}
            }
            consents.push((channel, consented_at.map(str::to_owned)));
        }
        changes.push((ids, consents));
    }
    let mut data = shared.data();
    let list = job_list(&data, &job)?;
    for (ids, consents) in changes {
        let (index, _) = upsert(&shared, &mut data, &ids);
        let profile = &mut data.profiles[index];
        for (channel, consented_at) in consents {
            let state = Some(Consent {
                consent: "SUBSCRIBED".into(),
                consented_at,
                custom_source: custom_source.clone(),
            });
            match channel {
                "email" => profile.email_marketing = state,
                _ => profile.sms_marketing = state,
            }
        }
        let id = profile.id.clone();
        if let Some(list) = &list {
            data.lists.get_mut(list).expect("checked list").insert(id);
        }
    }
    Ok(accepted())
}

async fn unsubscribe_job(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (job, attributes) = resource(&body, "profile-subscription-bulk-delete-job")?;
    let profiles = job_profiles(&attributes, MAX_UNSUBSCRIBE)?;
    let mut changes = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let at = format!("/data/attributes/profiles/data/{i}");
        let (ids, wanted) = channels(profile, &at)?;
        for (channel, marketing) in &wanted {
            if marketing.get("consent").and_then(Value::as_str) != Some("UNSUBSCRIBED") {
                return Err(invalid(
                    &format!("{at}/attributes/subscriptions/{channel}/marketing/consent"),
                    "`consent` must be \"UNSUBSCRIBED\".",
                ));
            }
        }
        changes.push((ids, wanted.into_iter().map(|(c, _)| c).collect::<Vec<_>>()));
    }
    let mut data = shared.data();
    let list = job_list(&data, &job)?;
    for (ids, channels) in changes {
        let (index, _) = upsert(&shared, &mut data, &ids);
        let profile = &mut data.profiles[index];
        for channel in channels {
            let state = Some(Consent {
                consent: "UNSUBSCRIBED".into(),
                consented_at: None,
                custom_source: None,
            });
            match channel {
                "email" => profile.email_marketing = state,
                _ => profile.sms_marketing = state,
            }
        }
        let id = profile.id.clone();
        match &list {
            Some(list) => {
                data.lists.get_mut(list).expect("checked list").remove(&id);
            }
            None => data.lists.values_mut().for_each(|members| {
                members.remove(&id);
            }),
        }
    }
    Ok(accepted())
}

/// `POST /api/data-privacy-deletion-jobs`: deletes every profile matching exactly one identifier,
/// the profile's `id` (on the resource) or its `email` or `phone_number` (attributes).
async fn deletion_job(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, attributes) = resource(&body, "data-privacy-deletion-job")?;
    let pointer = "/data/attributes/profile/data";
    let Some(profile) = attributes
        .get("profile")
        .and_then(|p| p.get("data"))
        .filter(|d| d["type"] == "profile")
    else {
        return Err(invalid(
            pointer,
            "A profile of type `profile` with `attributes` is required.",
        ));
    };
    let Some(who) = profile.get("attributes").and_then(Value::as_object) else {
        return Err(invalid(
            &format!("{pointer}/attributes"),
            "`attributes` is required and must be an object.",
        ));
    };
    if let Some(field) = who
        .keys()
        .find(|k| !["email", "phone_number"].contains(&k.as_str()))
    {
        return Err(invalid(
            &format!("{pointer}/attributes/{field}"),
            "Only `email` or `phone_number` (or the profile's `id`) identify a profile.",
        ));
    }
    let mut given: Vec<(&str, &Value)> = who
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(profile.get("id").map(|id| ("id", id)))
        .filter(|(_, v)| !v.is_null())
        .collect();
    let (Some((field, value)), None) = (given.pop(), given.pop()) else {
        return Err(invalid(
            pointer,
            "Exactly one of `email`, `phone_number` or `id` is required.",
        ));
    };
    let Some(value) = value.as_str() else {
        return Err(invalid(
            &format!("{pointer}/{field}"),
            "The identifier must be a string.",
        ));
    };
    let mut data = shared.data();
    let matches = |p: &Profile| match field {
        "email" => p.email.as_deref() == Some(value),
        "phone_number" => p.phone_number.as_deref() == Some(value),
        _ => p.id == value,
    };
    let gone: Vec<String> = data
        .profiles
        .iter()
        .filter(|p| matches(p))
        .map(|p| p.id.clone())
        .collect();
    data.profiles.retain(|p| !gone.contains(&p.id));
    data.events.retain(|e| !gone.contains(&e.profile_id));
    for members in data.lists.values_mut() {
        members.retain(|id| !gone.contains(id));
    }
    data.deleted.push(json!({ field: value }));
    Ok(accepted())
}

/// Attributes `GET /api/profiles` may filter by (with `equals`) and return.
const PROFILE_FIELDS: [&str; 7] = [
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "created",
    "updated",
];

/// A profile's attributes as Klaviyo returns them.
fn profile_attributes(profile: &Profile) -> Map<String, Value> {
    let attributes = json!({
        "email": profile.email,
        "phone_number": profile.phone_number,
        "external_id": profile.external_id,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "organization": null,
        "locale": null,
        "title": null,
        "image": null,
        "created": profile.created,
        "updated": profile.updated,
        "last_event_date": null,
        "location": null,
        "properties": profile.properties,
    });
    match attributes {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

/// `equals(<field>,"<value>")`, the filter this simulator understands.
fn equals_filter(filter: &str) -> Option<(&str, String)> {
    let inner = filter.strip_prefix("equals(")?.strip_suffix(')')?;
    let (field, value) = inner.split_once(',')?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    Some((field.trim(), value.replace("\\\"", "\"")))
}

/// `GET /api/profiles`: profiles in creation order, filtered by `equals` on `id`, `email`,
/// `phone_number` or `external_id`, with sparse fieldsets (`fields[profile]`) and cursor paging
/// (`page[size]` 1 to 100, default 20; `links.next`).
async fn list_profiles(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let parameter = invalid_parameter;
    let filter = match query.get("filter") {
        None => None,
        Some(f) => match equals_filter(f) {
            Some((field, value))
                if ["id", "email", "phone_number", "external_id"].contains(&field) =>
            {
                Some((field.to_owned(), value))
            }
            _ => {
                return Err(parameter(
                    "filter",
                    &format!("Invalid filter provided: {f:?}."),
                ))
            }
        },
    };
    let fields: Option<Vec<&str>> = query
        .get("fields[profile]")
        .map(|f| f.split(',').map(str::trim).collect());
    if let Some(bad) = fields
        .iter()
        .flatten()
        .find(|f| !PROFILE_FIELDS.contains(f))
    {
        return Err(parameter(
            "fields[profile]",
            &format!("{bad:?} is not a valid field for the resource 'profile'."),
        ));
    }
    let size = match query.get("page[size]").map(|s| s.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Err(parameter(
                "page[size]",
                "page[size] must be between 1 and 100.",
            ))
        }
    };
    let offset = match query.get("page[cursor]").map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(parameter("page[cursor]", "Invalid page cursor.")),
    };
    let data = shared.data();
    let base = shared.base_url.lock().expect("base url").clone();
    let matching: Vec<&Profile> = data
        .profiles
        .iter()
        .filter(|p| match &filter {
            None => true,
            Some((field, value)) => match field.as_str() {
                "id" => p.id == *value,
                "email" => p.email.as_deref() == Some(value),
                "phone_number" => p.phone_number.as_deref() == Some(value),
                _ => p.external_id.as_deref() == Some(value),
            },
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|p| {
            let mut attributes = profile_attributes(p);
            if let Some(fields) = &fields {
                attributes.retain(|k, _| fields.contains(&k.as_str()));
            }
            json!({"type": "profile", "id": p.id, "attributes": attributes,
                   "links": {"self": format!("{base}/api/profiles/{}/", p.id)}})
        })
        .collect();
    let links = collection_links(
        &base,
        "/api/profiles",
        &query,
        offset + size,
        matching.len(),
    );
    Ok(document(
        StatusCode::OK,
        json!({"data": page, "links": links}),
    ))
}

/// A 400 `invalid` error about query parameter `name`.
fn invalid_parameter(name: &str, detail: &str) -> ApiError {
    let mut e = error(400, "invalid", "Invalid input.", detail, None);
    e.parameter = Some(name.to_owned());
    e
}

/// A collection's `links` for a page ending at `end` of `total` items of `path`: `self`, and
/// `next` (the same query from `end`) unless the page is the last.
fn collection_links(
    base: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    end: usize,
    total: usize,
) -> Value {
    let mut links = json!({"self": format!("{base}{path}")});
    if end < total {
        let mut next = query.clone();
        next.insert("page[cursor]".into(), end.to_string());
        let encoded: Vec<String> = (next.iter())
            .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
            .collect();
        links["next"] = json!(format!("{base}{path}?{}", encoded.join("&")));
    }
    links
}

/// `s` percent-encoded for a query string.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS+00:00`, as Klaviyo writes timestamps.
fn now_rfc3339() -> String {
    rfc3339_at_offset(now_unix(), 0)
}
