//! Engagement flowing back from CRMs: a sink built for contract 0.5 with the `engagement` export
//! reports what became of its messages, page by page from a cursor the host stores with each
//! page. Each event is recorded once per vendor event id (a page read again counts nothing twice),
//! with the person it names and the journey message it is about: the one the sink was given under
//! the event's idempotency key, else the latest message of the event's journey the host queued
//! for that person on that sink by the event's time, else the latest journey message of any.
//! An event about someone the host does not know is recorded without a person or message.

use crate::connectors::Connector;
use crate::ingest::poll::{call_plugin, PollError};
use crate::ingest::validate;
use crate::lookup;
use rapport_core::metrics::engagement::EngagementKind as Kind;
use rapport_sandbox::contract::engagement::{EngagementEvent, EngagementKind};
use rapport_store::engagement::{self, NewEngagement, SentMessage};
use rapport_store::{cursors, PersonRef, Store, Tx};
use tracing::Instrument;

/// The cursor's stream name under the sink's id.
pub const STREAM: &str = "engagement";

/// What one read of a sink's engagement stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngagementReport {
    /// Events recorded for the first time.
    pub recorded: usize,
    /// Events the sink had reported before.
    pub duplicates: usize,
    /// Of the recorded, those tied to a journey message.
    pub linked: usize,
}

/// Reads `sink`'s engagement from its stored cursor until it is caught up, storing each page
/// with its cursor at `now` (ms). Does nothing for a sink without the export.
pub async fn read_engagement(
    store: &Store,
    sink: &Connector,
    now: i64,
) -> Result<EngagementReport, PollError> {
    let mut report = EngagementReport::default();
    if sink.generations.is_disabled() || !sink.plugin().has_engagement() {
        return Ok(report);
    }
    loop {
        let plugin = sink.plugin();
        let span = tracing::info_span!("engagement", sink = %sink.id,
            plugin = %plugin.id(), generation = plugin.generation());
        let cursor = store.cursor(&sink.id, STREAM).await?;
        let page = call_plugin(sink, STREAM, move |p| {
            p.engagement_events(cursor.as_deref())
        })
        .await?;
        let mut tx = store.begin().await?;
        for event in &page.events {
            let person = person(store, sink, event).await?;
            let message = match person {
                Some(profile_id) => message(&mut tx, &sink.id, profile_id, event).await?,
                None => None,
            };
            let linked = message.is_some();
            let new = engagement::record(
                &mut tx,
                &NewEngagement {
                    sink_id: &sink.id,
                    vendor_event_id: &event.id,
                    kind: kind(event.kind),
                    channel: validate::channel(event.channel).as_str(),
                    occurred_at: event.at,
                    profile_id: person,
                    message,
                    vendor_message_id: event.message.vendor_id.as_deref(),
                },
                now,
            )
            .await?;
            match new {
                true => {
                    report.recorded += 1;
                    report.linked += usize::from(linked);
                }
                false => report.duplicates += 1,
            }
            tracing::debug!(parent: &span, event = %event.id, new, linked, "engagement event");
        }
        if let Some(cursor) = &page.cursor {
            cursors::save(&mut tx, &sink.id, STREAM, cursor, now).await?;
        }
        tx.commit().instrument(span.clone()).await?;
        tracing::info!(parent: &span, recorded = report.recorded, duplicates = report.duplicates,
            linked = report.linked, "engagement page stored");
        if !page.more {
            return Ok(report);
        }
    }
}

/// The stored profile the event names: by the profile key the sink was sent, else by its
/// identities; `None` for nobody or more than one person.
async fn person(
    store: &Store,
    sink: &Connector,
    event: &EngagementEvent,
) -> Result<Option<i64>, PollError> {
    let refs: Vec<PersonRef> = match &event.profile_key {
        Some(key) => vec![PersonRef::ProfileKey(key.clone())],
        None => (event.identities.iter())
            .filter_map(|i| {
                (sink.normalizer).normalize(&sink.id, validate::identity_kind(i.kind), &i.value)
            })
            .map(PersonRef::Identity)
            .collect(),
    };
    match lookup::one_of(store, &refs, &event.id).await {
        Ok(found) => Ok(Some(found.id)),
        Err(lookup::LookupError::Store(e)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// The journey message the event is about, by the first of its references that finds one.
async fn message(
    tx: &mut Tx<'_>,
    sink_id: &str,
    profile_id: i64,
    event: &EngagementEvent,
) -> Result<Option<SentMessage>, PollError> {
    let reference = &event.message;
    if let Some(key) = &reference.idempotency_key {
        if let Some((owner, sent)) = engagement::message_by_key(tx, sink_id, key).await? {
            if owner == profile_id {
                return Ok(Some(sent));
            }
        }
    }
    let journey = reference.journey.as_deref();
    let sent = engagement::latest_message(tx, sink_id, profile_id, journey, event.at).await?;
    Ok(sent.filter(|s| reference.variant.is_none() || s.arm == reference.variant))
}

/// The contract's kind as the store names it.
fn kind(kind: EngagementKind) -> &'static str {
    let kind = match kind {
        EngagementKind::Delivered => Kind::Delivered,
        EngagementKind::Opened => Kind::Opened,
        EngagementKind::Clicked => Kind::Clicked,
        EngagementKind::Bounced => Kind::Bounced,
        EngagementKind::Unsubscribed => Kind::Unsubscribed,
    };
    kind.as_str()
}
