//! Table `journey_entries`: each time the scheduler let a person into a journey, and what came of
//! it (a message queued, or held out by an experiment). Re-entry rules read when a person last
//! entered; delivery reads an entry's arm and detail to render its message.

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What came of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A message was queued for the journey's sink.
    Sent,
    /// An experiment held the person out: recorded as "would have received", nothing sent.
    Holdout,
    /// An exit (a cancellation, a refund, a consent revoked) ended its message before it went.
    Withdrawn,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Holdout => "holdout",
            Outcome::Withdrawn => "withdrawn",
        }
    }

    fn parse(text: &str) -> Result<Outcome, StoreError> {
        [Outcome::Sent, Outcome::Holdout, Outcome::Withdrawn]
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| StoreError::Corrupt(format!("journey_entries.outcome {text:?}")))
    }
}

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry<'a> {
    pub journey: &'a str,
    pub profile_id: i64,
    pub entered_at: i64,
    pub outcome: Outcome,
    /// The experiment and arm, if the journey has one.
    pub arm: Option<(&'a str, &'a str)>,
    pub channel: &'a str,
    pub event_id: Option<i64>,
    pub detail: &'a BTreeMap<String, String>,
}

/// What a message needs of its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDetail {
    pub arm: Option<String>,
    pub detail: BTreeMap<String, String>,
}

/// Marks the entries whose messages `outbox_ids` were withdrawn before they went.
pub async fn withdraw_messages(tx: &mut Tx<'_>, outbox_ids: &[i64]) -> Result<(), StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "UPDATE journey_entries SET outcome = $1 WHERE outcome = $2 AND outbox_id IN {list}",
        &[
            Outcome::Withdrawn.as_str().into(),
            Outcome::Sent.as_str().into(),
        ],
        outbox_ids,
    )
    .await?;
    Ok(())
}

/// Records entries; returns their ids, in order.
pub async fn insert(tx: &mut Tx<'_>, entries: &[NewEntry<'_>]) -> Result<Vec<i64>, StoreError> {
    let detail: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e.detail).expect("a map of strings serialises"))
        .collect();
    let mut ids = Vec::with_capacity(entries.len());
    // One statement per entry: the ids come back in order, which a multi-row RETURNING does not
    // promise.
    for (entry, detail) in entries.iter().zip(&detail) {
        let values: Vec<Value> = vec![
            entry.journey.into(),
            entry.profile_id.into(),
            entry.entered_at.into(),
            entry.outcome.as_str().into(),
            entry.arm.map(|(experiment, _)| experiment).into(),
            entry.arm.map(|(_, arm)| arm).into(),
            entry.channel.into(),
            entry.event_id.into(),
            detail.as_str().into(),
        ];
        let row = rows::insert_values(
            &mut tx.inner,
            "INSERT INTO journey_entries (journey, profile_id, entered_at, outcome, experiment,
                                          arm, channel, event_id, detail)",
            "RETURNING id",
            &[values],
        )
        .await?;
        ids.push(row[0].try_get("id")?);
    }
    Ok(ids)
}

/// Links entries to the outbox items that carry their messages.
pub async fn set_outbox_items(tx: &mut Tx<'_>, links: &[(i64, i64)]) -> Result<(), StoreError> {
    for (entry, item) in links {
        sqlx::query("UPDATE journey_entries SET outbox_id = $1 WHERE id = $2")
            .bind(item)
            .bind(entry)
            .execute(&mut *tx.inner)
            .await?;
    }
    Ok(())
}

/// When each of `people` last entered `journey`.
pub async fn last_entered(
    tx: &mut Tx<'_>,
    journey: &str,
    people: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "SELECT profile_id, MAX(entered_at) AS at FROM journey_entries
         WHERE journey = $1 AND profile_id IN {list} GROUP BY profile_id",
        &[journey.into()],
        people,
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get("profile_id")?, row.try_get("at")?)))
    .collect()
}

impl Store {
    /// The arm and detail of the entries `ids`.
    pub async fn entry_details(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, EntryDetail>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::query_ids(
            &mut conn,
            "SELECT id, arm, detail FROM journey_entries WHERE id IN {list}",
            &[],
            ids,
        )
        .await?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let detail: Option<String> = row.try_get("detail")?;
            let detail = match detail {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("journey entry {id}: {e}")))?,
                None => BTreeMap::new(),
            };
            Ok((
                id,
                EntryDetail {
                    arm: row.try_get("arm")?,
                    detail,
                },
            ))
        })
        .collect()
    }

    /// How many entries each outcome of `journey` has had.
    pub async fn journey_outcomes(
        &self,
        journey: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM journey_entries WHERE journey = $1 GROUP BY outcome",
        )
        .bind(journey)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("outcome")?, row.try_get("n")?)))
        .collect()
    }

    /// Every entry of `profile_id` into any journey, oldest first.
    pub async fn entries_of(&self, profile_id: i64) -> Result<Vec<StoredEntry>, StoreError> {
        sqlx::query(
            "SELECT journey, entered_at, outcome, experiment, arm, outbox_id FROM journey_entries
             WHERE profile_id = $1 ORDER BY entered_at, id",
        )
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let outcome: String = row.try_get("outcome")?;
            Ok(StoredEntry {
                journey: row.try_get("journey")?,
                entered_at: row.try_get("entered_at")?,
                outcome: Outcome::parse(&outcome)?,
                experiment: row.try_get("experiment")?,
                arm: row.try_get("arm")?,
                outbox_id: row.try_get("outbox_id")?,
            })
        })
        .collect()
    }
}

/// One recorded entry of a person into a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub journey: String,
    pub entered_at: i64,
    pub outcome: Outcome,
    pub experiment: Option<String>,
    pub arm: Option<String>,
    /// The outbox item that carries its message, if one was queued.
    pub outbox_id: Option<i64>,
}
