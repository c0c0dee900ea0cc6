//! A HubSpot simulator (shapes from VENDOR-NOTES.md and HubSpot's public reference; the spec files
//! are not licensed for copying): contacts keyed by email and merged on `batch/upsert` (property
//! values must be strings, at most 100 inputs, 207 with `errors[]` for inputs that fail), custom
//! event occurrences accepted once per `uuid` (a repeat is refused with 409 and the original kept),
//! communication-preference statuses per email and subscription with legal basis, and GDPR
//! deletion. Bearer auth (401 otherwise); every error, injected faults included, is HubSpot's
//! `{"status":"error","message","correlationId","category"}`, and a 429 is the rate-limit body
//! with `policyName` and the `X-HubSpot-RateLimit-*` headers.

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The private app token the simulator accepts.
pub const TOKEN: &str = "pat-na1-3c1f0a52-7d4e-4b8a-9e61-2f5d8c0b7a19";
/// The portal's marketing email subscription type.
pub const SUBSCRIPTION_ID: i64 = 4_681_243;
/// The custom events the portal defines.
pub const EVENT_NAMES: [&str; 2] = ["pe_placed_order", "pe_refunded_order"];
/// Most inputs one CRM batch request may carry.
pub const BATCH_LIMIT: usize = 100;
/// The legal bases HubSpot knows.
pub const LEGAL_BASES: [&str; 7] = [
    "LEGITIMATE_INTEREST_PQL",
    "LEGITIMATE_INTEREST_CLIENT",
    "PERFORMANCE_OF_CONTRACT",
    "CONSENT_WITH_NOTICE",
    "NON_GDPR",
    "PROCESS_AND_STORE",
    "LEGITIMATE_INTEREST_OTHER",
];
/// The ten-secondly limit of a private app, as `X-HubSpot-RateLimit-Max` reports it.
const TEN_SECONDLY_MAX: u32 = 190;
const DAILY_MAX: u32 = 1_000_000;

/// Which limit an injected 429 says was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitPolicy {
    #[default]
    TenSecondlyRolling,
    Daily,
}

/// A contact: its id and its properties (all strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: String,
    pub properties: BTreeMap<String, String>,
}

/// One subscription status of an email address.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionStatus {
    pub status: String,
    pub legal_basis: Option<String>,
    pub legal_basis_explanation: Option<String>,
}

/// One request as it arrived, with the answer it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub request: Option<Value>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response: Option<Value>,
}

impl Exchange {
    /// The first value of response header `name` (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Data {
    /// Contacts by lower-case email.
    contacts: BTreeMap<String, Contact>,
    next_id: u64,
    /// Accepted event occurrences by `uuid`.
    events: BTreeMap<String, Value>,
    /// How often each `uuid` arrived (refused repeats included).
    event_arrivals: BTreeMap<String, usize>,
    /// Statuses by (lower-case email, subscription id).
    statuses: BTreeMap<(String, i64), SubscriptionStatus>,
    gdpr_deleted: Vec<String>,
    /// Emails whose upsert fails inside a batch, with HubSpot's message.
    failing: BTreeMap<String, String>,
    policy: RateLimitPolicy,
    seen: Vec<Exchange>,
}

struct Shared {
    data: Mutex<Data>,
    faults: FaultPlan,
}

impl Shared {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("hubspot state")
    }
}

/// The running simulator.
pub struct HubSpotSim {
    running: Running,
    shared: Arc<Shared>,
}

impl HubSpotSim {
    pub async fn start() -> std::io::Result<HubSpotSim> {
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            faults: FaultPlan::default(),
        });
        let app = Router::new()
            .route("/crm/v3/objects/contacts", get(list_contacts))
            .route("/crm/v3/objects/contacts/batch/upsert", post(upsert))
            .route("/crm/v3/objects/contacts/gdpr-delete", post(gdpr_delete))
            .route("/events/v3/send", post(send_event))
            .route(
                "/communication-preferences/v4/statuses/{subscriber}",
                post(set_status),
            )
            .fallback(|| async { error(404, "OBJECT_NOT_FOUND", "Resource not found") })
            .layer(from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        Ok(HubSpotSim {
            running: serve(app, 0).await?,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT`, the sink's `api_base`.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// The contact with this email, if any.
    pub fn contact(&self, email: &str) -> Option<Contact> {
        self.shared
            .data()
            .contacts
            .get(&email.to_lowercase())
            .cloned()
    }

    /// How many contacts the portal holds.
    pub fn contact_count(&self) -> usize {
        self.shared.data().contacts.len()
    }

    /// The accepted event occurrence with this `uuid`, as it was sent.
    pub fn event(&self, uuid: &str) -> Option<Value> {
        self.shared.data().events.get(uuid).cloned()
    }

    /// Every accepted event, as sent.
    pub fn events(&self) -> Vec<Value> {
        self.shared.data().events.values().cloned().collect()
    }

    /// How many event occurrences were accepted.
    pub fn event_count(&self) -> usize {
        self.shared.data().events.len()
    }

    /// How many times an occurrence with this `uuid` arrived (refused repeats included).
    pub fn event_arrivals(&self, uuid: &str) -> usize {
        self.shared
            .data()
            .event_arrivals
            .get(uuid)
            .copied()
            .unwrap_or(0)
    }

    /// The status of `email` for `subscription`, if one was set.
    pub fn subscription_status(
        &self,
        email: &str,
        subscription: i64,
    ) -> Option<SubscriptionStatus> {
        self.shared
            .data()
            .statuses
            .get(&(email.to_lowercase(), subscription))
            .cloned()
    }

    /// Whether one record the portal keeps about people (a contact, an event occurrence, a
    /// subscription status) contains every one of `texts`, ignoring case. The request log and the
    /// GDPR blocklist are not such records.
    pub fn holds(&self, texts: &[&str]) -> bool {
        let data = self.shared.data();
        let records = (data.contacts.iter().map(|r| format!("{r:?}")))
            .chain(data.events.values().map(|r| format!("{r:?}")))
            .chain(data.statuses.iter().map(|r| format!("{r:?}")));
        crate::records::any_holds_all(records, texts)
    }

    /// Emails erased by GDPR delete, in order.
    pub fn gdpr_deleted(&self) -> Vec<String> {
        self.shared.data().gdpr_deleted.clone()
    }

    /// Makes every upsert of `email` fail inside its batch (207) with `message`.
    pub fn fail_upserts_of(&self, email: &str, message: &str) {
        self.shared
            .data()
            .failing
            .insert(email.to_lowercase(), message.to_owned());
    }

    /// Which limit injected 429s report.
    pub fn set_rate_limit_policy(&self, policy: RateLimitPolicy) {
        self.shared.data().policy = policy;
    }

    /// Every request received, in arrival order.
    pub fn seen(&self) -> Vec<Exchange> {
        self.shared.data().seen.clone()
    }

    /// Faults for the next requests (rendered as HubSpot errors) and the latency of every answer.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }
}

fn correlation_id() -> String {
    let n = rand::random::<u128>();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 68) & 0xfff,
        (n >> 56) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

fn error_body(category: &str, message: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    })
}

/// A HubSpot error answer.
pub struct Refusal {
    status: u16,
    category: &'static str,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(error_body(self.category, &self.message)),
        )
            .into_response()
    }
}

fn error(status: u16, category: &'static str, message: &str) -> Refusal {
    Refusal {
        status,
        category,
        message: message.to_owned(),
    }
}

fn invalid(message: &str) -> Refusal {
    error(400, "VALIDATION_ERROR", message)
}

/// The body HubSpot sends with `status` (used for injected faults).
fn fault_body(status: u16, policy: RateLimitPolicy) -> String {
    let body = match status {
        429 => {
            let (name, limit) = match policy {
                RateLimitPolicy::TenSecondlyRolling => ("TEN_SECONDLY_ROLLING", "ten_secondly_rolling"),
                RateLimitPolicy::Daily => ("DAILY", "daily"),
            };
            json!({
                "status": "error",
                "message": format!("You have reached your {limit} limit."),
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": name,
            })
        }
        401 => error_body("INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"),
        403 => error_body("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
        404 => error_body("OBJECT_NOT_FOUND", "Resource not found"),
        400..=499 => error_body("VALIDATION_ERROR", "Invalid input"),
        _ => error_body("INTERNAL_ERROR", "internal error"),
    };
    body.to_string()
}

/// The `X-HubSpot-RateLimit-*` headers of an answer (`limited`: the answer is a 429).
fn rate_limit_headers(policy: RateLimitPolicy, limited: bool) -> Vec<(&'static str, String)> {
    match (policy, limited) {
        (RateLimitPolicy::Daily, true) => vec![
            ("x-hubspot-ratelimit-daily", DAILY_MAX.to_string()),
            ("x-hubspot-ratelimit-daily-remaining", "0".into()),
        ],
        (_, limited) => vec![
            ("x-hubspot-ratelimit-max", TEN_SECONDLY_MAX.to_string()),
            (
                "x-hubspot-ratelimit-remaining",
                if limited { 0 } else { TEN_SECONDLY_MAX - 1 }.to_string(),
            ),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000".into()),
        ],
    }
}

/// Notes the request, checks the Bearer token, applies faults, adds the rate-limit headers and
/// records the answer.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let policy = shared.data().policy;
    let mut response = match authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        None => error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview").into_response(),
        Some(token) if token != TOKEN => error(401, "INVALID_AUTHENTICATION", "The OAuth token used to make this call expired or is invalid.").into_response(),
        Some(_) => match shared
            .faults
            .intercept(|status| ("application/json;charset=utf-8", fault_body(status, policy)))
            .await
        {
            Some(fault) => fault,
            None => {
                next.run(Request::from_parts(parts.clone(), Body::from(body.clone())))
                    .await
            }
        },
    };
    let limited = response.status() == StatusCode::TOO_MANY_REQUESTS;
    for (name, value) in rate_limit_headers(policy, limited) {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("a header value"));
    }
    let (response_parts, response_body) = response.into_parts();
    let response_body = to_bytes(response_body, 8 << 20).await.unwrap_or_default();
    shared.data().seen.push(Exchange {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.to_string()),
        authorization,
        request: serde_json::from_slice(&body).ok(),
        status: response_parts.status.as_u16(),
        response_headers: response_parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        response: serde_json::from_slice(&response_body).ok(),
    });
    Response::from_parts(response_parts, Body::from(response_body))
}

/// The body as a JSON object, or HubSpot's 400 for unreadable JSON.
fn parse(body: &Bytes) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("Invalid input JSON: expected an object")),
        Err(e) => Err(invalid(&format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        ))),
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.sssZ`, as HubSpot writes timestamps.
fn now_iso() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = rest / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rest % 1000
    )
}

fn contact_json(c: &Contact, new: Option<bool>) -> Value {
    let now = now_iso();
    let mut body = json!({
        "id": c.id,
        "properties": c.properties,
        "createdAt": now,
        "updatedAt": now,
        "archived": false,
    });
    if let Some(new) = new {
        body["new"] = json!(new);
    }
    body
}

/// `GET /crm/v3/objects/contacts?limit=n`: the first contacts (no paging needed by the sink).
async fn list_contacts(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let data = shared.data();
    let results: Vec<Value> = data
        .contacts
        .values()
        .take(10)
        .map(|c| contact_json(c, None))
        .collect();
    Json(json!({"results": results}))
}

/// One validated upsert input: the email it is keyed by and its properties.
struct UpsertInput {
    email: String,
    properties: BTreeMap<String, String>,
}

/// Validates the whole request first, as HubSpot does: one bad input fails the batch with 400.
fn upsert_inputs(body: &Map<String, Value>) -> Result<Vec<UpsertInput>, Refusal> {
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        return Err(invalid(
            "Invalid input JSON: `inputs` is required and must be an array",
        ));
    };
    if inputs.is_empty() {
        return Err(invalid("At least one input is required"));
    }
    if inputs.len() > BATCH_LIMIT {
        return Err(invalid(&format!(
            "Batch input limit of {BATCH_LIMIT} exceeded: {} inputs",
            inputs.len()
        )));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            if input.get("idProperty").and_then(Value::as_str) != Some("email") {
                return Err(invalid(&format!("inputs[{i}].idProperty must be a unique property; this portal keys contacts by `email`")));
            }
            let Some(email) = input.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                return Err(invalid(&format!("inputs[{i}].id is required")));
            };
            let Some(properties) = input.get("properties").and_then(Value::as_object) else {
                return Err(invalid(&format!("inputs[{i}].properties is required and must be an object")));
            };
            let mut strings = BTreeMap::new();
            for (name, value) in properties {
                let Some(text) = value.as_str() else {
                    return Err(invalid(&format!(
                        "Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{name}\\\" must be a string, not {value}\",\"error\":\"INVALID_TYPE\",\"name\":\"{name}\"}}]"
                    )));
                };
                strings.insert(name.clone(), text.to_owned());
            }
            Ok(UpsertInput {
                email: email.to_lowercase(),
                properties: strings,
            })
        })
        .collect()
}

/// `POST /crm/v3/objects/contacts/batch/upsert`: 200 when every input was stored, 207 with
/// `errors[]` (each naming its input in `context.ids`) when some failed.
async fn upsert(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, Refusal> {
    let inputs = upsert_inputs(&parse(&body)?)?;
    let started = now_iso();
    let mut data = shared.data();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if let Some(message) = data.failing.get(&input.email) {
            errors.push(json!({
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": message,
                "context": {"ids": [input.email]},
            }));
            continue;
        }
        let new = !data.contacts.contains_key(&input.email);
        if new {
            data.next_id += 1;
            let id = (100_000 + data.next_id).to_string();
            data.contacts.insert(
                input.email.clone(),
                Contact {
                    id,
                    properties: BTreeMap::new(),
                },
            );
        }
        let contact = data.contacts.get_mut(&input.email).expect("inserted above");
        contact.properties.extend(input.properties);
        results.push(contact_json(contact, Some(new)));
    }
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now_iso(),
    });
    if errors.is_empty() {
        return Ok(Json(answer).into_response());
    }
    answer["numErrors"] = json!(errors.len());
    answer["errors"] = Value::Array(errors);
    Ok((StatusCode::MULTI_STATUS, Json(answer)).into_response())
}

/// `POST /crm/v3/objects/contacts/gdpr-delete` `{"objectId","idProperty":"email"}`: erases the
/// contact and all associated content (its event occurrences and subscription statuses; an unknown
/// email is blocklisted all the same) and answers 204.
async fn gdpr_delete(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let body = parse(&body)?;
    let Some(email) = body.get("objectId").and_then(Value::as_str) else {
        return Err(invalid("objectId is required"));
    };
    if body.get("idProperty").and_then(Value::as_str) != Some("email") {
        return Err(error(
            404,
            "OBJECT_NOT_FOUND",
            "Object not found: objectId must be a contact id unless idProperty is `email`",
        ));
    }
    let email = email.to_lowercase();
    let mut data = shared.data();
    let contact_id = data.contacts.remove(&email).map(|c| c.id);
    data.statuses.retain(|(who, _), _| *who != email);
    data.events.retain(|_, occurrence| {
        let by_email = occurrence["email"]
            .as_str()
            .is_some_and(|e| e.to_lowercase() == email);
        let by_id =
            contact_id.is_some() && occurrence["objectId"].as_str() == contact_id.as_deref();
        !(by_email || by_id)
    });
    data.gdpr_deleted.push(email);
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `value` reads as HubSpot's `occurredAt`: milliseconds or an ISO 8601 date-time.
fn is_time(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64(),
        Value::String(s) => {
            let b = s.as_bytes();
            b.len() >= 20
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && (s.ends_with('Z') || s[19..].contains(['+', '-']))
        }
        _ => false,
    }
}

/// `POST /events/v3/send`: 204 once per `uuid`; a repeated `uuid` is refused with 409 and the
/// first occurrence kept.
async fn send_event(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<StatusCode, Refusal> {
    let body = parse(&body)?;
    let Some(name) = body.get("eventName").and_then(Value::as_str) else {
        return Err(invalid("eventName: This property is required"));
    };
    if !EVENT_NAMES.contains(&name) {
        return Err(invalid(&format!(
            "Event definition not found for eventName {name}"
        )));
    }
    if !["email", "objectId", "utk"]
        .iter()
        .any(|k| body.get(*k).is_some_and(Value::is_string))
    {
        return Err(invalid(
            "One of email, objectId or utk is required to associate the occurrence with a record",
        ));
    }
    let Some(properties) = body.get("properties").and_then(Value::as_object) else {
        return Err(invalid(
            "properties: This property is required and must be an object",
        ));
    };
    if let Some((key, _)) = properties
        .iter()
        .find(|(_, v)| !(v.is_string() || v.is_number()))
    {
        return Err(invalid(&format!(
            "properties.{key}: values must be strings or numbers"
        )));
    }
    if body.get("occurredAt").is_some_and(|t| !is_time(t)) {
        return Err(invalid(
            "occurredAt must be an ISO 8601 date-time or a Unix timestamp in milliseconds",
        ));
    }
    let uuid = match body.get("uuid") {
        None => correlation_id(),
        Some(Value::String(uuid)) => uuid.clone(),
        Some(_) => return Err(invalid("uuid must be a string")),
    };
    let mut data = shared.data();
    *data.event_arrivals.entry(uuid.clone()).or_default() += 1;
    if data.events.contains_key(&uuid) {
        return Err(error(
            409,
            "CONFLICT",
            &format!("An event occurrence with uuid {uuid} already exists"),
        ));
    }
    data.events.insert(uuid, Value::Object(body));
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /communication-preferences/v4/statuses/{email}`: sets one subscription status; this
/// portal is GDPR-enabled, so subscribing needs a legal basis and an explanation.
async fn set_status(
    State(shared): State<Arc<Shared>>,
    Path(subscriber): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let body = parse(&body)?;
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    if text("channel") != Some("EMAIL") {
        return Err(invalid(
            "channel must be one of EMAIL, SMS, WHATSAPP; this subscription is EMAIL",
        ));
    }
    let state = match text("statusState") {
        Some(s @ ("SUBSCRIBED" | "UNSUBSCRIBED" | "NOT_SPECIFIED")) => s,
        _ => {
            return Err(invalid(
                "statusState must be one of SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED",
            ))
        }
    };
    let Some(subscription) = body.get("subscriptionId").and_then(Value::as_i64) else {
        return Err(invalid("subscriptionId is required and must be a number"));
    };
    if subscription != SUBSCRIPTION_ID {
        return Err(error(
            404,
            "OBJECT_NOT_FOUND",
            &format!("No subscription definition with id {subscription}"),
        ));
    }
    let legal_basis = text("legalBasis");
    if legal_basis.is_some_and(|b| !LEGAL_BASES.contains(&b)) {
        return Err(invalid(&format!(
            "legalBasis must be one of {}",
            LEGAL_BASES.join(", ")
        )));
    }
    let explanation = text("legalBasisExplanation");
    if state == "SUBSCRIBED" && (legal_basis.is_none() || explanation.is_none()) {
        return Err(invalid(
            "legalBasis and legalBasisExplanation are required for GDPR-enabled portals",
        ));
    }
    let status = SubscriptionStatus {
        status: state.to_owned(),
        legal_basis: legal_basis.map(str::to_owned),
        legal_basis_explanation: explanation.map(str::to_owned),
    };
    shared
        .data()
        .statuses
        .insert((subscriber.to_lowercase(), subscription), status);
    let now = now_iso();
    Ok(Json(json!({
        "status": "COMPLETE",
        "results": [{
            "channel": "EMAIL",
            "source": "Public API",
            "status": state,
            "subscriberIdString": subscriber,
            "subscriptionId": subscription,
            "timestamp": now,
            "legalBasis": legal_basis,
            "legalBasisExplanation": explanation,
            "setStatusSuccessReason": "REQUESTED_CHANGE_OCCURRED",
            "subscriptionName": "Marketing Information",
        }],
        "startedAt": now,
        "completedAt": now,
    })))
}
