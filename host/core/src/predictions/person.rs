//! One person's predictions from a shop's fit: P(alive), the purchases expected in the next 30, 90
//! and 365 days, the date of their next order, and the value of their next 12 months.
//!
//! - Expected purchases are the BG/NBD's conditional expectation (eq. 10); the 12-month value is
//!   the expected purchases in 365 days times the Gamma-Gamma's expected spend per purchase
//!   (the models take frequency and spend as independent), undiscounted: a year is short.
//! - Intervals are 80% posterior predictive intervals (10th to 90th percentile) of the number of
//!   purchases and of the value themselves, not of their expectations: what the person may
//!   actually do, given the fitted parameters (their own uncertainty is not included). They are
//!   drawn from the model's exact posterior — alive with probability P(alive), then
//!   λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x), ν ~ Gamma(q+px, v+x·z̄) — and the future simulated,
//!   with a fixed seed so a person's figures do not change between two looks. A count that is
//!   usually 0 can have an expectation above its interval.
//! - The next order's date is the median of the time to the next purchase: the day by which it
//!   is as likely as not to have happened. When P(alive) ≤ ½ there is none: no next purchase is
//!   more likely than one.

use super::bgnbd::BgNbd;
use super::gamma_gamma::GammaGamma;
use super::simulate::gamma;
use super::summary::CustomerSummary;
use super::{ShopFit, TimeUnit};
use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp1};

/// The horizons of the expected purchases, in days.
pub const HORIZONS_DAYS: [u32; 3] = [30, 90, 365];

/// The horizon of the value, in days.
pub const VALUE_DAYS: u32 = 365;

/// The share of the predictive distribution an interval covers.
pub const INTERVAL: f64 = 0.8;

/// Posterior draws behind the intervals.
const DRAWS: usize = 4_000;

/// The seed of the draws, fixed so a person's intervals are the same each time.
const SEED: u64 = 0x5EED_2005;

/// An expectation and the interval of the quantity itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

/// One person's predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonPredictions {
    pub p_alive: f64,
    /// The purchases expected in each of [`HORIZONS_DAYS`], in that order.
    pub purchases: Vec<(u32, Estimate)>,
    pub next_order: Option<NaiveDate>,
    /// The value of the next [`VALUE_DAYS`] in the fit's currency (major units); `None` without a
    /// spend model.
    pub value_12_months: Option<Estimate>,
}

/// The models of a fit, as the predictions use them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Models {
    pub time_unit: TimeUnit,
    pub bgnbd: BgNbd,
    pub gamma_gamma: Option<GammaGamma>,
}

impl ShopFit {
    pub fn models(&self) -> Models {
        Models {
            time_unit: self.time_unit,
            bgnbd: self.bgnbd.params,
            gamma_gamma: self.gamma_gamma.map(|g| g.params),
        }
    }
}

/// The predictions for a person whose history up to `as_of` is `summary` (T measured to `as_of`).
/// `None` if the conditional expectation cannot be computed (the ₂F₁ series does not converge).
pub fn predict(
    models: &Models,
    summary: &CustomerSummary,
    as_of: NaiveDate,
) -> Option<PersonPredictions> {
    let unit = models.time_unit;
    let bgnbd = &models.bgnbd;
    let in_units = |days: u32| unit.of_days(f64::from(days));
    let draws = Draws::new(models, summary);
    let purchases = HORIZONS_DAYS
        .iter()
        .zip(&draws.counts)
        .map(|(&days, counts)| {
            let expected = bgnbd.expected_purchases(summary, in_units(days))?;
            let (low, high) = interval(counts);
            Some((
                days,
                Estimate {
                    expected,
                    low,
                    high,
                },
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let value_12_months = match (expected_value(models, summary), &draws.values) {
        (Some(expected), Some(values)) => {
            let (low, high) = interval(values);
            Some(Estimate {
                expected,
                low,
                high,
            })
        }
        _ => None,
    };
    let next_order = bgnbd.median_next_purchase(summary).map(|t| {
        let days = (t * unit.days()).ceil().clamp(1.0, 365_000.0);
        as_of + Duration::days(days as i64)
    });
    Some(PersonPredictions {
        p_alive: bgnbd.p_alive(summary),
        purchases,
        next_order,
        value_12_months,
    })
}

/// The expected value of the person's next [`VALUE_DAYS`] (fit's currency, major units), without
/// the interval that takes [`predict`]'s posterior draws: `None` without a spend model, a spend to
/// expect, or expected purchases (the ₂F₁ series does not converge).
pub fn expected_value(models: &Models, summary: &CustomerSummary) -> Option<f64> {
    let spend = models
        .gamma_gamma?
        .expected_spend(summary.x, summary.mean_spend)?;
    let in_year = (models.bgnbd)
        .expected_purchases(summary, models.time_unit.of_days(f64::from(VALUE_DAYS)))?;
    Some(in_year * spend)
}

/// The 10th and 90th percentiles of `draws` (sorted).
fn interval(draws: &[f64]) -> (f64, f64) {
    let tail = (1.0 - INTERVAL) / 2.0;
    let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    (at(tail), at(1.0 - tail))
}

/// Draws from the person's posterior predictive: purchases in each horizon and the value of the
/// year, each sorted.
struct Draws {
    counts: Vec<Vec<f64>>,
    values: Option<Vec<f64>>,
}

impl Draws {
    fn new(models: &Models, c: &CustomerSummary) -> Draws {
        let unit = models.time_unit;
        let BgNbd { r, alpha, a, b } = models.bgnbd;
        let x = f64::from(c.x);
        let horizons: Vec<f64> = HORIZONS_DAYS
            .iter()
            .map(|d| unit.of_days(f64::from(*d)))
            .collect();
        let value_horizon = unit.of_days(f64::from(VALUE_DAYS));
        let last = horizons.iter().copied().fold(value_horizon, f64::max);
        let alive = models.bgnbd.p_alive(c);
        let drop = Beta::new(a, b + x).expect("positive parameters");
        let mut rng = StdRng::seed_from_u64(SEED);
        let mut counts = vec![Vec::with_capacity(DRAWS); horizons.len()];
        let mut values = Vec::with_capacity(DRAWS);
        for _ in 0..DRAWS {
            let mut bought = vec![0.0; horizons.len()];
            let mut value = 0.0;
            if rng.gen::<f64>() < alive {
                let lambda = gamma(&mut rng, r + x, alpha + c.t);
                let p = drop.sample(&mut rng);
                let nu = models.gamma_gamma.map(|g| match c.mean_spend {
                    Some(z) if c.x > 0 => (g.p, gamma(&mut rng, g.q + g.p * x, g.v + x * z)),
                    _ => (g.p, gamma(&mut rng, g.q, g.v)),
                });
                let mut at = 0.0;
                loop {
                    let gap: f64 = Exp1.sample(&mut rng);
                    at += gap / lambda;
                    if at > last {
                        break;
                    }
                    for (n, h) in bought.iter_mut().zip(&horizons) {
                        if at <= *h {
                            *n += 1.0;
                        }
                    }
                    if let Some((shape, nu)) = nu {
                        if at <= value_horizon {
                            value += gamma(&mut rng, shape, nu);
                        }
                    }
                    if rng.gen::<f64>() < p {
                        break;
                    }
                }
            }
            for (draws, n) in counts.iter_mut().zip(bought) {
                draws.push(n);
            }
            values.push(value);
        }
        for draws in &mut counts {
            draws.sort_by(f64::total_cmp);
        }
        values.sort_by(f64::total_cmp);
        Draws {
            counts,
            values: models.gamma_gamma.map(|_| values),
        }
    }
}
