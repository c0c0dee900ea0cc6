//! Consent in the host: the unsubscribes a CRM reports back (`feed`) are read through the sink plugin
//! and stored as choices; a person's own choices from the preference page are recorded with
//! [`record_choices`]. The rules (ledger, marketing gate, contact rules) are in
//! `rapport_core::consent`.

pub mod feed;

use rapport_store::consents::{self, NewChoice};
use rapport_store::{outbox, StoreError, Tx};

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
    outbox::enqueue_consent_changes(tx, sinks, &changed, now).await
}
