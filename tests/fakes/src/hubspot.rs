//! A HubSpot simulator (shapes from VENDOR-NOTES.md and HubSpot's public reference; the spec files
//! are not licensed for copying): contacts keyed by email and merged on `batch/upsert` (property
//! values must be strings, at most 100 inputs, 207 with `errors[]` for inputs that fail), custom
//! event occurrences accepted once per `uuid` (a repeat is refused with 409 and the original kept),
//! communication-preference statuses per email and subscription with legal basis, the CRM search
//! (filter groups ORed, filters ANDed, `EQ`/`NEQ`/`HAS_PROPERTY`/`NOT_HAS_PROPERTY`, paging by
//! `after`), and GDPR deletion by email or contact id. Bearer auth (401 otherwise); every error, injected faults included, is HubSpot's
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
pub const EVENT_NAMES: [&str; 3] = ["pe_placed_order", "pe_refunded_order", "pe_journey_message"];
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
    /// Contacts by id.
    contacts: BTreeMap<String, Contact>,
    /// Contact ids by lower-case email.
    by_email: BTreeMap<String, String>,
    next_id: u64,
    /// Accepted event occurrences by `uuid`.
    events: BTreeMap<String, Value>,
    /// How often each `uuid` arrived (refused repeats included).
    event_arrivals: BTreeMap<String, usize>,
    /// Statuses by (lower-case email, subscription id).
    statuses: BTreeMap<(String, i64), SubscriptionStatus>,
    /// The `objectId` of each GDPR delete (emails lower-cased), in order.
    gdpr_deleted: Vec<String>,
    /// Emails whose upsert fails inside a batch, with HubSpot's message.
    failing: BTreeMap<String, String>,
    policy: RateLimitPolicy,
    seen: Vec<Exchange>,
}

impl Data {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        (100_000 + self.next_id).to_string()
    }

    /// Sets properties of contact `id`, keeping the email index right.
    fn set_properties(&mut self, id: &str, properties: &[(&str, &str)]) {
        let Some(contact) = self.contacts.get_mut(id) else {
            return;
        };
        let old = contact.properties.get("email").map(|e| e.to_lowercase());
        for (name, value) in properties {
            contact.properties.insert((*name).into(), (*value).into());
        }
        let new = contact.properties.get("email").map(|e| e.to_lowercase());
        if old != new {
            if let Some(old) = old {
                self.by_email.remove(&old);
            }
            if let Some(new) = new {
                self.by_email.insert(new, id.to_owned());
            }
        }
    }

    /// Removes contact `id` and all its associated content (event occurrences, subscription
    /// statuses).
    fn erase(&mut self, id: &str) {
        let Some(contact) = self.contacts.remove(id) else {
            return;
        };
        let email = contact.properties.get("email").map(|e| e.to_lowercase());
        if let Some(email) = &email {
            self.by_email.remove(email);
            self.statuses.retain(|(who, _), _| who != email);
        }
        self.events.retain(|_, occurrence| {
            let by_email = occurrence["email"]
                .as_str()
                .is_some_and(|e| Some(e.to_lowercase()) == email);
            let by_id = occurrence["objectId"].as_str() == Some(id);
            !(by_email || by_id)
        });
    }
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
            .route("/crm/v3/objects/contacts/search", post(search))
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
        let data = self.shared.data();
        let id = data.by_email.get(&email.to_lowercase())?;
        data.contacts.get(id).cloned()
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Vec<Contact> {
        self.shared.data().contacts.values().cloned().collect()
    }

    /// Creates a contact with these properties, as someone working in HubSpot (or another
    /// integration) would; returns its id.
    pub fn create_contact(&self, properties: &[(&str, &str)]) -> String {
        let mut data = self.shared.data();
        let id = data.new_id();
        data.contacts.insert(
            id.clone(),
            Contact {
                id: id.clone(),
                properties: BTreeMap::new(),
            },
        );
        data.set_properties(&id, properties);
        id
    }

    /// Sets properties of contact `id`, as an edit in HubSpot would (a new `email` re-keys it).
    pub fn edit_contact(&self, id: &str, properties: &[(&str, &str)]) {
        self.shared.data().set_properties(id, properties);
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
        let records = (data.contacts.values().map(|r| format!("{r:?}")))
            .chain(data.events.values().map(|r| format!("{r:?}")))
            .chain(data.statuses.iter().map(|r| format!("{r:?}")));
        crate::records::any_holds_all(records, texts)
    }

    /// What each GDPR delete named, in order: the email (lower-cased), or the contact id.
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
        let existing = data.by_email.get(&input.email).cloned();
        let new = existing.is_none();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = data.new_id();
                data.contacts.insert(
                    id.clone(),
                    Contact {
                        id: id.clone(),
                        properties: BTreeMap::new(),
                    },
                );
                data.by_email.insert(input.email.clone(), id.clone());
                id
            }
        };
        let contact = data.contacts.get_mut(&id).expect("inserted above");
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

/// `POST /crm/v3/objects/contacts/gdpr-delete` `{"objectId","idProperty"}`: erases the contact and
/// all associated content (its event occurrences and subscription statuses) and answers 204. With
/// `idProperty: "email"` the object is named by email, and an unknown email is blocklisted all the
/// same; without one (or with `hs_object_id`) by contact id, and an unknown id is a 404.
async fn gdpr_delete(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let body = parse(&body)?;
    let Some(object) = body.get("objectId").and_then(Value::as_str) else {
        return Err(invalid("objectId is required"));
    };
    let mut data = shared.data();
    match body.get("idProperty").and_then(Value::as_str) {
        Some("email") => {
            let email = object.to_lowercase();
            if let Some(id) = data.by_email.get(&email).cloned() {
                data.erase(&id);
            }
            data.statuses.retain(|(who, _), _| *who != email);
            data.events
                .retain(|_, o| o["email"].as_str().map(str::to_lowercase) != Some(email.clone()));
            data.gdpr_deleted.push(email);
        }
        None | Some("hs_object_id") => {
            if !data.contacts.contains_key(object) {
                return Err(error(
                    404,
                    "OBJECT_NOT_FOUND",
                    &format!("Object not found. objectId are usually numeric. {object} not found"),
                ));
            }
            data.erase(object);
            data.gdpr_deleted.push(object.to_owned());
        }
        Some(other) => {
            return Err(invalid(&format!(
                "idProperty {other} is not a unique property of contacts in this portal"
            )))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The properties a search returns when it names none.
const DEFAULT_SEARCH_PROPERTIES: [&str; 6] = [
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];
/// Search limits: filter groups, filters in all, results per page.
const MAX_FILTER_GROUPS: usize = 5;
const MAX_FILTERS: usize = 25;
const MAX_SEARCH_LIMIT: u64 = 200;

/// One search filter, checked.
struct Filter {
    property: String,
    operator: String,
    value: Option<String>,
}

impl Filter {
    fn matches(&self, contact: &Contact) -> bool {
        let held = contact.properties.get(&self.property);
        let equal = || {
            held.zip(self.value.as_ref())
                .is_some_and(|(h, v)| h.eq_ignore_ascii_case(v))
        };
        match self.operator.as_str() {
            "EQ" => equal(),
            "NEQ" => !equal(),
            "HAS_PROPERTY" => held.is_some(),
            _ => held.is_none(),
        }
    }
}

fn filter_groups(body: &Map<String, Value>) -> Result<Vec<Vec<Filter>>, Refusal> {
    let groups = match body.get("filterGroups") {
        None => return Ok(Vec::new()),
        Some(Value::Array(groups)) => groups,
        Some(_) => return Err(invalid("filterGroups must be an array")),
    };
    if groups.len() > MAX_FILTER_GROUPS {
        return Err(invalid(&format!(
            "Too many filter groups: {} (at most {MAX_FILTER_GROUPS})",
            groups.len()
        )));
    }
    let mut total = 0;
    groups
        .iter()
        .map(|group| {
            let Some(filters) = group.get("filters").and_then(Value::as_array) else {
                return Err(invalid("each filter group needs `filters`, an array"));
            };
            total += filters.len();
            if total > MAX_FILTERS {
                return Err(invalid(&format!(
                    "Too many filters (at most {MAX_FILTERS})"
                )));
            }
            filters
                .iter()
                .map(|f| {
                    let text = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
                    let (Some(property), Some(operator)) = (text("propertyName"), text("operator"))
                    else {
                        return Err(invalid("each filter needs `propertyName` and `operator`"));
                    };
                    let value = text("value");
                    match operator.as_str() {
                        "EQ" | "NEQ" if value.is_none() => Err(invalid(&format!(
                            "operator {operator} needs a `value` string"
                        ))),
                        "EQ" | "NEQ" | "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => Ok(Filter {
                            property,
                            operator,
                            value,
                        }),
                        other => Err(invalid(&format!(
                            "operator {other} is not supported by this simulator"
                        ))),
                    }
                })
                .collect()
        })
        .collect()
}

/// `POST /crm/v3/objects/contacts/search`: the contacts any filter group matches (every filter of
/// a group must), in id order, `limit` (default 10, at most 200) per page from `after`, each with
/// the `properties` asked for (or the default ones); `{"total","results","paging"}`.
async fn search(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Json<Value>, Refusal> {
    let body = parse(&body)?;
    if body.get("query").is_some_and(|q| !q.is_null()) {
        return Err(invalid("`query` is not supported by this simulator"));
    }
    let groups = filter_groups(&body)?;
    let limit = match body.get("limit") {
        None => 10,
        Some(n) => match n.as_u64() {
            Some(n) if (1..=MAX_SEARCH_LIMIT).contains(&n) => n as usize,
            _ => {
                return Err(invalid(&format!(
                    "limit must be between 1 and {MAX_SEARCH_LIMIT}"
                )))
            }
        },
    };
    let after = match body.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(a)) => a
            .parse::<usize>()
            .map_err(|_| invalid("after must be the cursor of a previous page"))?,
        Some(_) => return Err(invalid("after must be a string")),
    };
    let asked: Vec<String> = match body.get("properties") {
        None => DEFAULT_SEARCH_PROPERTIES.map(str::to_owned).to_vec(),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("properties must be an array of strings"))?,
        Some(_) => return Err(invalid("properties must be an array of strings")),
    };
    let data = shared.data();
    let matching: Vec<&Contact> = data
        .contacts
        .values()
        .filter(|c| groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| f.matches(c))))
        .collect();
    let now = now_iso();
    let results: Vec<Value> = matching
        .iter()
        .skip(after)
        .take(limit)
        .map(|c| {
            let mut properties = Map::new();
            properties.insert("hs_object_id".into(), json!(c.id));
            for name in &asked {
                properties.insert(name.clone(), json!(c.properties.get(name)));
            }
            json!({"id": c.id, "properties": properties, "createdAt": now, "updatedAt": now,
                   "archived": false})
        })
        .collect();
    let mut answer = json!({"total": matching.len(), "results": results});
    if after + limit < matching.len() {
        let next = (after + limit).to_string();
        answer["paging"] = json!({"next": {"after": next, "link": format!("?after={next}")}});
    }
    Ok(Json(answer))
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
