//! Customer-base analysis: who is still a customer, how often they will buy and what they will
//! spend, from the shop's own history. BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers
//! the Easy Way") for repeat purchases and P(alive), Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM
//! and CLV") for spend, both fitted by maximum likelihood; per-person predictions from the fit.
//!
//! - `summary`: from sales to each customer's (x, tₓ, T, z̄), the papers' definitions;
//! - `bgnbd`, `gamma_gamma`: the likelihoods, fits and conditional expectations;
//! - `minimum`: the data rapport asks for before it fits, and how far a shop is from it;
//! - `person`: one person's predictions with intervals;
//! - `simulate`: customers drawn from known parameters, for tests and benchmarks.

pub mod bgnbd;
pub mod gamma_gamma;
mod hypergeometric;
pub mod minimum;
mod optimise;
pub mod person;
pub mod simulate;
pub mod summary;

use crate::model::Currency;
use chrono::NaiveDate;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use gamma_gamma::{GammaGamma, GammaGammaFit};
pub use minimum::{DataFigures, Shortfall, MINIMUM};
pub use person::{Estimate, PersonPredictions};
pub use summary::{CustomerSummary, Sale, ShopHistory};

/// The unit the models measure time in. rapport fits in weeks, the unit of the published CDNOW
/// results (Fader, Hardie & Lee 2005), so its parameters read the same way as theirs; purchase
/// days are whole days, so tₓ and T are multiples of 1/7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Day,
    Week,
}

/// The unit rapport fits in.
pub const TIME_UNIT: TimeUnit = TimeUnit::Week;

impl TimeUnit {
    /// How many days one unit is.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }

    /// A number of days in this unit.
    pub fn of_days(self, days: f64) -> f64 {
        days / self.days()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
        }
    }

    /// The unit named `name` ("day", "week").
    pub fn parse(name: &str) -> Option<TimeUnit> {
        match name {
            "day" => Some(TimeUnit::Day),
            "week" => Some(TimeUnit::Week),
            _ => None,
        }
    }
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("there are no customers to fit on")]
    NoCustomers,
    #[error("the {model} fit did not converge: {detail}")]
    NotConverged { model: &'static str, detail: String },
}

/// A shop's fit: both models on its history up to `as_of`, with the figures they were fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopFit {
    pub as_of: NaiveDate,
    pub time_unit: TimeUnit,
    /// The currency of the spends (the shop's main one).
    pub currency: Option<Currency>,
    pub figures: DataFigures,
    pub bgnbd: BgNbdFit,
    /// `None` when the repeat customers' spends could not be fitted (all equal, say): then no
    /// value is predicted, and purchases still are.
    pub gamma_gamma: Option<GammaGammaFit>,
}

/// Why a shop's history was not fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("not enough history to predict from: {0}")]
    TooLittleData(Shortfall),
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// Fits both models to a shop's history, or says why not: below [`MINIMUM`] it refuses with the
/// shortfall. The Gamma-Gamma is fitted on the repeat customers; if it cannot be, the fit goes on
/// without it.
pub fn fit_shop(history: &ShopHistory) -> Result<ShopFit, Refusal> {
    let figures = DataFigures::of(history);
    let shortfall = figures.shortfall();
    if !shortfall.is_met() {
        return Err(Refusal::TooLittleData(shortfall));
    }
    let customers: Vec<CustomerSummary> = history.customers.values().copied().collect();
    Ok(ShopFit {
        as_of: history.as_of,
        time_unit: history.time_unit,
        currency: history.currency.clone(),
        figures,
        bgnbd: bgnbd::fit(&customers)?,
        gamma_gamma: gamma_gamma::fit(&customers).ok(),
    })
}

#[cfg(test)]
mod tests;
