//! Duplicates a vendor merged: Square merges two customers into a new one and reports the ids it
//! replaced. In the ingest transaction, the profiles those ids name are merged into the survivor's
//! (the older profile stays, as in an operator's merge, so the key the sinks know survives),
//! recorded as `<source> merge` with the event as evidence; ids nobody held are linked to it, so
//! a late event naming an old id still finds the person.

use rapport_core::identity::graph;
use rapport_core::model::Identity;
use rapport_store::{merges, profiles, NewMerge, StoreError, Tx};
use std::collections::HashSet;

/// One vendor merge of a batch: the event, and the vendor ids its survivor replaced.
pub struct VendorMerge<'a> {
    /// The event's position in the batch (its profile is `people[position]`).
    pub position: usize,
    /// `<source>:<source event id>`.
    pub evidence: String,
    pub replaced: &'a [Identity],
}

/// What a batch's vendor merges did to profiles.
#[derive(Debug, Default)]
pub struct VendorMerged {
    /// Survivors whose consents in force changed.
    pub consent_changed: HashSet<i64>,
    /// Profiles merged into another.
    pub absorbed: HashSet<i64>,
}

/// Carries out the batch's vendor merges; `people` (each event's profile) is updated so nothing of
/// the batch lands on a profile that was absorbed.
pub async fn merge_duplicates(
    tx: &mut Tx<'_>,
    source_id: &str,
    batch: &[VendorMerge<'_>],
    people: &mut [Option<i64>],
    now: i64,
) -> Result<VendorMerged, StoreError> {
    let reason = graph::vendor_reason(source_id);
    let mut done = VendorMerged::default();
    for merge in batch {
        let Some(mut survivor) = people[merge.position] else {
            continue;
        };
        let holders = profiles::holders(tx, merge.replaced).await?;
        let mut absorbed_now: Vec<i64> = holders.values().copied().collect();
        absorbed_now.sort_unstable();
        absorbed_now.dedup();
        for other in absorbed_now {
            if other == survivor {
                continue;
            }
            let a = merges::standing(tx, survivor).await?;
            let b = merges::standing(tx, other).await?;
            let planned = match graph::operator_merge(&a, &b) {
                Ok(planned) => planned,
                Err(refusal) => {
                    tracing::warn!(source = source_id, evidence = %merge.evidence, %refusal,
                        "vendor merge not applied to this profile");
                    continue;
                }
            };
            let record = NewMerge {
                survivor: planned.survivor,
                absorbed: planned.absorbed,
                reason: &reason,
                evidence: &merge.evidence,
            };
            if merges::merge(tx, &record, now).await?.1 {
                done.consent_changed.insert(planned.survivor);
            }
            done.consent_changed.remove(&planned.absorbed);
            done.absorbed.insert(planned.absorbed);
            for person in people.iter_mut().flatten() {
                if *person == planned.absorbed {
                    *person = planned.survivor;
                }
            }
            survivor = planned.survivor;
        }
        let unheld: Vec<(&Identity, i64)> = (merge.replaced.iter())
            .filter(|id| !holders.contains_key(*id))
            .map(|id| (id, survivor))
            .collect();
        profiles::link(tx, &unheld, now).await?;
    }
    Ok(done)
}
