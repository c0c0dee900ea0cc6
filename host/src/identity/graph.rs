//! `rapport identity`: what an operator sees and does in the identity graph. Show one person (their
//! identities, consents in force, orders and merge history), merge two profiles, undo a merge.
//! People are looked up the way `rapport forget` looks them up.
//!
//! A merge or an unmerge is one transaction: read both profiles' standing, ask the rules
//! (`rapport_core::identity::graph`) whether and how, have the store move the rows, work the
//! consents in force out again, queue what the sinks must hear, commit.

use crate::lookup::{find_one, LookupError};
use rapport_core::identity::graph::{self, Refusal};
use rapport_core::identity::Normalizer;
use rapport_core::model::{Identity, Payload};
use rapport_store::{
    consents, merges, now_ms, outbox, MergeRecord, NewMerge, ProfileSnapshot, SnapshotDepth, Store,
    StoreError,
};
use std::collections::HashSet;

/// Why an identity command was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The two profiles of an operator's merge or unmerge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPair {
    pub merge_id: i64,
    pub survivor_key: String,
    pub absorbed_key: String,
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
/// older, whatever the merge rule says), recorded with `note`, and queues the survivor's profile
/// (and, if its consents in force changed, its consents) for every one of `sinks`.
pub async fn merge(
    store: &Store,
    normalizer: &Normalizer,
    a: &str,
    b: &str,
    note: &str,
    sinks: &[String],
    zone: chrono_tz::Tz,
) -> Result<MergedPair, IdentityError> {
    let a = find_one(store, normalizer, a).await?;
    let b = find_one(store, normalizer, b).await?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    let a = merges::standing(&mut tx, a.id).await?;
    let b = merges::standing(&mut tx, b.id).await?;
    let planned = graph::operator_merge(&a, &b)?;
    let (survivor, absorbed) = match planned.survivor == a.id {
        true => (a, b),
        false => (b, a),
    };
    let reason = graph::operator_reason(note);
    let merge = NewMerge {
        survivor: planned.survivor,
        absorbed: planned.absorbed,
        reason: &reason,
        evidence: "operator",
    };
    let (merge_id, consent_changed) = merges::merge(&mut tx, &merge, now).await?;
    if consent_changed {
        let people = HashSet::from([planned.survivor]);
        crate::consent::changed_in_force(&mut tx, sinks, &people, now).await?;
    }
    let cause = format!("merge:{merge_id}");
    outbox::enqueue_profile_updates(&mut tx, sinks, &[planned.survivor], &cause, now).await?;
    let touched = [planned.survivor, planned.absorbed];
    crate::profiles::refresh(&mut tx, &touched, zone, now).await?;
    tx.commit().await?;
    Ok(MergedPair {
        merge_id,
        survivor_key: survivor.key,
        absorbed_key: absorbed.key,
    })
}

/// Undoes merge `merge_id`: what it moved and is still on the survivor goes back to the absorbed
/// profile, together with what reached the survivor since for the absorbed profile's identities
/// (`graph::going_back`: an event goes back when, by the merge rule's priority, the first identity
/// of its customer that either side held was the absorbed one's; an identity linked since goes back
/// when only such events carried it). The survivor gives back names it took, both profiles'
/// consents in force are worked out again, and both are queued for every one of `sinks`. Refused,
/// changing nothing, for an unknown merge, one already undone, one a later merge built on, or a
/// forgotten profile.
pub async fn unmerge(
    store: &Store,
    normalizer: &Normalizer,
    merge_id: i64,
    sinks: &[String],
    zone: chrono_tz::Tz,
) -> Result<MergedPair, IdentityError> {
    let since = store
        .since_merge(merge_id)
        .await?
        .ok_or(Refusal::Unknown(merge_id))?;
    let mut events = Vec::with_capacity(since.events.len());
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
        events.push((*event_id, identities));
    }
    let back = graph::going_back(
        normalizer.merge_rules(),
        &since.absorbed_identities.iter().cloned().collect(),
        &since.survivor_identities.iter().cloned().collect(),
        &events,
        &since.identities,
    );

    let now = now_ms();
    let mut tx = store.begin().await?;
    let merge = graph::undoable(merge_id, merges::recorded(&mut tx, merge_id).await?)?;
    let in_force = merges::in_force_on(&mut tx, &[merge.survivor, merge.absorbed]).await?;
    let survivor = merges::standing(&mut tx, merge.survivor).await?;
    let absorbed = merges::standing(&mut tx, merge.absorbed).await?;
    let undo = graph::unmerge(&merge, &in_force, &survivor, &absorbed)?;
    merges::record_going_back(&mut tx, merge_id, &back).await?;
    merges::move_back(&mut tx, merge_id, undo.survivor, undo.absorbed).await?;
    // Work still waiting for the events that go back is the absorbed profile's again.
    merges::return_work(&mut tx, undo.survivor, undo.absorbed, &back.events).await?;
    if undo.gives_back_names {
        merges::clear_names(&mut tx, undo.survivor, now).await?;
    }
    merges::mark_undone(&mut tx, merge_id, undo.absorbed, now).await?;
    let mut changed = HashSet::new();
    for profile in [undo.survivor, undo.absorbed] {
        if consents::recompute_in_force(&mut tx, profile).await? {
            changed.insert(profile);
        }
    }
    crate::consent::changed_in_force(&mut tx, sinks, &changed, now).await?;
    let cause = format!("unmerge:{merge_id}");
    let people = [undo.survivor, undo.absorbed];
    outbox::enqueue_profile_updates(&mut tx, sinks, &people, &cause, now).await?;
    crate::profiles::refresh(&mut tx, &people, zone, now).await?;
    tx.commit().await?;
    tracing::info!(
        merge = merge_id,
        survivor = undo.survivor,
        absorbed = undo.absorbed,
        "merge undone"
    );
    Ok(MergedPair {
        merge_id,
        survivor_key: survivor.key,
        absorbed_key: absorbed.key,
    })
}
