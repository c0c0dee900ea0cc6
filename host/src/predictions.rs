//! Predictions as the host runs them: fitting the customer-base models on the shop's history and
//! recording the fit (daily in the daemon, on demand with `rapport predict`), and one person's
//! predictions from the latest fit, for the profile views. The models and every rule about them
//! are `rapport_core::predictions`'; this reads the sales, calls them and writes the fit.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rapport_core::predictions::{
    self, person, DataFigures, PersonPredictions, Refusal, ShopHistory, TIME_UNIT,
};
use rapport_store::predictions::StoredFit;
use rapport_store::{Store, StoreError};

/// What a refit came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Refit {
    /// The models were fitted and the fit recorded.
    Fitted(StoredFit),
    /// The history was not fitted, for this reason; with its figures.
    Refused {
        as_of: NaiveDate,
        figures: DataFigures,
        refusal: Refusal,
    },
}

/// The date `now` falls on in the shop's time zone.
pub fn today(now: DateTime<Utc>, time_zone: Tz) -> NaiveDate {
    now.with_timezone(&time_zone).date_naive()
}

/// Every sale that can fall on or before `as_of` in any time zone: those placed before the UTC
/// midnight two days after it. The core keeps those on or before `as_of` in the shop's.
pub(crate) fn before(as_of: NaiveDate) -> i64 {
    (as_of + Duration::days(2))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// Fits the models on the shop's history up to and including `as_of` and records the fit; below
/// rapport's minimum, or when the fit does not converge, records nothing and says why. `now` is
/// when the fit is recorded as made.
pub async fn refit(
    store: &Store,
    time_zone: Tz,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Refit, StoreError> {
    let sales = store.sales_before(before(as_of)).await?;
    let history = ShopHistory::summarise(&sales, time_zone, as_of, TIME_UNIT);
    let fit = match predictions::fit_shop(&history) {
        Ok(fit) => fit,
        Err(refusal) => {
            return Ok(Refit::Refused {
                as_of,
                figures: DataFigures::of(&history),
                refusal,
            })
        }
    };
    let fitted_at = now.timestamp_millis();
    let id = store.record_fit(&fit, fitted_at).await?;
    Ok(Refit::Fitted(StoredFit { id, fitted_at, fit }))
}

/// The predictions for profile `profile_id` on `today` from the latest fit; `None` before the
/// first fit or for someone without a purchase in the fit's currency.
pub async fn for_profile(
    store: &Store,
    time_zone: Tz,
    profile_id: i64,
    today: NaiveDate,
) -> Result<Option<PersonPredictions>, StoreError> {
    let Some(stored) = store.latest_fit().await? else {
        return Ok(None);
    };
    let fit = stored.fit;
    let sales = store
        .profile_sales_before(profile_id, before(today))
        .await?;
    let history = ShopHistory::summarise_in(
        &sales,
        time_zone,
        today,
        fit.time_unit,
        fit.currency.clone(),
    );
    Ok(history
        .customers
        .get(&profile_id)
        .and_then(|summary| person::predict(&fit.models(), summary, today)))
}
