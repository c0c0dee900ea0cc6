//! Switchable faults for every simulator: the next N requests can be answered with a status (with or
//! without `Retry-After`), a malformed body or no answer at all, after letting some requests pass if
//! asked, and every answer can be slowed. Each simulator renders injected statuses in its own
//! vendor's error shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// A fault to inject into one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status, in the vendor's error shape, optionally with `Retry-After` seconds.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Answer 200 with a body that is not valid JSON.
    Malformed,
    /// Never answer (the client's timeout must fire).
    Hang,
}

/// The faults waiting for the next requests (`None`: a request let pass), a fault striking requests
/// at random, and the latency of every answer.
#[derive(Debug, Default)]
pub struct FaultPlan {
    queue: Mutex<VecDeque<Option<Fault>>>,
    random: Mutex<Option<(f64, Fault, StdRng)>>,
    latency: Mutex<Duration>,
}

impl FaultPlan {
    /// Injects `fault` into each of the next `count` requests (after faults already queued).
    pub fn fail_next(&self, count: usize, fault: Fault) {
        let mut queue = self.queue.lock().expect("fault queue");
        queue.extend(std::iter::repeat_n(Some(fault), count));
    }

    /// Lets each of the next `count` requests through untouched (after faults already queued), so
    /// that a fault queued after them strikes a request further on.
    pub fn pass_next(&self, count: usize) {
        let mut queue = self.queue.lock().expect("fault queue");
        queue.extend(std::iter::repeat_n(None, count));
    }

    /// Injects `fault` into each request with `probability` (reproducibly, from `seed`), after queued
    /// faults; a probability of 0 turns it off.
    pub fn fail_randomly(&self, probability: f64, fault: Fault, seed: u64) {
        *self.random.lock().expect("random fault") =
            (probability > 0.0).then(|| (probability, fault, StdRng::seed_from_u64(seed)));
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().expect("latency") = latency;
    }

    /// Faults still queued (requests to let pass included).
    pub fn pending(&self) -> usize {
        self.queue.lock().expect("fault queue").len()
    }

    /// Applies latency, then the next queued fault if any: `Some(response)` replaces the normal answer.
    /// `render` gives the vendor's error body (content type, body) for a status.
    pub async fn intercept(
        &self,
        render: impl Fn(u16) -> (&'static str, String),
    ) -> Option<Response> {
        let latency = *self.latency.lock().expect("latency");
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let queued = self.queue.lock().expect("fault queue").pop_front();
        let fault = queued.unwrap_or_else(|| {
            let mut random = self.random.lock().expect("random fault");
            let (probability, fault, rng) = random.as_mut()?;
            rng.gen_bool(*probability).then(|| fault.clone())
        })?;
        Some(match fault {
            Fault::Status {
                status,
                retry_after,
            } => {
                let (content_type, body) = render(status);
                let mut response = (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    [("content-type", content_type)],
                    body,
                )
                    .into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", HeaderValue::from(seconds));
                }
                response
            }
            Fault::Malformed => (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"truncated\": [1, 2",
            )
                .into_response(),
            Fault::Hang => {
                std::future::pending::<()>().await;
                unreachable!("a pending future never completes")
            }
        })
    }
}
