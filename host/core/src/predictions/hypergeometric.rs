//! The Gaussian hypergeometric function ₂F₁, which the BG/NBD's conditional expectation (Fader,
//! Hardie & Lee 2005, eq. 10) needs.
//!
//! Written here rather than taken from a crate: the pure-Rust ones (mathru's `f21`) panic when a
//! parameter is not positive, which the transformed form used below has whenever a + b < 1 + r, and
//! evaluate Γ directly, which overflows for a customer with a few dozen purchases; GSL's needs a C
//! library. The caller only ever asks for 0 ≤ z < 1 after Euler's transformation, where the plain
//! series converges; the guard below refuses what would not.

/// Relative size of the last term at which the series stops.
const TOLERANCE: f64 = 1e-15;

/// The most terms summed: the series' terms shrink like zᵏ, so this covers z up to about 0.99995;
/// nearer 1 the answer is refused rather than guessed.
const MAX_TERMS: usize = 1_000_000;

/// ₂F₁(a, b; c; z) = Σₖ (a)ₖ (b)ₖ / ((c)ₖ k!) zᵏ for 0 ≤ z < 1, by its power series; `None` if `c`
/// is a pole (zero or a negative integer the series reaches) or the series has not converged
/// within [`MAX_TERMS`].
pub(crate) fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for k in 0..MAX_TERMS {
        let k = k as f64;
        let denominator = (c + k) * (k + 1.0);
        if denominator == 0.0 {
            return None;
        }
        term *= (a + k) * (b + k) / denominator * z;
        sum += term;
        // Past the point where the numerators stop growing faster than the denominators, the terms
        // shrink geometrically: stop when the next one no longer changes the sum.
        if term == 0.0 || (term.abs() < TOLERANCE * sum.abs() && k > (a.abs() + b.abs())) {
            return sum.is_finite().then_some(sum);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::hyp2f1;

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-12 * want.abs().max(1.0)
    }

    #[test]
    fn matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.01, 0.3, 0.5, 0.9, 0.99] {
            let want = -(1.0_f64 - z).ln() / z;
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), want), "z = {z}");
        }
        // ₂F₁(a, b; b; z) = (1 − z)^−a.
        for (a, b, z) in [(0.3, 2.5, 0.7), (-0.4, 1.2, 0.95), (3.0, 0.5, 0.2)] {
            let want = (1.0_f64 - z).powf(-a);
            assert!(close(hyp2f1(a, b, b, z).unwrap(), want), "{a} {b} {z}");
        }
        // ₂F₁(1/2, 1/2; 3/2; z²) = arcsin(z) / z.
        for z in [0.2_f64, 0.6, 0.95] {
            let want = z.asin() / z;
            assert!(
                close(hyp2f1(0.5, 0.5, 1.5, z * z).unwrap(), want),
                "z = {z}"
            );
        }
        // A polynomial: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        let (b, c, z) = (1.5, 2.5, 0.4);
        let want = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(hyp2f1(-2.0, b, c, z).unwrap(), want));
    }

    #[test]
    fn refuses_what_it_cannot_sum() {
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, -0.5), None);
        assert_eq!(hyp2f1(1.0, 1.0, -1.0, 0.5), None);
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.999_999_9), None);
    }
}
