//! The `events` table: every version of every vendor object a source delivered, with the person it
//! belongs to. One version per object is current (`superseded = 0`); the service decides which.

use super::rows::{self, Value};
use super::{StoreError, Tx};
use rapport_core::model::{OrderState, SalesChannel};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// An event to insert.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub source_event_id: &'a str,
    pub kind: &'a str,
    pub object_id: &'a str,
    pub profile_id: Option<i64>,
    pub amount_minor: Option<i64>,
    pub currency: Option<&'a str>,
    pub occurred_at: i64,
    pub payload: &'a str,
    /// An order's state.
    pub state: Option<OrderState>,
    /// An order's `placed_at`.
    pub placed_at: Option<i64>,
    /// When the vendor last changed the object (ms), for choosing the current one.
    pub version: Option<i64>,
    /// The vendor's own version, where it has one (Square's): it decides between two that have one.
    pub vendor_version: Option<i64>,
    /// Whether it is the object's current version.
    pub current: bool,
    /// An order's sales channel.
    pub channel: Option<SalesChannel>,
    /// An order's spend per category, as JSON `[[category, minor], ...]`.
    pub categories: Option<String>,
}

/// An object's current version as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentVersion {
    pub event_id: i64,
    pub source_event_id: String,
    pub version: Option<i64>,
    pub vendor_version: Option<i64>,
    pub state: Option<OrderState>,
    pub profile_id: Option<i64>,
}

/// Makes the ingests of one source take turns on PostgreSQL, where several hosts share the table,
/// so two of them never both find the same object's current version and each add a newer one.
pub async fn take_ingest_turn(tx: &mut Tx<'_>, source_id: &str) -> Result<(), StoreError> {
    let backend = tx.backend;
    Ok(backend
        .take_claim_turn(&mut tx.inner, &format!("ingest\n{source_id}"))
        .await?)
}

/// Which of `source_event_ids` this source has stored.
pub async fn stored_ids(
    tx: &mut Tx<'_>,
    source_id: &str,
    source_event_ids: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let ids: Vec<Value> = source_event_ids.iter().map(|id| (*id).into()).collect();
    rows::query_in(
        &mut tx.inner,
        "SELECT source_event_id FROM events WHERE source_id = $1 AND source_event_id IN {list}",
        &[source_id.into()],
        &ids,
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get("source_event_id")?))
    .collect()
}

/// The current version of each of `objects` of `kind` this source has stored, by object id.
pub async fn current_versions(
    tx: &mut Tx<'_>,
    source_id: &str,
    kind: &str,
    objects: &[&str],
) -> Result<HashMap<String, CurrentVersion>, StoreError> {
    let list: Vec<Value> = objects.iter().map(|o| (*o).into()).collect();
    let mut current = HashMap::new();
    for row in rows::query_in(
        &mut tx.inner,
        "SELECT id, object_id, source_event_id, version, vendor_version, state, profile_id
         FROM events
         WHERE source_id = $1 AND kind = $2 AND superseded = 0 AND object_id IN {list}",
        &[source_id.into(), kind.into()],
        &list,
    )
    .await?
    {
        let state: Option<String> = row.try_get("state")?;
        current.insert(
            row.try_get("object_id")?,
            CurrentVersion {
                event_id: row.try_get("id")?,
                source_event_id: row.try_get("source_event_id")?,
                version: row.try_get("version")?,
                vendor_version: row.try_get("vendor_version")?,
                state: state
                    .map(|s| rows::parse_enum("events.state", &s))
                    .transpose()?,
                profile_id: row.try_get("profile_id")?,
            },
        );
    }
    Ok(current)
}

/// The person who placed each of `orders` from this source, from the earliest stored version that
/// names one.
pub async fn buyers(
    tx: &mut Tx<'_>,
    source_id: &str,
    orders: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let list: Vec<Value> = orders.iter().map(|o| (*o).into()).collect();
    let mut buyers = HashMap::new();
    for row in rows::query_in(
        &mut tx.inner,
        "SELECT object_id, profile_id FROM events
         WHERE source_id = $1 AND kind = 'order' AND profile_id IS NOT NULL AND object_id IN {list}
         ORDER BY id",
        &[source_id.into()],
        &list,
    )
    .await?
    {
        buyers
            .entry(row.try_get("object_id")?)
            .or_insert(row.try_get("profile_id")?);
    }
    Ok(buyers)
}

/// Which of `people` have a current completed order stored.
pub async fn people_with_sales(
    tx: &mut Tx<'_>,
    people: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    rows::query_ids(
        &mut tx.inner,
        &format!("SELECT DISTINCT profile_id FROM events WHERE {COUNTED_SALES} AND profile_id IN {{list}}"),
        &[],
        people,
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get("profile_id")?))
    .collect()
}

/// Marks the given events as no longer current.
pub async fn supersede(tx: &mut Tx<'_>, event_ids: &[i64]) -> Result<(), StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "UPDATE events SET superseded = 1 WHERE id IN {list}",
        &[],
        event_ids,
    )
    .await?;
    Ok(())
}

/// The rows that are sales: completed orders, each in its current version
/// (`rapport_core::sales::is_sale`).
pub(crate) const COUNTED_SALES: &str = "kind = 'order' AND state = 'completed' AND superseded = 0";

/// Sales, and refunds in their current version: what a person's totals are made of.
pub(crate) const SALES_AND_REFUNDS: &str =
    "superseded = 0 AND (kind = 'refund' OR (kind = 'order' AND state = 'completed'))";

/// The people the given events belong to.
pub async fn people_of(tx: &mut Tx<'_>, event_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "SELECT DISTINCT profile_id FROM events WHERE id IN {list} AND profile_id IS NOT NULL",
        &[],
        event_ids,
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get("profile_id")?))
    .collect()
}

/// Inserts `events` from `source_id`, received at `now`; returns each one's row id, or `None` where
/// a concurrent ingest stored the same event first.
pub async fn insert(
    tx: &mut Tx<'_>,
    source_id: &str,
    events: &[NewEvent<'_>],
    now: i64,
) -> Result<Vec<Option<i64>>, StoreError> {
    let values: Vec<Vec<Value>> = events
        .iter()
        .map(|e| {
            vec![
                source_id.into(),
                e.source_event_id.into(),
                e.kind.into(),
                e.object_id.into(),
                e.profile_id.into(),
                e.amount_minor.into(),
                e.currency.into(),
                e.occurred_at.into(),
                now.into(),
                e.payload.into(),
                e.state.map(OrderState::as_str).into(),
                e.placed_at.into(),
                e.version.into(),
                e.vendor_version.into(),
                i64::from(!e.current).into(),
                e.channel.map(SalesChannel::as_str).into(),
                e.categories.as_deref().into(),
            ]
        })
        .collect();
    let inserted: HashMap<String, i64> = rows::insert_values(
        &mut tx.inner,
        "INSERT INTO events (source_id, source_event_id, kind, object_id, profile_id, amount_minor,
                             currency, occurred_at, ingested_at, payload, state, placed_at, version,
                             vendor_version, superseded, channel, categories)",
        "ON CONFLICT (source_id, source_event_id) DO NOTHING RETURNING id, source_event_id",
        &values,
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("source_event_id")?, r.try_get("id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(events
        .iter()
        .map(|e| inserted.get(e.source_event_id).copied())
        .collect())
}
