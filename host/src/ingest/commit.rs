//! The ingest transaction: a batch's events (deduplicated), the people they name, the current
//! version of each vendor object, the work each sink is owed (activities, journey messages, a
//! withdrawn thank-you), rejected input, the source's cursor and the facts of every profile it
//! touched (`crate::profiles::refresh`), the new sales credited to the journey entries that earned
//! them (`crate::experiments::attribute`), committed together or not at all.
//! The decisions are `rapport_core::sales` and `rapport_core::journeys`; the SQL is the store's.

use super::vendor_merge::{self, VendorMerge};
use crate::journeys::{self, Planning};
use rapport_core::experiments::attribution::Sale;
use rapport_core::governance::suppression;
use rapport_core::identity::MergeRules;
use rapport_core::journeys::{Routes, Trigger};
use rapport_core::keys::activity_key;
use rapport_core::model::{Event, Identity, Money, Payload, RejectedInput};
use rapport_core::profile::facts::sale_categories;
use rapport_core::sales::{self, Change, ObjectVersion};
use rapport_store::events::{self, NewEvent};
use rapport_store::outbox::{self, NewWork, ProfileUpdates};
use rapport_store::privacy_requests::{self, NewRequest};
use rapport_store::profiles::{self, Named, Resolved};
use rapport_store::{
    cursors, forgotten, journey_due, journey_entries, rejected_inputs, Store, StoreError,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why a journey message was withdrawn before it went.
const WITHDRAWN: &str = "withdrawn: the order was cancelled before the message went";

/// An event ready to store: validated, with the person's identities already normalised.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event: Event,
    /// The event's payload as stored (JSON).
    pub payload_json: String,
    /// The vendor object the event is about (order id, refund id, customer key).
    pub object_id: String,
    pub identities: Vec<Identity>,
    /// For a vendor's merge, the vendor customer ids the survivor replaced (normalised).
    pub merged_from: Vec<Identity>,
    pub amount: Option<Money>,
    /// The version of its object it stands for (orders and refunds).
    pub version: Option<ObjectVersion>,
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
    /// Whether the batch is history (a first sync, an import of old exports): it fills profiles
    /// and the sinks, and starts no journey.
    pub history: bool,
    /// When the profile updates it owes go: held during a poll, due for a webhook or an upload.
    pub profile_updates: ProfileUpdates,
}

/// What an ingest stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub work_items: usize,
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.work_items += other.work_items;
    }
}

/// What settling the batch's versions decided for one object.
struct ObjectOutcome {
    /// The stored current version the batch replaces.
    replaced: Option<i64>,
    change: Change,
}

/// Stores a batch atomically; an event already stored for this source is counted as a duplicate
/// and creates no work. The whole batch costs a fixed handful of statements, whatever its size.
pub async fn commit(store: &Store, batch: IngestBatch<'_>) -> Result<IngestReport, StoreError> {
    let now = batch.routes.clock.now();
    let now_ms = now.timestamp_millis();
    let source_id = batch.source_id;
    let salt = store.forgotten_salt().await?;
    let fit = match batch.routes.has(Trigger::WinBack) {
        true => store.latest_fit().await?.map(|stored| stored.fit.models()),
        false => None,
    };
    let mut tx = store.begin_bulk().await?;
    events::take_ingest_turn(&mut tx, source_id).await?;
    let keys: Vec<&str> = (batch.events.iter())
        .map(|p| p.event.source_event_id.as_str())
        .collect();
    let stored = events::stored_ids(&mut tx, source_id, &keys).await?;
    let mut seen = HashSet::new();
    let fresh: Vec<&PreparedEvent> = (batch.events.iter())
        .filter(|p| {
            !stored.contains(&p.event.source_event_id) && seen.insert(&p.event.source_event_id)
        })
        .collect();

    let linkable = not_forgotten(&mut tx, salt, &fresh).await?;
    let named: Vec<Option<Named>> = fresh
        .iter()
        .zip(&linkable)
        .map(|(p, identities)| match p.event.payload.customer() {
            Some(customer) if !identities.is_empty() => Some(Named {
                identities,
                customer,
                evidence: format!("{source_id}:{}", p.event.source_event_id),
            }),
            _ => None,
        })
        .collect();
    let Resolved {
        profiles: mut people,
        mut consent_changed,
        absorbed: mut touched,
    } = profiles::resolve(&mut tx, &named, batch.merge_rules, now_ms).await?;
    let vendor_merges: Vec<VendorMerge> = (fresh.iter().enumerate())
        .filter(|(_, p)| !p.merged_from.is_empty())
        .map(|(position, p)| VendorMerge {
            position,
            evidence: format!("{source_id}:{}", p.event.source_event_id),
            replaced: &p.merged_from,
        })
        .collect();
    let merged =
        vendor_merge::merge_duplicates(&mut tx, source_id, &vendor_merges, &mut people, now_ms)
            .await?;
    consent_changed.retain(|p| !merged.absorbed.contains(p));
    consent_changed.extend(merged.consent_changed);
    attribute_to_holders(&mut tx, &fresh, &mut people).await?;
    let payloads: Vec<&Payload> = fresh.iter().map(|p| &p.event.payload).collect();
    let unattributed = sales::unattributed_refund_orders(&payloads, &people);
    let stored_buyers = events::buyers(&mut tx, source_id, &unattributed).await?;
    sales::attribute_refunds(&payloads, &mut people, &stored_buyers);

    let (current, outcomes) = settle_versions(&mut tx, source_id, &fresh).await?;
    let ordered_before = match batch.routes.has(Trigger::FirstOrder) {
        true => {
            let ids: Vec<i64> = people.iter().flatten().copied().collect();
            events::people_with_sales(&mut tx, &ids).await?
        }
        false => HashSet::new(),
    };
    let replaced: Vec<i64> = outcomes.values().filter_map(|o| o.replaced).collect();
    events::supersede(&mut tx, &replaced).await?;
    touched.extend(events::people_of(&mut tx, &replaced).await?);
    touched.extend(merged.absorbed.iter().copied());
    let rows: Vec<NewEvent> = fresh
        .iter()
        .zip(&people)
        .zip(&current)
        .map(|((p, person), current)| new_event(p, *person, *current))
        .collect();
    let stored = events::insert(&mut tx, source_id, &rows, now_ms).await?;

    let mut work = Vec::new();
    let mut new_sales = Vec::new();
    let mut sold = Vec::new();
    for (((p, person), current), event_id) in fresh.iter().zip(&people).zip(&current).zip(&stored) {
        let (Some(profile_id), Some(event_id)) = (*person, *event_id) else {
            continue;
        };
        // A deletion or a privacy request at the vendor is on the person's record, and nothing a
        // sink is told of.
        if p.event.payload.customer().is_none() && p.version.is_none() {
            continue;
        }
        let change = match current {
            true => outcomes
                .get(&(p.event.payload.kind(), p.object_id.as_str()))
                .map_or(Change::Unchanged, |o| o.change),
            false => Change::Unchanged,
        };
        if let (Change::Counted, Payload::Order(order)) = (change, &p.event.payload) {
            sold.push(Sale {
                event_id,
                profile_id,
                sold_at: order.placed_at.timestamp_millis(),
            });
            if batch
                .routes
                .horizon
                .admits(order.placed_at, now, batch.history)
            {
                new_sales.push((
                    profile_id,
                    event_id,
                    p.event.source_event_id.as_str(),
                    order,
                ));
            }
        }
        work.push(NewWork {
            profile_id,
            event_id,
            activity_key: (change != Change::Unchanged)
                .then(|| activity_key(source_id, &p.event.source_event_id)),
        });
    }
    let withdrawn: Vec<&str> = outcomes
        .iter()
        .filter(|((kind, _), o)| *kind == "order" && o.change == Change::Withdrawn)
        .map(|((_, object), _)| *object)
        .collect();
    let mut waiting: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (sink, id) in outbox::waiting_messages_of_orders(&mut tx, source_id, &withdrawn).await? {
        waiting.entry(sink).or_default().push(id);
    }
    for (sink, ids) in &waiting {
        outbox::withdraw(&mut tx, sink, ids, WITHDRAWN, now_ms).await?;
        journey_entries::withdraw_messages(&mut tx, ids).await?;
    }
    // A refund, like a cancellation, withdraws what its order started and has not yet gone.
    let refunded = fresh.iter().filter_map(|p| match &p.event.payload {
        Payload::Refund(refund) => Some(refund.order_id.as_str()),
        _ => None,
    });
    let ended: Vec<&str> = withdrawn.iter().copied().chain(refunded).collect();
    journey_due::delete_of_orders(&mut tx, source_id, &ended).await?;

    let journeys = &batch.routes.journeys;
    crate::experiments::attribute(&mut tx, journeys, &sold, source_id, &withdrawn).await?;
    let sinks = &batch.routes.sinks;
    let accepted = stored.iter().flatten().count();
    let report = IngestReport {
        accepted,
        duplicates: batch.events.len() - accepted,
        rejected: batch.rejected.len(),
        work_items: outbox::enqueue_consent_changes(&mut tx, sinks, &consent_changed, now_ms)
            .await?
            + outbox::enqueue(&mut tx, sinks, &work, batch.profile_updates, now_ms).await?,
    };
    let requests: Vec<NewRequest> = (fresh.iter())
        .filter_map(|p| match &p.event.payload {
            Payload::PrivacyRequest { id, kind, .. } => Some(NewRequest {
                request_id: id,
                kind: *kind,
                identities: &p.identities,
            }),
            _ => None,
        })
        .collect();
    privacy_requests::insert(&mut tx, source_id, &requests, now_ms).await?;
    touched.extend(people.iter().flatten().copied());
    let before = journeys::standing_before(&mut tx, batch.routes, &touched).await?;
    let touched =
        crate::profiles::refresh_reading_sales(&mut tx, &touched, batch.routes.time_zone, now_ms)
            .await?;
    let planning = Planning {
        source_id,
        sales: new_sales,
        ordered_before,
        touched: &touched,
        before: &before,
        models: fit.as_ref(),
    };
    journeys::plan_batch(&mut tx, batch.routes, planning, now).await?;
    // After planning, so a person who bought and revoked in one batch keeps no wait either.
    journeys::withdraw::withdraw_refused(&mut tx, &consent_changed, now_ms).await?;
    rejected_inputs::insert(&mut tx, source_id, batch.origin, batch.rejected, now_ms).await?;
    if let Some((stream, cursor)) = batch.cursor {
        cursors::save(&mut tx, source_id, stream, cursor, now_ms).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// Each event's identities that may link a person: those of a forgotten person are left out, unless
/// the event brings a consent they gave after being forgotten (`governance::suppression`).
async fn not_forgotten(
    tx: &mut rapport_store::Tx<'_>,
    salt: &str,
    fresh: &[&PreparedEvent],
) -> Result<Vec<Vec<Identity>>, StoreError> {
    let digests: Vec<Vec<String>> = (fresh.iter())
        .map(|p| {
            (p.identities.iter())
                .map(|i| suppression::digest(salt, i))
                .collect()
        })
        .collect();
    let forgotten = forgotten::forgotten_at(tx, &digests.concat()).await?;
    Ok(fresh
        .iter()
        .zip(&digests)
        .map(|(p, digests)| {
            (p.identities.iter().zip(digests))
                .filter(|(_, d)| {
                    forgotten
                        .get(*d)
                        .is_none_or(|at| suppression::may_return(p.event.payload.customer(), *at))
                })
                .map(|(i, _)| i.clone())
                .collect()
        })
        .collect())
}

/// Events that name a person only by identities (a deletion or a privacy request at the vendor)
/// belong to whoever holds the first of those identities the store knows; they never create one.
async fn attribute_to_holders(
    tx: &mut rapport_store::Tx<'_>,
    fresh: &[&PreparedEvent],
    people: &mut [Option<i64>],
) -> Result<(), StoreError> {
    for (p, person) in fresh.iter().zip(people.iter_mut()) {
        if person.is_some() || p.event.payload.customer().is_some() || p.identities.is_empty() {
            continue;
        }
        let holders = profiles::holders(tx, &p.identities).await?;
        *person = p.identities.iter().find_map(|i| holders.get(i).copied());
    }
    Ok(())
}

/// Settles every object the batch has versions of against its stored current version: returns,
/// for each fresh event, whether it becomes its object's current version, and per object what
/// changed and which stored version it replaces.
async fn settle_versions<'e>(
    tx: &mut rapport_store::Tx<'_>,
    source_id: &str,
    fresh: &[&'e PreparedEvent],
) -> Result<(Vec<bool>, HashMap<(&'static str, &'e str), ObjectOutcome>), StoreError> {
    let mut incoming: BTreeMap<(&'static str, &'e str), Vec<(usize, ObjectVersion)>> =
        BTreeMap::new();
    for (i, p) in fresh.iter().enumerate() {
        if let Some(version) = &p.version {
            incoming
                .entry((p.event.payload.kind(), p.object_id.as_str()))
                .or_default()
                .push((i, version.clone()));
        }
    }
    let mut objects_by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (kind, object) in incoming.keys() {
        objects_by_kind.entry(*kind).or_default().push(*object);
    }
    let mut stored = HashMap::new();
    for (kind, objects) in objects_by_kind {
        for (object, version) in events::current_versions(tx, source_id, kind, &objects).await? {
            stored.insert((kind, object), version);
        }
    }
    // Events without versions (customers) are each current; versioned ones only if they win.
    let mut current: Vec<bool> = fresh.iter().map(|p| p.version.is_none()).collect();
    let mut outcomes = HashMap::new();
    for ((kind, object), versions) in incoming {
        let before = stored.get(&(kind, object.to_string()));
        let stored_version = before.map(|c| {
            ObjectVersion::stored(
                kind,
                c.version,
                c.vendor_version,
                &c.source_event_id,
                c.state,
            )
        });
        let settled = sales::settle(stored_version.as_ref(), &versions);
        if let Some(i) = settled.current {
            current[i] = true;
        }
        outcomes.insert(
            (kind, object),
            ObjectOutcome {
                replaced: settled.current.and(before.map(|c| c.event_id)),
                change: settled.change,
            },
        );
    }
    Ok((current, outcomes))
}

/// The row an event is stored as.
fn new_event(p: &PreparedEvent, person: Option<i64>, current: bool) -> NewEvent<'_> {
    let order = match &p.event.payload {
        Payload::Order(o) => Some(o),
        _ => None,
    };
    NewEvent {
        source_event_id: &p.event.source_event_id,
        kind: p.event.payload.kind(),
        object_id: &p.object_id,
        profile_id: person,
        amount_minor: p.amount.as_ref().map(|m| m.minor),
        currency: p.amount.as_ref().map(|m| m.currency.as_str()),
        occurred_at: p.event.occurred_at.timestamp_millis(),
        payload: &p.payload_json,
        state: order.map(|o| o.state),
        placed_at: order.map(|o| o.placed_at.timestamp_millis()),
        version: p.version.as_ref().map(|v| v.version),
        vendor_version: p.version.as_ref().and_then(|v| v.vendor),
        current,
        channel: order.map(|o| o.channel),
        categories: order.map(|o| {
            serde_json::to_string(&sale_categories(o)).expect("pairs of text and integers")
        }),
    }
}
