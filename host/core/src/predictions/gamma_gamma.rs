//! The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV: Using
//! Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research 42(4); the
//! Fader-Hardie note "The Gamma-Gamma Model of Monetary Value"): each purchase's spend is
//! Gamma(p, ν), and ν varies across customers as Gamma(q, v). It is fitted on the repeat customers
//! (x > 0) by the likelihood of their mean spend z̄, and gives each one's expected spend per
//! purchase.

use super::optimise::{maximise, Likelihood};
use super::summary::CustomerSummary;
use super::FitError;
use statrs::function::gamma::{digamma, ln_gamma};

/// The Gamma-Gamma's three parameters; v in major units of the shop's currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// A fitted Gamma-Gamma: its parameters, the log-likelihood of the mean spends at them, and how
/// many customers it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaFit {
    pub params: GammaGamma,
    pub log_likelihood: f64,
    pub customers: u64,
}

impl GammaGamma {
    /// The log-density of a mean spend z̄ over x purchases: x·z̄ ~ Gamma(px, ν), ν ~ Gamma(q, v).
    pub fn log_likelihood(&self, x: u32, mean_spend: f64) -> f64 {
        Spends(vec![(f64::from(x), mean_spend)])
            .sum_and_gradient(self)
            .0
    }

    /// E[Z | x, z̄]: the spend per purchase expected of a customer, p(v + x z̄)/(px + q − 1), a
    /// weighted mean of the population's mean pv/(q − 1) and their own z̄. A customer without a
    /// repeat purchase (or `mean_spend` `None`) gets the population's mean. `None` where the mean
    /// is infinite (px + q ≤ 1).
    pub fn expected_spend(&self, x: u32, mean_spend: Option<f64>) -> Option<f64> {
        let (x, z) = match mean_spend {
            Some(z) if x > 0 => (f64::from(x), z),
            _ => (0.0, 0.0),
        };
        let denominator = self.p * x + self.q - 1.0;
        (denominator > 0.0).then(|| self.p * (self.v + x * z) / denominator)
    }
}

/// Fits the Gamma-Gamma to the customers with a repeat purchase and a positive mean spend.
pub fn fit(customers: &[CustomerSummary]) -> Result<GammaGammaFit, FitError> {
    let spends = Spends::of(customers);
    if spends.0.is_empty() {
        return Err(FitError::NoCustomers);
    }
    let n = spends.0.len() as f64;
    // Start at the method of moments' spirit: p = 1, and v so that the mean spend is matched at q = 2.
    let mean = spends.0.iter().map(|(_, z)| z).sum::<f64>() / n;
    let (params, mean_ll) = maximise("Gamma-Gamma", &spends, n, &[1.0, 2.0, mean])?;
    Ok(GammaGammaFit {
        params: GammaGamma {
            p: params[0],
            q: params[1],
            v: params[2],
        },
        log_likelihood: mean_ll * n,
        customers: spends.0.len() as u64,
    })
}

/// (x, z̄) of each repeat customer.
pub(crate) struct Spends(Vec<(f64, f64)>);

impl Spends {
    /// The customers with a repeat purchase and a positive mean spend (a logarithm is taken).
    pub(crate) fn of(customers: &[CustomerSummary]) -> Spends {
        Spends(
            customers
                .iter()
                .filter_map(|c| match c.mean_spend {
                    Some(z) if c.x > 0 && z > 0.0 => Some((f64::from(c.x), z)),
                    _ => None,
                })
                .collect(),
        )
    }

    fn sum_and_gradient(&self, g: &GammaGamma) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, v } = *g;
        let (mut sum, mut grad) = (0.0, [0.0; 3]);
        let (ln_gamma_q, digamma_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        for &(x, z) in &self.0 {
            let px = p * x;
            let ln_total = (v + x * z).ln();
            sum += ln_gamma(px + q) - ln_gamma(px) - ln_gamma_q
                + q * ln_v
                + (px - 1.0) * z.ln()
                + px * x.ln()
                - (px + q) * ln_total;
            let d_sum = digamma(px + q);
            grad[0] += x * (d_sum - digamma(px) + z.ln() + x.ln() - ln_total);
            grad[1] += d_sum - digamma_q + ln_v - ln_total;
            grad[2] += q / v - (px + q) / (v + x * z);
        }
        (sum, grad)
    }
}

impl Likelihood for Spends {
    fn mean_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let g = GammaGamma {
            p: params[0],
            q: params[1],
            v: params[2],
        };
        let (sum, grad) = self.sum_and_gradient(&g);
        let n = self.0.len() as f64;
        (sum / n, grad.iter().map(|d| d / n).collect())
    }
}
