//! Profiles kept current: whenever a transaction changes which sales or refunds are a person's
//! (an ingest, a merge, an unmerge), it ends by working out again the facts of every profile it
//! touched (`refresh`), from those profiles' counted sales alone, with the pure rule
//! `rapport_core::profile::facts::summarise`. `rebuild` works out every profile's facts from
//! scratch: once after an upgrade, and as the reference the kept facts must always equal. The
//! views of a profile, the staff cues and the shop's segments read these facts (`view`, `cues`,
//! `segments`).

pub mod cues;
pub mod segments;
pub mod view;

use chrono_tz::Tz;
use rapport_core::model::Payload;
use rapport_core::profile::facts::{sale_categories, summarise, Sale};
use rapport_store::profile_facts;
use rapport_store::{Store, StoreError, Tx};
use std::collections::HashMap;

/// Works out again, inside `tx`, the facts of the given profiles (any order, repeats allowed);
/// a profile left with no sale and no refund has none. Returns how many have facts.
pub async fn refresh(
    tx: &mut Tx<'_>,
    profile_ids: &[i64],
    zone: Tz,
    now: i64,
) -> Result<usize, StoreError> {
    Ok(refresh_reading_sales(tx, profile_ids, zone, now)
        .await?
        .len())
}

/// [`refresh`], returning the counted sales of each profile that has facts (what journeys are
/// planned from).
pub async fn refresh_reading_sales(
    tx: &mut Tx<'_>,
    profile_ids: &[i64],
    zone: Tz,
    now: i64,
) -> Result<HashMap<i64, Vec<Sale>>, StoreError> {
    let mut ids = profile_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut inputs = profile_facts::inputs(tx, &ids).await?;
    let mut kept = Vec::with_capacity(ids.len());
    let mut sales_of = HashMap::with_capacity(ids.len());
    let mut gone = Vec::new();
    for id in ids {
        let sales = inputs.sales.remove(&id).unwrap_or_default();
        let refunds = inputs.refunds.remove(&id).unwrap_or_default();
        match sales.is_empty() && refunds.is_empty() {
            true => gone.push(id),
            false => {
                kept.push((id, summarise(&sales, &refunds, zone)));
                sales_of.insert(id, sales);
            }
        }
    }
    profile_facts::save(tx, &kept, now).await?;
    profile_facts::delete(tx, &gone).await?;
    Ok(sales_of)
}

/// Orders read per statement when filling in the category column of old orders.
const BACKFILL_CHUNK: i64 = 500;

/// Works out every profile's facts from scratch, in one transaction: orders stored before their
/// channel and categories were kept get them from their payloads first. Returns how many profiles
/// have facts.
pub async fn rebuild(store: &Store, zone: Tz) -> Result<usize, StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = store.begin_bulk().await?;
    loop {
        let orders = profile_facts::orders_without_categories(&mut tx, BACKFILL_CHUNK).await?;
        if orders.is_empty() {
            break;
        }
        let mut columns = Vec::with_capacity(orders.len());
        for (id, payload) in orders {
            // An order the retention job summarised keeps no lines: no categories, and the
            // channel its column already holds.
            let (channel, categories) = match serde_json::from_str::<Payload>(&payload) {
                Ok(Payload::Order(order)) => (Some(order.channel), sale_categories(&order)),
                _ => (None, Vec::new()),
            };
            let categories = serde_json::to_string(&categories)
                .map_err(|e| StoreError::Corrupt(format!("order event {id}: {e}")))?;
            columns.push((id, channel, categories));
        }
        profile_facts::set_order_columns(&mut tx, &columns).await?;
    }
    profile_facts::clear(&mut tx).await?;
    let ids = profile_facts::profiles_with_events(&mut tx).await?;
    let profiles = refresh(&mut tx, &ids, zone, now).await?;
    tx.commit().await?;
    Ok(profiles)
}

/// Rebuilds the facts once if the store holds orders from before they were kept.
pub async fn rebuild_if_missing(store: &Store, zone: Tz) -> Result<(), StoreError> {
    if store.profile_facts_missing().await? {
        let profiles = rebuild(store, zone).await?;
        tracing::info!(profiles, "profile facts built from the stored sales");
    }
    Ok(())
}
