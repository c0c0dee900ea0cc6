//! The marketing gate: whether a sink may receive a person's marketing data (profile traits,
//! purchase activities), decided from the consents in force for the channels the sink markets on.
//! A person who revoked still reaches the sink as their consents alone, so the vendor records the
//! unsubscribe; a person who never chose gets what the shop's regime says.

use super::StoredConsent;
use crate::model::{Channel, ConsentState, Purpose};
use serde::Deserialize;

/// What happens to a person who never made a marketing choice on a sink's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WithoutChoice {
    /// Opt-in regimes (GDPR, UK PECR, Canada's CASL): nothing is sent until they agree.
    #[default]
    Withhold,
    /// Opt-out regimes (US CAN-SPAM): sent until they refuse.
    Send,
}

/// What a sink may receive about one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Everything the sink's field allowlist names, and their activities.
    Full,
    /// Only who they are and their consents, so the vendor honours the refusal; no activities.
    ConsentsOnly(String),
    /// Nothing.
    Withheld(String),
}

/// The gate of one sink.
#[derive(Debug, Clone)]
pub struct MarketingGate {
    channels: Vec<Channel>,
    without_choice: WithoutChoice,
}

impl MarketingGate {
    /// A gate for a sink marketing on `channels` (none: the sink never contacts people, so nothing
    /// is gated).
    pub fn new(channels: Vec<Channel>, without_choice: WithoutChoice) -> MarketingGate {
        MarketingGate {
            channels,
            without_choice,
        }
    }

    /// What the sink may receive about a person whose consents in force are `consents`: all of it
    /// if they agreed to marketing on one of the sink's channels (or the sink markets on none).
    pub fn admit(&self, consents: &[StoredConsent]) -> Admission {
        if self.channels.is_empty() {
            return Admission::Full;
        }
        let states: Vec<ConsentState> = consents
            .iter()
            .filter(|c| c.purpose == Purpose::Marketing && self.channels.contains(&c.channel))
            .map(|c| c.state)
            .collect();
        let channels = self
            .channels
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        if states.contains(&ConsentState::Granted) {
            Admission::Full
        } else if states.contains(&ConsentState::Revoked) {
            Admission::ConsentsOnly(format!("marketing consent on {channels} was revoked"))
        } else {
            match self.without_choice {
                WithoutChoice::Send => Admission::Full,
                WithoutChoice::Withhold => Admission::Withheld(format!(
                    "no marketing consent on {channels} (the shop requires opt-in)"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(channel: Channel, purpose: Purpose, state: ConsentState) -> StoredConsent {
        StoredConsent {
            channel,
            purpose,
            state,
            at: 1,
            source: "pos-checkbox".into(),
        }
    }

    #[test]
    fn admission_follows_the_sinks_channels() {
        use Channel::{Email, Sms};
        use ConsentState::{Granted, Revoked};
        use Purpose::{Marketing, Transactional};
        let email = MarketingGate::new(vec![Email], WithoutChoice::Withhold);
        let email_or_sms = MarketingGate::new(vec![Email, Sms], WithoutChoice::Withhold);
        let lenient = MarketingGate::new(vec![Email], WithoutChoice::Send);
        let silent = MarketingGate::new(vec![], WithoutChoice::Withhold);
        let granted_email = [consent(Email, Marketing, Granted)];
        let revoked_email = [consent(Email, Marketing, Revoked)];
        let granted_sms = [consent(Sms, Marketing, Granted)];
        let transactional = [consent(Email, Transactional, Granted)];
        let full = |a: Admission| a == Admission::Full;
        let only = |a: Admission| matches!(a, Admission::ConsentsOnly(_));
        let none = |a: Admission| matches!(a, Admission::Withheld(_));
        assert!(full(email.admit(&granted_email)));
        assert!(only(email.admit(&revoked_email)));
        assert!(none(email.admit(&granted_sms)));
        assert!(full(email_or_sms.admit(&granted_sms)));
        assert!(none(email.admit(&transactional)));
        assert!(none(email.admit(&[])));
        assert!(full(lenient.admit(&[])));
        assert!(only(lenient.admit(&revoked_email)));
        assert!(full(silent.admit(&revoked_email)));
    }
}
