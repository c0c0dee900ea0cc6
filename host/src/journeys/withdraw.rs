//! Journey work a revocation takes back: the waits and queued messages of the journeys that
//! would reach a person on a channel they now refuse. Called in the transaction that changed the
//! choice in force, whether the change came from an ingest, a CRM's consent feed or the
//! preference page.

use rapport_core::model::{ConsentState, Purpose};
use rapport_store::{consents, journey_due, journey_entries, outbox, StoreError, Tx};
use std::collections::{BTreeMap, HashSet};

/// Why a journey message was withdrawn when its person revoked consent on its channel.
const REVOKED: &str = "withdrawn: the person revoked marketing consent on this channel";

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
