//! Table `profile_facts`: each profile's summary, rewritten whole by the host's profile service in
//! the transaction that changed the profile's sales; and the rows it is worked out from (a
//! profile's counted sales and current refunds, read from `events`). Also the events' channel and
//! category columns an upgrade fills in from their payloads.

use super::events::SALES_AND_REFUNDS;
use super::rows::{self, Value};
use super::{packed, Store, StoreError, Tx};
use rapport_core::model::{Money, SalesChannel};
use rapport_core::profile::facts::{CategoryMonth, ProfileFacts, Sale};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// A buyer's figures that rank them among the shop's buyers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerStanding {
    pub profile_id: i64,
    /// Milliseconds since the epoch.
    pub last_visit_at: Option<i64>,
    pub visits: i64,
    /// In `currency`, the buyer's main one.
    pub net_spend_minor: i64,
    pub currency: Option<String>,
}

/// What a profile's facts are worked out from.
#[derive(Debug, Default)]
pub struct FactInputs {
    pub sales: HashMap<i64, Vec<Sale>>,
    pub refunds: HashMap<i64, Vec<Money>>,
}

/// The counted sales (completed, current version) and current refunds of the given profiles.
pub async fn inputs(tx: &mut Tx<'_>, profile_ids: &[i64]) -> Result<FactInputs, StoreError> {
    let mut inputs = FactInputs::default();
    for row in rows::query_ids(
        &mut tx.inner,
        &format!(
            "SELECT profile_id, kind, amount_minor, currency, placed_at, channel, categories
             FROM events WHERE profile_id IN {{list}} AND {SALES_AND_REFUNDS}"
        ),
        &[],
        profile_ids,
    )
    .await?
    {
        let profile: i64 = row.try_get("profile_id")?;
        let Some(money) = money(&row)? else {
            continue;
        };
        match row.try_get::<String, _>("kind")?.as_str() {
            "order" => inputs
                .sales
                .entry(profile)
                .or_default()
                .push(sale(&row, money)?),
            _ => inputs.refunds.entry(profile).or_default().push(money),
        }
    }
    Ok(inputs)
}

fn money(row: &AnyRow) -> Result<Option<Money>, StoreError> {
    let minor: Option<i64> = row.try_get("amount_minor")?;
    let currency: Option<String> = row.try_get("currency")?;
    Ok(match (minor, currency) {
        (Some(minor), Some(currency)) => Some(Money {
            minor,
            currency: currency
                .try_into()
                .map_err(|e| StoreError::Corrupt(format!("events.currency: {e}")))?,
        }),
        _ => None,
    })
}

fn sale(row: &AnyRow, total: Money) -> Result<Sale, StoreError> {
    let placed_at: i64 = row.try_get("placed_at")?;
    let channel = match row.try_get::<Option<String>, _>("channel")? {
        Some(channel) => rows::parse_enum("events.channel", &channel)?,
        None => SalesChannel::Other,
    };
    let categories = match row.try_get::<Option<String>, _>("categories")? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("events.categories: {e}")))?,
        None => Vec::new(),
    };
    Ok(Sale {
        placed_at: chrono::DateTime::from_timestamp_millis(placed_at)
            .ok_or_else(|| StoreError::Corrupt(format!("events.placed_at {placed_at}")))?,
        total,
        channel,
        categories,
    })
}

/// Writes each profile's facts whole, replacing what was there.
pub async fn save(
    tx: &mut Tx<'_>,
    facts: &[(i64, ProfileFacts)],
    now: i64,
) -> Result<(), StoreError> {
    let spend: Vec<String> = facts
        .iter()
        .map(|(_, f)| serde_json::to_string(&f.category_spend))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(format!("category spend: {e}")))?;
    let values: Vec<Vec<Value>> = facts
        .iter()
        .zip(&spend)
        .map(|((id, f), spend)| {
            vec![
                (*id).into(),
                f.orders.into(),
                f.store_orders.into(),
                f.online_orders.into(),
                f.visits.into(),
                f.returns.into(),
                f.first_visit_at.map(|t| t.timestamp_millis()).into(),
                f.last_visit_at.map(|t| t.timestamp_millis()).into(),
                f.currency.as_ref().map(|c| c.as_str()).into(),
                f.net_spend_minor.into(),
                f.median_basket_minor.into(),
                f.mean_days_between_visits.into(),
                f.median_days_between_visits.into(),
                spend.into(),
                now.into(),
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO profile_facts (profile_id, orders, store_orders, online_orders, visits,
             returns, first_visit_at, last_visit_at, currency, net_spend_minor, median_basket_minor,
             mean_days_between_visits, median_days_between_visits, category_spend, refreshed_at)",
        "ON CONFLICT (profile_id) DO UPDATE SET orders = excluded.orders,
             store_orders = excluded.store_orders, online_orders = excluded.online_orders,
             visits = excluded.visits, returns = excluded.returns,
             first_visit_at = excluded.first_visit_at, last_visit_at = excluded.last_visit_at,
             currency = excluded.currency, net_spend_minor = excluded.net_spend_minor,
             median_basket_minor = excluded.median_basket_minor,
             mean_days_between_visits = excluded.mean_days_between_visits,
             median_days_between_visits = excluded.median_days_between_visits,
             category_spend = excluded.category_spend, refreshed_at = excluded.refreshed_at",
        &values,
    )
    .await?;
    Ok(())
}

/// Removes the facts of profiles that no longer have any sale or refund.
pub async fn delete(tx: &mut Tx<'_>, profile_ids: &[i64]) -> Result<(), StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "DELETE FROM profile_facts WHERE profile_id IN {list}",
        &[],
        profile_ids,
    )
    .await?;
    Ok(())
}

/// The profiles whose facts are to be worked out from scratch: every profile that has events.
pub async fn profiles_with_events(tx: &mut Tx<'_>) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT profile_id FROM events WHERE profile_id IS NOT NULL ORDER BY profile_id",
    )
    .fetch_all(&mut *tx.inner)
    .await?)
}

/// Empties the table, before a rebuild.
pub async fn clear(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM profile_facts")
        .execute(&mut *tx.inner)
        .await?;
    Ok(())
}

/// Orders whose category column was never filled (stored before it existed), with their payloads,
/// at most `limit` of them.
pub async fn orders_without_categories(
    tx: &mut Tx<'_>,
    limit: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    let found = sqlx::query(
        "SELECT id, payload FROM events WHERE kind = 'order' AND categories IS NULL
         ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx.inner)
    .await?;
    found
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("payload")?)))
        .collect()
}

/// Sets orders' category column, and their channel where one is given.
pub async fn set_order_columns(
    tx: &mut Tx<'_>,
    orders: &[(i64, Option<SalesChannel>, String)],
) -> Result<(), StoreError> {
    for (id, channel, categories) in orders {
        sqlx::query(
            "UPDATE events SET channel = COALESCE($1, channel), categories = $2 WHERE id = $3",
        )
        .bind(channel.map(SalesChannel::as_str))
        .bind(categories)
        .bind(*id)
        .execute(&mut *tx.inner)
        .await?;
    }
    Ok(())
}

/// A profile's stored facts, as read back.
fn read(row: &AnyRow) -> Result<ProfileFacts, StoreError> {
    let time = |column: &str| -> Result<_, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .and_then(chrono::DateTime::from_timestamp_millis))
    };
    let currency: Option<String> = row.try_get("currency")?;
    let spend: String = row.try_get("category_spend")?;
    Ok(ProfileFacts {
        orders: row.try_get("orders")?,
        store_orders: row.try_get("store_orders")?,
        online_orders: row.try_get("online_orders")?,
        visits: row.try_get("visits")?,
        returns: row.try_get("returns")?,
        first_visit_at: time("first_visit_at")?,
        last_visit_at: time("last_visit_at")?,
        currency: currency
            .map(|c| c.try_into())
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("profile_facts.currency: {e}")))?,
        net_spend_minor: row.try_get("net_spend_minor")?,
        median_basket_minor: row.try_get("median_basket_minor")?,
        mean_days_between_visits: row.try_get("mean_days_between_visits")?,
        median_days_between_visits: row.try_get("median_days_between_visits")?,
        category_spend: serde_json::from_str::<Vec<CategoryMonth>>(&spend)
            .map_err(|e| StoreError::Corrupt(format!("profile_facts.category_spend: {e}")))?,
    })
}

impl Store {
    /// The stored facts of the given profiles (a profile without sales or refunds has none).
    pub async fn profile_facts(
        &self,
        profile_ids: &[i64],
    ) -> Result<HashMap<i64, ProfileFacts>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::query_ids(
            &mut conn,
            "SELECT * FROM profile_facts WHERE profile_id IN {list}",
            &[],
            profile_ids,
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get("profile_id")?, read(row)?)))
        .collect()
    }

    /// What ranks every buyer among the others (profiles with at least one counted sale that
    /// were not merged into another), in no particular order: the figures RFM and the segments
    /// read, and none of the rest. A row per buyer of the shop, so read packed (see `packed`).
    pub async fn buyer_standings(&self) -> Result<Vec<BuyerStanding>, StoreError> {
        let packed = packed::read(
            &self.pool,
            &[
                "f.profile_id",
                "f.last_visit_at",
                "f.visits",
                "f.net_spend_minor",
                "f.currency",
            ],
            "FROM profile_facts f JOIN profiles p ON p.id = f.profile_id
             WHERE f.orders > 0 AND p.merged_into IS NULL",
            &[],
        )
        .await?;
        packed.decode(|row| {
            Ok(BuyerStanding {
                profile_id: row.int("f.profile_id")?,
                last_visit_at: row.maybe_int("f.last_visit_at")?,
                visits: row.int("f.visits")?,
                net_spend_minor: row.int("f.net_spend_minor")?,
                currency: row.maybe_text("f.currency").map(str::to_owned),
            })
        })
    }

    /// Whether orders were stored before facts were kept (their category column is empty): the
    /// facts are then to be rebuilt once.
    pub async fn profile_facts_missing(&self) -> Result<bool, StoreError> {
        let missing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM events WHERE kind = 'order' AND categories IS NULL LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(missing.is_some())
    }
}

/// What journeys are planned from, besides a person's sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyInputs {
    pub key: String,
    /// Month and day.
    pub birthday: Option<(u32, u32)>,
    /// Net lifetime spend as the kept facts say (0 without facts).
    pub net_spend_minor: i64,
    pub lifetime_points: i64,
    /// The last counted sale.
    pub last_visit_at: Option<i64>,
}

/// [`JourneyInputs`] of the given profiles (those still standing: not merged into another).
pub async fn journey_inputs(
    tx: &mut Tx<'_>,
    profile_ids: &[i64],
) -> Result<HashMap<i64, JourneyInputs>, StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "SELECT p.id, p.key, p.birthday_month, p.birthday_day, p.loyalty_lifetime,
                f.net_spend_minor, f.last_visit_at
         FROM profiles p LEFT JOIN profile_facts f ON f.profile_id = p.id
         WHERE p.id IN {list} AND p.merged_into IS NULL",
        &[],
        profile_ids,
    )
    .await?
    .iter()
    .map(|row| {
        let month: Option<i64> = row.try_get("birthday_month")?;
        let day: Option<i64> = row.try_get("birthday_day")?;
        Ok((
            row.try_get("id")?,
            JourneyInputs {
                key: row.try_get("key")?,
                birthday: month.zip(day).map(|(m, d)| (m as u32, d as u32)),
                net_spend_minor: row
                    .try_get::<Option<i64>, _>("net_spend_minor")?
                    .unwrap_or(0),
                lifetime_points: row
                    .try_get::<Option<i64>, _>("loyalty_lifetime")?
                    .unwrap_or(0),
                last_visit_at: row.try_get("last_visit_at")?,
            },
        ))
    })
    .collect()
}

impl Store {
    /// Every standing profile with facts or a birthday: whom a daily replanning of the
    /// fact-triggered journeys covers.
    pub async fn journey_candidates(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT p.id FROM profiles p
             WHERE p.merged_into IS NULL AND (p.birthday_month IS NOT NULL
                   OR EXISTS (SELECT 1 FROM profile_facts f WHERE f.profile_id = p.id))
             ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
