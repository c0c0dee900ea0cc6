//! Per-plugin accounting of outgoing requests: how many a call may make, how many may be in flight at
//! once, and counters of what was sent, refused and received, shown in the plugin's health.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The request limits of one plugin instance.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Most `send` calls in one plugin call.
    pub per_call: u32,
    /// Shared by all of this plugin's calls: one permit per request in flight.
    pub in_flight: Arc<Semaphore>,
    pub max_in_flight: u32,
}

impl RequestLimits {
    pub fn new(per_call: u32, max_in_flight: u32) -> Self {
        RequestLimits {
            per_call,
            in_flight: Arc::new(Semaphore::new(max_in_flight as usize)),
            max_in_flight,
        }
    }
}

/// Counters of one plugin instance's outgoing requests.
#[derive(Debug, Default)]
pub struct RequestStats {
    sent: AtomicU64,
    denied: AtomicU64,
    failed: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
}

/// A reading of `RequestStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub sent: u64,
    pub denied: u64,
    pub failed: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
}

impl RequestStats {
    pub fn record_sent(&self, bytes_out: usize, bytes_in: usize) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(bytes_out as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in as u64, Ordering::Relaxed);
    }

    pub fn record_denied(&self) {
        self.denied.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            sent: self.sent.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
        }
    }
}
