//! Forgotten people stay forgotten: when a person is forgotten, a salted digest of each of their
//! identities is kept (never the identities themselves), and an event that later names one of
//! them (an old customer record read again, a replayed webhook) does not link it to anyone, so
//! the person is not re-created from old data. A later purchase with a consent given after they
//! were forgotten is the person coming back of their own accord: it may start a new profile.

use crate::model::{ConsentState, Customer, Identity};
use sha2::{Digest, Sha256};

/// The digest kept for `identity`: SHA-256 of the store's salt, the kind and the canonical value,
/// hex-encoded. The salt keeps a copied digest list from being matched against other lists.
pub fn digest(salt: &str, identity: &Identity) -> String {
    let mut hash = Sha256::new();
    for part in [salt, identity.kind.as_str(), identity.value.as_str()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// Whether an event's person, one of whose identities was forgotten at `forgotten_at` (ms), may
/// be known again through it: only if the event carries a consent they granted after that.
pub fn may_return(customer: Option<&Customer>, forgotten_at: i64) -> bool {
    customer.is_some_and(|c| {
        c.consents
            .iter()
            .any(|k| k.state == ConsentState::Granted && k.at.timestamp_millis() > forgotten_at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, Consent, IdentityKind, Purpose};
    use chrono::DateTime;

    fn ana() -> Identity {
        Identity {
            kind: IdentityKind::Email,
            value: "ana@example.com".into(),
        }
    }

    #[test]
    fn a_digest_depends_on_the_salt_the_kind_and_the_value_and_holds_none_of_them() {
        let d = digest("s1", &ana());
        assert_eq!(d.len(), 64);
        assert!(!d.contains("ana"));
        assert_eq!(d, digest("s1", &ana()));
        assert_ne!(d, digest("s2", &ana()));
        let phone = Identity {
            kind: IdentityKind::Phone,
            value: ana().value,
        };
        assert_ne!(d, digest("s1", &phone));
        // The parts are separated: ("ab", "c") and ("a", "bc") differ.
        let a = Identity {
            kind: IdentityKind::Email,
            value: "bc".into(),
        };
        assert_ne!(
            digest("a", &a),
            digest(
                "ab",
                &Identity {
                    value: "c".into(),
                    ..a.clone()
                }
            )
        );
    }

    #[test]
    fn only_a_consent_granted_after_being_forgotten_brings_a_person_back() {
        let consent = |state, at_ms| Consent {
            channel: Channel::Email,
            purpose: Purpose::Marketing,
            state,
            at: DateTime::from_timestamp_millis(at_ms).unwrap(),
            source: "pos".into(),
        };
        let customer = |consents| Customer {
            identities: vec![ana()],
            given_name: None,
            family_name: None,
            consents,
            created_at: None,
            birthday: None,
            loyalty: None,
        };
        let forgotten_at = 1_000;
        assert!(!may_return(None, forgotten_at));
        assert!(!may_return(Some(&customer(vec![])), forgotten_at));
        let old = customer(vec![consent(ConsentState::Granted, 999)]);
        assert!(!may_return(Some(&old), forgotten_at), "the old record");
        let refused = customer(vec![consent(ConsentState::Revoked, 2_000)]);
        assert!(!may_return(Some(&refused), forgotten_at));
        let fresh = customer(vec![consent(ConsentState::Granted, 2_000)]);
        assert!(may_return(Some(&fresh), forgotten_at));
    }
}
