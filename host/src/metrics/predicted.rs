//! The predicted lifetime value of the shop's customers: each customer's expected value of the
//! next twelve months from the latest fit (`rapport_core::predictions::person`), their mean and
//! total; or, with no fit to read, why not (below rapport's minimum data, with the shortfall).

use chrono::NaiveDate;
use chrono_tz::Tz;
use rapport_core::metrics::business::divide_rounded;
use rapport_core::model::Money;
use rapport_core::predictions::summary::{minor_unit_exponent, ShopHistory};
use rapport_core::predictions::{person, DataFigures, Refusal, Sale, TIME_UNIT};
use rapport_store::{Store, StoreError};
use serde::Serialize;

/// The predicted value of the next twelve months, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PredictedValue {
    Available {
        /// The day the customers' histories are read up to.
        as_of: NaiveDate,
        /// The day the fit was made on.
        fit_as_of: NaiveDate,
        /// Customers with a prediction.
        customers: u64,
        total_12_months: Money,
        mean_12_months: Money,
    },
    NotAvailable {
        reason: String,
    },
}

/// The predicted value of the customers of `sales` (every counted sale up to `as_of`, at least)
/// on `as_of`, from the latest fit.
pub async fn predicted_value(
    store: &Store,
    sales: &[Sale],
    zone: Tz,
    as_of: NaiveDate,
) -> Result<PredictedValue, StoreError> {
    let not_available = |reason: String| Ok(PredictedValue::NotAvailable { reason });
    let Some(stored) = store.latest_fit().await? else {
        let history = ShopHistory::summarise(sales, zone, as_of, TIME_UNIT);
        let shortfall = DataFigures::of(&history).shortfall();
        return not_available(match shortfall.is_met() {
            false => Refusal::TooLittleData(shortfall).to_string(),
            true => "no fit recorded yet: `rapport predict` fits the models (the daemon refits \
                     daily)"
                .to_string(),
        });
    };
    let fit = stored.fit;
    let (Some(currency), Some(_)) = (fit.currency.clone(), fit.gamma_gamma) else {
        return not_available(
            "the latest fit has no spend model (its repeat customers' spends could not be \
             fitted), so it predicts purchases but no value"
                .to_string(),
        );
    };
    let history =
        ShopHistory::summarise_in(sales, zone, as_of, fit.time_unit, Some(currency.clone()));
    let models = fit.models();
    let values: Vec<f64> = (history.customers.values())
        .filter_map(|summary| person::expected_value(&models, summary))
        .collect();
    let scale = 10f64.powi(minor_unit_exponent(currency.as_str()));
    let total = (values.iter().sum::<f64>() * scale).round() as i64;
    let money = |minor| Money {
        minor,
        currency: currency.clone(),
    };
    Ok(match values.len() {
        0 => PredictedValue::NotAvailable {
            reason: format!("no customer of the fit's currency {currency} has bought by {as_of}"),
        },
        n => PredictedValue::Available {
            as_of,
            fit_as_of: fit.as_of,
            customers: n as u64,
            total_12_months: money(total),
            mean_12_months: money(divide_rounded(total, n as i64)),
        },
    })
}
