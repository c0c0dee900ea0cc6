//! `rapport forget <email|phone|id>`: finds the one person the operator named, read the way ingest
//! reads identifiers (the shop's region and identity rules), scrubs their PII from the store and
//! queues the erasure for every sink. Anything that names nobody, or more than one person, changes
//! nothing and says why.
//!
//! The scrub is one transaction: read what the store holds of the person, ask the erasure rules
//! (`rapport_core::governance::erasure`) what forgetting does, have the store do it table by table,
//! record the erasure with each sink's part, commit.

use crate::lookup::{find_one, LookupError};
use rapport_core::governance::erasure::{self, Held};
use rapport_core::governance::suppression;
use rapport_core::identity::Normalizer;
use rapport_store::scrub::{self, KeptInput};
use rapport_store::{engagement, profile_issues};
use rapport_store::{erasures, forgotten, merges, now_ms, Store, StoreError};

/// What the local scrub removed, in numbers (never the values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub erasure_id: i64,
    pub profile_key: String,
    pub identities: usize,
    pub consents: u64,
    pub events: usize,
    pub rejected_inputs: u64,
    pub webhooks: u64,
    pub outbox_items: u64,
}

/// What a forget request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgotten {
    /// The person's PII is gone from the store; the sinks are told by the erasure worker.
    Now(ScrubReport),
    /// The profile named was forgotten before, by these erasures; nothing was changed.
    Already {
        profile_key: String,
        erasures: Vec<i64>,
    },
}

/// Forgets the person `text` names: scrubs them locally and queues an erasure item for each of
/// `sinks`.
pub async fn forget(
    store: &Store,
    normalizer: &Normalizer,
    text: &str,
    sinks: &[String],
) -> Result<Forgotten, LookupError> {
    let person = find_one(store, normalizer, text).await?;
    if person.identities == 0 {
        let erasures = store.erasures_of(&person.key).await?;
        if !erasures.is_empty() {
            return Ok(Forgotten::Already {
                profile_key: person.key.clone(),
                erasures,
            });
        }
    }
    let report = erase_person(store, person.id, text.trim(), sinks).await?;
    tracing::info!(
        erasure = report.erasure_id,
        profile = %report.profile_key,
        "person forgotten locally"
    );
    Ok(Forgotten::Now(report))
}

/// Removes one person's PII from every table, in one transaction, as the erasure rules plan it: their
/// identities and consents, their names, the customer blocks of their events, kept input that
/// mentions one of their identifiers (`typed` too: the text the operator gave), what merges left on
/// profiles merged into theirs, their undelivered outbox items, their journey waits and the quiet
/// hours they set. Records the erasure and queues
/// one part per sink in `sinks`, each first tried when the rules say.
pub(crate) async fn erase_person(
    store: &Store,
    profile_id: i64,
    typed: &str,
    sinks: &[String],
) -> Result<ScrubReport, StoreError> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let key = scrub::profile_key(&mut tx, profile_id).await?;
    let identities = scrub::identities_of(&mut tx, profile_id).await?;
    let events = scrub::events_of(&mut tx, profile_id).await?;
    let held = Held {
        identities: &identities,
        events: events.iter().map(|e| (e.id, &e.payload)).collect(),
        leases: scrub::in_flight_leases(&mut tx, profile_id).await?,
    };
    let plan = erasure::plan(&held, typed, sinks, now);
    let absorbed = merges::absorbed_by(&mut tx, profile_id).await?;

    let mut report = ScrubReport {
        profile_key: key.clone(),
        identities: identities.len(),
        ..ScrubReport::default()
    };
    for (event, scrubbed) in events.iter().zip(&plan.events) {
        if scrub::rewrite_event(&mut tx, event, scrubbed).await? {
            report.events += 1;
        }
    }
    report.rejected_inputs =
        scrub::delete_mentions(&mut tx, KeptInput::Rejected, &plan.mentions).await?;
    report.webhooks = scrub::delete_mentions(&mut tx, KeptInput::Webhooks, &plan.mentions).await?;
    report.consents = scrub::delete_consents(&mut tx, profile_id).await?;
    // The choices a forgotten person made go with them: nothing is left to apply them to.
    scrub::delete_ledger(&mut tx, profile_id).await?;
    scrub::delete_identities(&mut tx, profile_id).await?;
    scrub::clear_names(&mut tx, profile_id, now).await?;
    // Profiles merged into this one keep their rows (for an unmerge, which the erasure now
    // refuses): their names and the choices left on them (heard through both) go too.
    scrub::clear_absorbed(&mut tx, &absorbed).await?;
    let people: Vec<i64> = std::iter::once(profile_id)
        .chain(absorbed.iter().copied())
        .collect();
    for profile in &people {
        profile_issues::delete_of(&mut tx, *profile).await?;
        engagement::forget_person(&mut tx, *profile).await?;
    }
    scrub::delete_journey_waits_and_wishes(&mut tx, &people).await?;
    report.outbox_items = scrub::cancel_outbox(&mut tx, profile_id).await?;
    // What stays: a salted digest of each identity, so old records do not bring them back.
    let salt = store.forgotten_salt().await?;
    let digests: Vec<String> = (identities.iter())
        .map(|i| suppression::digest(salt, i))
        .collect();
    forgotten::record(&mut tx, &digests, now).await?;
    report.erasure_id = erasures::record(&mut tx, &key, &plan, now).await?;
    tx.commit().await?;
    Ok(report)
}
