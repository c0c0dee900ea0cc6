//! The OpenAPI document at `/api/openapi.json`, fetched over real HTTP from a host on loopback.
//!
//! - It needs the admin token (401 without), parses as OpenAPI 3.1 with the `oas3` model, and every
//!   `$ref` in it points at something in the document.
//! - It lists exactly the routes in `ROUTES`, the hand-written list of what README's "The HTTP
//!   surface" names: a route added to the router and README but not to the document fails the
//!   comparison, as does a documented route no one meant to serve.
//! - Every documented operation is served: probed with the admin token, none gets axum's answer for
//!   an unrouted path (404 with an empty body) or method (405), so a document naming a route the
//!   router does not have fails too.
//! - Every operation the document says needs a token (the shop's source takes pushes only with its
//!   upload token) answers 401 without one, and no operation it calls public does.

use rapport_e2e::{admin_token, free_port, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::server::serve;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every route the host serves, as README's "The HTTP surface" names them.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/summary"),
    ("GET", "/api/backfills"),
    ("GET", "/api/operations"),
    ("GET", "/api/plugins"),
    ("POST", "/api/plugins/{target}/rollback"),
    ("POST", "/api/plugins/{target}/disable"),
    ("POST", "/api/plugins/{target}/enable"),
    ("POST", "/api/plugins/{target}/reload"),
    ("POST", "/api/config/apply"),
    ("GET", "/api/segments"),
    ("GET", "/api/metrics"),
    ("GET", "/api/profiles"),
    ("GET", "/api/profiles/{key}"),
    ("POST", "/api/profiles/{key}/issues"),
    ("GET", "/api/cues"),
    ("GET", "/metrics"),
    ("GET", "/staff"),
    ("GET", "/staff/staff.css"),
    ("GET", "/staff/staff.js"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/preferences/{token}"),
    ("POST", "/preferences/{token}"),
    ("POST", "/webhooks/{source}"),
    ("GET", "/"),
    ("GET", "/dashboard/dashboard.css"),
    ("GET", "/dashboard/dashboard.js"),
    ("GET", "/api/segments/{segment}/people"),
    ("GET", "/api/journeys"),
    ("GET", "/api/sinks/{sink}/failures"),
];

/// A concrete path for a documented one: each parameter filled with a value that names nothing
/// (the source is the shop's own, so its push is refused for want of an upload token).
fn concrete(path: &str) -> String {
    path.replace("{target}", "no-such-plugin")
        .replace("{key}", "p-nobody")
        .replace("{token}", "not-a-link")
        .replace("{source}", "shop")
        .replace("{segment}", "no-such-segment")
        .replace("{sink}", "no-such-sink")
}

/// Every `$ref` in `value`, wherever it is.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_validates_and_lists_every_route() {
    let crm = CaptureServer::start().await.unwrap();
    let port = free_port();
    let dir = TestShop::new()
        .sqlite()
        .listen(port)
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    let _http = serve(rapport_host::daemon::admin_router(&pipeline), port)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let token = admin_token(&pipeline.store).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{base}/api/openapi.json");

    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let answer = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.text().await.unwrap();
    let spec = oas3::from_json(&text).expect("an OpenAPI 3.1 document");
    spec.validate_version()
        .expect("a supported OpenAPI version");
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty(), "the refusals refer to ErrorBody");
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .expect("a reference inside the document");
        assert!(document.pointer(pointer).is_some(), "{target} resolves");
    }

    let paths = spec.paths.clone().unwrap_or_default();
    let mut operations = Vec::new();
    for (path, item) in &paths {
        for (method, operation) in item.methods() {
            for response in operation.responses.iter().flatten().map(|(_, r)| r) {
                response.resolve(&spec).expect("a response that resolves");
            }
            operations.push((method, path.clone(), operation.clone()));
        }
    }
    let documented: BTreeSet<(String, String)> = (operations.iter())
        .map(|(method, path, _)| (method.to_string(), path.clone()))
        .collect();
    let named: BTreeSet<(String, String)> = (ROUTES.iter())
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        named.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes README names that the document leaves out"
    );
    assert_eq!(
        documented.difference(&named).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented routes that are not in README's list"
    );

    for (method, path, operation) in &operations {
        let url = format!("{base}{}", concrete(path));
        let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let served = http
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = served.status();
        let body = served.text().await.unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            status != StatusCode::NOT_FOUND || !body.is_empty(),
            "{method} {path} is documented but not routed"
        );

        let anonymous = http.request(method.clone(), &url).send().await.unwrap();
        if !operation.security.is_empty() {
            assert_eq!(
                anonymous.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        } else {
            assert_ne!(
                anonymous.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
    }
}
