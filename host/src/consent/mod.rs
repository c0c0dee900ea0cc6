//! Consent in the host: the unsubscribes a CRM reports back (`feed`) are read through the sink plugin
//! and stored as choices; a person's own choices from the preference page are recorded with
//! [`record_choices`]. The rules (ledger, marketing gate, contact rules) are in
//! `rapport_core::consent`.

pub mod feed;

use rapport_core::model::{ConsentState, Purpose};
use rapport_store::consents::{self, NewChoice};
use rapport_store::{journey_due, journey_entries, outbox, StoreError, Tx};
use std::collections::{BTreeMap, HashSet};

/// Why a journey message was withdrawn when its person revoked consent on its channel.
const REVOKED: &str = "withdrawn: the person revoked marketing consent on this channel";

/// Records `choices` in the ledger in the caller's transaction and, for each person whose choice in
/// force changed, queues a consent update for every one of `sinks`: the work sinks take ahead of
/// any other (the same step an ingest takes for the choices its events carry). Returns how many
/// updates were queued.
pub async fn record_choices(
    tx: &mut Tx<'_>,
    sinks: &[String],
    choices: &[NewChoice<'_>],
    now: i64,
) -> Result<usize, StoreError> {
    let changed = consents::record_choices(tx, choices, now).await?;
    changed_in_force(tx, sinks, &changed, now).await
}

/// What follows a change of the choices in force of `people`: a consent update queued for every
/// one of `sinks`, ahead of other work, and their journeys withdrawn on every channel they now
/// refuse ([`withdraw_refused`]). Returns how many updates were queued.
pub async fn changed_in_force(
    tx: &mut Tx<'_>,
    sinks: &[String],
    people: &HashSet<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    let queued = outbox::enqueue_consent_changes(tx, sinks, people, now).await?;
    withdraw_refused(tx, people, now).await?;
    Ok(queued)
}

/// A consent revocation withdraws everything pending on that channel: the waits of the journeys
/// that would message the person there, and the journey messages queued and not yet sent (their
/// entries are marked withdrawn, so an experiment does not count them as sent). Delivery checks
/// consent again when it sends, so this is about not keeping what can no longer go.
pub async fn withdraw_refused(
    tx: &mut Tx<'_>,
    people: &HashSet<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if people.is_empty() {
        return Ok(());
    }
    let refused =
        consents::in_force_with_state(tx, people, Purpose::Marketing, ConsentState::Revoked)
            .await?;
    if refused.is_empty() {
        return Ok(());
    }
    let waits = journey_due::delete_on_channels(tx, &refused).await?;
    let mut messages: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (sink, id) in outbox::waiting_messages_on_channels(tx, &refused).await? {
        messages.entry(sink).or_default().push(id);
    }
    for (sink, ids) in &messages {
        outbox::withdraw(tx, sink, ids, REVOKED, now).await?;
        journey_entries::withdraw_messages(tx, ids).await?;
    }
    tracing::debug!(
        people = people.len(),
        waits,
        "journey work withdrawn after a revocation"
    );
    Ok(())
}
