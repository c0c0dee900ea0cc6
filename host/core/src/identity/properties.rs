//! Property tests: whatever a POS hands over, normalisation must not panic, and what it produces must
//! already be canonical (normalising it again changes nothing), or one person would get two keys.

use super::{email, phone, IdentityRules, Normalizer, Region};
use crate::model::IdentityKind;
use proptest::prelude::*;

const KINDS: [IdentityKind; 4] = [
    IdentityKind::Email,
    IdentityKind::Phone,
    IdentityKind::LoyaltyId,
    IdentityKind::VendorCustomer,
];

fn rules() -> impl Strategy<Value = IdentityRules> {
    any::<bool>().prop_map(|gmail_canonical| IdentityRules {
        gmail_canonical,
        ..IdentityRules::default()
    })
}

fn region() -> impl Strategy<Value = Region> {
    prop::sample::select(&["US", "GB", "DE", "FR", "IN", "JP", "BR", "AU"][..])
        .prop_map(|code| code.parse().unwrap())
}

/// Strings that look like emails often enough to reach the interesting branches.
fn email_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \t]{0,2}[A-Za-z0-9.+_ -]{0,12}@[A-Za-z0-9.-]{0,12}[ \t]{0,2}",
        "[ ]?[A-Za-z0-9.+]{0,10}@(gmail|googlemail|GMail|example)\\.com[ ]?",
    ]
}

/// Strings that look like phone numbers often enough to parse.
fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ]?(\\+|00|011)?[0-9 ().-]{0,20}",
        "\\+(1|44|49|33|91|81|55|61) ?[0-9]{6,12}",
        "0[0-9]{9,10}",
        "\\([2-9][0-9]{2}\\) [2-9][0-9]{2}-[0-9]{4}",
    ]
}

proptest! {
    #[test]
    fn normalizers_never_panic(raw in any::<String>(), region in region(), rules in rules()) {
        let n = Normalizer::new(region, &rules);
        for kind in KINDS {
            let _ = n.normalize("source", kind, &raw);
        }
    }

    #[test]
    fn emails_are_canonical_and_stable(raw in email_like(), gmail in any::<bool>()) {
        if let Some(value) = email::normalize(&raw, gmail) {
            prop_assert_eq!(value.trim(), value.as_str());
            prop_assert_eq!(value.to_lowercase(), value.clone());
            prop_assert_eq!(email::normalize(&value, gmail), Some(value));
        }
    }

    #[test]
    fn phones_are_e164_and_stable(raw in phone_like(), region in region()) {
        if let Some(value) = phone::normalize(&raw, region) {
            let digits = value.strip_prefix('+');
            prop_assert!(
                digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
                "{value:?}"
            );
            prop_assert_eq!(phone::normalize(&value, region), Some(value.clone()));
            // E.164 carries its country, so the shop's region no longer matters.
            prop_assert_eq!(phone::normalize(&value, Region::US), Some(value));
        }
    }

    #[test]
    fn loyalty_ids_are_stable(raw in any::<String>()) {
        let n = Normalizer::new(Region::US, &IdentityRules::default());
        if let Some(id) = n.normalize("s", IdentityKind::LoyaltyId, &raw) {
            prop_assert_eq!(n.normalize("s", IdentityKind::LoyaltyId, &id.value), Some(id));
        }
    }
}
