//! Resolving one batch of events to people: the identity graph as the batch sees it (a union-find
//! over stored profiles and the profiles the batch creates) and the plan the shop's merge rule
//! makes for each person in turn. Pure: the store loads the part of the graph the batch touches,
//! hands it here, and writes back what the plan says (new profiles, merges, new links).

use super::merge::MergeRules;
use crate::model::{Identity, IdentityKind};
use std::collections::HashMap;

/// Where a person of the batch lives: a stored profile, or the n-th profile the batch creates.
/// Stored profiles order before new ones, so the oldest profile wins when identities disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    Stored(i64),
    New(usize),
}

/// The identity graph as the batch sees it: which profile each identity is linked to, what each
/// profile holds, and which profiles the batch merged into which.
#[derive(Debug, Default)]
pub struct BatchGraph {
    linked: HashMap<Identity, Slot>,
    members: HashMap<Slot, Vec<Identity>>,
    merged_into: HashMap<Slot, Slot>,
}

impl BatchGraph {
    /// The profile `slot` now is, after the batch's merges.
    pub fn find(&self, mut slot: Slot) -> Slot {
        while let Some(into) = self.merged_into.get(&slot) {
            slot = *into;
        }
        slot
    }

    fn owner(&self, identity: &Identity) -> Option<Slot> {
        self.linked.get(identity).map(|slot| self.find(*slot))
    }

    fn members(&self, slot: Slot) -> Vec<Identity> {
        self.members.get(&slot).cloned().unwrap_or_default()
    }

    fn absorb(&mut self, absorbed: Slot, survivor: Slot) {
        self.merged_into.insert(absorbed, survivor);
        let moved = self.members.remove(&absorbed).unwrap_or_default();
        self.members.entry(survivor).or_default().extend(moved);
    }

    /// Records that `identity` belongs to `slot` (a stored link, or one the batch makes).
    pub fn link(&mut self, identity: &Identity, slot: Slot) {
        self.linked.insert(identity.clone(), slot);
        self.members.entry(slot).or_default().push(identity.clone());
    }
}

/// A merge of two stored profiles the batch made, and the person whose identities joined them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMerge {
    pub survivor: i64,
    pub absorbed: i64,
    /// The kind of identity that linked them.
    pub kind: IdentityKind,
    /// Index of the person (in the batch) whose identities made the merge.
    pub person: usize,
}

/// What the batch does to the identity graph.
#[derive(Debug, Default)]
pub struct BatchPlan<'a> {
    /// Each person's profile as first planned (`None` for an entry that names nobody); pass each
    /// through `graph.find` for where it ended after the batch's later merges.
    pub slots: Vec<Option<Slot>>,
    /// How many new profiles the batch planned (`Slot::New(0..created)`); some may have been merged
    /// into others since (`graph.find(slot) != slot`).
    pub created: usize,
    /// Identities to link, with the person they came from and the slot they joined.
    pub new_links: Vec<(usize, &'a Identity, Slot)>,
    /// Merges of stored profiles, in the order they were made.
    pub merges: Vec<StoredMerge>,
    /// Per person, identities not linked because a per-profile limit would break.
    pub refused: Vec<(usize, Vec<Identity>)>,
    /// The graph after the batch.
    pub graph: BatchGraph,
}

impl BatchPlan<'_> {
    /// Where each person ended after every merge of the batch.
    pub fn final_slots(&self) -> Vec<Option<Slot>> {
        self.slots
            .iter()
            .map(|s| s.map(|s| self.graph.find(s)))
            .collect()
    }

    /// The new profiles the batch must create: those not merged into another.
    pub fn profiles_to_create(&self) -> Vec<Slot> {
        (0..self.created)
            .map(Slot::New)
            .filter(|slot| self.graph.find(*slot) == *slot)
            .collect()
    }
}

/// Plans the batch's people in order by the shop's merge `rules`: each finds the profile its
/// identities name, merging the profiles they join, or gets a new one. `people[i]` is the i-th
/// entry's normalised identities, `None` for an entry that names nobody.
pub fn plan_batch<'a>(
    mut graph: BatchGraph,
    people: &[Option<&'a [Identity]>],
    rules: &MergeRules,
) -> BatchPlan<'a> {
    let mut plan = BatchPlan::default();
    for (person, identities) in people.iter().enumerate() {
        let Some(identities) = identities else {
            plan.slots.push(None);
            continue;
        };
        let step = rules.plan(identities, |i| graph.owner(i), |slot| graph.members(slot));
        let slot = step.profile.unwrap_or_else(|| {
            plan.created += 1;
            Slot::New(plan.created - 1)
        });
        for (absorbed, kind) in step.absorbed {
            graph.absorb(absorbed, slot);
            if let (Slot::Stored(survivor), Slot::Stored(absorbed)) = (slot, absorbed) {
                plan.merges.push(StoredMerge {
                    survivor,
                    absorbed,
                    kind,
                    person,
                });
            }
        }
        for identity in &step.link {
            graph.link(identity, slot);
        }
        plan.new_links.extend(
            identities
                .iter()
                .filter(|i| step.link.contains(*i))
                .map(|i| (person, i, slot)),
        );
        if !step.refused.is_empty() {
            plan.refused.push((person, step.refused));
        }
        plan.slots.push(Some(slot));
    }
    plan.graph = graph;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::Email,
            value: value.into(),
        }
    }

    fn phone(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::Phone,
            value: value.into(),
        }
    }

    #[test]
    fn a_person_joining_two_stored_profiles_merges_the_younger_into_the_older() {
        let mut graph = BatchGraph::default();
        graph.link(&email("ana@example.com"), Slot::Stored(7));
        graph.link(&phone("+442079460958"), Slot::Stored(3));
        let ana = [email("ana@example.com"), phone("+442079460958")];
        let plan = plan_batch(graph, &[Some(&ana)], &MergeRules::default());
        // Her email (first by priority) names profile 7; her phone then joins profile 3 to her, so
        // the phone is what linked the two, and the older profile 3 survives.
        assert_eq!(
            plan.merges,
            [StoredMerge {
                survivor: 3,
                absorbed: 7,
                kind: IdentityKind::Phone,
                person: 0,
            }]
        );
        assert_eq!(plan.final_slots(), [Some(Slot::Stored(3))]);
        assert_eq!(plan.created, 0);
        assert!(plan.new_links.is_empty());
    }

    #[test]
    fn new_people_get_new_profiles_and_a_later_entry_can_fold_one_into_a_stored_one() {
        let mut graph = BatchGraph::default();
        graph.link(&phone("+15550100"), Slot::Stored(1));
        let bea = [email("bea@example.com")];
        let both = [email("bea@example.com"), phone("+15550100")];
        let plan = plan_batch(
            graph,
            &[None, Some(&bea), Some(&both)],
            &MergeRules::default(),
        );
        // Bea was new, then her email met a stored phone: her new profile folds into profile 1.
        assert_eq!(
            plan.slots,
            [None, Some(Slot::New(0)), Some(Slot::Stored(1))]
        );
        assert_eq!(
            plan.final_slots(),
            [None, Some(Slot::Stored(1)), Some(Slot::Stored(1))]
        );
        assert_eq!(plan.created, 1);
        assert!(plan.profiles_to_create().is_empty());
        assert_eq!(
            plan.new_links,
            [(1, &email("bea@example.com"), Slot::New(0))]
        );
        assert!(
            plan.merges.is_empty(),
            "only stored-to-stored merges are recorded"
        );
    }
}
