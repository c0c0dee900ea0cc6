//! Carrying out the privacy requests vendors forward (Shopify's mandatory webhooks). Ingest records
//! each request in the transaction that stores it; this service carries out the ones still pending,
//! once each, and records what it did: a redact request forgets every person it names the way
//! `rapport forget` does (the sinks are told by the erasure worker), a data request writes what
//! the store holds on them as a JSON file for the shop to send on, and a shop redact request is
//! logged and acknowledged. What each kind does is `rapport_core::governance::privacy`.

use crate::governance::forget::erase_person;
use rapport_core::governance::privacy::{self, Action};
use rapport_store::privacy_requests::{self, PendingRequest};
use rapport_store::{
    now_ms, scrub, FoundProfile, PersonRef, ProfileSnapshot, SnapshotDepth, Store, StoreError,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Why carrying out a request failed; it stays pending and is tried again.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the answer to data request {request} to {path}: {error}")]
    Write {
        request: String,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// One request carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub source_id: String,
    pub request_id: String,
    pub action: Action,
    /// What was done, in words (as recorded).
    pub outcome: String,
    /// The answer's file, for a data request.
    pub file: Option<PathBuf>,
}

/// Carries out every pending request: forgetting tells each of `sinks`, data requests are answered
/// in `answers` (created if missing).
pub async fn handle_pending(
    store: &Store,
    sinks: &[String],
    answers: &Path,
) -> Result<Vec<Handled>, PrivacyError> {
    let mut handled = Vec::new();
    for request in store.pending_privacy_requests().await? {
        let action = privacy::action(request.kind);
        let people = people_named(store, &request).await?;
        let (outcome, file) = match action {
            Action::Forget => (forget(store, &request, &people, sinks).await?, None),
            Action::Export => {
                let file = answers.join(privacy::export_file_name(
                    &request.source_id,
                    &request.request_id,
                ));
                let answer = answer(store, &request, &people).await?;
                write_answer(&file, &answer).map_err(|error| PrivacyError::Write {
                    request: request.request_id.clone(),
                    path: file.clone(),
                    error,
                })?;
                let outcome = format!(
                    "answered: what rapport holds on {} {} written to {}",
                    people.len(),
                    plural(people.len(), "person", "people"),
                    file.display()
                );
                (outcome, Some(file))
            }
            Action::Acknowledge => (
                "acknowledged: rapport keeps nothing about a shop apart from its people, whose \
                 own requests (or `rapport forget`) remove them"
                    .to_string(),
                None,
            ),
        };
        let mut tx = store.begin().await?;
        privacy_requests::finish(&mut tx, request.id, &outcome, now_ms()).await?;
        tx.commit().await?;
        tracing::info!(source = %request.source_id, request = %request.request_id,
            kind = request.kind.as_str(), %outcome, "privacy request carried out");
        handled.push(Handled {
            source_id: request.source_id,
            request_id: request.request_id,
            action,
            outcome,
            file,
        });
    }
    Ok(handled)
}

/// The profiles the request's identities name (none for a shop redact).
async fn people_named(
    store: &Store,
    request: &PendingRequest,
) -> Result<Vec<FoundProfile>, StoreError> {
    let refs: Vec<PersonRef> = (request.identities.iter())
        .map(|i| PersonRef::Identity(i.clone()))
        .collect();
    store.find_profiles(&refs).await
}

/// Forgets each person named; returns the outcome in words.
async fn forget(
    store: &Store,
    request: &PendingRequest,
    people: &[FoundProfile],
    sinks: &[String],
) -> Result<String, StoreError> {
    let typed = request.identities.first().map_or("", |i| i.value.as_str());
    let mut erasures = Vec::new();
    for person in people.iter().filter(|p| p.identities > 0) {
        erasures.push(
            erase_person(store, person.id, typed, sinks)
                .await?
                .erasure_id,
        );
    }
    Ok(match erasures.is_empty() {
        true => "nobody held: no stored person has the identities the request names".to_string(),
        false => format!(
            "forgot {} {} (erasure {})",
            erasures.len(),
            plural(erasures.len(), "person", "people"),
            erasures
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// What the store holds on the people a data request names.
async fn answer(
    store: &Store,
    request: &PendingRequest,
    people: &[FoundProfile],
) -> Result<Value, StoreError> {
    let ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    let snapshots = store.profile_snapshots(&ids, SnapshotDepth::Full).await?;
    // The events are read through the writer (the only place the store reads them from), which
    // is let go before anything else is read.
    let mut events = Vec::with_capacity(ids.len());
    let mut tx = store.begin().await?;
    for id in &ids {
        events.push(scrub::events_of(&mut tx, *id).await?);
    }
    drop(tx);
    let mut held = Vec::with_capacity(ids.len());
    for (id, events) in ids.iter().zip(&events) {
        let merges = store.merge_history(*id).await?;
        held.push(person(&snapshots[id], events, &merges));
    }
    Ok(json!({
        "request": {
            "source": request.source_id,
            "id": request.request_id,
            "received_at": time(request.received_at),
        },
        "answered_at": time(now_ms()),
        "people": held,
    }))
}

/// One person's record in a data request's answer.
fn person(
    s: &ProfileSnapshot,
    events: &[scrub::StoredEvent],
    merges: &[rapport_store::MergeRecord],
) -> Value {
    json!({
        "profile": s.key,
        "given_name": s.given_name,
        "family_name": s.family_name,
        "identities": s.identities,
        "birthday": s.birthday,
        "loyalty": s.loyalty,
        "consents": s.consents.iter().map(|c| json!({
            "channel": c.channel.as_str(),
            "purpose": c.purpose.as_str(),
            "state": c.state.as_str(),
            "at": time(c.at),
            "source": c.source,
        })).collect::<Vec<_>>(),
        "orders_count": s.orders_count,
        "refunds_count": s.refunds_count,
        "net_spent": s.net_spent,
        "first_order_at": s.first_order_at.map(time),
        "last_order_at": s.last_order_at.map(time),
        "merges": merges.iter().map(|m| json!({
            "survivor": m.survivor_key,
            "absorbed": m.absorbed_key,
            "reason": m.reason,
            "merged_at": time(m.merged_at),
            "unmerged_at": m.unmerged_at.map(time),
        })).collect::<Vec<_>>(),
        "events": events.iter().map(|e| &e.payload).collect::<Vec<_>>(),
    })
}

/// A time in ms as RFC 3339.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    match n {
        1 => one,
        _ => many,
    }
}

/// Writes `answer` to `file` whole or not at all (a temporary file renamed into place).
fn write_answer(file: &Path, answer: &Value) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension("json.partial");
    let text = serde_json::to_vec_pretty(answer).map_err(std::io::Error::other)?;
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, file)
}
