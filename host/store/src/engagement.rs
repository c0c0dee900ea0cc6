//! Table `message_engagement`: what became of the messages sinks were given (delivered, opened,
//! clicked, bounced, unsubscribed), one row per vendor event, and its counts per journey,
//! experiment arm and channel.

use super::{Store, StoreError, Tx};
pub use rapport_core::metrics::engagement::EngagementCounts;
use rapport_core::metrics::engagement::EngagementKind;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// One engagement event as recorded, with what the host tied it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEngagement<'a> {
    pub sink_id: &'a str,
    pub vendor_event_id: &'a str,
    /// `delivered`, `opened`, `clicked`, `bounced` or `unsubscribed`.
    pub kind: &'a str,
    pub channel: &'a str,
    pub occurred_at: i64,
    pub profile_id: Option<i64>,
    pub message: Option<SentMessage>,
    pub vendor_message_id: Option<&'a str>,
}

/// A journey message the host queued for a sink: its outbox row and the entry it was sent for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub outbox_id: i64,
    pub entry_id: Option<i64>,
    pub journey: Option<String>,
    pub arm: Option<String>,
}

/// Where counts are kept: journey, experiment arm (`None` outside an experiment), channel.
pub type EngagementKey = (String, Option<String>, String);

/// Records `event` unless the sink already reported it; returns whether it was new.
pub async fn record(
    tx: &mut Tx<'_>,
    event: &NewEngagement<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let message = event.message.as_ref();
    let inserted = sqlx::query(
        "INSERT INTO message_engagement (sink_id, vendor_event_id, kind, channel, occurred_at,
             profile_id, outbox_id, entry_id, journey, arm, vendor_message_id, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (sink_id, vendor_event_id) DO NOTHING",
    )
    .bind(event.sink_id)
    .bind(event.vendor_event_id)
    .bind(event.kind)
    .bind(event.channel)
    .bind(event.occurred_at)
    .bind(event.profile_id)
    .bind(message.map(|m| m.outbox_id))
    .bind(message.and_then(|m| m.entry_id))
    .bind(message.and_then(|m| m.journey.clone()))
    .bind(message.and_then(|m| m.arm.clone()))
    .bind(event.vendor_message_id)
    .bind(now)
    .execute(&mut *tx.inner)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The journey message `sink` was given under `idempotency_key`, if any.
pub async fn message_by_key(
    tx: &mut Tx<'_>,
    sink_id: &str,
    idempotency_key: &str,
) -> Result<Option<(i64, SentMessage)>, StoreError> {
    let row = sqlx::query(&format!(
        "{SENT} WHERE o.sink_id = $1 AND o.idempotency_key = $2 AND o.kind = 'message'"
    ))
    .bind(sink_id)
    .bind(idempotency_key)
    .fetch_optional(&mut *tx.inner)
    .await?;
    row.map(|r| Ok((r.try_get("profile_id")?, sent(&r)?)))
        .transpose()
}

/// The latest journey message (of `journey`, when given) queued for `profile_id` on `sink` at or
/// before `at`, if any.
pub async fn latest_message(
    tx: &mut Tx<'_>,
    sink_id: &str,
    profile_id: i64,
    journey: Option<&str>,
    at: i64,
) -> Result<Option<SentMessage>, StoreError> {
    let row = sqlx::query(&format!(
        "{SENT} WHERE o.sink_id = $1 AND o.profile_id = $2 AND o.kind = 'message'
             AND o.created_at <= $3 AND ($4 IS NULL OR o.journey = $4)
         ORDER BY o.created_at DESC, o.id DESC LIMIT 1"
    ))
    .bind(sink_id)
    .bind(profile_id)
    .bind(at)
    .bind(journey)
    .fetch_optional(&mut *tx.inner)
    .await?;
    row.map(|r| sent(&r)).transpose()
}

/// A journey message's outbox row with its entry's journey and arm.
const SENT: &str = "SELECT o.id AS outbox_id, o.profile_id, o.entry_id,
        COALESCE(e.journey, o.journey) AS journey, e.arm
     FROM outbox o LEFT JOIN journey_entries e ON e.id = o.entry_id";

fn sent(row: &sqlx::any::AnyRow) -> Result<SentMessage, StoreError> {
    Ok(SentMessage {
        outbox_id: row.try_get("outbox_id")?,
        entry_id: row.try_get("entry_id")?,
        journey: row.try_get("journey")?,
        arm: row.try_get("arm")?,
    })
}

impl Store {
    /// Engagement per journey, experiment arm and channel, over the events that occurred in
    /// `[from, to)` (ms since the epoch); events tied to no journey message are left out.
    pub async fn engagement_counts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<EngagementKey, EngagementCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT journey, arm, channel, kind, COUNT(DISTINCT outbox_id) AS messages
             FROM message_engagement
             WHERE journey IS NOT NULL AND outbox_id IS NOT NULL
                 AND occurred_at >= $1 AND occurred_at < $2
             GROUP BY journey, arm, channel, kind",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut counts: BTreeMap<EngagementKey, EngagementCounts> = BTreeMap::new();
        for r in rows {
            let key = (
                r.try_get("journey")?,
                r.try_get("arm")?,
                r.try_get("channel")?,
            );
            tally(counts.entry(key).or_default(), &r)?;
        }
        Ok(counts)
    }
}

/// Unlinks a forgotten person's engagement from them (the counts stay, the person does not).
pub async fn forget_person(tx: &mut Tx<'_>, profile_id: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("UPDATE message_engagement SET profile_id = NULL WHERE profile_id = $1")
            .bind(profile_id)
            .execute(&mut *tx.inner)
            .await?
            .rows_affected(),
    )
}

/// Adds a row's `kind` and its count of distinct `messages` to `counts`.
pub(crate) fn tally(counts: &mut EngagementCounts, row: &AnyRow) -> Result<(), StoreError> {
    let n: i64 = row.try_get("messages")?;
    let n = u64::try_from(n)
        .map_err(|_| StoreError::Corrupt(format!("engagement count {n} is negative")))?;
    let kind: String = row.try_get("kind")?;
    let kind = EngagementKind::parse(&kind).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "message_engagement.kind {kind:?} is not an engagement kind"
        ))
    })?;
    counts.set(kind, n);
    Ok(())
}
