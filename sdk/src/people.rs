//! Lookups in the people the host sends to sinks: the first identity of a kind, and a person's
//! latest marketing choice on a channel. Every CRM sink needs both, and "latest" must mean the
//! same in all of them, so they live here.

use crate::types::{Channel, Consent, Identity, IdentityKind, Purpose};

/// The value of the first identity of `kind`.
pub fn first_identity(identities: &[Identity], kind: IdentityKind) -> Option<&str> {
    identities
        .iter()
        .find(|i| i.kind == kind)
        .map(|i| i.value.as_str())
}

/// The latest marketing consent on `channel` (the last of those made at the same latest time).
pub fn latest_marketing(consents: &[Consent], channel: Channel) -> Option<&Consent> {
    consents
        .iter()
        .filter(|c| c.channel == channel && c.purpose == Purpose::Marketing)
        .max_by_key(|c| c.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ConsentState;

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: value.into(),
        }
    }

    fn consent(channel: Channel, purpose: Purpose, state: ConsentState, at: i64) -> Consent {
        Consent {
            channel,
            purpose,
            state,
            at,
            source: format!("{at}"),
        }
    }

    #[test]
    fn the_first_identity_of_a_kind() {
        let identities = [
            identity(IdentityKind::Phone, "+15550100"),
            identity(IdentityKind::Email, "ada@example.com"),
            identity(IdentityKind::Email, "ada@work.example"),
        ];
        assert_eq!(
            first_identity(&identities, IdentityKind::Email),
            Some("ada@example.com")
        );
        assert_eq!(first_identity(&identities, IdentityKind::LoyaltyId), None);
    }

    #[test]
    fn the_latest_marketing_choice_on_a_channel() {
        use ConsentState::{Granted, Revoked};
        let consents = [
            consent(Channel::Email, Purpose::Marketing, Granted, 10),
            consent(Channel::Email, Purpose::Transactional, Revoked, 30),
            consent(Channel::Sms, Purpose::Marketing, Revoked, 40),
            consent(Channel::Email, Purpose::Marketing, Revoked, 20),
            consent(Channel::Email, Purpose::Marketing, Granted, 20),
        ];
        let latest = latest_marketing(&consents, Channel::Email).unwrap();
        assert_eq!((latest.state, latest.at), (Granted, 20));
        assert_eq!(
            latest_marketing(&consents, Channel::Sms).map(|c| c.state),
            Some(Revoked)
        );
        assert_eq!(latest_marketing(&consents, Channel::Push), None);
    }
}
