//! The identity graph's merge rule, in the spirit of Segment Unify: which profile a person's
//! identities resolve to, which stored profiles they merge, and which identities are left unlinked
//! because linking them would break a per-profile limit. The rule lives here alone; the store applies
//! the plans it returns.
//!
//! The rule, for one person's identities:
//! 1. Take the identities in priority order (`[identity] priority`; kinds left out follow, in the
//!    default order), ties in the order given.
//! 2. Grow one set of identities, starting empty. Each identity either names a stored profile (whose
//!    identities all join the set with it) or is unlinked (it joins alone). It joins unless that
//!    would put more identities of one kind in the set than the kind's limit allows — and more than
//!    either side already held, so a profile already past a limit (an operator merge) still
//!    resolves. A vendor customer id counts against the other ids *of the same source*.
//! 3. An identity that would break a limit is not linked, and its profile is not joined: the person
//!    stays with what their higher-priority identities named.
//! 4. The profiles joined merge into the oldest of them (the survivor); none joined means a new
//!    profile. Each merge's reason is the kind of identity that brought the later of the two in.
//!
//! So two vendor customer ids of one source (limit 1) never merge, and a shared family phone merges
//! two people only if the survivor may hold both of their emails.

use crate::model::{Identity, IdentityKind};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

/// The default order of kinds, highest priority first: an id the vendor issued for exactly one
/// customer, then a loyalty card, then contact details people share more often.
pub const DEFAULT_PRIORITY: [IdentityKind; 4] = [
    IdentityKind::VendorCustomer,
    IdentityKind::LoyaltyId,
    IdentityKind::Email,
    IdentityKind::Phone,
];

/// Most identities of each kind one profile may hold (`[identity] limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Limits {
    /// Per source: a vendor issues one id per customer.
    pub vendor_customer: NonZeroUsize,
    pub loyalty_id: NonZeroUsize,
    pub email: NonZeroUsize,
    pub phone: NonZeroUsize,
}

impl Default for Limits {
    fn default() -> Self {
        let n = |n: usize| NonZeroUsize::new(n).expect("limits are positive");
        Limits {
            vendor_customer: n(1),
            loyalty_id: n(1),
            email: n(5),
            phone: n(3),
        }
    }
}

impl Limits {
    fn of(&self, kind: IdentityKind) -> usize {
        match kind {
            IdentityKind::VendorCustomer => self.vendor_customer,
            IdentityKind::LoyaltyId => self.loyalty_id,
            IdentityKind::Email => self.email,
            IdentityKind::Phone => self.phone,
        }
        .get()
    }
}

/// The shop's merge rule: the priority of kinds and the per-profile limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRules {
    /// Every kind once, highest priority first.
    priority: Vec<IdentityKind>,
    limits: Limits,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules::new(&DEFAULT_PRIORITY, Limits::default())
    }
}

/// What one person's identities resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<P> {
    /// The profile the person belongs to: the oldest joined, or `None` for a new one.
    pub profile: Option<P>,
    /// Profiles merged into `profile`, each with the kind of identity that linked it.
    pub absorbed: Vec<(P, IdentityKind)>,
    /// Unlinked identities to link to the person's profile.
    pub link: Vec<Identity>,
    /// Identities not linked (nor their profiles joined): a limit would break.
    pub refused: Vec<Identity>,
}

/// The counter a limit applies to: the kind, and for vendor ids the issuing source.
fn bucket(identity: &Identity) -> (IdentityKind, &str) {
    match identity.kind {
        IdentityKind::VendorCustomer => (
            identity.kind,
            identity
                .value
                .split_once(':')
                .map_or("", |(source, _)| source),
        ),
        kind => (kind, ""),
    }
}

fn counts<'a>(
    identities: impl IntoIterator<Item = &'a Identity>,
) -> HashMap<(IdentityKind, &'a str), usize> {
    let mut counts = HashMap::new();
    for identity in identities {
        *counts.entry(bucket(identity)).or_default() += 1;
    }
    counts
}

impl MergeRules {
    /// Every kind once, highest priority first.
    pub fn priority(&self) -> &[IdentityKind] {
        &self.priority
    }

    /// Most identities of `kind` one profile may hold (vendor customer ids: per source).
    pub fn limit(&self, kind: IdentityKind) -> usize {
        self.limits.of(kind)
    }

    /// Kinds in `priority` come first, in its order; the others follow in the default order.
    pub fn new(priority: &[IdentityKind], limits: Limits) -> MergeRules {
        let mut order: Vec<IdentityKind> = Vec::with_capacity(DEFAULT_PRIORITY.len());
        for kind in priority.iter().chain(&DEFAULT_PRIORITY) {
            if !order.contains(kind) {
                order.push(*kind);
            }
        }
        MergeRules {
            priority: order,
            limits,
        }
    }

    fn rank(&self, kind: IdentityKind) -> usize {
        self.priority
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is ranked")
    }

    /// Whether adding `part` to `held` would break a limit that neither already breaks.
    fn breaks(&self, held: &[Identity], part: &[Identity]) -> bool {
        let before = counts(held);
        let alone = counts(part);
        let after = counts(held.iter().chain(part.iter().filter(|i| !held.contains(i))));
        after.iter().any(|(bucket, n)| {
            *n > self.limits.of(bucket.0)
                && *n > before.get(bucket).copied().unwrap_or(0)
                && *n > alone.get(bucket).copied().unwrap_or(0)
        })
    }

    /// Resolves one person's `identities`: `owner` says which profile an identity is linked to, and
    /// `members` which identities a profile holds. Profiles order by age (the smallest is oldest).
    pub fn plan<P: Copy + Ord>(
        &self,
        identities: &[Identity],
        owner: impl Fn(&Identity) -> Option<P>,
        members: impl Fn(P) -> Vec<Identity>,
    ) -> Plan<P> {
        let mut ordered: Vec<&Identity> = identities.iter().collect();
        ordered.sort_by_key(|i| self.rank(i.kind));
        let mut held: Vec<Identity> = Vec::new();
        let mut joined: Vec<(P, IdentityKind)> = Vec::new();
        let mut link = Vec::new();
        let mut refused = Vec::new();
        for identity in ordered {
            if held.contains(identity) {
                continue;
            }
            let part = match owner(identity) {
                Some(profile) => {
                    let mut part = members(profile);
                    if !part.contains(identity) {
                        part.push(identity.clone());
                    }
                    part
                }
                None => vec![identity.clone()],
            };
            if self.breaks(&held, &part) {
                refused.push(identity.clone());
                continue;
            }
            match owner(identity) {
                Some(profile) => {
                    joined.push((profile, identity.kind));
                }
                None => link.push(identity.clone()),
            }
            for i in part {
                if !held.contains(&i) {
                    held.push(i);
                }
            }
        }
        let survivor = joined.iter().map(|(profile, _)| *profile).min();
        // A merge is made by whichever identity brought the later of the two profiles in.
        let survivor_joined_by = joined
            .iter()
            .position(|(profile, _)| Some(*profile) == survivor);
        let absorbed = joined
            .iter()
            .enumerate()
            .filter(|(_, (profile, _))| Some(*profile) != survivor)
            .map(|(n, (profile, kind))| match survivor_joined_by {
                Some(s) if s > n => (*profile, joined[s].1),
                _ => (*profile, *kind),
            })
            .collect();
        Plan {
            profile: survivor,
            absorbed,
            link,
            refused,
        }
    }
}

impl MergeRules {
    /// Whether a person who reached a merge's survivor after the merge, known by `identities`,
    /// goes back with the absorbed profile when the merge is undone: the first of their identities,
    /// in priority order, that one side held at merge time decides. Someone neither side knew by
    /// any identity stays with the survivor.
    pub fn sides_with_absorbed(
        &self,
        identities: &[Identity],
        absorbed: &HashSet<Identity>,
        survivor: &HashSet<Identity>,
    ) -> bool {
        let mut ordered: Vec<&Identity> = identities.iter().collect();
        ordered.sort_by_key(|i| self.rank(i.kind));
        ordered
            .into_iter()
            .find(|i| absorbed.contains(*i) || survivor.contains(*i))
            .is_some_and(|i| absorbed.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{IdentityRules, Normalizer, Region};
    use IdentityKind::{Email, LoyaltyId, Phone, VendorCustomer};

    /// Stored profiles by id (smaller is older), each with its identities.
    type Graph = Vec<(u32, Vec<Identity>)>;

    fn id(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: value.to_string(),
        }
    }

    fn plan(rules: &MergeRules, graph: &Graph, identities: &[Identity]) -> Plan<u32> {
        rules.plan(
            identities,
            |i| {
                graph
                    .iter()
                    .find(|(_, held)| held.contains(i))
                    .map(|(p, _)| *p)
            },
            |p| {
                graph
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, held)| held.clone())
                    .unwrap_or_default()
            },
        )
    }

    fn limits(email: usize, phone: usize) -> Limits {
        Limits {
            email: NonZeroUsize::new(email).unwrap(),
            phone: NonZeroUsize::new(phone).unwrap(),
            ..Limits::default()
        }
    }

    struct Case {
        name: &'static str,
        rules: MergeRules,
        graph: Graph,
        event: Vec<Identity>,
        want: Plan<u32>,
    }

    fn ana_and_phone() -> Vec<Identity> {
        vec![id(Email, "ana@example.com"), id(Phone, "+15550100")]
    }

    #[test]
    fn merge_rule_table() {
        let bob = id(Email, "bob@example.com");
        let phone = id(Phone, "+15550100");
        let cases = vec![
            Case {
                name: "family phone, default limits: Bob joins Ana's profile by the phone",
                rules: MergeRules::default(),
                graph: vec![(1, ana_and_phone())],
                event: vec![bob.clone(), phone.clone()],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![],
                    link: vec![bob.clone()],
                    refused: vec![],
                },
            },
            Case {
                name: "family phone, one email per profile: Bob gets his own profile, the phone stays Ana's",
                rules: MergeRules::new(&DEFAULT_PRIORITY, limits(1, 3)),
                graph: vec![(1, ana_and_phone())],
                event: vec![bob.clone(), phone.clone()],
                want: Plan {
                    profile: None,
                    absorbed: vec![],
                    link: vec![bob.clone()],
                    refused: vec![phone.clone()],
                },
            },
            Case {
                name: "family phone, two stored people, default limits: they merge into the older, by phone",
                rules: MergeRules::default(),
                graph: vec![(1, ana_and_phone()), (2, vec![bob.clone()])],
                event: vec![bob.clone(), phone.clone()],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![(2, Phone)],
                    link: vec![],
                    refused: vec![],
                },
            },
            Case {
                name: "family phone, two stored people, one email per profile: they stay apart",
                rules: MergeRules::new(&DEFAULT_PRIORITY, limits(1, 3)),
                graph: vec![(1, ana_and_phone()), (2, vec![bob.clone()])],
                event: vec![bob.clone(), phone.clone()],
                want: Plan {
                    profile: Some(2),
                    absorbed: vec![],
                    link: vec![],
                    refused: vec![phone.clone()],
                },
            },
            Case {
                name: "phone first, one email per profile: the phone names the person, Bob's email is refused",
                rules: MergeRules::new(&[Phone], limits(1, 3)),
                graph: vec![(1, ana_and_phone())],
                event: vec![bob.clone(), phone.clone()],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![],
                    link: vec![],
                    refused: vec![bob.clone()],
                },
            },
            Case {
                name: "vendor ids of two sources link through the email",
                rules: MergeRules::default(),
                graph: vec![
                    (1, vec![id(VendorCustomer, "square:C1"), id(Email, "ana@example.com")]),
                    (2, vec![id(VendorCustomer, "shopify:9")]),
                ],
                event: vec![id(VendorCustomer, "shopify:9"), id(Email, "ana@example.com")],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![(2, Email)],
                    link: vec![],
                    refused: vec![],
                },
            },
            Case {
                name: "two vendor ids of one source never merge, even through an email",
                rules: MergeRules::default(),
                graph: vec![(1, vec![id(VendorCustomer, "square:C1"), id(Email, "ana@example.com")])],
                event: vec![id(VendorCustomer, "square:C2"), id(Email, "ana@example.com")],
                want: Plan {
                    profile: None,
                    absorbed: vec![],
                    link: vec![id(VendorCustomer, "square:C2")],
                    refused: vec![id(Email, "ana@example.com")],
                },
            },
            Case {
                name: "a sixth email is not linked; the loyalty card names the person",
                rules: MergeRules::default(),
                graph: vec![(
                    1,
                    (1..=5)
                        .map(|n| id(Email, &format!("ana{n}@example.com")))
                        .chain([id(LoyaltyId, "L-7")])
                        .collect(),
                )],
                event: vec![id(Email, "ana6@example.com"), id(LoyaltyId, "L-7")],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![],
                    link: vec![],
                    refused: vec![id(Email, "ana6@example.com")],
                },
            },
            Case {
                name: "a profile already past a limit (an operator merge) still resolves",
                rules: MergeRules::default(),
                graph: vec![(
                    1,
                    vec![id(VendorCustomer, "square:C1"), id(VendorCustomer, "square:C2")],
                )],
                event: vec![id(VendorCustomer, "square:C2")],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![],
                    link: vec![],
                    refused: vec![],
                },
            },
            Case {
                name: "three profiles merge into the oldest; the reason is what brought the later one in",
                rules: MergeRules::default(),
                graph: vec![
                    (3, vec![id(VendorCustomer, "square:C3")]),
                    (1, vec![id(Email, "ana@example.com")]),
                    (2, vec![id(Phone, "+15550100")]),
                ],
                event: vec![
                    id(Phone, "+15550100"),
                    id(Email, "ana@example.com"),
                    id(VendorCustomer, "square:C3"),
                ],
                want: Plan {
                    profile: Some(1),
                    absorbed: vec![(3, Email), (2, Phone)],
                    link: vec![],
                    refused: vec![],
                },
            },
        ];
        for case in cases {
            assert_eq!(
                plan(&case.rules, &case.graph, &case.event),
                case.want,
                "{}",
                case.name
            );
        }
    }

    /// Identities read by the shop's normaliser, as ingest reads them.
    fn read(normalizer: &Normalizer, raw: &[(&str, IdentityKind, &str)]) -> Vec<Identity> {
        raw.iter()
            .filter_map(|(source, kind, value)| normalizer.normalize(source, *kind, value))
            .collect()
    }

    #[test]
    fn typo_emails_do_not_merge_and_gmail_canonical_only_merges_what_gmail_delivers_alike() {
        let rules = MergeRules::default();
        for (gmail_canonical, typed, same_person) in [
            (false, "ana@gmial.com", false),
            (true, "ana@gmial.com", false),
            (false, "a.na@gmail.com", false),
            (true, "A.na+shop@googlemail.com", true),
        ] {
            let n = Normalizer::new(
                Region::US,
                &IdentityRules {
                    gmail_canonical,
                    ..IdentityRules::default()
                },
            );
            let graph = vec![(1, read(&n, &[("pos", Email, "ana@gmail.com")]))];
            let got = plan(&rules, &graph, &read(&n, &[("pos", Email, typed)]));
            assert_eq!(
                got.profile == Some(1),
                same_person,
                "{typed} {gmail_canonical}"
            );
            assert!(got.absorbed.is_empty());
        }
    }

    #[test]
    fn placeholder_customers_never_merge_anyone() {
        let n = Normalizer::new(
            Region::US,
            &IdentityRules {
                blocked: vec!["square:WALKIN".into(), "tablet@myshop.com".into()],
                ..IdentityRules::default()
            },
        );
        let rules = MergeRules::default();
        let graph = vec![
            (
                1,
                read(
                    &n,
                    &[
                        ("square", VendorCustomer, "WALKIN"),
                        ("pos", Email, "ana@example.com"),
                    ],
                ),
            ),
            (2, read(&n, &[("pos", Email, "bob@example.com")])),
        ];
        for event in [
            vec![
                ("square", VendorCustomer, "WALKIN"),
                ("pos", Email, "bob@example.com"),
            ],
            vec![
                ("pos", Email, "test@test.com"),
                ("pos", Email, "bob@example.com"),
            ],
            vec![
                ("pos", Email, "tablet@myshop.com"),
                ("square", VendorCustomer, "WALKIN"),
            ],
        ] {
            let got = plan(&rules, &graph, &read(&n, &event));
            assert!(got.absorbed.is_empty(), "{event:?}");
            assert_ne!(got.profile, Some(1), "{event:?}");
        }
    }

    #[test]
    fn after_an_unmerge_the_highest_priority_known_identity_decides_the_side() {
        let rules = MergeRules::default();
        let absorbed: HashSet<Identity> =
            [id(Email, "bob@example.com"), id(VendorCustomer, "shop:B")].into();
        let survivor: HashSet<Identity> = ana_and_phone().into_iter().collect();
        for (identities, back) in [
            (vec![id(Email, "bob@example.com")], true),
            (
                vec![id(Email, "bob@example.com"), id(Phone, "+15550100")],
                true,
            ),
            (
                vec![id(Phone, "+15550100"), id(VendorCustomer, "shop:B")],
                true,
            ),
            (
                vec![id(Email, "ana@example.com"), id(Phone, "+15550100")],
                false,
            ),
            (vec![id(Email, "someone@example.com")], false),
            (vec![], false),
        ] {
            assert_eq!(
                rules.sides_with_absorbed(&identities, &absorbed, &survivor),
                back,
                "{identities:?}"
            );
        }
    }

    #[test]
    fn rules_are_read_from_the_identity_section() {
        let rules: IdentityRules = toml::from_str(
            "priority = [\"phone\", \"email\"]\nlimits = { email = 1, vendor-customer = 2 }\n",
        )
        .unwrap();
        let merge = MergeRules::new(&rules.priority, rules.limits);
        assert_eq!(merge.priority, [Phone, Email, VendorCustomer, LoyaltyId]);
        assert_eq!(
            (merge.limits.email.get(), merge.limits.vendor_customer.get()),
            (1, 2)
        );
        assert_eq!(merge.limits.phone, Limits::default().phone);
        for (bad, named) in [
            ("limits = { email = 0 }", "nonzero"),
            ("limits = { emails = 2 }", "emails"),
            ("priority = [\"fax\"]", "fax"),
        ] {
            let error = toml::from_str::<IdentityRules>(bad)
                .unwrap_err()
                .to_string();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }
}
