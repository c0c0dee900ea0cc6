//! `rapport predict`: fit the customer-base models on the shop's history now (or up to
//! `--as-of`), record the fit, and print it — the parameters and what they mean, or, below
//! rapport's minimum, how far the shop is from it (and a non-zero exit).

use anyhow::bail;
use chrono::{DateTime, NaiveDate};
use rapport_core::clock::{Clock, SystemClock};
use rapport_core::predictions::minimum::Gap;
use rapport_core::predictions::{DataFigures, Refusal, ShopFit, MINIMUM};
use rapport_host::config::Config;
use rapport_host::predictions::{self, Refit};
use rapport_store::Store;
use serde_json::{json, Value};

/// Fits on the history up to `as_of` (default: today in the shop's time zone) and prints the fit,
/// as text or JSON. A refusal is printed the same way and returned as the error.
pub async fn run(
    config: &Config,
    store: &Store,
    as_of: Option<NaiveDate>,
    as_json: bool,
) -> anyhow::Result<()> {
    let time_zone = config.shop.time_zone;
    let now = SystemClock.now();
    let as_of = as_of.unwrap_or_else(|| predictions::today(now, time_zone));
    match predictions::refit(store, time_zone, as_of, now).await? {
        Refit::Fitted(stored) => {
            let fitted_at = DateTime::from_timestamp_millis(stored.fitted_at)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            match as_json {
                true => println!("{:#}", fit_json(&stored.fit, &fitted_at)),
                false => print!("{}", fit_text(&stored.fit)),
            }
            Ok(())
        }
        Refit::Refused {
            as_of,
            figures,
            refusal,
        } => {
            match as_json {
                true => println!("{:#}", refusal_json(as_of, &figures, &refusal)),
                false => println!("{}", figures_text(&figures)),
            }
            bail!("no fit on the history up to {as_of}: {refusal}")
        }
    }
}

fn figures_json(figures: &DataFigures) -> Value {
    json!({
        "customers": figures.customers,
        "repeat_customers": figures.repeat_customers,
        "frequent_customers": figures.frequent_customers,
        "history_days": figures.history_days,
    })
}

fn fit_json(fit: &ShopFit, fitted_at: &str) -> Value {
    let bgnbd = &fit.bgnbd.params;
    let mut out = json!({
        "as_of": fit.as_of.to_string(),
        "fitted_at": fitted_at,
        "time_unit": fit.time_unit.as_str(),
        "currency": fit.currency.as_ref().map(|c| c.as_str()),
        "minimum": figures_json(&MINIMUM),
        "bgnbd": {
            "r": bgnbd.r,
            "alpha": bgnbd.alpha,
            "a": bgnbd.a,
            "b": bgnbd.b,
            "log_likelihood": fit.bgnbd.log_likelihood,
        },
        "gamma_gamma": fit.gamma_gamma.map(|g| json!({
            "p": g.params.p,
            "q": g.params.q,
            "v": g.params.v,
            "log_likelihood": g.log_likelihood,
            "customers": g.customers,
        })),
    });
    merge(&mut out, figures_json(&fit.figures));
    out
}

fn refusal_json(as_of: NaiveDate, figures: &DataFigures, refusal: &Refusal) -> Value {
    let short: Vec<Value> = match refusal {
        Refusal::TooLittleData(shortfall) => shortfall.0.iter().map(gap_json).collect(),
        Refusal::Fit(_) => Vec::new(),
    };
    let mut out = json!({
        "as_of": as_of.to_string(),
        "refused": refusal.to_string(),
        "minimum": figures_json(&MINIMUM),
        "short": short,
    });
    merge(&mut out, figures_json(figures));
    out
}

fn gap_json(gap: &Gap) -> Value {
    json!({"figure": gap.figure.as_str(), "have": gap.have, "need": gap.need})
}

/// Adds the fields of `more` to the object `out`.
fn merge(out: &mut Value, more: Value) {
    if let (Value::Object(out), Value::Object(more)) = (out, more) {
        out.extend(more);
    }
}

fn figures_text(f: &DataFigures) -> String {
    let m = MINIMUM;
    format!(
        "history: {} customers with a purchase (minimum {}), {} came back (minimum {}), \
         {} with 3+ purchase days (minimum {}), {} days (minimum {})",
        f.customers,
        m.customers,
        f.repeat_customers,
        m.repeat_customers,
        f.frequent_customers,
        m.frequent_customers,
        f.history_days,
        m.history_days
    )
}

fn fit_text(fit: &ShopFit) -> String {
    let unit = fit.time_unit.as_str();
    let currency = fit.currency.as_ref().map_or("", |c| c.as_str());
    let b = &fit.bgnbd.params;
    let mut out = format!(
        "fit on the history up to {} (time in {unit}s, spend in {currency})\n{}\n\n",
        fit.as_of,
        figures_text(&fit.figures)
    );
    out += &format!(
        "BG/NBD, repeat purchases (log-likelihood {:.1}):\n\
         \x20 r = {:.4}, alpha = {:.4}: while active, customers buy at rates spread as Gamma(r, alpha), \
         on average {:.3} purchase days a {unit}\n\
         \x20 a = {:.4}, b = {:.4}: after a purchase, the chance a customer never comes back is spread as \
         Beta(a, b), on average {:.0}%\n",
        fit.bgnbd.log_likelihood,
        b.r,
        b.alpha,
        b.r / b.alpha,
        b.a,
        b.b,
        100.0 * b.a / (b.a + b.b),
    );
    match &fit.gamma_gamma {
        Some(g) => {
            let p = &g.params;
            let mean = (p.q > 1.0).then(|| p.p * p.v / (p.q - 1.0));
            out += &format!(
                "Gamma-Gamma, spend per purchase day, on {} repeat customers (log-likelihood {:.1}):\n\
                 \x20 p = {:.4}, q = {:.4}, v = {:.4}: each customer's spends are Gamma(p, nu), \
                 nu spread as Gamma(q, v); {}\n",
                g.customers,
                g.log_likelihood,
                p.p,
                p.q,
                p.v,
                mean.map_or("the mean spend is unbounded (q <= 1)".to_string(), |m| format!(
                    "the mean spend per purchase day across customers is {m:.2} {currency}"
                ))
            );
        }
        None => out += "Gamma-Gamma: not fitted (the repeat customers' spends could not be fitted); no value predictions\n",
    }
    out
}
