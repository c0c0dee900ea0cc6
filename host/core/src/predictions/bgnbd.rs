//! The BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, "Counting Your Customers the
//! Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)): while alive, a
//! customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with
//! probability p ~ Beta(a, b). Its likelihood (eq. 6), maximum-likelihood fit, P(alive) (the
//! Fader-Hardie note "Computing P(alive) using the BG/NBD model") and conditional expected
//! purchases (eq. 10).

use super::hypergeometric::hyp2f1;
use super::optimise::{maximise, Likelihood};
use super::summary::CustomerSummary;
use super::FitError;
use statrs::function::gamma::{digamma, ln_gamma};
use std::collections::HashMap;

/// The BG/NBD's four parameters; α in the fit's time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted BG/NBD: its parameters and the log-likelihood of the data at them (the sum over
/// customers of eq. 6's logarithm, in the fit's time unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdFit {
    pub params: BgNbd,
    pub log_likelihood: f64,
}

impl BgNbd {
    /// The logarithm of eq. (6), the likelihood of one customer's (x, tₓ, T).
    pub fn log_likelihood(&self, c: &CustomerSummary) -> f64 {
        let data = Grouped::of(std::slice::from_ref(c));
        data.sum_and_gradient(self, false).0
    }

    /// P(alive | x, tₓ, T): the probability the customer has not dropped out by T. Someone who
    /// bought once only is alive (the model lets customers drop out only after a purchase).
    pub fn p_alive(&self, c: &CustomerSummary) -> f64 {
        if c.x == 0 {
            return 1.0;
        }
        let x = f64::from(c.x);
        let odds_dead = self.a / (self.b + x - 1.0)
            * ((self.alpha + c.t) / (self.alpha + c.t_x)).powf(self.r + x);
        1.0 / (1.0 + odds_dead)
    }

    /// The T (from the first purchase, in the fit's unit) after which P(alive | x, tₓ, T) is below
    /// `p`: solving eq. (13) for T, (α + T) = (α + tₓ)·k^(1/(r+x)) with
    /// k = (1/p − 1)(b + x − 1)/a. `None` for someone who bought once only (always alive) or a `p`
    /// outside (0, 1). Never earlier than tₓ.
    pub fn p_alive_falls_below(&self, c: &CustomerSummary, p: f64) -> Option<f64> {
        if c.x == 0 || !(p > 0.0 && p < 1.0) {
            return None;
        }
        let x = f64::from(c.x);
        let k = (1.0 / p - 1.0) * (self.b + x - 1.0) / self.a;
        let t = (self.alpha + c.t_x) * k.powf(1.0 / (self.r + x)) - self.alpha;
        Some(t.max(c.t_x))
    }

    /// E[Y(t) | x, tₓ, T], eq. (10): the purchases expected in the `t` after T. The ₂F₁ is taken
    /// after Euler's transformation, (1 − z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) =
    /// (1 − z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z) with z = t / (α + T + t), whose series
    /// converges without the huge terms the original has for frequent buyers. At a = 1, where
    /// eq. (10) is 0/0, it is the mean of its values on either side. `None` if the series cannot
    /// be summed.
    pub fn expected_purchases(&self, c: &CustomerSummary, t: f64) -> Option<f64> {
        const NEAR_ONE: f64 = 1e-6;
        if (self.a - 1.0).abs() < NEAR_ONE {
            let side = |a| BgNbd { a, ..*self }.expected_purchases(c, t);
            return Some((side(1.0 - NEAR_ONE)? + side(1.0 + NEAR_ONE)?) / 2.0);
        }
        if t <= 0.0 {
            return Some(0.0);
        }
        let x = f64::from(c.x);
        let BgNbd { r, alpha, a, b } = *self;
        let z = t / (alpha + c.t + t);
        let f = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)?;
        let bracket = 1.0 - (1.0 - z).powf(a - 1.0) * f;
        Some(self.p_alive(c) * (a + b + x - 1.0) / (a - 1.0) * bracket)
    }

    /// The probability that the customer's next purchase comes within `t` after T: alive (P(alive))
    /// and a first arrival of the Poisson process by then, with λ's posterior Gamma(r+x, α+T):
    /// P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)).
    pub fn next_purchase_within(&self, c: &CustomerSummary, t: f64) -> f64 {
        let shape = self.r + f64::from(c.x);
        let none_yet = ((self.alpha + c.t) / (self.alpha + c.t + t)).powf(shape);
        self.p_alive(c) * (1.0 - none_yet)
    }

    /// The median time after T of the customer's next purchase: the `t` where
    /// [`next_purchase_within`](Self::next_purchase_within) reaches ½. `None` when it never does
    /// (P(alive) ≤ ½: a next purchase is less likely than none).
    pub fn median_next_purchase(&self, c: &CustomerSummary) -> Option<f64> {
        let alive = self.p_alive(c);
        if alive <= 0.5 {
            return None;
        }
        let shape = self.r + f64::from(c.x);
        Some((self.alpha + c.t) * ((1.0 - 0.5 / alive).powf(-1.0 / shape) - 1.0))
    }
}

/// Fits the BG/NBD to `customers` by maximum likelihood.
pub fn fit(customers: &[CustomerSummary]) -> Result<BgNbdFit, FitError> {
    if customers.is_empty() {
        return Err(FitError::NoCustomers);
    }
    let data = Grouped::of(customers);
    let n = customers.len() as f64;
    let mean_x = customers.iter().map(|c| f64::from(c.x)).sum::<f64>() / n;
    let mean_t = customers.iter().map(|c| c.t).sum::<f64>() / n;
    // Start where a purchase rate of mean x over mean T and a one-in-four drop-out would put it.
    let alpha = (mean_t / mean_x.max(0.05)).max(1e-3);
    let (params, mean) = maximise("BG/NBD", &data, n, &[1.0, alpha, 1.0, 3.0])?;
    Ok(BgNbdFit {
        params: BgNbd {
            r: params[0],
            alpha: params[1],
            a: params[2],
            b: params[3],
        },
        log_likelihood: mean * n,
    })
}

/// Customers with the same (x, tₓ, T) counted once, with their number: a shop's history on a grid
/// of days has far fewer distinct triples than customers.
pub(crate) struct Grouped {
    /// Index into `xs` of each group's x.
    x_index: Vec<usize>,
    t_x: Vec<f64>,
    t: Vec<f64>,
    count: Vec<f64>,
    /// The distinct values of x, whose Γ and ψ terms are computed once per evaluation.
    xs: Vec<u32>,
    total: f64,
}

impl Grouped {
    pub(crate) fn of(customers: &[CustomerSummary]) -> Grouped {
        let mut groups: HashMap<(u32, u64, u64), usize> = HashMap::new();
        let mut x_of: HashMap<u32, usize> = HashMap::new();
        let mut data = Grouped {
            x_index: Vec::new(),
            t_x: Vec::new(),
            t: Vec::new(),
            count: Vec::new(),
            xs: Vec::new(),
            total: customers.len() as f64,
        };
        for c in customers {
            let key = (c.x, c.t_x.to_bits(), c.t.to_bits());
            let group = *groups.entry(key).or_insert_with(|| {
                let xs = &mut data.xs;
                let x_index = *x_of.entry(c.x).or_insert_with(|| {
                    xs.push(c.x);
                    xs.len() - 1
                });
                data.x_index.push(x_index);
                data.t_x.push(c.t_x);
                data.t.push(c.t);
                data.count.push(0.0);
                data.count.len() - 1
            });
            data.count[group] += 1.0;
        }
        data
    }

    /// The summed log-likelihood and, if asked, its gradient in (r, α, a, b).
    fn sum_and_gradient(&self, p: &BgNbd, with_gradient: bool) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *p;
        // Per distinct x: the terms of ln[Γ(r+x)/Γ(r) · B(a, b+x)/B(a, b)] and their derivatives.
        let per_x: Vec<[f64; 4]> = self
            .xs
            .iter()
            .map(|&x| {
                let x = f64::from(x);
                let value = ln_gamma(r + x) - ln_gamma(r) + ln_gamma(a + b) + ln_gamma(b + x)
                    - ln_gamma(b)
                    - ln_gamma(a + b + x);
                if !with_gradient {
                    return [value, 0.0, 0.0, 0.0];
                }
                let d_ab = digamma(a + b) - digamma(a + b + x);
                [
                    value,
                    digamma(r + x) - digamma(r),
                    d_ab,
                    d_ab + digamma(b + x) - digamma(b),
                ]
            })
            .collect();
        let (ln_alpha, mut sum, mut grad) = (alpha.ln(), 0.0, [0.0; 4]);
        for g in 0..self.count.len() {
            let n = self.count[g];
            let x = f64::from(self.xs[self.x_index[g]]);
            let [common, d_r, d_a, d_b] = per_x[self.x_index[g]];
            let ln_at = (alpha + self.t[g]).ln();
            // Alive at T: (α+T)^−(r+x). Dropped out after the last purchase (x > 0 only):
            // a/(b+x−1) · (α+tₓ)^−(r+x).
            let alive = -(r + x) * ln_at;
            let (ll, w_dead, ln_atx) = if x > 0.0 {
                let ln_atx = (alpha + self.t_x[g]).ln();
                let dead = a.ln() - (b + x - 1.0).ln() - (r + x) * ln_atx;
                let top = alive.max(dead);
                let total = (alive - top).exp() + (dead - top).exp();
                (top + total.ln(), (dead - top).exp() / total, ln_atx)
            } else {
                (alive, 0.0, 0.0)
            };
            sum += n * (common + r * ln_alpha + ll);
            if with_gradient {
                let w_alive = 1.0 - w_dead;
                grad[0] += n * (d_r + ln_alpha - w_alive * ln_at - w_dead * ln_atx);
                grad[1] += n
                    * (r / alpha
                        - w_alive * (r + x) / (alpha + self.t[g])
                        - w_dead * (r + x) / (alpha + self.t_x[g]));
                grad[2] += n * (d_a + w_dead / a);
                grad[3] += n * (d_b - if x > 0.0 { w_dead / (b + x - 1.0) } else { 0.0 });
            }
        }
        (sum, grad)
    }
}

impl Likelihood for Grouped {
    fn mean_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let p = BgNbd {
            r: params[0],
            alpha: params[1],
            a: params[2],
            b: params[3],
        };
        let (sum, grad) = self.sum_and_gradient(&p, true);
        (
            sum / self.total,
            grad.iter().map(|g| g / self.total).collect(),
        )
    }
}
