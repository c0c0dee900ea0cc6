//! `rapport identity`: what an operator sees and does in the identity graph. Show one person (their
//! identities, consents in force, orders and merge history), merge two profiles, undo a merge.
//! People are looked up the way `rapport forget` looks them up.

use crate::governance::forget::{find_one, ForgetError};
use rapport_core::identity::Normalizer;
use rapport_core::model::{Identity, Payload};
use rapport_store::{
    ArrivedSince, MergeError, MergeRecord, MergedPair, ProfileSnapshot, SnapshotDepth, Store,
    StoreError,
};
use std::collections::HashSet;

/// Why an identity command was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Lookup(#[from] ForgetError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One person as `rapport identity show` prints them.
#[derive(Debug, Clone)]
pub struct Shown {
    pub profile: ProfileSnapshot,
    /// The merges the profile took part in, oldest first.
    pub merges: Vec<MergeRecord>,
}

impl Shown {
    /// The merge in force that absorbed this profile, if one did.
    pub fn absorbed_by(&self) -> Option<&MergeRecord> {
        self.merges
            .iter()
            .rev()
            .find(|m| m.absorbed_key == self.profile.key && m.unmerged_at.is_none())
    }
}

/// The person `who` names, with their merge history.
pub async fn show(
    store: &Store,
    normalizer: &Normalizer,
    who: &str,
) -> Result<Shown, IdentityError> {
    let found = find_one(store, normalizer, who).await?;
    let mut snapshots = store
        .profile_snapshots(&[found.id], SnapshotDepth::Full)
        .await?;
    let profile = snapshots
        .remove(&found.id)
        .ok_or_else(|| StoreError::Corrupt(format!("profile {} vanished", found.id)))?;
    Ok(Shown {
        profile,
        merges: store.merge_history(found.id).await?,
    })
}

/// Merges the two people `a` and `b` name on the operator's word (the younger profile into the
/// older), recorded with `note`, and queues the survivor for every one of `sinks`.
pub async fn merge(
    store: &Store,
    normalizer: &Normalizer,
    a: &str,
    b: &str,
    note: &str,
    sinks: &[String],
) -> Result<MergedPair, IdentityError> {
    let a = find_one(store, normalizer, a).await?;
    let b = find_one(store, normalizer, b).await?;
    Ok(store.merge_profiles(a.id, b.id, note, sinks).await?)
}

/// Undoes merge `merge_id`: both profiles as they were when it was made, plus what reached the
/// survivor since for the absorbed profile's identities (an event goes back when, by the merge
/// rule's priority, the first identity of its customer that either side held was the absorbed
/// one's; an identity linked since goes back when only such events carried it). Both are queued
/// for every one of `sinks`.
pub async fn unmerge(
    store: &Store,
    normalizer: &Normalizer,
    merge_id: i64,
    sinks: &[String],
) -> Result<MergedPair, IdentityError> {
    let since = store.since_merge(merge_id).await?;
    let absorbed: HashSet<Identity> = since.absorbed_identities.iter().cloned().collect();
    let survivor: HashSet<Identity> = since.survivor_identities.iter().cloned().collect();
    let rules = normalizer.merge_rules();
    let mut arrived = ArrivedSince::default();
    let mut going: HashSet<Identity> = HashSet::new();
    let mut staying: HashSet<Identity> = HashSet::new();
    for (event_id, source, payload) in &since.events {
        let payload: Payload = serde_json::from_str(payload).map_err(|e| {
            StoreError::Corrupt(format!("stored event {event_id} is unreadable: {e}"))
        })?;
        let identities: Vec<Identity> = payload
            .customer()
            .map(|c| {
                c.identities
                    .iter()
                    .filter_map(|i| normalizer.normalize(source, i.kind, &i.value))
                    .collect()
            })
            .unwrap_or_default();
        if rules.sides_with_absorbed(&identities, &absorbed, &survivor) {
            arrived.events.push(*event_id);
            going.extend(identities);
        } else {
            staying.extend(identities);
        }
    }
    arrived.identities = since
        .identities
        .iter()
        .filter(|(_, i)| going.contains(i) && !staying.contains(i))
        .map(|(id, _)| *id)
        .collect();
    Ok(store.unmerge(merge_id, &arrived, sinks).await?)
}
