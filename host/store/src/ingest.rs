//! The ingest transaction: events (deduplicated), the people they name, the work they create for each
//! sink (journey messages included), rejected input and the source cursor, all committed together or
//! not at all.

use super::outbox::{self, NewWork};
use super::profiles::{self, Named, Resolved};
use super::rows::{self, Value};
use super::{now_ms, Store, StoreError};
use rapport_core::identity::MergeRules;
use rapport_core::journeys::{plan_messages, NewSale, Routes};
use rapport_core::keys::activity_key;
use rapport_core::model::{Event, Identity, Money, Payload, RejectedInput};
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// An event ready to store: validated, with the person's identities already normalised.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event: Event,
    /// The event's payload as stored (JSON).
    pub payload_json: String,
    /// The vendor object the event is about (order id, refund id, customer key).
    pub object_id: String,
    pub identities: Vec<Identity>,
    pub amount: Option<Money>,
    /// The activity this event records at sinks the first time its object is seen.
    pub activity: Option<&'static str>,
}

/// Everything one poll step or webhook delivered.
#[derive(Debug, Clone)]
pub struct IngestBatch<'a> {
    pub source_id: &'a str,
    /// "poll:<stream>" or "webhook", for rejected-input records.
    pub origin: &'a str,
    /// `(stream, cursor)` to commit with the events.
    pub cursor: Option<(&'a str, &'a str)>,
    pub events: &'a [PreparedEvent],
    pub rejected: &'a [RejectedInput],
    /// The sinks and journeys that receive work for these events.
    pub routes: &'a Routes,
    /// How the events' identities link and merge profiles.
    pub merge_rules: &'a MergeRules,
}

/// What an ingest stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub work_items: usize,
}

impl Store {
    /// Stores a batch atomically; an event already stored for this source is counted as a duplicate
    /// and creates no work. The whole batch costs a fixed handful of statements, whatever its size.
    pub async fn ingest(&self, batch: IngestBatch<'_>) -> Result<IngestReport, StoreError> {
        let now = now_ms();
        let mut bulk = self.begin_bulk().await?;
        let tx = &mut bulk.inner;
        let fresh = unseen_events(tx, batch.source_id, batch.events).await?;
        let (people, consent_changed) =
            people_of(tx, batch.source_id, &fresh, batch.merge_rules, now).await?;
        let first_sightings = first_sightings(tx, batch.source_id, &fresh).await?;
        let first_order_journeys = (batch.routes.journeys.iter())
            .any(|j| j.trigger == rapport_core::journeys::Trigger::FirstOrder);
        let ordered_before = match first_order_journeys {
            true => people_with_orders(tx, &people).await?,
            false => HashSet::new(),
        };
        let stored = insert_events(tx, batch.source_id, &fresh, &people, now).await?;
        mark_superseded(tx, batch.source_id, &fresh, &first_sightings).await?;
        let mut work = Vec::new();
        let mut new_orders = Vec::new();
        for (((prepared, person), first), event_id) in
            fresh.iter().zip(&people).zip(&first_sightings).zip(&stored)
        {
            if let (Some(profile_id), Some(event_id)) = (person, event_id) {
                if *first && matches!(prepared.event.payload, Payload::Order(_)) {
                    new_orders.push(NewSale {
                        profile_id: *profile_id,
                        event_id: *event_id,
                        source_event_id: &prepared.event.source_event_id,
                        occurred_at: prepared.event.occurred_at,
                    });
                }
                work.push(NewWork {
                    profile_id: *profile_id,
                    event_id: *event_id,
                    activity_key: first
                        .then(|| activity_key(batch.source_id, &prepared.event.source_event_id)),
                });
            }
        }
        let messages = plan_messages(
            batch.source_id,
            &batch.routes.journeys,
            new_orders,
            ordered_before,
        );
        let accepted = stored.iter().flatten().count();
        let report = IngestReport {
            accepted,
            duplicates: batch.events.len() - accepted,
            rejected: batch.rejected.len(),
            work_items: outbox::enqueue_consent_changes(
                tx,
                &batch.routes.sinks,
                &consent_changed,
                now,
            )
            .await?
                + outbox::enqueue(tx, &batch.routes.sinks, &work, now).await?
                + outbox::enqueue_messages(tx, &messages, now).await?,
        };
        let rejected: Vec<Vec<Value>> = batch
            .rejected
            .iter()
            .map(|r| {
                vec![
                    batch.source_id.into(),
                    batch.origin.into(),
                    (&r.locator).into(),
                    (&r.reason).into(),
                    now.into(),
                ]
            })
            .collect();
        rows::insert_values(
            tx,
            "INSERT INTO rejected_inputs (source_id, origin, locator, reason, received_at)",
            "",
            &rejected,
        )
        .await?;
        if let Some((stream, cursor)) = batch.cursor {
            sqlx::query(
                "INSERT INTO cursors (source_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source_id, stream) DO UPDATE SET cursor = $3, updated_at = $4",
            )
            .bind(batch.source_id)
            .bind(stream)
            .bind(cursor)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        bulk.commit().await?;
        Ok(report)
    }
}

/// The events of the batch this source has not delivered before, each once, in batch order.
async fn unseen_events<'e>(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    events: &'e [PreparedEvent],
) -> Result<Vec<&'e PreparedEvent>, StoreError> {
    let ids: Vec<Value> = events
        .iter()
        .map(|p| (&p.event.source_event_id).into())
        .collect();
    let stored: HashSet<String> = rows::query_in(
        tx,
        "SELECT source_event_id FROM events WHERE source_id = $1 AND source_event_id IN {list}",
        &[source_id.into()],
        &ids,
    )
    .await?
    .iter()
    .map(|r| r.try_get("source_event_id"))
    .collect::<Result<_, _>>()?;
    let mut seen = HashSet::new();
    Ok(events
        .iter()
        .filter(|p| {
            !stored.contains(&p.event.source_event_id) && seen.insert(&p.event.source_event_id)
        })
        .collect())
}

/// The profile each event belongs to: the person it names, or, for a refund that names nobody,
/// whoever placed the order it refunds (stored earlier or in this batch); and the people whose
/// consent in force the batch changed.
async fn people_of(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    events: &[&PreparedEvent],
    rules: &MergeRules,
    now: i64,
) -> Result<(Vec<Option<i64>>, HashSet<i64>), StoreError> {
    let named: Vec<Option<Named>> = events
        .iter()
        .map(|p| match p.event.payload.customer() {
            Some(customer) if !p.identities.is_empty() => Some(Named {
                identities: &p.identities,
                customer,
                evidence: format!("{source_id}:{}", p.event.source_event_id),
            }),
            _ => None,
        })
        .collect();
    let Resolved {
        profiles: mut people,
        consent_changed,
    } = profiles::resolve(tx, &named, rules, now).await?;
    let mut placed_by: HashMap<&str, i64> = HashMap::new();
    for (p, person) in events.iter().zip(&people) {
        if let (Payload::Order(order), Some(profile_id)) = (&p.event.payload, person) {
            placed_by.entry(order.id.as_str()).or_insert(*profile_id);
        }
    }
    let orphan_refunds: Vec<Value> = events
        .iter()
        .zip(&people)
        .filter_map(|(p, person)| match (&p.event.payload, person) {
            (Payload::Refund(r), None) if !placed_by.contains_key(r.order_id.as_str()) => {
                Some(r.order_id.as_str().into())
            }
            _ => None,
        })
        .collect();
    let stored_orders = rows::query_in(
        tx,
        "SELECT object_id, profile_id FROM events
         WHERE source_id = $1 AND kind = 'order' AND profile_id IS NOT NULL AND object_id IN {list}
         ORDER BY id",
        &[source_id.into()],
        &orphan_refunds,
    )
    .await?;
    let mut stored_placed_by: HashMap<String, i64> = HashMap::new();
    for row in stored_orders {
        stored_placed_by
            .entry(row.try_get("object_id")?)
            .or_insert(row.try_get("profile_id")?);
    }
    for (p, person) in events.iter().zip(people.iter_mut()) {
        if let (Payload::Refund(r), None) = (&p.event.payload, &person) {
            *person = placed_by
                .get(r.order_id.as_str())
                .or_else(|| stored_placed_by.get(&r.order_id))
                .copied();
        }
    }
    Ok((people, consent_changed))
}

/// For each event, whether it is the first of its vendor object (so it records an activity): no
/// stored event and no earlier event of the batch has the same kind and object.
async fn first_sightings(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    events: &[&PreparedEvent],
) -> Result<Vec<bool>, StoreError> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let kinds: BTreeSet<&str> = events
        .iter()
        .filter(|p| p.activity.is_some())
        .map(|p| p.event.payload.kind())
        .collect();
    for kind in kinds {
        let objects: Vec<Value> = events
            .iter()
            .filter(|p| p.activity.is_some() && p.event.payload.kind() == kind)
            .map(|p| (&p.object_id).into())
            .collect();
        for row in rows::query_in(
            tx,
            "SELECT DISTINCT object_id FROM events
             WHERE source_id = $1 AND kind = $2 AND object_id IN {list}",
            &[source_id.into(), kind.into()],
            &objects,
        )
        .await?
        {
            seen.insert((kind.to_string(), row.try_get("object_id")?));
        }
    }
    Ok(events
        .iter()
        .map(|p| {
            p.activity.is_some()
                && seen.insert((p.event.payload.kind().to_string(), p.object_id.clone()))
        })
        .collect())
}

/// Which of the batch's people had an order stored before it.
async fn people_with_orders(
    tx: &mut Transaction<'_, Any>,
    people: &[Option<i64>],
) -> Result<HashSet<i64>, StoreError> {
    let mut ids: Vec<i64> = people.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    rows::query_ids(
        tx,
        "SELECT DISTINCT profile_id FROM events WHERE kind = 'order' AND profile_id IN {list}",
        &[],
        &ids,
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get("profile_id")?))
    .collect()
}

/// Flags the earlier versions of the batch's orders and refunds as superseded, so totals count each
/// once, as its latest version says. Only objects seen before, or more than once in the batch,
/// have earlier versions.
async fn mark_superseded(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    events: &[&PreparedEvent],
    first_sightings: &[bool],
) -> Result<(), StoreError> {
    let mut sightings: HashMap<(&str, &str), usize> = HashMap::new();
    for p in events.iter().filter(|p| p.activity.is_some()) {
        *sightings
            .entry((p.event.payload.kind(), p.object_id.as_str()))
            .or_default() += 1;
    }
    let mut versioned: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (p, first) in events.iter().zip(first_sightings) {
        let key = (p.event.payload.kind(), p.object_id.as_str());
        if p.activity.is_some() && (!first || sightings[&key] > 1) {
            versioned.entry(key.0).or_default().insert(key.1);
        }
    }
    for (kind, objects) in versioned {
        let objects: Vec<Value> = objects.into_iter().map(Value::from).collect();
        rows::query_in(
            tx,
            "UPDATE events SET superseded = 1
             WHERE source_id = $1 AND kind = $2 AND object_id IN {list} AND superseded = 0
               AND id < (SELECT MAX(l.id) FROM events l
                         WHERE l.source_id = events.source_id AND l.kind = events.kind
                           AND l.object_id = events.object_id)",
            &[source_id.into(), kind.into()],
            &objects,
        )
        .await?;
    }
    Ok(())
}

/// Inserts the events with their profiles; returns each one's row id, or `None` where a concurrent
/// ingest stored the same event first.
async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    source_id: &str,
    events: &[&PreparedEvent],
    people: &[Option<i64>],
    now: i64,
) -> Result<Vec<Option<i64>>, StoreError> {
    let values: Vec<Vec<Value>> = events
        .iter()
        .zip(people)
        .map(|(p, person)| {
            vec![
                source_id.into(),
                (&p.event.source_event_id).into(),
                p.event.payload.kind().into(),
                (&p.object_id).into(),
                (*person).into(),
                p.amount.as_ref().map(|m| m.minor).into(),
                p.amount.as_ref().map(|m| m.currency.as_str()).into(),
                p.event.occurred_at.timestamp_millis().into(),
                now.into(),
                (&p.payload_json).into(),
            ]
        })
        .collect();
    let inserted: HashMap<String, i64> = rows::insert_values(
        tx,
        "INSERT INTO events (source_id, source_event_id, kind, object_id, profile_id, amount_minor,
                             currency, occurred_at, ingested_at, payload)",
        "ON CONFLICT (source_id, source_event_id) DO NOTHING RETURNING id, source_event_id",
        &values,
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("source_event_id")?, r.try_get("id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(events
        .iter()
        .map(|p| inserted.get(&p.event.source_event_id).copied())
        .collect())
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.work_items += other.work_items;
    }
}
