//! Retry timing: exponential backoff with jitter, so a recovering vendor is not hit by every retry at
//! once.

use rand::Rng;
use std::time::Duration;

/// Delay before attempt `attempts + 1`: `base * 2^attempts`, capped at `max`, jittered into
/// `[delay/2, delay]`.
pub fn delay(attempts: i64, base: Duration, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 30) as u32;
    let full = base.saturating_mul(1u32 << exp.min(20)).min(max);
    let half = full / 2;
    half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        for attempts in 0..40 {
            let d = delay(attempts, base, max);
            let full = (base * 2u32.pow(attempts.min(20) as u32)).min(max);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempts}: {d:?} vs {full:?}"
            );
        }
    }
}
