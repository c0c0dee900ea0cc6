//! The suite's own loopback server, put in front of the vendor by pointing the plugin's base-URL
//! setting at it: it forwards each request to the vendor (or answers from recorded answers) and
//! keeps the text of what the plugin sent, or answers every request with one injected fault.

use super::config::RecordedAnswer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rapport_core::conformance::VendorFault;
use reqwest::Url;
use std::sync::{Arc, Mutex};

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the vendor, or answer from the recordings.
    Vendor,
    /// Answer every request with this fault.
    Fault(VendorFault),
}

struct Shared {
    mode: Mutex<Mode>,
    /// The vendor's origin requests are forwarded to (none with recordings only).
    upstream: Option<Url>,
    recorded: Vec<RecordedAnswer>,
    client: reqwest::Client,
    /// The text of each request received since the last `take_requests`.
    requests: Mutex<Vec<String>>,
}

/// The running server.
pub struct LoopbackVendor {
    shared: Arc<Shared>,
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LoopbackVendor {
    /// Starts the server on a free loopback port, in front of `vendor_base` (if any).
    pub async fn start(
        vendor_base: Option<&str>,
        recorded: Vec<RecordedAnswer>,
    ) -> anyhow::Result<LoopbackVendor> {
        let upstream = vendor_base
            .map(|base| {
                Url::parse(base)
                    .map_err(|e| anyhow::anyhow!("the vendor base URL {base:?} is not a URL: {e}"))
            })
            .transpose()?;
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Vendor),
            upstream,
            recorded,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            requests: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(LoopbackVendor { shared, port, task })
    }

    /// The base URL the plugin is given: the vendor's with the server's origin (its path kept).
    pub fn base_url(&self) -> String {
        let origin = format!("http://127.0.0.1:{}", self.port);
        match &self.shared.upstream {
            Some(url) => format!("{origin}{}", url.path().trim_end_matches('/')),
            None => origin,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("mode lock") = mode;
    }

    /// The text (method, path, headers, body) of every request since the last call.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.requests.lock().expect("requests lock"))
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut text = format!("{method} {path}\n");
    for (name, value) in &headers {
        text.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str(&String::from_utf8_lossy(&body));
    shared.requests.lock().expect("requests lock").push(text);
    let mode = *shared.mode.lock().expect("mode lock");
    match mode {
        Mode::Fault(fault) => fault_answer(fault),
        Mode::Vendor => match recorded(&shared.recorded, &method, &uri) {
            Some(r) => {
                let mut answer = (
                    StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
                    r.body.clone(),
                )
                    .into_response();
                for (name, value) in &r.headers {
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::try_from(name.as_str()),
                        HeaderValue::try_from(value.as_str()),
                    ) {
                        answer.headers_mut().insert(name, value);
                    }
                }
                answer
            }
            None => forward(&shared, method, &path, headers, body).await,
        },
    }
}

/// The recorded answer for a request, if any.
fn recorded<'a>(
    answers: &'a [RecordedAnswer],
    method: &Method,
    uri: &Uri,
) -> Option<&'a RecordedAnswer> {
    answers.iter().find(|r| {
        r.method.eq_ignore_ascii_case(method.as_str())
            && match r.path.contains('?') {
                true => uri.path_and_query().is_some_and(|p| p.as_str() == r.path),
                false => uri.path() == r.path,
            }
    })
}

/// Hop-by-hop and length headers, which the forwarding client sets itself.
const NOT_FORWARDED: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

async fn forward(
    shared: &Shared,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(upstream) = &shared.upstream else {
        return (
            StatusCode::NOT_FOUND,
            format!("no recorded answer for {method} {path} and no vendor to forward to"),
        )
            .into_response();
    };
    let url = format!(
        "{}://{}{}",
        upstream.scheme(),
        upstream.host_str().unwrap_or_default(),
        upstream.port().map_or(String::new(), |p| format!(":{p}"))
    ) + path;
    let mut request = shared.client.request(method, &url).body(body);
    for (name, value) in &headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let mut out = HeaderMap::new();
            for (name, value) in response.headers() {
                if !NOT_FORWARDED.contains(&name.as_str()) {
                    out.append(name, value.clone());
                }
            }
            let body = response.bytes().await.unwrap_or_default();
            (status, out, body).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the conformance suite could not reach the vendor at {url}: {e}"),
        )
            .into_response(),
    }
}

fn fault_answer(fault: VendorFault) -> Response {
    let json = |status: StatusCode, message: &str| {
        (
            status,
            [("content-type", "application/json")],
            format!("{{\"message\":\"{message}\"}}"),
        )
            .into_response()
    };
    match fault {
        VendorFault::Unauthorized => json(StatusCode::UNAUTHORIZED, "invalid credentials"),
        VendorFault::Forbidden => json(StatusCode::FORBIDDEN, "missing scope"),
        VendorFault::RateLimitedFor(secs) => {
            let mut answer = json(StatusCode::TOO_MANY_REQUESTS, "slow down");
            answer
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            answer
        }
        VendorFault::RateLimited => json(StatusCode::TOO_MANY_REQUESTS, "slow down"),
        VendorFault::Unavailable => json(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance"),
        VendorFault::Malformed => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "<html><body>Gateway hiccup</body></html>{\"results\": [",
        )
            .into_response(),
    }
}
