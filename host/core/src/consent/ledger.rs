//! The rules of the consent ledger: which of two choices for the same channel and purpose stands,
//! and on what legal basis each was recorded. The store keeps every choice; these rules pick the
//! one in force, so the answer never depends on the order in which choices arrived.

use crate::model::{ConsentState, Purpose};

/// One choice as the ledger orders it: when the person made it, and what they chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// When the person chose (ms since the epoch), not when the host heard of it.
    pub at: i64,
    pub state: ConsentState,
}

impl Choice {
    /// Whether this choice replaces `current`: the later choice wins, and of two made at the same
    /// moment the revocation wins. An opt-in older than an unsubscribe, from whichever side, never
    /// overrides it.
    pub fn supersedes(&self, current: &Choice) -> bool {
        self.at > current.at || (self.at == current.at && self.state == ConsentState::Revoked)
    }
}

/// The choice in force among `choices` (for one person, channel and purpose), whatever their order.
pub fn in_force(choices: impl IntoIterator<Item = Choice>) -> Option<Choice> {
    choices
        .into_iter()
        .fold(None, |standing, choice| match standing {
            Some(current) if !choice.supersedes(&current) => Some(current),
            _ => Some(choice),
        })
}

/// Why the shop may (or may no longer) process a person's data for a purpose, as recorded with
/// each choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalBasis {
    /// The person opted in (GDPR art. 6(1)(a)).
    Consent,
    /// The person withdrew their consent or objected: marketing stops.
    Withdrawal,
    /// Messages about an order the person placed (GDPR art. 6(1)(b)).
    Contract,
}

impl LegalBasis {
    /// The basis a choice for `purpose` is recorded under.
    pub fn of(purpose: Purpose, state: ConsentState) -> LegalBasis {
        match (purpose, state) {
            (_, ConsentState::Revoked) => LegalBasis::Withdrawal,
            (Purpose::Marketing, ConsentState::Granted) => LegalBasis::Consent,
            (Purpose::Transactional, ConsentState::Granted) => LegalBasis::Contract,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Withdrawal => "withdrawal",
            LegalBasis::Contract => "contract",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ConsentState::{Granted, Revoked};

    fn choice(at: i64, state: ConsentState) -> Choice {
        Choice { at, state }
    }

    #[test]
    fn the_latest_choice_wins_and_a_tie_goes_to_the_revocation() {
        let cases = [
            (
                vec![choice(1, Granted), choice(2, Revoked)],
                choice(2, Revoked),
            ),
            (
                vec![choice(2, Revoked), choice(1, Granted)],
                choice(2, Revoked),
            ),
            (
                vec![choice(1, Revoked), choice(2, Granted)],
                choice(2, Granted),
            ),
            (
                vec![choice(5, Granted), choice(5, Revoked)],
                choice(5, Revoked),
            ),
            (
                vec![choice(5, Revoked), choice(5, Granted)],
                choice(5, Revoked),
            ),
        ];
        for (choices, expected) in cases {
            assert_eq!(in_force(choices.clone()), Some(expected), "{choices:?}");
        }
        assert_eq!(in_force([]), None);
    }

    fn any_choice() -> impl Strategy<Value = Choice> {
        (0i64..50, any::<bool>())
            .prop_map(|(at, granted)| choice(at, if granted { Granted } else { Revoked }))
    }

    proptest! {
        /// The ledger's answer does not depend on the order in which choices arrive.
        #[test]
        fn arrival_order_never_matters(
            (choices, shuffled) in proptest::collection::vec(any_choice(), 1..20)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        ) {
            prop_assert_eq!(in_force(choices), in_force(shuffled));
        }

        /// No grant made before an unsubscribe overrides it, whatever arrives later.
        #[test]
        fn an_older_opt_in_never_overrides_an_unsubscribe(
            before in proptest::collection::vec(any_choice(), 0..10),
            revoked_at in 0i64..50,
            after in proptest::collection::vec(0i64..50, 0..10),
        ) {
            let older_grants = after
                .iter()
                .filter(|at| **at <= revoked_at)
                .map(|at| choice(*at, Granted));
            let all: Vec<Choice> = before
                .iter()
                .copied()
                .chain([choice(revoked_at, Revoked)])
                .chain(older_grants)
                .collect();
            let standing = in_force(all).expect("choices were given");
            prop_assert!(standing.at >= revoked_at);
            if standing.at == revoked_at {
                prop_assert_eq!(standing.state, Revoked);
            }
        }
    }
}
