//! The `prediction_fits` table, and the sales the customer-base models are fitted on: every
//! completed order's current version with a known buyer, as `profile_snapshots` counts them. The
//! models, the minimum and what a fit means are `rapport_core::predictions`'.

use super::events::COUNTED_SALES;
use super::rows::{self, Value};
use super::{packed, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use rapport_core::model::Currency;
use rapport_core::predictions::{
    BgNbd, BgNbdFit, DataFigures, GammaGamma, GammaGammaFit, Sale, ShopFit, TimeUnit,
};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A stored fit and when it was made (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFit {
    pub id: i64,
    pub fitted_at: i64,
    pub fit: ShopFit,
}

/// The sales the models read (completed orders' current versions with a buyer) that also meet
/// `and`: a condition, and the ordering if any.
fn sales_where(and: &str) -> String {
    format!(
        "WHERE {COUNTED_SALES} AND profile_id IS NOT NULL AND placed_at IS NOT NULL
           AND amount_minor IS NOT NULL AND currency IS NOT NULL AND {and}"
    )
}

impl Store {
    /// Every buyer's sales placed before `before` (ms), in no particular order: every sale of the
    /// shop, so read packed (see `packed`) from the index that holds them.
    pub async fn sales_before(&self, before: i64) -> Result<Vec<Sale>, StoreError> {
        let events = self
            .backend
            .table_by_index("events", "events_counted_sales");
        let packed = packed::read(
            &self.pool,
            &["profile_id", "placed_at", "amount_minor", "currency"],
            &format!("FROM {events} {}", sales_where("placed_at < $1")),
            &[Value::from(before)],
        )
        .await?;
        packed.decode(|row| {
            Ok(Sale {
                profile_id: row.int("profile_id")?,
                placed_at: time(row.int("placed_at")?)?,
                amount_minor: row.int("amount_minor")?,
                currency: currency(row.text("currency")?)?,
            })
        })
    }

    /// One buyer's sales placed before `before` (ms), by time.
    pub async fn profile_sales_before(
        &self,
        profile_id: i64,
        before: i64,
    ) -> Result<Vec<Sale>, StoreError> {
        sqlx::query(&format!(
            "SELECT profile_id, placed_at, amount_minor, currency FROM events {}",
            sales_where("profile_id = $1 AND placed_at < $2 ORDER BY placed_at")
        ))
        .bind(profile_id)
        .bind(before)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sale)
        .collect()
    }

    /// Records a fit made at `fitted_at` (ms); returns its id.
    pub async fn record_fit(&self, fit: &ShopFit, fitted_at: i64) -> Result<i64, StoreError> {
        let figures = &fit.figures;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let bgnbd = &fit.bgnbd.params;
        let gg = fit.gamma_gamma.as_ref();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO prediction_fits (as_of, fitted_at, time_unit, currency, customers,
                 repeat_customers, frequent_customers, history_days, bgnbd_r, bgnbd_alpha, bgnbd_a,
                 bgnbd_b, bgnbd_log_likelihood, gamma_gamma_p, gamma_gamma_q, gamma_gamma_v,
                 gamma_gamma_log_likelihood, gamma_gamma_customers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             RETURNING id",
        )
        .bind(fit.as_of.format("%Y-%m-%d").to_string())
        .bind(fitted_at)
        .bind(fit.time_unit.as_str())
        .bind(fit.currency.as_ref().map(|c| c.as_str().to_owned()))
        .bind(count(figures.customers))
        .bind(count(figures.repeat_customers))
        .bind(count(figures.frequent_customers))
        .bind(count(figures.history_days))
        .bind(bgnbd.r)
        .bind(bgnbd.alpha)
        .bind(bgnbd.a)
        .bind(bgnbd.b)
        .bind(fit.bgnbd.log_likelihood)
        .bind(gg.map(|g| g.params.p))
        .bind(gg.map(|g| g.params.q))
        .bind(gg.map(|g| g.params.v))
        .bind(gg.map(|g| g.log_likelihood))
        .bind(gg.map(|g| count(g.customers)))
        .persistent(rows::may_persist(gg.is_none()))
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    /// The latest fit: the one made last.
    pub async fn latest_fit(&self) -> Result<Option<StoredFit>, StoreError> {
        sqlx::query(
            "SELECT id, as_of, fitted_at, time_unit, currency, customers, repeat_customers,
                    frequent_customers, history_days, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b,
                    bgnbd_log_likelihood, gamma_gamma_p, gamma_gamma_q, gamma_gamma_v,
                    gamma_gamma_log_likelihood, gamma_gamma_customers
             FROM prediction_fits ORDER BY fitted_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|row| stored_fit(&row))
        .transpose()
    }
}

fn sale(row: &AnyRow) -> Result<Sale, StoreError> {
    Ok(Sale {
        profile_id: row.try_get("profile_id")?,
        placed_at: time(row.try_get("placed_at")?)?,
        amount_minor: row.try_get("amount_minor")?,
        currency: currency(&row.try_get::<String, _>("currency")?)?,
    })
}

fn time(placed_at: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(placed_at)
        .ok_or_else(|| StoreError::Corrupt(format!("events.placed_at {placed_at} is out of range")))
}

fn currency(code: &str) -> Result<Currency, StoreError> {
    code.try_into()
        .map_err(|e| StoreError::Corrupt(format!("events.currency: {e}")))
}

fn stored_fit(row: &AnyRow) -> Result<StoredFit, StoreError> {
    let corrupt = |what: &str, value: &str| {
        StoreError::Corrupt(format!("prediction_fits.{what} {value:?} is not valid"))
    };
    let count = |column: &str| -> Result<u64, StoreError> {
        let n: i64 = row.try_get(column)?;
        u64::try_from(n).map_err(|_| corrupt(column, &n.to_string()))
    };
    let as_of: String = row.try_get("as_of")?;
    let time_unit: String = row.try_get("time_unit")?;
    let currency = row
        .try_get::<Option<String>, _>("currency")?
        .map(|c| c.clone().try_into().map_err(|_| corrupt("currency", &c)))
        .transpose()?;
    let gamma_gamma = match (
        row.try_get::<Option<f64>, _>("gamma_gamma_p")?,
        row.try_get::<Option<f64>, _>("gamma_gamma_q")?,
        row.try_get::<Option<f64>, _>("gamma_gamma_v")?,
        row.try_get::<Option<f64>, _>("gamma_gamma_log_likelihood")?,
        row.try_get::<Option<i64>, _>("gamma_gamma_customers")?,
    ) {
        (Some(p), Some(q), Some(v), Some(log_likelihood), Some(customers)) => Some(GammaGammaFit {
            params: GammaGamma { p, q, v },
            log_likelihood,
            customers: u64::try_from(customers)
                .map_err(|_| corrupt("gamma_gamma_customers", &customers.to_string()))?,
        }),
        _ => None,
    };
    Ok(StoredFit {
        id: row.try_get("id")?,
        fitted_at: row.try_get("fitted_at")?,
        fit: ShopFit {
            as_of: NaiveDate::parse_from_str(&as_of, "%Y-%m-%d")
                .map_err(|_| corrupt("as_of", &as_of))?,
            time_unit: TimeUnit::parse(&time_unit)
                .ok_or_else(|| corrupt("time_unit", &time_unit))?,
            currency,
            figures: DataFigures {
                customers: count("customers")?,
                repeat_customers: count("repeat_customers")?,
                frequent_customers: count("frequent_customers")?,
                history_days: count("history_days")?,
            },
            bgnbd: BgNbdFit {
                params: BgNbd {
                    r: row.try_get("bgnbd_r")?,
                    alpha: row.try_get("bgnbd_alpha")?,
                    a: row.try_get("bgnbd_a")?,
                    b: row.try_get("bgnbd_b")?,
                },
                log_likelihood: row.try_get("bgnbd_log_likelihood")?,
            },
            gamma_gamma,
        },
    })
}
