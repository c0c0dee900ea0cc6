//! The statistics an experiment report rests on, kept apart from the report's wording so each
//! formula is tested on its own against numbers worked out by hand: the Wilson score interval of a
//! conversion rate, the pooled two-proportion z-test between two arms, and the lift of one rate
//! over another.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// The standard normal quantile for a two-sided 95% interval (Φ⁻¹(0.975)).
const Z_95: f64 = 1.959_963_984_540_054;

/// The significance level below which a difference is called unlikely to be chance.
pub const ALPHA: f64 = 0.05;

/// A 95% confidence interval of a rate, as shares from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The rate `successes / trials`; `None` without trials.
pub fn rate(successes: u64, trials: u64) -> Option<f64> {
    (trials > 0).then(|| successes as f64 / trials as f64)
}

/// The Wilson score interval at 95% of `successes` out of `trials`: unlike the normal
/// approximation, it stays inside [0, 1] and is useful for small counts and rates near 0 or 1.
/// `None` without trials.
pub fn wilson(successes: u64, trials: u64) -> Option<Interval> {
    let p = rate(successes, trials)?;
    let n = trials as f64;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The two-sided p-value of the pooled two-proportion z-test of `x1 / n1` against `x2 / n2`.
/// `None` if either arm has no trials; 1 when the pooled rate is 0 or 1 (both arms converted
/// none, or all: no evidence of any difference).
pub fn two_proportion_p(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    let (p1, p2) = (rate(x1, n1)?, rate(x2, n2)?);
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return Some(1.0);
    }
    let z = ((p1 - p2) / se).abs();
    let normal = Normal::standard();
    Some((2.0 * normal.sf(z)).min(1.0))
}

/// The lift of `rate` over `baseline`: (rate − baseline) / baseline; `None` when the baseline is
/// 0, where no relative change is defined.
pub fn lift(rate: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0).then(|| (rate - baseline) / baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-5,
            "{actual} is not {expected}"
        );
    }

    #[test]
    fn wilson_interval_of_12_in_100() {
        // p = 0.12, n = 100, z = 1.959964, z² = 3.841459.
        // denominator = 1 + z²/n = 1.03841459
        // centre = (p + z²/2n) / denominator = (0.12 + 0.01920729) / 1.03841459 = 0.13405773
        // half = z / denominator × √(p(1−p)/n + z²/4n²)
        //      = 1.959964 / 1.03841459 × √(0.001056 + 0.00009603647)
        //      = 1.88745 × 0.03394166 = 0.06406366
        // interval = [0.13405773 − 0.06406366, 0.13405773 + 0.06406366] = [0.06999407, 0.19812139]
        let interval = wilson(12, 100).unwrap();
        close(interval.low, 0.069994);
        close(interval.high, 0.198121);
    }

    #[test]
    fn wilson_interval_at_the_edges_stays_within_0_and_1() {
        // 0 of 10: p = 0, z²/n = 0.3841459, denominator = 1.3841459;
        // centre = (0 + 0.19207297) / 1.3841459 = 0.13876637;
        // half = 1.959964 / 1.3841459 × √(0 + 3.841459/400) = 1.41600 × 0.09799820 = 0.13876637
        // so [0, 0.27753274].
        let none = wilson(0, 10).unwrap();
        close(none.low, 0.0);
        close(none.high, 0.277533);
        // 10 of 10 mirrors it: [1 − 0.27753274, 1].
        let all = wilson(10, 10).unwrap();
        close(all.low, 0.722467);
        close(all.high, 1.0);
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn two_proportion_test_of_12_in_100_against_8_in_100() {
        // p1 = 0.12, p2 = 0.08; pooled p = 20/200 = 0.1;
        // se = √(0.1 × 0.9 × (1/100 + 1/100)) = √0.0018 = 0.04242641;
        // z = 0.04 / 0.04242641 = 0.94280904; Φ(0.942809) = 0.82711071;
        // p = 2 × (1 − 0.82711071) = 0.34577859.
        close(two_proportion_p(12, 100, 8, 100).unwrap(), 0.345779);
        // Two-sided: the order of the arms does not matter.
        close(two_proportion_p(8, 100, 12, 100).unwrap(), 0.345779);
    }

    #[test]
    fn two_proportion_test_of_30_in_200_against_15_in_200() {
        // p1 = 0.15, p2 = 0.075; pooled p = 45/400 = 0.1125;
        // se = √(0.1125 × 0.8875 × (2/200)) = √0.000998438 = 0.03159807;
        // z = 0.075 / 0.03159807 = 2.37356332; Φ(2.373563) = 0.99119131;
        // p = 2 × (1 − 0.99119131) = 0.01761737.
        close(two_proportion_p(30, 200, 15, 200).unwrap(), 0.017617);
    }

    #[test]
    fn two_proportion_test_without_people_or_without_any_difference() {
        assert_eq!(two_proportion_p(1, 10, 0, 0), None);
        assert_eq!(two_proportion_p(0, 0, 1, 10), None);
        // Nobody converted anywhere (pooled 0), or everybody did (pooled 1): no evidence.
        assert_eq!(two_proportion_p(0, 10, 0, 20), Some(1.0));
        assert_eq!(two_proportion_p(10, 10, 20, 20), Some(1.0));
        // The same rate: z = 0, p = 2 × (1 − Φ(0)) = 2 × 0.5 = 1.
        close(two_proportion_p(5, 50, 10, 100).unwrap(), 1.0);
    }

    #[test]
    fn lift_is_relative_to_the_baseline_and_undefined_over_zero() {
        // (0.12 − 0.08) / 0.08 = 0.5: +50%.
        close(lift(0.12, 0.08).unwrap(), 0.5);
        // (0.06 − 0.08) / 0.08 = −0.25.
        close(lift(0.06, 0.08).unwrap(), -0.25);
        assert_eq!(lift(0.1, 0.0), None);
        assert_eq!(rate(3, 0), None);
    }
}
