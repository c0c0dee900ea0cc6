//! Identity normalisation: the same person must produce the same identifiers whichever POS or form
//! they came through. (The identity graph and merge rules build on this.)
//!
//! Each kind has one canonical form: emails trimmed and lowercased, phones in E.164 read with the
//! shop's region, loyalty ids uppercased with single spaces, vendor customer ids namespaced by the
//! source that issued them. Anything that cannot be made canonical is dropped rather than stored
//! half-normalised, since a wrong identifier merges strangers.

mod email;
mod phone;
#[cfg(test)]
mod properties;

pub use phone::{Region, RegionError};

use crate::model::{Identity, IdentityKind};
use serde::Deserialize;

/// Opt-in rules beyond the standards. Off by default: each one merges addresses that the standards
/// say may belong to different people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityRules {
    /// Gmail ignores dots and `+tag` in the local part and treats googlemail.com as gmail.com, so
    /// `A.Na+shop@googlemail.com` is read as `ana@gmail.com`.
    pub gmail_canonical: bool,
}

/// Normalises identifiers with one shop's region and rules, both fixed at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalizer {
    region: Region,
    rules: IdentityRules,
}

impl Normalizer {
    /// `region` reads phone numbers written without a country code.
    pub fn new(region: Region, rules: IdentityRules) -> Normalizer {
        Normalizer { region, rules }
    }

    /// Normalises one identifier from `source_id`; `None` if nothing usable is left.
    pub fn normalize(&self, source_id: &str, kind: IdentityKind, raw: &str) -> Option<Identity> {
        let value = match kind {
            IdentityKind::Email => email::normalize(raw, self.rules),
            IdentityKind::Phone => phone::normalize(raw, self.region),
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
        Normalizer::new(Region::US, IdentityRules::default())
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
    fn each_kind_goes_to_its_own_rule() {
        let n = Normalizer::new(
            "GB".parse().unwrap(),
            IdentityRules {
                gmail_canonical: true,
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
