//! Ingest: turns what a source returned (a poll step or a webhook) into stored events, work for the
//! sinks and rejected-input records, in one transaction with the source's cursor; a vendor's merge
//! of duplicate customers is carried out in the same transaction (`vendor_merge`).

pub mod commit;
mod grants;
pub mod issues;
pub mod poll;
pub mod push;
pub mod validate;
mod vendor_merge;

pub use commit::{IngestBatch, IngestReport, PreparedEvent};

use rapport_core::identity::Normalizer;
use rapport_core::journeys::Routes;
use rapport_core::model::{Event, IdentityKind, Payload, RejectedInput};
use rapport_core::sales::ObjectVersion;
use rapport_sandbox::contract::pos;
use rapport_store::outbox::ProfileUpdates;
use rapport_store::{Store, StoreError};

/// Activity names recorded at sinks.
pub const PLACED_ORDER: &str = "Placed Order";
pub const CANCELLED_ORDER: &str = "Cancelled Order";
pub const REFUNDED_ORDER: &str = "Refunded Order";

/// What a source handed over in one call, before validation.
pub struct Delivery {
    pub events: Vec<pos::PosEvent>,
    pub rejected: Vec<pos::RejectedInput>,
}

/// Where a delivery came from and where its source resumes.
pub struct Origin<'a> {
    /// "poll:<stream>" or "webhook", for rejected-input records.
    pub name: &'a str,
    /// `(stream, cursor)` to commit with the events.
    pub cursor: Option<(&'a str, &'a str)>,
    /// History (a first sync, an import of old exports): it starts no journey.
    pub history: bool,
    /// When the profile updates it owes go: held during a poll, due for a webhook or an upload.
    pub profile_updates: ProfileUpdates,
}

/// Validates, prepares and stores one delivery from `source_id`, whose customer identifiers
/// `normalizer` makes canonical.
pub async fn ingest(
    store: &Store,
    normalizer: &Normalizer,
    source_id: &str,
    routes: &Routes,
    origin: Origin<'_>,
    delivery: Delivery,
) -> Result<IngestReport, StoreError> {
    let mut rejected: Vec<RejectedInput> = delivery
        .rejected
        .into_iter()
        .map(|r| RejectedInput {
            locator: r.locator,
            reason: r.reason,
        })
        .collect();
    let mut events = Vec::with_capacity(delivery.events.len());
    let now = routes.clock.now();
    for raw in delivery.events {
        match validate::event(raw, now).and_then(|event| prepare(normalizer, source_id, event)) {
            Ok(event) => events.push(event),
            Err(reason) => rejected.push(reason),
        }
    }
    for r in &rejected {
        tracing::warn!(source = source_id, locator = %r.locator, reason = %r.reason, "input rejected");
    }
    commit::commit(
        store,
        IngestBatch {
            source_id,
            origin: origin.name,
            cursor: origin.cursor,
            events: &events,
            rejected: &rejected,
            routes,
            merge_rules: normalizer.merge_rules(),
            history: origin.history,
            profile_updates: origin.profile_updates,
        },
    )
    .await
}

/// Readies a valid event for the store: its person's identities made canonical, and its payload
/// serialised here, so the ingest transaction (which holds the store's one writer) spends no time
/// on it.
fn prepare(
    normalizer: &Normalizer,
    source_id: &str,
    mut event: Event,
) -> Result<PreparedEvent, RejectedInput> {
    if let Some(customer) = event.payload.customer_mut() {
        normalizer.customer_details(customer);
    }
    let payload_json = serde_json::to_string(&event.payload).map_err(|e| RejectedInput {
        locator: format!("event {:?}", event.source_event_id),
        reason: format!("cannot serialise the event: {e}"),
    })?;
    let mut identities: Vec<_> = (event.payload.identities().iter())
        .filter_map(|i| normalizer.normalize(source_id, i.kind, &i.value))
        .collect();
    identities.dedup();
    // A person's event is about the person: their first identity, else the event itself.
    let person = || {
        identities
            .first()
            .map(|i| format!("{}:{}", i.kind.as_str(), i.value))
            .unwrap_or_else(|| event.source_event_id.clone())
    };
    let (object_id, amount) = match &event.payload {
        Payload::Order(o) => (o.id.clone(), Some(o.total.clone())),
        Payload::Refund(r) => (r.id.clone(), Some(r.amount.clone())),
        Payload::PrivacyRequest { id, .. } => (id.clone(), None),
        Payload::Customer(_)
        | Payload::CustomersMerged { .. }
        | Payload::CustomerDeleted { .. }
        | Payload::LoyaltyChanged { .. } => (person(), None),
    };
    let version = ObjectVersion::of(&event.source_event_id, &event.payload);
    let merged_from = match &event.payload {
        Payload::CustomersMerged { replaced, .. } => (replaced.iter())
            .filter_map(|id| normalizer.normalize(source_id, IdentityKind::VendorCustomer, id))
            .collect(),
        _ => Vec::new(),
    };
    Ok(PreparedEvent {
        event,
        payload_json,
        object_id,
        identities,
        merged_from,
        amount,
        version,
    })
}
