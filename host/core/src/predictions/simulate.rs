//! Customers drawn from known BG/NBD and Gamma-Gamma parameters, so tests can check that a fit
//! recovers them and benchmarks have a realistic base to fit: each customer's rate λ ~ Gamma(r, α)
//! and drop-out probability p ~ Beta(a, b); purchases arrive as a Poisson process at λ and after
//! each repeat purchase the customer leaves with probability p; each purchase's spend is Gamma(p, ν) with
//! ν ~ Gamma(q, v). Pure: the caller passes the random number generator.

use super::bgnbd::BgNbd;
use super::gamma_gamma::GammaGamma;
use super::summary::CustomerSummary;
use rand::Rng;
use rand_distr::{Beta, Distribution, Exp1, Gamma};

/// One simulated purchase: when, after the customer's first (which is at 0), and its spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub at: f64,
    pub spend: f64,
}

/// A customer's purchases from their first (at 0) up to `horizon`, in the unit of α.
pub fn customer<R: Rng>(
    rng: &mut R,
    bgnbd: &BgNbd,
    spend: &GammaGamma,
    horizon: f64,
) -> Vec<Purchase> {
    let lambda = gamma(rng, bgnbd.r, bgnbd.alpha);
    let drop = Beta::new(bgnbd.a, bgnbd.b)
        .expect("positive parameters")
        .sample(rng);
    let nu = gamma(rng, spend.q, spend.v);
    let mut purchases = vec![Purchase {
        at: 0.0,
        spend: gamma(rng, spend.p, nu),
    }];
    let mut at = 0.0;
    // The model's customers may leave after each repeat purchase, not after the first.
    loop {
        let gap: f64 = Exp1.sample(rng);
        at += gap / lambda;
        if at > horizon {
            break;
        }
        purchases.push(Purchase {
            at,
            spend: gamma(rng, spend.p, nu),
        });
        if rng.gen::<f64>() < drop {
            break;
        }
    }
    purchases
}

/// The summary of simulated purchases observed up to `t` after the first (continuous time: no
/// two purchases share a day).
pub fn summary(purchases: &[Purchase], t: f64) -> CustomerSummary {
    let seen: Vec<&Purchase> = purchases.iter().filter(|p| p.at <= t).collect();
    let x = seen.len().saturating_sub(1);
    let repeat: f64 = seen.iter().skip(1).map(|p| p.spend).sum();
    CustomerSummary {
        x: x as u32,
        t_x: seen.last().map_or(0.0, |p| p.at),
        t,
        mean_spend: (x > 0).then(|| repeat / x as f64),
    }
}

/// `n` customers, each first buying at a uniformly random time of the `weeks` before the end, so
/// T is uniform on (0, `weeks`], summarised at the end.
pub fn summaries<R: Rng>(
    rng: &mut R,
    n: usize,
    weeks: f64,
    bgnbd: &BgNbd,
    spend: &GammaGamma,
) -> Vec<CustomerSummary> {
    (0..n)
        .map(|_| {
            let t = weeks * (1.0 - rng.gen::<f64>());
            summary(&customer(rng, bgnbd, spend, t), t)
        })
        .collect()
}

/// A Gamma draw of the given shape and rate.
pub(crate) fn gamma<R: Rng>(rng: &mut R, shape: f64, rate: f64) -> f64 {
    Gamma::new(shape, 1.0 / rate)
        .expect("positive parameters")
        .sample(rng)
}
