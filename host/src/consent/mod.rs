//! Consent in the host: the unsubscribes a CRM reports back (`feed`) are read through the sink plugin
//! and stored as choices; a person's own choices from the preference page are recorded with
//! [`record_choices`]. The rules (ledger, marketing gate, contact rules) are in
//! `rapport_core::consent`.

pub mod feed;

use crate::journeys::withdraw;
use rapport_store::consents::{self, NewChoice};
use rapport_store::{outbox, StoreError, Tx};
use std::collections::HashSet;

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
/// refuse ([`withdraw::withdraw_refused`]). Returns how many updates were queued.
pub async fn changed_in_force(
    tx: &mut Tx<'_>,
    sinks: &[String],
    people: &HashSet<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    let queued = outbox::enqueue_consent_changes(tx, sinks, people, now).await?;
    withdraw::withdraw_refused(tx, people, now).await?;
    Ok(queued)
}
