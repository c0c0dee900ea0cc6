//! `rapport explain WHO`: for one person, what each sink has received and would receive, and why.
//! Nothing here decides anything of its own: what a sink would receive is what delivery's own
//! rendering, consent gate, minimisation and contact rules say now (`SinkWorker::preview`), and a
//! journey's eligibility is what its rollout, the message's consent gate, the contact rules and the
//! scheduler's admission (`rapport_core::journeys::admit`) say. It only reads; nothing changes.

use crate::delivery::minimise::minimise_profile;
use crate::delivery::{render, Preview};
use crate::journeys::scheduler;
use crate::lookup::{find_one, LookupError};
use crate::pipeline::Pipeline;
use chrono::{DateTime, Utc};
use rapport_core::consent::contact::Verdict as Contact;
use rapport_core::consent::gate::Admission;
use rapport_core::governance::fields::Field;
use rapport_core::journeys::admit::{admit, Admission as Entry};
use rapport_core::journeys::Journey;
use rapport_sandbox::contract::wit;
use rapport_store::{
    journey_entries, profile_facts, Completion, ItemStatus, ItemsOf, MergeRecord, ProfileSnapshot,
    SnapshotDepth, StoreError, StoredItem, WorkKind,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why a person could not be explained. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One person, sink by sink and journey by journey.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// When the verdicts were worked out (the pipeline's clock).
    pub at: DateTime<Utc>,
    pub person: Person,
    /// The choices in force, each with the ledger entry that records it.
    pub consents: Vec<ConsentInForce>,
    /// The person's own quiet hours (shop time), set on the preference page.
    pub quiet_hours: Option<String>,
    /// The merges this profile took part in, oldest first.
    pub merges: Vec<Merge>,
    pub sinks: Vec<SinkExplained>,
    pub journeys: Vec<JourneyExplained>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub key: String,
    pub id: i64,
    pub name: Option<String>,
    /// `(kind, value)` of each identity.
    pub identities: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentInForce {
    pub channel: String,
    pub purpose: String,
    /// `granted` or `revoked`.
    pub state: String,
    pub at: Option<DateTime<Utc>>,
    pub source: String,
    pub legal_basis: Option<String>,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Merge {
    pub id: i64,
    pub survivor: String,
    pub absorbed: String,
    /// The kind of identity that linked the two, or `operator: <reason>`.
    pub reason: String,
    pub evidence: String,
    pub merged_at: Option<DateTime<Utc>>,
    pub undone_at: Option<DateTime<Utc>>,
    /// What the merge moved, by kind of row.
    pub moved: BTreeMap<String, i64>,
}

/// What one sink got and would get.
#[derive(Debug, Clone, Serialize)]
pub struct SinkExplained {
    pub sink: String,
    pub retiring: bool,
    /// `full`, `consents-only` or `withheld`: what its consent gate lets it have about the person.
    pub admission: &'static str,
    /// Why not everything (for `consents-only` and `withheld`).
    pub admission_reason: Option<String>,
    /// The person's fields the sink's `fields` list keeps from it.
    pub held_back: Vec<String>,
    /// Finished work: delivered, suppressed, rejected or dead.
    pub received: Vec<Finished>,
    /// Work still owed, with what delivery would do with each item now.
    pub would_receive: Vec<Owed>,
}

/// A work item as it is named to people.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    /// `profile`, `consent`, `activity` or `message`.
    pub kind: &'static str,
    /// What it carries: `profile update`, `consent update`, `order O-1`, `Journey: thanks`.
    pub what: String,
    /// The idempotency key an activity or message reaches the sink with.
    pub key: String,
    pub journey: Option<String>,
    /// The vendor's id of the order or refund it carries.
    pub object: Option<String>,
    /// The profile it was queued for, when that profile has since merged into this one.
    pub queued_for: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    #[serde(flatten)]
    pub item: Item,
    /// `delivered`, `suppressed`, `rejected` or `dead`.
    pub outcome: ItemStatus,
    pub at: Option<DateTime<Utc>>,
    /// Why it was not delivered (or the last error before it was).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Owed {
    #[serde(flatten)]
    pub item: Item,
    /// When it may next be tried, and why it waits (a retry, a pause, quiet hours…).
    pub due_at: Option<DateTime<Utc>>,
    pub waiting_because: Option<String>,
    pub in_flight: bool,
    /// What delivery would do with it now.
    pub verdict: Verdict,
}

/// What delivery would do with an item now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Send it, carrying these fields (identities, names, traits; an activity's name and properties).
    Send {
        name: Option<String>,
        carries: Vec<String>,
    },
    /// Not yet: the rules hold it until then.
    Delay {
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    /// Never: the person's consents or a cap keep it back.
    Suppress { reason: String },
    /// It cannot be sent; it would be dead-lettered.
    DeadLetter { reason: String },
}

/// One journey, for this person.
#[derive(Debug, Clone, Serialize)]
pub struct JourneyExplained {
    pub name: String,
    pub sink: String,
    pub channel: String,
    pub trigger: String,
    pub enabled: bool,
    pub rollout: f64,
    /// Whether the person falls in the rollout share.
    pub in_rollout: bool,
    /// Whether they agree to marketing on its channel, and if not why.
    pub consented: bool,
    pub consent_reason: Option<String>,
    /// What the contact rules (quiet hours, theirs and the shop's; caps) say about a message now.
    pub contact_now: Verdict,
    pub experiment: Option<String>,
    /// Their arm: the one kept from their first assignment, else the one they would be given.
    pub arm: Option<String>,
    /// Waiting in the journey: when each wait falls due, and whether they would enter then.
    pub waits: Vec<Wait>,
    pub entries: Vec<EntryRecord>,
    /// Enabled, in the rollout and consented: a wait that falls due can let them in.
    pub eligible: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Wait {
    pub due_at: Option<DateTime<Utc>>,
    pub trigger_at: Option<DateTime<Utc>>,
    /// `enter`, or why the wait would be dropped.
    pub decision: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryRecord {
    pub entered_at: Option<DateTime<Utc>>,
    /// `sent`, `holdout` or `withdrawn`.
    pub outcome: &'static str,
    pub arm: Option<String>,
}

/// Why a held profile update waits.
const HELD_REASON: &str = "held while its source is polled: it goes when the poll ends, with the \
                           person's figures as they are then";

fn time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// Explains the person `who` names (read as `rapport identity show` reads it) against `pipeline`'s
/// sinks and journeys, at its clock's now.
pub async fn explain(pipeline: &Pipeline, who: &str) -> Result<Explanation, ExplainError> {
    let store = &pipeline.store;
    let config = &pipeline.config;
    let normalizer = rapport_core::identity::Normalizer::new(config.shop.region, &config.identity);
    let found = find_one(store, &normalizer, who).await?;
    let now = pipeline.clock.now();
    let snapshot = store
        .profile_snapshots(&[found.id], SnapshotDepth::Full)
        .await?
        .remove(&found.id)
        .ok_or_else(|| StoreError::Corrupt(format!("profile {} vanished", found.id)))?;
    let own_quiet = store.quiet_hours_of(&[found.id]).await?.remove(&found.id);
    let items = store.work_items(ItemsOf::Person(found.id)).await?;
    let mut sinks = Vec::new();
    for worker in pipeline.workers() {
        let sink = pipeline
            .connectors
            .sinks
            .iter()
            .find(|s| s.id == worker.sink_id())
            .expect("a worker per sink");
        let mine: Vec<&StoredItem> = items.iter().filter(|i| i.sink == sink.id).collect();
        let owed: Vec<&StoredItem> = mine
            .iter()
            .copied()
            .filter(|i| !i.status.finished())
            .collect();
        let rows = owed.iter().map(|i| i.row.clone()).collect();
        let mut previews: BTreeMap<i64, Preview> = (worker.rendered(rows).await?.into_iter())
            .map(|(row, preview)| (row.id, preview))
            .collect();
        let keys = profile_keys(store, &mine).await?;
        let (admission, admission_reason) = match sink.marketing.admit(&snapshot.consents) {
            Admission::Full => ("full", None),
            Admission::ConsentsOnly(why) => ("consents-only", Some(why)),
            Admission::Withheld(why) => ("withheld", Some(why)),
        };
        let has_activities =
            (mine.iter()).any(|i| matches!(i.row.kind, WorkKind::Activity | WorkKind::Message));
        sinks.push(SinkExplained {
            sink: sink.id.clone(),
            retiring: sink.retiring,
            admission,
            admission_reason,
            held_back: held_back(&sink.fields, &snapshot, has_activities),
            received: (mine.iter().filter(|i| i.status.finished()))
                .map(|i| Finished {
                    item: item(i, found.id, &keys),
                    outcome: i.status,
                    at: i.finished_at.and_then(time),
                    reason: i.last_error.clone(),
                })
                .collect(),
            would_receive: (owed.iter())
                .filter_map(|i| {
                    Some(Owed {
                        item: item(i, found.id, &keys),
                        due_at: time(i.next_attempt_at),
                        waiting_because: match i.held() {
                            true => Some(HELD_REASON.into()),
                            false => i.last_error.clone(),
                        },
                        in_flight: i.status == ItemStatus::Inflight,
                        verdict: verdict(previews.remove(&i.row.id)?),
                    })
                })
                .collect(),
        });
    }
    let journeys = journeys(pipeline, &snapshot, own_quiet, now).await?;
    let records = store.consent_records(found.id).await?;
    let merges = store.merge_history(found.id).await?;
    let name: Vec<&str> = [&snapshot.given_name, &snapshot.family_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    Ok(Explanation {
        at: now,
        person: Person {
            key: snapshot.key.clone(),
            id: snapshot.id,
            name: (!name.is_empty()).then(|| name.join(" ")),
            identities: (snapshot.identities.iter())
                .map(|i| (i.kind.as_str().to_string(), i.value.clone()))
                .collect(),
        },
        consents: records
            .into_iter()
            .map(|r| ConsentInForce {
                channel: r.consent.channel.as_str().into(),
                purpose: r.consent.purpose.as_str().into(),
                state: r.consent.state.as_str().into(),
                at: time(r.consent.at),
                source: r.consent.source,
                legal_basis: r.legal_basis,
                evidence: r.evidence,
            })
            .collect(),
        quiet_hours: own_quiet
            .map(|q| format!("{}–{}", q.start.format("%H:%M"), q.end.format("%H:%M"))),
        merges: merges.iter().map(merge).collect(),
        sinks,
        journeys,
    })
}

/// The keys of the profiles other than the person's that `items` were queued for (merged in since).
async fn profile_keys(
    store: &rapport_store::Store,
    items: &[&StoredItem],
) -> Result<BTreeMap<i64, String>, StoreError> {
    let ids: BTreeSet<i64> = items.iter().map(|i| i.row.profile_id).collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    Ok(store
        .profile_snapshots(&ids, SnapshotDepth::Basic)
        .await?
        .into_iter()
        .map(|(id, s)| (id, s.key))
        .collect())
}

fn item(stored: &StoredItem, person: i64, keys: &BTreeMap<i64, String>) -> Item {
    let row = &stored.row;
    let object = stored.event.as_ref().map(|(_, id)| id.clone());
    let what = match (row.kind, &row.message, &stored.event) {
        (WorkKind::Profile, _, _) => "profile update".to_string(),
        (WorkKind::Consent, _, _) => "consent update".to_string(),
        (WorkKind::Message, Some(route), _) => Journey::activity_name(&route.journey),
        (_, _, Some((kind, id))) => format!("{kind} {id}"),
        (kind, _, None) => kind.as_str().to_string(),
    };
    Item {
        id: row.id,
        kind: row.kind.as_str(),
        what,
        key: row.idempotency_key.clone(),
        journey: row.message.as_ref().map(|m| m.journey.clone()),
        object,
        queued_for: (row.profile_id != person)
            .then(|| keys.get(&row.profile_id).cloned())
            .flatten(),
    }
}

/// Delivery's verdict on an item, as people read it.
fn verdict(preview: Preview) -> Verdict {
    match preview {
        Preview::Profile(profile) => Verdict::Send {
            name: None,
            carries: profile_fields(&profile),
        },
        Preview::Activity(activity) => {
            let mut carries: Vec<String> = (activity.identities.iter())
                .map(|i| identity_field(i).to_string())
                .collect();
            carries.extend(activity.properties.iter().map(|p| p.name.clone()));
            carries.dedup();
            Verdict::Send {
                name: Some(activity.name),
                carries,
            }
        }
        Preview::Held(Completion::Suppressed(reason)) => Verdict::Suppress { reason },
        Preview::Held(Completion::Deferred { at, reason }) => Verdict::Delay {
            until: time(at),
            reason,
        },
        Preview::Held(Completion::Retry { at, error, .. }) => Verdict::Delay {
            until: time(at),
            reason: error,
        },
        Preview::Held(Completion::Dead(reason) | Completion::Rejected(reason)) => {
            Verdict::DeadLetter { reason }
        }
        Preview::Held(Completion::Delivered) => Verdict::Send {
            name: None,
            carries: Vec::new(),
        },
    }
}

fn identity_field(identity: &wit::Identity) -> Field {
    Field::of_identity(crate::ingest::validate::identity_kind(identity.kind))
}

/// The fields a profile carries, by their config names (consents always go).
fn profile_fields(profile: &wit::Profile) -> Vec<String> {
    let mut fields: Vec<String> = (profile.identities.iter())
        .map(|i| identity_field(i).to_string())
        .collect();
    fields.dedup();
    if profile.given_name.is_some() {
        fields.push(Field::GivenName.to_string());
    }
    if profile.family_name.is_some() {
        fields.push(Field::FamilyName.to_string());
    }
    fields.extend(profile.traits.iter().map(|t| t.name.clone()));
    if !profile.consents.is_empty() {
        fields.push("consents".into());
    }
    fields
}

/// What minimisation keeps from a sink of the person's fields: what their full profile carries and
/// the minimised one does not, and — when the sink gets their activities — the activity details
/// (products, location, refund reason) its `fields` do not name.
fn held_back(
    allow: &rapport_core::governance::fields::Allowlist,
    snapshot: &ProfileSnapshot,
    has_activities: bool,
) -> Vec<String> {
    let full = render::profile(snapshot);
    let mut minimised = full.clone();
    minimise_profile(allow, &mut minimised);
    let kept: BTreeSet<String> = profile_fields(&minimised).into_iter().collect();
    let mut held: Vec<String> = profile_fields(&full)
        .into_iter()
        .filter(|f| !kept.contains(f))
        .collect();
    held.dedup();
    if has_activities {
        held.extend(
            [Field::Products, Field::Location, Field::RefundReason]
                .into_iter()
                .filter(|f| !allow.allows(*f))
                .map(|f| f.to_string()),
        );
    }
    held
}

fn merge(m: &MergeRecord) -> Merge {
    Merge {
        id: m.id,
        survivor: m.survivor_key.clone(),
        absorbed: m.absorbed_key.clone(),
        reason: m.reason.clone(),
        evidence: m.evidence.clone(),
        merged_at: time(m.merged_at),
        undone_at: m.unmerged_at.and_then(time),
        moved: m.moved.clone(),
    }
}

/// Each configured journey for the person: rollout, consent, the contact rules now, their arm,
/// their waits (decided as the scheduler would when each falls due) and their entries.
async fn journeys(
    pipeline: &Pipeline,
    snapshot: &ProfileSnapshot,
    own_quiet: Option<rapport_core::consent::contact::QuietHours>,
    now: DateTime<Utc>,
) -> Result<Vec<JourneyExplained>, StoreError> {
    let store = &pipeline.store;
    let messaging = pipeline.config.messaging();
    let waits = store.waits_of(snapshot.id).await?;
    let entries = store.entries_of(snapshot.id).await?;
    let kept_arms = store.assignments_of(snapshot.id).await?;
    // What the scheduler reads of the person, in a transaction that is rolled back.
    let (last_purchase, last_entries) = {
        let mut tx = store.begin().await?;
        let inputs = profile_facts::journey_inputs(&mut tx, &[snapshot.id]).await?;
        let mut last_entries = BTreeMap::new();
        for journey in &pipeline.routes.journeys {
            let last =
                journey_entries::last_entered(&mut tx, &journey.name, &[snapshot.id]).await?;
            last_entries.insert(journey.name.clone(), last.get(&snapshot.id).copied());
        }
        let last_purchase = inputs.get(&snapshot.id).and_then(|p| p.last_visit_at);
        (last_purchase, last_entries)
    };
    let mut explained = Vec::new();
    for journey in &pipeline.routes.journeys {
        let channel = journey.channel;
        let (consented, consent_reason) = match messaging.gate(channel).admit(&snapshot.consents) {
            Admission::Full => (true, None),
            Admission::ConsentsOnly(why) | Admission::Withheld(why) => (false, Some(why)),
        };
        let sent: Vec<DateTime<Utc>> = match messaging.rules.lookback(channel) {
            Some(lookback) => {
                let since = (now - lookback).timestamp_millis();
                (store.sent_messages(&[snapshot.id], since).await?)
                    .remove(&(snapshot.id, channel))
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(time)
                    .collect()
            }
            None => Vec::new(),
        };
        let contact_now = match messaging.rules.judge(channel, now, &sent, own_quiet) {
            Contact::Send => Verdict::Send {
                name: Some(Journey::activity_name(&journey.name)),
                carries: Vec::new(),
            },
            Contact::Delay { until, reason } => Verdict::Delay {
                until: Some(until),
                reason,
            },
            Contact::Drop { reason } => Verdict::Suppress { reason },
        };
        let standing = scheduler::standing_of(
            &messaging,
            journey,
            &snapshot.consents,
            last_purchase,
            last_entries.get(&journey.name).copied().flatten(),
        );
        let arm = journey.experiment.as_ref().map(|experiment| {
            kept_arms.get(&experiment.name).cloned().unwrap_or_else(|| {
                experiment
                    .arm_name(experiment.assign(&snapshot.key))
                    .to_string()
            })
        });
        explained.push(JourneyExplained {
            name: journey.name.clone(),
            sink: journey.sink.clone(),
            channel: channel.as_str().into(),
            trigger: journey.trigger.as_str().into(),
            enabled: journey.enabled,
            rollout: journey.rollout,
            in_rollout: journey.rolled_out_to(&snapshot.key),
            consented,
            consent_reason,
            contact_now,
            experiment: journey.experiment.as_ref().map(|e| e.name.clone()),
            arm,
            waits: (waits.iter().filter(|w| w.journey == journey.name))
                .map(|w| {
                    let due = time(w.due_at).unwrap_or(now).max(now);
                    let trigger_at = time(w.trigger_at).unwrap_or(now);
                    let decision = match admit(
                        journey,
                        &snapshot.key,
                        pipeline.routes.horizon.max_age,
                        trigger_at,
                        &standing,
                        due,
                        pipeline.routes.time_zone,
                    ) {
                        Entry::Enter => "enter".to_string(),
                        Entry::Skip(why) => why,
                    };
                    Wait {
                        due_at: time(w.due_at),
                        trigger_at: time(w.trigger_at),
                        decision,
                    }
                })
                .collect(),
            entries: (entries.iter().filter(|e| e.journey == journey.name))
                .map(|e| EntryRecord {
                    entered_at: time(e.entered_at),
                    outcome: e.outcome.as_str(),
                    arm: e.arm.clone(),
                })
                .collect(),
            eligible: journey.enabled && journey.rolled_out_to(&snapshot.key) && consented,
        });
    }
    Ok(explained)
}
