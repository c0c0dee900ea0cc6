//! Capture instead of the network, for shadow sinks and dry runs: a plugin in capture mode runs for
//! real, but each `send` that passes the per-call limits and the egress policy is recorded and
//! answered with a synthetic response; no name is resolved and no connection made. The sandbox
//! knows nothing of where captured requests go: the host runs a plugin call inside [`collect`], and
//! gets back that call's requests. A plugin call runs synchronously on the thread that makes it
//! (so do its `send`s), which is what ties the requests to the call, even with several calls of one
//! plugin in flight on other threads.

use std::cell::RefCell;

/// Where a plugin's `send` goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SendMode {
    /// To the vendor, over the network.
    #[default]
    Network,
    /// Nowhere: recorded and answered by the host.
    Capture,
}

/// The header every synthetic answer carries, so a plugin (or a reader of its logs) can tell.
pub const SHADOW_HEADER: &str = "x-rapport-shadow";

/// A request a plugin asked for in capture mode: its own headers only (never the credentials the
/// host injects for the destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The synthetic answer to a captured request: status 200, [`SHADOW_HEADER`], an empty JSON object.
pub fn synthetic_response() -> super::http::IncomingResponse {
    super::http::IncomingResponse {
        status: 200,
        headers: vec![
            (SHADOW_HEADER.to_string(), "1".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ],
        body: b"{}".to_vec(),
    }
}

thread_local! {
    /// The requests captured on this thread since the innermost [`collect`] began.
    static CAPTURED: RefCell<Option<Vec<CapturedRequest>>> = const { RefCell::new(None) };
}

/// Runs `call` (a plugin call) and returns its result with the requests it captured, in order.
pub fn collect<R>(call: impl FnOnce() -> R) -> (R, Vec<CapturedRequest>) {
    let outer = CAPTURED.with(|c| c.replace(Some(Vec::new())));
    let result = call();
    let captured = CAPTURED.with(|c| c.replace(outer)).unwrap_or_default();
    (result, captured)
}

/// Records `request` for the [`collect`] running on this thread; outside one it is logged and
/// dropped (still never sent).
pub(crate) fn record(request: CapturedRequest) {
    let dropped = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(list) => {
            list.push(request);
            None
        }
        None => Some(request),
    });
    if let Some(request) = dropped {
        tracing::warn!(method = %request.method, url = %request.url,
            "a captured request outside any capture scope was dropped (nothing was sent)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> CapturedRequest {
        CapturedRequest {
            method: "POST".into(),
            url: url.into(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn each_scope_gets_its_own_requests_in_order() {
        let (((), inner), outer) = collect(|| {
            record(request("https://a.test/1"));
            let inner = collect(|| record(request("https://a.test/2")));
            record(request("https://a.test/3"));
            inner
        });
        assert_eq!(inner, vec![request("https://a.test/2")]);
        assert_eq!(
            outer,
            vec![request("https://a.test/1"), request("https://a.test/3")]
        );
        let ((), none) = collect(|| ());
        assert!(none.is_empty());
    }
}
