//! Identity normalisation: the same person must produce the same identifiers whichever POS or form
//! they came through. (The identity graph and merge rules build on this.)
//!
//! Each kind has one canonical form: emails trimmed and lowercased, phones in E.164 read with the
//! shop's region, loyalty ids uppercased with single spaces, vendor customer ids namespaced by the
//! source that issued them. Anything that cannot be made canonical is dropped rather than stored
//! half-normalised, since a wrong identifier merges strangers. `merge` holds the rule that decides
//! which profiles a person's identities link and merge; `graph` the rules for carrying a merge out
//! and undoing it (what moves, operator merges and unmerges and when they are refused).

pub mod batch;
mod email;
pub mod graph;
pub mod merge;
mod phone;
#[cfg(test)]
mod properties;

pub use merge::{Limits, MergeRules};
pub use phone::{Region, RegionError};

use crate::model::{Customer, Identity, IdentityKind};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Identifier rules beyond the standards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityRules {
    /// Opt-in. Gmail ignores dots and `+tag` in the local part and treats googlemail.com as
    /// gmail.com, so `A.Na+shop@googlemail.com` is read as `ana@gmail.com`. Off by default: it
    /// merges addresses that the standards say may belong to different people.
    pub gmail_canonical: bool,
    /// Identifiers that must never link people, besides the built-in test values: the shop's
    /// walk-in placeholder customer, staff members' own addresses, a shared in-store device's
    /// number. Written as entered (they are normalised like any input); vendor customer ids as
    /// `source:id`.
    pub blocked: Vec<String>,
    /// Which kinds of identity name a person first when they disagree, highest first (kinds left
    /// out follow in the default order: vendor-customer, loyalty-id, email, phone).
    pub priority: Vec<IdentityKind>,
    /// Most identities of each kind one profile may hold (vendor customer ids: per source).
    pub limits: Limits,
}

/// Values that stand for "nobody" at a till: typed to get past a required field, shared by
/// everyone who used them.
const BUILT_IN_BLOCKED: [&str; 6] = [
    "test@test.com",
    "test@example.com",
    "none@none.com",
    "noemail@noemail.com",
    "no@email.com",
    "0000000000",
];

/// Normalises identifiers with one shop's region and rules, both fixed at start-up, and the details
/// people give with the shop's privacy policy (a birthday's year is kept only where the shop keeps
/// it: `governance::privacy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalizer {
    phones: phone::Reader,
    gmail_canonical: bool,
    /// Canonical identifiers that are dropped instead of linking people.
    blocked: Arc<HashSet<Identity>>,
    /// How the identifiers it reads link and merge profiles.
    merge_rules: Arc<MergeRules>,
    keep_birth_year: bool,
}

impl Normalizer {
    /// `region` reads phone numbers written without a country code.
    pub fn new(region: Region, rules: &IdentityRules) -> Normalizer {
        let mut normalizer = Normalizer {
            phones: phone::Reader::new(region),
            gmail_canonical: rules.gmail_canonical,
            blocked: Arc::default(),
            merge_rules: Arc::new(MergeRules::new(&rules.priority, rules.limits)),
            keep_birth_year: false,
        };
        let blocked: HashSet<Identity> = BUILT_IN_BLOCKED
            .iter()
            .copied()
            .chain(rules.blocked.iter().map(String::as_str))
            .flat_map(|raw| {
                let as_vendor_id = raw.trim().contains(':').then(|| Identity {
                    kind: IdentityKind::VendorCustomer,
                    value: raw.trim().to_string(),
                });
                [
                    IdentityKind::Email,
                    IdentityKind::Phone,
                    IdentityKind::LoyaltyId,
                ]
                .into_iter()
                .filter_map(|kind| normalizer.canonical("", kind, raw))
                .chain(as_vendor_id)
                .collect::<Vec<_>>()
            })
            .collect();
        normalizer.blocked = Arc::new(blocked);
        normalizer
    }

    /// Normalises one identifier from `source_id`; `None` if nothing usable is left, or if the
    /// value is blocked from linking people.
    pub fn normalize(&self, source_id: &str, kind: IdentityKind, raw: &str) -> Option<Identity> {
        self.canonical(source_id, kind, raw)
            .filter(|identity| !self.blocked.contains(identity))
    }

    /// The same normaliser, keeping the year of birthdays if `keep` (the shop's `[privacy]`).
    pub fn keeping_birth_year(self, keep: bool) -> Normalizer {
        Normalizer {
            keep_birth_year: keep,
            ..self
        }
    }

    /// A customer's details as the shop keeps them (today: their birthday's year only where kept).
    pub fn customer_details(&self, customer: &mut Customer) {
        customer.birthday = (customer.birthday)
            .map(|b| crate::governance::privacy::kept_birthday(b, self.keep_birth_year));
    }

    /// The shop's merge rule for the identifiers this normaliser reads.
    pub fn merge_rules(&self) -> &MergeRules {
        &self.merge_rules
    }

    fn canonical(&self, source_id: &str, kind: IdentityKind, raw: &str) -> Option<Identity> {
        let value = match kind {
            IdentityKind::Email => email::normalize(raw, self.gmail_canonical),
            IdentityKind::Phone => self.phones.normalize(raw),
            IdentityKind::LoyaltyId => loyalty_id(raw),
            IdentityKind::VendorCustomer => vendor_customer(source_id, raw),
        }?;
        Some(Identity { kind, value })
    }
}

/// Loyalty cards are read case-insensitively and often typed with stray spaces.
fn loyalty_id(raw: &str) -> Option<String> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" ").to_uppercase())
}

/// A vendor's customer id means nothing outside that vendor, so it is kept as issued (ids may be
/// case-sensitive) under the source's name.
fn vendor_customer(source_id: &str, raw: &str) -> Option<String> {
    let id = raw.trim();
    (!id.is_empty()).then(|| format!("{source_id}:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::new(Region::US, &IdentityRules::default())
    }

    #[test]
    fn loyalty_ids_are_uppercased_with_single_spaces() {
        for (raw, want) in [
            ("L-7", Some("L-7")),
            ("  ab 12 ", Some("AB 12")),
            ("gold\t 00  42", Some("GOLD 00 42")),
            ("x", Some("X")),
            ("", None),
            (" \t\n ", None),
        ] {
            let got = normalizer().normalize("square", IdentityKind::LoyaltyId, raw);
            assert_eq!(got.map(|i| i.value).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn vendor_ids_are_namespaced_by_source_and_keep_their_case() {
        for (source, raw, want) in [
            ("square", "C-1", Some("square:C-1")),
            (
                "shopify",
                "  gid://shopify/Customer/7 ",
                Some("shopify:gid://shopify/Customer/7"),
            ),
            ("square", "AbC", Some("square:AbC")),
            ("square", "", None),
            ("square", "   ", None),
        ] {
            let got = normalizer().normalize(source, IdentityKind::VendorCustomer, raw);
            assert_eq!(got.map(|i| i.value).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn placeholders_and_listed_values_never_identify_anyone() {
        let n = Normalizer::new(
            "GB".parse().unwrap(),
            &IdentityRules {
                blocked: vec![
                    " Walk-In@MyShop.co.uk".into(),
                    "020 7946 0000".into(),
                    "square:WALKIN".into(),
                    "staff 01".into(),
                ],
                ..IdentityRules::default()
            },
        );
        for (source, kind, raw) in [
            ("pos", IdentityKind::Email, "TEST@test.com"),
            ("pos", IdentityKind::Email, "test@example.com"),
            ("pos", IdentityKind::Email, "walk-in@myshop.co.uk"),
            ("pos", IdentityKind::Phone, "+44 20 7946 0000"),
            ("pos", IdentityKind::Phone, "0000000000"),
            ("square", IdentityKind::VendorCustomer, "WALKIN"),
            ("pos", IdentityKind::LoyaltyId, "STAFF  01"),
        ] {
            assert_eq!(n.normalize(source, kind, raw), None, "{raw:?}");
        }
        // Neighbours of blocked values still identify their owners.
        for (source, kind, raw) in [
            ("pos", IdentityKind::Email, "ana@myshop.co.uk"),
            ("pos", IdentityKind::Phone, "020 7946 0001"),
            ("shopify", IdentityKind::VendorCustomer, "WALKIN"),
        ] {
            assert!(n.normalize(source, kind, raw).is_some(), "{raw:?}");
        }
    }

    #[test]
    fn each_kind_goes_to_its_own_rule() {
        let n = Normalizer::new(
            "GB".parse().unwrap(),
            &IdentityRules {
                gmail_canonical: true,
                ..IdentityRules::default()
            },
        );
        for (kind, raw, want) in [
            (
                IdentityKind::Email,
                " A.Na+x@GoogleMail.com",
                "ana@gmail.com",
            ),
            (IdentityKind::Phone, "020 7946 0958", "+442079460958"),
            (IdentityKind::LoyaltyId, " l 7 ", "L 7"),
            (IdentityKind::VendorCustomer, " c-1 ", "pos:c-1"),
        ] {
            let got = n.normalize("pos", kind, raw).unwrap();
            assert_eq!(
                got,
                Identity {
                    kind,
                    value: want.into()
                }
            );
        }
    }
}
