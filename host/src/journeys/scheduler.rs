//! The journey scheduler: takes the waits that have fallen due (by the due-time index, earliest
//! first, a bounded batch per transaction), decides each (`rapport_core::journeys::admit`), puts
//! each person who enters in their experiment arm (kept from their first assignment), and queues
//! the message for the journey's sink — or, for the holdout, records that they would have received
//! it. Delivery then applies consent, quiet hours and caps once more when it sends.

use crate::pairs::baskets;
use chrono::{DateTime, Utc};
use rapport_core::consent::gate::Admission as Gate;
use rapport_core::consent::StoredConsent;
use rapport_core::experiments::Arm;
use rapport_core::freeze::{self, Freeze};
use rapport_core::journeys::admit::{admit, Admission, Standing};
use rapport_core::journeys::{Journey, Messaging, Reentry, Routes, Trigger};
use rapport_core::keys::activity_key;
use rapport_core::pairs::{Item, PairsBy};
use rapport_store::journey_due::DueWait;
use rapport_store::journey_entries::{self, NewEntry, Outcome};
use rapport_store::outbox::{self, NewMessage};
use rapport_store::profiles::SnapshotDepth;
use rapport_store::{experiments, journey_due, profile_facts, Store, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Waits one scheduler transaction takes.
pub const BATCH: i64 = 200;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Due waits taken.
    pub due: usize,
    /// Messages queued.
    pub sent: usize,
    /// Holdout entries recorded.
    pub held_out: usize,
    /// Waits dropped (too old, no consent, re-entry, bought since).
    pub skipped: usize,
}

impl std::ops::AddAssign for Pass {
    fn add_assign(&mut self, other: Pass) {
        self.due += other.due;
        self.sent += other.sent;
        self.held_out += other.held_out;
        self.skipped += other.skipped;
    }
}

/// Takes every wait due at `now`, batch by batch, until none is left; returns what it did and the
/// sinks that were given messages. While a freeze `paused` the journeys, due waits are let go,
/// so nothing piles up to be sent when it ends.
pub async fn run_due(
    store: &Store,
    routes: &Routes,
    messaging: &Messaging,
    now: DateTime<Utc>,
    paused: Option<&Freeze>,
) -> Result<(Pass, HashSet<String>), StoreError> {
    let mut total = Pass::default();
    let mut sinks = HashSet::new();
    loop {
        let pass = match paused {
            Some(freeze) => let_go(store, now, freeze).await?,
            None => run_batch(store, routes, messaging, now, &mut sinks).await?,
        };
        total += pass;
        if pass.due < BATCH as usize {
            return Ok((total, sinks));
        }
    }
}

/// One transaction's batch of due waits, let go because `freeze` pauses the journeys.
async fn let_go(store: &Store, now: DateTime<Utc>, freeze: &Freeze) -> Result<Pass, StoreError> {
    let mut tx = store.begin().await?;
    let due = journey_due::take_due(&mut tx, now.timestamp_millis(), BATCH).await?;
    let ids: Vec<i64> = due.iter().map(|w| w.id).collect();
    journey_due::delete(&mut tx, &ids).await?;
    tx.commit().await?;
    if !due.is_empty() {
        tracing::info!(
            waits = due.len(),
            "journey waits let go: {}",
            freeze::journeys_paused(freeze)
        );
    }
    Ok(Pass {
        due: due.len(),
        skipped: due.len(),
        ..Pass::default()
    })
}

/// One transaction's batch of due waits.
async fn run_batch(
    store: &Store,
    routes: &Routes,
    messaging: &Messaging,
    now: DateTime<Utc>,
    sinks: &mut HashSet<String>,
) -> Result<Pass, StoreError> {
    let now_ms = now.timestamp_millis();
    let mut tx = store.begin().await?;
    let due = journey_due::take_due(&mut tx, now_ms, BATCH).await?;
    let mut pass = Pass {
        due: due.len(),
        ..Pass::default()
    };
    if due.is_empty() {
        return Ok(pass);
    }
    let mut people: Vec<i64> = due.iter().map(|w| w.profile_id).collect();
    people.sort_unstable();
    people.dedup();
    let standing = profile_facts::journey_inputs(&mut tx, &people).await?;
    let snapshots = store
        .profile_snapshots(&people, SnapshotDepth::Basic)
        .await?;
    let mut last_entries: HashMap<&str, HashMap<i64, i64>> = HashMap::new();
    for wait in &due {
        if !last_entries.contains_key(wait.journey.as_str()) {
            let entered = journey_entries::last_entered(&mut tx, &wait.journey, &people).await?;
            last_entries.insert(wait.journey.as_str(), entered);
        }
    }
    let mut entered_now: HashSet<(&str, i64)> = HashSet::new();
    let mut entries = Vec::new();
    let mut planned: Vec<(&Journey, &DueWait, BTreeMap<String, String>)> = Vec::new();
    for wait in &due {
        let Some(journey) = routes.journeys.iter().find(|j| j.name == wait.journey) else {
            pass.skipped += 1;
            continue;
        };
        let (Some(person), Some(snapshot)) = (
            standing.get(&wait.profile_id),
            snapshots.get(&wait.profile_id),
        ) else {
            pass.skipped += 1;
            continue;
        };
        let person_standing = standing_of(
            messaging,
            journey,
            &snapshot.consents,
            person.last_visit_at,
            (last_entries[wait.journey.as_str()].get(&wait.profile_id)).copied(),
        );
        let trigger_at = DateTime::<Utc>::from_timestamp_millis(wait.trigger_at).unwrap_or(now);
        let again = entered_now.contains(&(journey.name.as_str(), wait.profile_id));
        let decision = match again && journey.reentry() != Reentry::Always {
            true => Admission::Skip("entered already in this pass, and re-entry waits".into()),
            false => admit(
                journey,
                &snapshot.key,
                routes.horizon.max_age,
                trigger_at,
                &person_standing,
                now,
                routes.time_zone,
            ),
        };
        if let Admission::Skip(why) = decision {
            tracing::debug!(journey = %journey.name, profile = wait.profile_id, %why,
                "journey wait dropped");
            pass.skipped += 1;
            continue;
        }
        entered_now.insert((journey.name.as_str(), wait.profile_id));
        let mut detail = wait.detail.clone();
        // A journey is one message: its step is named by what starts it, so a CRM flow that
        // serves several journeys can pick the template.
        detail.insert("step".into(), journey.trigger.as_str().into());
        if journey.trigger == Trigger::Accessory {
            match accessory(store, wait).await? {
                Some(suggested) => {
                    detail.insert("suggested_product".into(), suggested);
                }
                None => {
                    pass.skipped += 1;
                    continue;
                }
            }
        }
        planned.push((journey, wait, detail));
    }
    let mut arms: Vec<Option<(String, String)>> = Vec::with_capacity(planned.len());
    for (journey, wait, _) in &planned {
        let arm = match &journey.experiment {
            Some(experiment) => {
                let key = &standing[&wait.profile_id].key;
                let fresh = experiment.arm_name(experiment.assign(key)).to_string();
                let kept = experiments::assignment(
                    &mut tx,
                    &experiment.name,
                    wait.profile_id,
                    &fresh,
                    now_ms,
                )
                .await?;
                Some((experiment.name.clone(), kept))
            }
            None => None,
        };
        arms.push(arm);
    }
    for ((journey, _, detail), arm) in planned.iter_mut().zip(&arms) {
        let variant = match (&journey.experiment, arm) {
            (Some(experiment), Some((_, arm))) => match experiment.arm_named(arm) {
                Some(Arm::Variant(i)) => Some(&experiment.variants[i]),
                _ => None,
            },
            _ => None,
        };
        if let Some(variant) = variant {
            detail.extend(variant.properties.clone());
        }
    }
    for ((journey, wait, detail), arm) in planned.iter().zip(&arms) {
        let outcome = match arm {
            Some((_, arm)) if arm == rapport_core::experiments::HOLDOUT => Outcome::Holdout,
            _ => Outcome::Sent,
        };
        entries.push(NewEntry {
            journey: &journey.name,
            profile_id: wait.profile_id,
            entered_at: now_ms,
            outcome,
            arm: arm.as_ref().map(|(e, a)| (e.as_str(), a.as_str())),
            channel: journey.channel.as_str(),
            event_id: wait.event_id,
            detail,
        });
    }
    let ids = journey_entries::insert(&mut tx, &entries).await?;
    let keys: Vec<String> = planned
        .iter()
        .map(|(journey, wait, _)| message_key(journey, wait))
        .collect();
    let messages: Vec<NewMessage> = (planned.iter().zip(&entries).zip(&ids).zip(&keys))
        .filter(|(((_, entry), _), _)| entry.outcome == Outcome::Sent)
        .map(|((((journey, wait, _), _), id), key)| NewMessage {
            sink: &journey.sink,
            profile_id: wait.profile_id,
            event_id: wait.event_id,
            key,
            journey: &journey.name,
            channel: journey.channel,
            entry_id: *id,
        })
        .collect();
    pass.sent = messages.len();
    pass.held_out = entries.len() - messages.len();
    sinks.extend(messages.iter().map(|m| m.sink.to_string()));
    let queued = outbox::enqueue_messages(&mut tx, &messages, now_ms).await?;
    journey_entries::set_outbox_items(&mut tx, &queued).await?;
    let taken: Vec<i64> = due.iter().map(|w| w.id).collect();
    journey_due::delete(&mut tx, &taken).await?;
    tx.commit().await?;
    Ok(pass)
}

/// What the scheduler knows of a person when their wait in `journey` falls due: whether its
/// message's consent gate lets them in (`consents` in force), their last counted sale and when they
/// last entered the journey (ms since the epoch). `rapport explain` reads a wait the same way.
pub fn standing_of(
    messaging: &Messaging,
    journey: &Journey,
    consents: &[StoredConsent],
    last_purchase: Option<i64>,
    last_entry: Option<i64>,
) -> Standing {
    let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms);
    Standing {
        consented: matches!(messaging.gate(journey.channel).admit(consents), Gate::Full),
        last_purchase: last_purchase.and_then(at),
        last_entry: last_entry.and_then(at),
    }
}

/// A message's idempotency key: stable for the wait and the fact that started it, so the CRM never
/// sends one entry twice.
fn message_key(journey: &Journey, wait: &DueWait) -> String {
    activity_key(
        &format!("journey:{}", journey.name),
        &format!("{}\n{}\n{}", wait.profile_id, wait.trigger_at, wait.due_at),
    )
}

/// The accessory to suggest after a wait's purchase: the partner of the item bought with the
/// highest lift that the person has not bought, by product, else by category.
async fn accessory(store: &Store, wait: &DueWait) -> Result<Option<String>, StoreError> {
    let sales = store.sales_of(wait.profile_id).await?;
    for (by, from) in [
        (PairsBy::Product, wait.detail.get("bought")),
        (PairsBy::Category, wait.detail.get("bought_category")),
    ] {
        let Some(from) = from.and_then(|f| Item::new(f)) else {
            continue;
        };
        let bought: HashSet<Item> = baskets(&sales, by).into_iter().flatten().collect();
        let best = (store.pair_rules(by).await?.into_iter())
            .map(|(rule, _)| rule)
            .filter(|r| r.antecedent == from && !bought.contains(&r.consequent))
            .max_by(|a, b| a.lift.total_cmp(&b.lift));
        if let Some(rule) = best {
            return Ok(Some(rule.consequent.as_str().to_string()));
        }
    }
    Ok(None)
}

/// How long the scheduler sleeps when nothing is due soon.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(30);
