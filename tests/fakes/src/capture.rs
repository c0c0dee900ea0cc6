//! A catch-hook: the generic HTTP endpoint rapport's http-sink posts to. It keeps every profile and
//! activity it accepted, counts how often each activity arrived, and can be made slow or failing.
//! A counting catch-hook (for benchmarks of a million sales) keeps only which activities arrived,
//! so that the memory measured is rapport's rather than the catch-hook's.

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// What the catch-hook holds.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// Latest version of each profile, by profile key.
    pub profiles: BTreeMap<String, Value>,
    /// How many profile items arrived in all (updates included).
    pub profile_items: usize,
    /// Every activity item accepted, in arrival order (repeats included).
    pub activities: Vec<Value>,
    /// When each of `activities` arrived.
    pub activities_at: Vec<std::time::Instant>,
    /// Every profile and activity accepted, in arrival order.
    pub arrivals: Vec<Arrival>,
    /// How many times each activity idempotency key arrived.
    pub activity_arrivals: HashMap<String, usize>,
    /// Forget requests, as received.
    pub forgets: Vec<Value>,
    /// Requests received, of any method and path (accepted, failed or refused).
    pub requests: usize,
    /// Every request received, in arrival order.
    pub seen: Vec<SeenRequest>,
}

/// One item as it arrived.
#[derive(Debug, Clone)]
pub enum Arrival {
    Profile(Value),
    Activity(Value),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// When the request arrived and when it was answered, with which status.
    pub arrived: std::time::Instant,
    pub answered: std::time::Instant,
    pub status: u16,
}

impl SeenRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    captured: Mutex<Captured>,
    faults: FaultPlan,
    /// For a counting catch-hook, a digest of each distinct activity key that arrived (and
    /// `captured` holds only the request count).
    counted: Option<Mutex<HashSet<u64>>>,
}

/// The catch-hook server: `POST /hook`.
pub struct CaptureServer {
    running: Running,
    shared: Arc<Shared>,
}

impl CaptureServer {
    pub async fn start() -> std::io::Result<CaptureServer> {
        CaptureServer::serve(Shared::default()).await
    }

    /// A catch-hook that keeps no item and no request, only which activities arrived: see
    /// [`CaptureServer::distinct_activities`].
    pub async fn counting() -> std::io::Result<CaptureServer> {
        CaptureServer::serve(Shared {
            counted: Some(Mutex::default()),
            ..Shared::default()
        })
        .await
    }

    async fn serve(shared: Shared) -> std::io::Result<CaptureServer> {
        let shared = Arc::new(shared);
        let app = Router::new()
            .route("/hook", post(receive))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        Ok(CaptureServer {
            running: serve(app, 0).await?,
            shared,
        })
    }

    /// The URL to configure as the http-sink's `url`.
    pub fn url(&self) -> String {
        format!("{}/hook", self.running.base_url())
    }

    pub fn captured(&self) -> Captured {
        self.shared.captured.lock().expect("capture lock").clone()
    }

    /// How many distinct activities arrived, without copying what was captured.
    pub fn distinct_activities(&self) -> usize {
        match &self.shared.counted {
            Some(counted) => counted.lock().expect("count lock").len(),
            None => (self.shared.captured.lock().expect("capture lock"))
                .activity_arrivals
                .len(),
        }
    }

    /// Faults for the next requests and the latency of every answer; a faulty answer stores nothing.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }
}

/// Notes every request, whatever its method or path, and how it was answered.
async fn record(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let arrived = std::time::Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let response = next.run(request).await;
    let mut captured = shared.captured.lock().expect("capture lock");
    captured.requests += 1;
    if shared.counted.is_some() {
        return response;
    }
    captured.seen.push(SeenRequest {
        method,
        path,
        headers,
        arrived,
        answered: std::time::Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match shared
        .faults
        .intercept(|_| {
            (
                "application/json",
                r#"{"error":"injected failure"}"#.to_string(),
            )
        })
        .await
    {
        Some(injected) => injected,
        None => accept(&shared, &headers, &body).into_response(),
    }
}

/// Stores a well-formed batch; refuses a malformed one with 400.
fn accept(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Json<Value>) {
    if !headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        return bad_request("content-type must be application/json");
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("body is not JSON");
    };
    let kind = (body.get("type").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    let mut captured = shared.captured.lock().expect("capture lock");
    match kind.as_str() {
        "profiles" | "activities" => {
            let Some(Value::Array(items)) = body.get_mut("items").map(Value::take) else {
                return bad_request("`items` must be an array");
            };
            let key_field = if kind == "profiles" {
                "key"
            } else {
                "idempotency_key"
            };
            if let Some(bad) = items
                .iter()
                .position(|i| i.get(key_field).and_then(Value::as_str).is_none())
            {
                return bad_request(&format!("items[{bad}] has no `{key_field}`"));
            }
            let accepted = items.len();
            if let Some(counted) = &shared.counted {
                let mut counted = counted.lock().expect("count lock");
                for item in items.iter().filter(|_| kind == "activities") {
                    let mut digest = DefaultHasher::new();
                    item[key_field].as_str().hash(&mut digest);
                    counted.insert(digest.finish());
                }
                return (
                    StatusCode::OK,
                    Json(serde_json::json!({ "accepted": accepted })),
                );
            }
            for item in items {
                let key = item[key_field].as_str().expect("checked above").to_string();
                if kind == "profiles" {
                    captured.profile_items += 1;
                    captured.profiles.insert(key, item.clone());
                    captured.arrivals.push(Arrival::Profile(item));
                } else {
                    captured.arrivals.push(Arrival::Activity(item.clone()));
                    *captured.activity_arrivals.entry(key).or_default() += 1;
                    captured.activities.push(item);
                    captured.activities_at.push(std::time::Instant::now());
                }
            }
            (
                StatusCode::OK,
                Json(serde_json::json!({ "accepted": accepted })),
            )
        }
        "forget" => {
            captured.forgets.push(body);
            (StatusCode::OK, Json(serde_json::json!({"forgotten": true})))
        }
        other => bad_request(&format!("unknown type {other:?}")),
    }
}

fn bad_request(message: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": message})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(hook: &CaptureServer, kind: &str, keys: &[&str]) -> u16 {
        let field = if kind == "profiles" {
            "key"
        } else {
            "idempotency_key"
        };
        let items: Vec<Value> = keys
            .iter()
            .map(|k| serde_json::json!({ field: k }))
            .collect();
        reqwest::Client::new()
            .post(hook.url())
            .json(&serde_json::json!({"type": kind, "items": items}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn a_counting_hook_counts_distinct_activities_and_keeps_nothing_else() {
        let hook = CaptureServer::counting().await.unwrap();
        assert_eq!(post(&hook, "activities", &["a", "b"]).await, 200);
        assert_eq!(post(&hook, "activities", &["b", "c"]).await, 200);
        assert_eq!(post(&hook, "profiles", &["p"]).await, 200);
        assert_eq!(hook.distinct_activities(), 3);
        let captured = hook.captured();
        assert_eq!(captured.requests, 3);
        assert!(captured.activities.is_empty() && captured.seen.is_empty());
        assert!(captured.profiles.is_empty() && captured.arrivals.is_empty());
    }

    #[tokio::test]
    async fn a_keeping_hook_keeps_every_arrival() {
        let hook = CaptureServer::start().await.unwrap();
        post(&hook, "activities", &["a", "b"]).await;
        post(&hook, "activities", &["b"]).await;
        assert_eq!(hook.distinct_activities(), 2);
        let captured = hook.captured();
        assert_eq!((captured.activities.len(), captured.seen.len()), (3, 2));
        assert_eq!(captured.activity_arrivals["b"], 2);
    }
}
