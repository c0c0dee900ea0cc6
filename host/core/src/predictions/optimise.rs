//! Maximum likelihood for both models, with argmin's L-BFGS (More-Thuente line search): the
//! parameters are all positive, so the search runs over their logarithms, unconstrained, and the
//! likelihood's analytic gradient is carried over by the chain rule.

use super::FitError;
use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use std::cell::RefCell;

/// A model's mean log-likelihood over a data set, with its gradient, at positive parameters.
pub(crate) trait Likelihood {
    /// The mean log-likelihood per customer and its gradient in the parameters.
    fn mean_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>);
}

/// The most L-BFGS iterations of one search before a fit is declared not to have converged.
const MAX_ITERATIONS: u64 = 1_000;

/// The searches tried, each from where the last stopped with a fresh curvature memory: a line
/// search that gives up on a flat stretch (a small shop's likelihood can be nearly flat in the
/// drop-out parameters) often goes on from a restart.
const SEARCHES: usize = 4;

/// The gradient norm (of the mean log-likelihood in the log-parameters) at which a search stops.
const GRADIENT_TOLERANCE: f64 = 1e-7;

/// A fit has converged when the gradient of the mean log-likelihood in the log-parameters is below
/// the first, or that of the total below the second: no change of the parameters by 1% would then
/// move the log-likelihood by more than 10⁻⁴, far below what tells two fits apart.
const CONVERGED_MEAN_GRADIENT: f64 = 1e-5;
const CONVERGED_TOTAL_GRADIENT: f64 = 1e-2;

/// The parameters that maximise `likelihood` over `n` customers, searched from `start`, with the
/// mean log-likelihood there.
pub(crate) fn maximise<L: Likelihood>(
    model: &'static str,
    likelihood: &L,
    n: f64,
    start: &[f64],
) -> Result<(Vec<f64>, f64), FitError> {
    let mut from: Vec<f64> = start.iter().map(|p| p.ln()).collect();
    let mut slope = f64::INFINITY;
    for _ in 0..SEARCHES {
        from = search(model, likelihood, from)?;
        let params: Vec<f64> = from.iter().map(|l| l.exp()).collect();
        let (mean, gradient) = likelihood.mean_and_gradient(&params);
        slope = gradient
            .iter()
            .zip(&params)
            .map(|(g, p)| (g * p).powi(2))
            .sum::<f64>()
            .sqrt();
        if !mean.is_finite() || !slope.is_finite() {
            break;
        }
        if slope <= CONVERGED_MEAN_GRADIENT || slope * n <= CONVERGED_TOTAL_GRADIENT {
            return Ok((params, mean));
        }
    }
    Err(not_converged(
        model,
        format!("the search stopped where the likelihood still slopes ({slope:.1e} per customer)"),
    ))
}

/// One L-BFGS search from `from` (log-parameters); where it ended best.
fn search<L: Likelihood>(
    model: &'static str,
    likelihood: &L,
    from: Vec<f64>,
) -> Result<Vec<f64>, FitError> {
    let problem = InLogs {
        likelihood,
        last: RefCell::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(GRADIENT_TOLERANCE)
        .map_err(|e| not_converged(model, e.to_string()))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(from).max_iters(MAX_ITERATIONS))
        .run()
        .map_err(|e| not_converged(model, e.to_string()))?;
    result
        .state()
        .best_param
        .clone()
        .ok_or_else(|| not_converged(model, "no parameters were evaluated".into()))
}

fn not_converged(model: &'static str, detail: String) -> FitError {
    FitError::NotConverged { model, detail }
}

/// The negative mean log-likelihood over the logarithms of the parameters, which argmin minimises.
/// argmin asks for the cost and the gradient at a point separately; one evaluation gives both, so
/// the last one is kept.
struct InLogs<'l, L> {
    likelihood: &'l L,
    last: RefCell<Option<Evaluation>>,
}

/// Log-parameters, the cost there and its gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

impl<L: Likelihood> InLogs<'_, L> {
    fn evaluate(&self, logs: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, cost, gradient)) = self.last.borrow().as_ref() {
            if at.as_slice() == logs {
                return (*cost, gradient.clone());
            }
        }
        let params: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
        let (mean, gradient) = self.likelihood.mean_and_gradient(&params);
        let gradient: Vec<f64> = gradient.iter().zip(&params).map(|(g, p)| -g * p).collect();
        // Where the likelihood cannot be evaluated, the line search is told to look closer.
        let cost = if mean.is_finite() {
            -mean
        } else {
            f64::INFINITY
        };
        *self.last.borrow_mut() = Some((logs.to_vec(), cost, gradient.clone()));
        (cost, gradient)
    }
}

impl<L: Likelihood> CostFunction for InLogs<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, logs: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(logs).0)
    }
}

impl<L: Likelihood> Gradient for InLogs<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, logs: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(logs).1)
    }
}
