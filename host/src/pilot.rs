//! `rapport pilot report --sink ID --against FILE`: what a sink was given (in a shadow pilot, what
//! it would have sent; its delivered work items, so any sink can be reported on) beside an export
//! of what the shop's current integration holds, compared by `rapport_core::pilot`. rapport's side
//! is the people the sink was sent (their identities the sink's `fields` let through, and their
//! email marketing consent in force), the completed orders it was sent (a later cancellation
//! takes one back), and the journey messages it was sent. The export is JSON Lines in the shape
//! `rapport_core::pilot::export` documents; a line that cannot be read stops the report with its
//! number and what is wrong.

use crate::delivery::minimise::minimise_identities;
use crate::delivery::render;
use crate::pipeline::Pipeline;
use chrono::DateTime;
use rapport_core::identity::Normalizer;
use rapport_core::model::{Channel, OrderState, Payload, Purpose};
use rapport_core::pilot::export::{self, FieldValue, Record};
use rapport_core::pilot::{compare, OurMessage, OurOrder, OurPerson, Ours, Report, Theirs};
use rapport_sandbox::contract::wit;
use rapport_store::{ItemsOf, SnapshotDepth, StoreError, WorkKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why no report was made.
#[derive(Debug, thiserror::Error)]
pub enum PilotError {
    #[error("no sink {0:?} is configured (sinks: {1})")]
    UnknownSink(String, String),
    #[error("line {line} of the export: {problem}")]
    Line { line: usize, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The report, with what it was made of.
#[derive(Debug, Clone, Serialize)]
pub struct PilotReport {
    pub sink: String,
    /// How many people, orders and journey messages the sink was given.
    pub people: usize,
    pub orders: usize,
    /// How many contacts and orders the export holds.
    pub export_contacts: usize,
    pub export_orders: usize,
    #[serde(flatten)]
    pub findings: Report,
}

/// Reads `export` (the text of a JSON Lines file) and compares it with what `sink` was given.
pub async fn report(
    pipeline: &Pipeline,
    sink: &str,
    export: &str,
) -> Result<PilotReport, PilotError> {
    let connector = (pipeline.connectors.sinks.iter())
        .find(|s| s.id == sink)
        .ok_or_else(|| {
            let ids: Vec<&str> = pipeline
                .connectors
                .sinks
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            PilotError::UnknownSink(sink.to_string(), ids.join(", "))
        })?;
    let config = &pipeline.config;
    let theirs = read_export(
        export,
        &Normalizer::new(config.shop.region, &config.identity),
    )?;
    let ours = given(pipeline, &connector.id, &connector.fields).await?;
    Ok(PilotReport {
        sink: sink.to_string(),
        people: ours.people.len(),
        orders: ours.orders.len(),
        export_contacts: theirs.contacts.len(),
        export_orders: theirs.orders.len(),
        findings: compare(&ours, &theirs),
    })
}

/// The export's records, each with its line number; blank lines are skipped.
pub fn read_export(text: &str, normalizer: &Normalizer) -> Result<Theirs, PilotError> {
    let mut theirs = Theirs::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let problem = |problem: String| PilotError::Line {
            line: number,
            problem,
        };
        let object = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                return Err(problem(
                    "a line is one JSON object, like {\"email\": …}".into(),
                ))
            }
            Err(e) => return Err(problem(format!("not JSON: {e}"))),
        };
        let mut fields = Vec::with_capacity(object.len());
        for (key, value) in object {
            let value = match value {
                serde_json::Value::String(text) => FieldValue::Text(text),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(whole) => FieldValue::Integer(whole),
                    None => FieldValue::Number(n.to_string()),
                },
                serde_json::Value::Bool(b) => FieldValue::Bool(b),
                serde_json::Value::Null => FieldValue::Null,
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(problem(format!(
                        "{key:?} holds a list or an object; give each field as text, a number or true/false"
                    )))
                }
            };
            fields.push((key, value));
        }
        match export::read(&fields, normalizer).map_err(|e| problem(e.to_string()))? {
            Record::Contact(contact) => theirs.contacts.push((number, contact)),
            Record::Order(order) => theirs.orders.push((number, order)),
        }
    }
    Ok(theirs)
}

/// What `sink` was given: its delivered work items, read as people, orders and messages.
async fn given(
    pipeline: &Pipeline,
    sink: &str,
    fields: &rapport_core::governance::fields::Allowlist,
) -> Result<Ours, StoreError> {
    let store = &pipeline.store;
    let items = store.work_items(ItemsOf::Delivered(sink)).await?;
    let people: BTreeSet<i64> = (items.iter())
        .filter(|i| matches!(i.row.kind, WorkKind::Profile | WorkKind::Consent))
        .map(|i| i.row.profile_id)
        .collect();
    let everyone: BTreeSet<i64> = items.iter().map(|i| i.row.profile_id).collect();
    let snapshots = store
        .profile_snapshots(
            &everyone.iter().copied().collect::<Vec<_>>(),
            SnapshotDepth::Basic,
        )
        .await?;
    let mut ours = Ours::default();
    for id in &people {
        let snapshot = &snapshots[id];
        let mut identities: Vec<wit::Identity> =
            snapshot.identities.iter().map(render::identity).collect();
        minimise_identities(fields, &mut identities);
        let values = |kind: wit::IdentityKind| -> Vec<String> {
            (identities.iter())
                .filter(|i| i.kind == kind)
                .map(|i| i.value.clone())
                .collect()
        };
        let (emails, phones) = (
            values(wit::IdentityKind::Email),
            values(wit::IdentityKind::Phone),
        );
        // A profile merged into another since holds no identities: the survivor stands for it.
        if emails.is_empty() && phones.is_empty() {
            continue;
        }
        ours.people.push(OurPerson {
            key: snapshot.key.clone(),
            emails,
            phones,
            email_marketing: (snapshot.consents.iter())
                .find(|c| c.channel == Channel::Email && c.purpose == Purpose::Marketing)
                .map(|c| c.state),
        });
    }
    let activities: Vec<i64> = (items.iter())
        .filter(|i| i.row.kind == WorkKind::Activity)
        .filter_map(|i| i.row.event_id)
        .collect();
    let events = store.event_payloads(&activities).await?;
    // Each order as last sent: a cancellation takes it back.
    let mut orders: BTreeMap<String, Option<OurOrder>> = BTreeMap::new();
    for item in &items {
        let key = &snapshots[&item.row.profile_id].key;
        match item.row.kind {
            WorkKind::Activity => {
                let Some((_, _, payload)) = item.row.event_id.and_then(|id| events.get(&id)) else {
                    continue;
                };
                let payload: Payload = serde_json::from_str(payload).map_err(|e| {
                    StoreError::Corrupt(format!("stored event of item {}: {e}", item.row.id))
                })?;
                if let Payload::Order(order) = payload {
                    let sale = (order.state == OrderState::Completed).then(|| OurOrder {
                        order_id: order.id.clone(),
                        person: key.clone(),
                        total: order.total,
                    });
                    orders.insert(order.id, sale);
                }
            }
            WorkKind::Message => {
                if let Some(route) = &item.row.message {
                    ours.messages.push(OurMessage {
                        journey: route.journey.clone(),
                        person: key.clone(),
                        at: item
                            .finished_at
                            .and_then(DateTime::from_timestamp_millis)
                            .unwrap_or_default(),
                    });
                }
            }
            WorkKind::Profile | WorkKind::Consent => {}
        }
    }
    ours.orders = orders.into_values().flatten().collect();
    Ok(ours)
}
