//! Carrying out and undoing merges in the identity graph. `merge` decides which profiles a person's
//! identities merge; these rules decide the rest: what a merge moves and whether the survivor takes
//! the absorbed profile's names, which profile survives an operator's merge, when an operator's
//! merge or unmerge is refused, and what goes back with the absorbed profile on unmerge. They take
//! plain values the store read; the host's identity service has the store apply what they return.

use super::MergeRules;
use crate::model::Identity;
use std::collections::HashSet;

/// A profile's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub given: Option<String>,
    pub family: Option<String>,
}

impl Names {
    pub fn is_empty(&self) -> bool {
        self.given.is_none() && self.family.is_none()
    }
}

/// Whether the survivor of a merge takes the absorbed profile's names: only when it has none of its
/// own and the absorbed profile has some. An unmerge gives back names a merge took.
pub fn takes_names(survivor: &Names, absorbed: &Names) -> bool {
    survivor.is_empty() && !absorbed.is_empty()
}

/// What a merge moves from the absorbed profile to the survivor, recorded by row id (never PII) so
/// that an unmerge moves it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Moved {
    /// The identities linked to it.
    Identity,
    /// Its events.
    Event,
    /// Its consent choices (the ledger): the choices in force are then worked out again by the
    /// ledger's rule.
    Ledger,
    /// Its work items for the sinks.
    Outbox,
    /// Its waits in journeys.
    JourneyWait,
}

impl Moved {
    pub const ALL: [Moved; 5] = [
        Moved::Identity,
        Moved::Event,
        Moved::Ledger,
        Moved::Outbox,
        Moved::JourneyWait,
    ];

    /// Its name in the record of a merge's moves.
    pub fn as_str(self) -> &'static str {
        match self {
            Moved::Identity => "identity",
            Moved::Event => "event",
            Moved::Ledger => "ledger",
            Moved::Outbox => "outbox",
            Moved::JourneyWait => "journey-wait",
        }
    }

    /// Whether only rows still waiting move, either way: a work item in flight stays with the
    /// worker that holds it.
    pub fn only_waiting(self) -> bool {
        self == Moved::Outbox
    }

    /// Whether a row stays behind when the survivor already holds the same one: a choice heard
    /// through both profiles.
    pub fn unless_survivor_holds_it(self) -> bool {
        self == Moved::Ledger
    }
}

/// A profile as an operator's merge or unmerge needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Its row id: ids are given in order of creation, so the smaller is the older.
    pub id: i64,
    pub key: String,
    /// Whether it was forgotten (`rapport forget`).
    pub forgotten: bool,
    /// The merge in force that absorbed it, if one did.
    pub absorbed: Option<Absorption>,
}

/// The merge in force that absorbed a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absorption {
    /// The merge's id.
    pub merge: i64,
    /// The key of the profile it was merged into.
    pub into: String,
}

/// Why an operator's merge or unmerge is refused. Nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no merge {0} (`rapport identity show` lists a profile's merges)")]
    Unknown(i64),
    #[error("merge {0} was already undone")]
    AlreadyUndone(i64),
    #[error(
        "merge {later} was made after merge {id} on the same profiles: undo merge {later} first \
         (merges are undone newest first)"
    )]
    Later { id: i64, later: i64 },
    #[error("profile {0} was forgotten (`rapport forget`); it cannot be merged or unmerged")]
    Erased(String),
    #[error(
        "profile {key} was merged into profile {into} (merge {merge}); name {into}, or undo merge \
         {merge} first"
    )]
    Absorbed {
        key: String,
        into: String,
        merge: i64,
    },
    #[error("both name profile {0}: there is nothing to merge")]
    Same(String),
}

/// An operator's merge to make: `absorbed` into `survivor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorMerge {
    pub survivor: i64,
    pub absorbed: i64,
}

/// The merge of two profiles on the operator's word: the younger into the older, whatever the merge
/// rule says. Refused for a forgotten profile, for one profile named twice, and for a profile
/// already merged into another (the operator names that one, or undoes that merge first).
pub fn operator_merge(a: &Standing, b: &Standing) -> Result<OperatorMerge, Refusal> {
    let (survivor, absorbed) = if a.id <= b.id { (a, b) } else { (b, a) };
    for side in [survivor, absorbed] {
        if side.forgotten {
            return Err(Refusal::Erased(side.key.clone()));
        }
    }
    if a.id == b.id {
        return Err(Refusal::Same(survivor.key.clone()));
    }
    for side in [survivor, absorbed] {
        if let Some(by) = &side.absorbed {
            return Err(Refusal::Absorbed {
                key: side.key.clone(),
                into: by.into.clone(),
                merge: by.merge,
            });
        }
    }
    Ok(OperatorMerge {
        survivor: survivor.id,
        absorbed: absorbed.id,
    })
}

/// The reason an operator's merge is recorded with: `operator: <note>`, or `operator` without one.
pub fn operator_reason(note: &str) -> String {
    format!("operator: {}", note.trim())
        .trim_end_matches([' ', ':'])
        .to_string()
}

/// The reason a merge the vendor made is recorded with: `<source> merge` (`square merge`).
pub fn vendor_reason(source_id: &str) -> String {
    format!("{source_id} merge")
}

/// A recorded merge as an unmerge needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedMerge {
    pub id: i64,
    pub survivor: i64,
    pub absorbed: i64,
    /// Whether the survivor took the absorbed profile's names.
    pub took_names: bool,
    /// Whether it was undone already.
    pub undone: bool,
}

/// What undoing a merge does besides moving back what it moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmerge {
    pub merge: i64,
    pub survivor: i64,
    pub absorbed: i64,
    /// Whether the survivor gives back the names it took.
    pub gives_back_names: bool,
}

/// The merge `merge_id` names, if it can be undone at all: refused for an unknown merge and for one
/// already undone. [`unmerge`] then decides with the profiles' standing.
pub fn undoable(merge_id: i64, found: Option<RecordedMerge>) -> Result<RecordedMerge, Refusal> {
    let merge = found.ok_or(Refusal::Unknown(merge_id))?;
    if merge.undone {
        return Err(Refusal::AlreadyUndone(merge_id));
    }
    Ok(merge)
}

/// Undoing `merge`, given the merges still in force that either of its profiles took part in (as
/// survivor or absorbed) and both profiles' standing. Merges are undone newest first: refused while
/// a later merge on the same profiles is in force, and for a forgotten profile.
pub fn unmerge(
    merge: &RecordedMerge,
    in_force: &[i64],
    survivor: &Standing,
    absorbed: &Standing,
) -> Result<Unmerge, Refusal> {
    if let Some(later) = in_force.iter().copied().filter(|m| *m > merge.id).max() {
        return Err(Refusal::Later {
            id: merge.id,
            later,
        });
    }
    for side in [survivor, absorbed] {
        if side.forgotten {
            return Err(Refusal::Erased(side.key.clone()));
        }
    }
    Ok(Unmerge {
        merge: merge.id,
        survivor: merge.survivor,
        absorbed: merge.absorbed,
        gives_back_names: merge.took_names,
    })
}

/// Rows that reached a merge's survivor since the merge and go back with the absorbed profile on
/// unmerge, by row id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoingBack {
    pub events: Vec<i64>,
    pub identities: Vec<i64>,
}

/// What goes back with the absorbed profile on unmerge, of what reached the survivor since the
/// merge: an event goes back when, by the merge rule's priority, the first identity of its customer
/// that either side held at merge time was the absorbed one's
/// ([`MergeRules::sides_with_absorbed`]); an identity linked since goes back when only such events
/// carried it. `events` are the events stored on the survivor since, each with its customer's
/// normalised identities; `identities` the identities linked to the survivor since, by row id.
pub fn going_back(
    rules: &MergeRules,
    absorbed: &HashSet<Identity>,
    survivor: &HashSet<Identity>,
    events: &[(i64, Vec<Identity>)],
    identities: &[(i64, Identity)],
) -> GoingBack {
    let mut back = GoingBack::default();
    let mut going: HashSet<&Identity> = HashSet::new();
    let mut staying: HashSet<&Identity> = HashSet::new();
    for (event_id, carried) in events {
        if rules.sides_with_absorbed(carried, absorbed, survivor) {
            back.events.push(*event_id);
            going.extend(carried);
        } else {
            staying.extend(carried);
        }
    }
    back.identities = identities
        .iter()
        .filter(|(_, i)| going.contains(i) && !staying.contains(i))
        .map(|(id, _)| *id)
        .collect();
    back
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IdentityKind;

    fn profile(id: i64) -> Standing {
        Standing {
            id,
            key: format!("p-{id}"),
            forgotten: false,
            absorbed: None,
        }
    }

    fn forgotten(id: i64) -> Standing {
        Standing {
            forgotten: true,
            ..profile(id)
        }
    }

    fn absorbed(id: i64, into: i64, merge: i64) -> Standing {
        Standing {
            absorbed: Some(Absorption {
                merge,
                into: format!("p-{into}"),
            }),
            ..profile(id)
        }
    }

    fn names(given: Option<&str>, family: Option<&str>) -> Names {
        Names {
            given: given.map(str::to_string),
            family: family.map(str::to_string),
        }
    }

    #[test]
    fn the_younger_profile_merges_into_the_older_whichever_is_named_first() {
        let want = OperatorMerge {
            survivor: 3,
            absorbed: 8,
        };
        assert_eq!(operator_merge(&profile(3), &profile(8)), Ok(want));
        assert_eq!(operator_merge(&profile(8), &profile(3)), Ok(want));
    }

    #[test]
    fn an_operator_merge_is_refused_for_one_profile_named_twice() {
        assert_eq!(
            operator_merge(&profile(4), &profile(4)),
            Err(Refusal::Same("p-4".into()))
        );
    }

    #[test]
    fn an_operator_merge_is_refused_for_a_forgotten_profile_first() {
        assert_eq!(
            operator_merge(&profile(2), &forgotten(5)),
            Err(Refusal::Erased("p-5".into()))
        );
        // The older one is named in the refusal when both were forgotten, and forgetting is named
        // before anything else.
        assert_eq!(
            operator_merge(&forgotten(9), &forgotten(5)),
            Err(Refusal::Erased("p-5".into()))
        );
        assert_eq!(
            operator_merge(&forgotten(5), &forgotten(5)),
            Err(Refusal::Erased("p-5".into()))
        );
        assert_eq!(
            operator_merge(&absorbed(2, 1, 7), &forgotten(5)),
            Err(Refusal::Erased("p-5".into()))
        );
    }

    #[test]
    fn an_operator_merge_is_refused_for_a_profile_already_merged_into_another() {
        assert_eq!(
            operator_merge(&profile(6), &absorbed(2, 1, 7)),
            Err(Refusal::Absorbed {
                key: "p-2".into(),
                into: "p-1".into(),
                merge: 7
            })
        );
        // The older one first.
        assert_eq!(
            operator_merge(&absorbed(9, 1, 4), &absorbed(2, 1, 7)),
            Err(Refusal::Absorbed {
                key: "p-2".into(),
                into: "p-1".into(),
                merge: 7
            })
        );
        assert_eq!(
            operator_merge(&absorbed(9, 1, 4), &absorbed(9, 1, 4)),
            Err(Refusal::Same("p-9".into()))
        );
    }

    #[test]
    fn an_operator_merge_is_recorded_with_the_note_or_without_one() {
        assert_eq!(
            operator_reason("  same person, new card "),
            "operator: same person, new card"
        );
        assert_eq!(operator_reason(""), "operator");
        assert_eq!(operator_reason("   "), "operator");
        assert_eq!(operator_reason("checked: "), "operator: checked");
    }

    #[test]
    fn the_survivor_takes_names_only_when_it_has_none() {
        let none = Names::default();
        for (survivor, absorbed, takes) in [
            (none.clone(), names(Some("Ana"), None), true),
            (none.clone(), names(None, Some("Silva")), true),
            (none.clone(), none.clone(), false),
            (
                names(Some("Ana"), None),
                names(Some("Bea"), Some("Ruiz")),
                false,
            ),
            (names(None, Some("Silva")), names(Some("Bea"), None), false),
        ] {
            assert_eq!(
                takes_names(&survivor, &absorbed),
                takes,
                "{survivor:?} {absorbed:?}"
            );
        }
    }

    #[test]
    fn a_merge_moves_every_item_and_only_waiting_work() {
        let names: Vec<&str> = Moved::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            names,
            ["identity", "event", "ledger", "outbox", "journey-wait"]
        );
        let only_waiting: Vec<Moved> = Moved::ALL
            .into_iter()
            .filter(|m| m.only_waiting())
            .collect();
        assert_eq!(only_waiting, [Moved::Outbox]);
        let held: Vec<Moved> = Moved::ALL
            .into_iter()
            .filter(|m| m.unless_survivor_holds_it())
            .collect();
        assert_eq!(held, [Moved::Ledger]);
    }

    fn recorded(id: i64, took_names: bool, undone: bool) -> RecordedMerge {
        RecordedMerge {
            id,
            survivor: 1,
            absorbed: 2,
            took_names,
            undone,
        }
    }

    #[test]
    fn an_unknown_merge_or_one_already_undone_cannot_be_undone() {
        assert_eq!(undoable(99, None), Err(Refusal::Unknown(99)));
        assert_eq!(
            undoable(3, Some(recorded(3, false, true))),
            Err(Refusal::AlreadyUndone(3))
        );
        assert_eq!(
            undoable(3, Some(recorded(3, true, false))),
            Ok(recorded(3, true, false))
        );
    }

    #[test]
    fn merges_are_undone_newest_first() {
        let merge = recorded(2, false, false);
        assert_eq!(
            unmerge(&merge, &[1, 2, 5, 4], &profile(1), &absorbed(2, 1, 2)),
            Err(Refusal::Later { id: 2, later: 5 })
        );
        // A later merge wins over a forgotten profile; earlier merges in force do not count.
        assert_eq!(
            unmerge(&merge, &[2, 3], &forgotten(1), &absorbed(2, 1, 2)),
            Err(Refusal::Later { id: 2, later: 3 })
        );
        assert_eq!(
            unmerge(&merge, &[1, 2], &profile(1), &absorbed(2, 1, 2)),
            Ok(Unmerge {
                merge: 2,
                survivor: 1,
                absorbed: 2,
                gives_back_names: false
            })
        );
    }

    #[test]
    fn an_unmerge_is_refused_for_a_forgotten_profile_and_gives_back_names_it_took() {
        let merge = recorded(2, true, false);
        assert_eq!(
            unmerge(&merge, &[2], &forgotten(1), &absorbed(2, 1, 2)),
            Err(Refusal::Erased("p-1".into()))
        );
        assert_eq!(
            unmerge(&merge, &[2], &profile(1), &forgotten(2)),
            Err(Refusal::Erased("p-2".into()))
        );
        assert_eq!(
            unmerge(&merge, &[], &profile(1), &profile(2)).map(|u| u.gives_back_names),
            Ok(true)
        );
    }

    fn email(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::Email,
            value: value.into(),
        }
    }

    fn vendor(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::VendorCustomer,
            value: value.into(),
        }
    }

    #[test]
    fn what_arrived_since_goes_back_by_the_first_identity_either_side_held() {
        let rules = MergeRules::default();
        let absorbed: HashSet<Identity> = [vendor("pos:B"), email("b@example.com")].into();
        let survivor: HashSet<Identity> = [vendor("pos:A"), email("shared@example.com")].into();
        let events = [
            // The absorbed profile's vendor id outranks the survivor's email: back.
            (10, vec![email("shared@example.com"), vendor("pos:B")]),
            // Only the survivor's: stays.
            (11, vec![vendor("pos:A"), email("new@example.com")]),
            // Nobody either side knew: stays with the survivor.
            (12, vec![email("stranger@example.com")]),
            // The absorbed profile's email, and a new one only such events carried: back.
            (13, vec![email("b@example.com"), email("b2@example.com")]),
            // No customer: stays.
            (14, vec![]),
        ];
        let identities = [
            (100, email("b2@example.com")),
            (101, email("new@example.com")),
            (102, email("stranger@example.com")),
        ];
        assert_eq!(
            going_back(&rules, &absorbed, &survivor, &events, &identities),
            GoingBack {
                events: vec![10, 13],
                identities: vec![100],
            }
        );
    }

    #[test]
    fn an_identity_carried_by_events_on_both_sides_stays() {
        let rules = MergeRules::default();
        let absorbed: HashSet<Identity> = [vendor("pos:B")].into();
        let survivor: HashSet<Identity> = [vendor("pos:A")].into();
        let events = [
            (1, vec![vendor("pos:B"), email("both@example.com")]),
            (2, vec![vendor("pos:A"), email("both@example.com")]),
        ];
        let identities = [(7, email("both@example.com"))];
        assert_eq!(
            going_back(&rules, &absorbed, &survivor, &events, &identities),
            GoingBack {
                events: vec![1],
                identities: vec![],
            }
        );
    }
}
