//! The pace of one sink: a vendor's 429 or Retry-After pauses the whole sink (not only the items that
//! were refused) and halves its request rate; successes win the rate back step by step, up to the
//! configured ceiling. Additive increase, multiplicative decrease, as congestion control does.

use std::time::{Duration, Instant};

/// Slowest pace after repeated throttling: one call per this long.
const SLOWEST_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct RateGate {
    /// Shortest time between two calls when the vendor is happy (zero: no ceiling).
    fastest: Duration,
    /// Current time between two calls.
    interval: Duration,
    next_call: Instant,
}

impl RateGate {
    /// `max_per_second`: the ceiling; `None` sends as fast as the vendor allows.
    pub fn new(max_per_second: Option<f64>) -> Self {
        let fastest = max_per_second
            .filter(|r| *r > 0.0)
            .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
        RateGate {
            fastest,
            interval: fastest,
            next_call: Instant::now(),
        }
    }

    /// How long to wait before the next call may go.
    pub fn wait(&self) -> Duration {
        self.next_call.saturating_duration_since(Instant::now())
    }

    /// A call is going out now.
    pub fn sent(&mut self) {
        self.next_call = self.next_call.max(Instant::now()) + self.interval;
    }

    /// The vendor throttled: pause for `retry_after` (if it said) and halve the pace.
    pub fn throttled(&mut self, retry_after: Option<Duration>) {
        self.interval = (self.interval * 2)
            .max(Duration::from_millis(50))
            .min(SLOWEST_INTERVAL);
        let pause = retry_after.unwrap_or(self.interval);
        self.next_call = self.next_call.max(Instant::now() + pause);
    }

    /// The vendor accepted a call: speed up by a tenth, back towards the ceiling.
    pub fn accepted(&mut self) {
        self.interval = self.interval.mul_f64(0.9);
        if self.interval < self.fastest || self.interval < Duration::from_millis(1) {
            self.interval = self.fastest;
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_pauses_and_slows_then_successes_recover() {
        let mut gate = RateGate::new(Some(100.0));
        assert_eq!(gate.interval(), Duration::from_millis(10));
        gate.throttled(Some(Duration::from_millis(300)));
        assert!(
            gate.wait() > Duration::from_millis(250),
            "Retry-After pauses the sink"
        );
        assert_eq!(gate.interval(), Duration::from_millis(50));
        for _ in 0..100 {
            gate.accepted();
        }
        assert_eq!(
            gate.interval(),
            Duration::from_millis(10),
            "back to the ceiling, never past it"
        );
    }

    #[test]
    fn without_a_ceiling_a_happy_sink_never_waits() {
        let mut gate = RateGate::new(None);
        gate.sent();
        assert_eq!(gate.wait(), Duration::ZERO);
        gate.throttled(None);
        assert!(gate.wait() >= Duration::from_millis(40));
        for _ in 0..200 {
            gate.accepted();
        }
        assert_eq!(gate.interval(), Duration::ZERO);
    }
}
