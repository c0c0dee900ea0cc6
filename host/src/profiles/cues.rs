//! Staff cues for the person at the counter: finds them by what the customer tells the staff (an
//! email, a phone number or a loyalty number), reads their staff view, what they bought and the
//! stored product pairs, and lets the pure rule `rapport_core::cues` word the prompts and the
//! receipt footer. Read only.

use super::view::{self, ViewKind, ViewRules};
use crate::lookup::{one_of, LookupError, LOYALTY_PREFIX};
use crate::pairs::baskets;
use rapport_core::cues::{cues as word, Bought, Cues, Facts, PairRules};
use rapport_core::identity::Normalizer;
use rapport_core::model::IdentityKind;
use rapport_core::pairs::{Basket, PairsBy};
use rapport_store::{PersonRef, Store, StoreError};

/// Why there are no cues.
#[derive(Debug, thiserror::Error)]
pub enum CuesError {
    #[error(
        "{0:?} is not an email address, a phone number (read as dialled in the [shop] region) or \
         a loyalty number"
    )]
    Unreadable(String),
    #[error(
        "nobody is known by {0:?}: check the email, phone or loyalty number with the customer"
    )]
    Unknown(String),
    #[error("{0:?} names {1} different people: ask the customer for another identifier")]
    Ambiguous(String, usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LookupError> for CuesError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::Unreadable(text) => CuesError::Unreadable(text),
            LookupError::Unknown(text) => CuesError::Unknown(text),
            LookupError::Ambiguous { input, keys } => CuesError::Ambiguous(input, keys.len()),
            LookupError::Store(e) => CuesError::Store(e),
        }
    }
}

/// The ways `text` may name a customer at the counter: an email; else a phone number or a
/// loyalty number (both readings, since a card number may be all digits); `loyalty:NUMBER` is a
/// loyalty number only. Profile keys and row ids are not accepted.
fn readings(normalizer: &Normalizer, text: &str) -> Vec<PersonRef> {
    let text = text.trim();
    let (number, phone) = match text.strip_prefix(LOYALTY_PREFIX) {
        Some(number) => (number, None),
        None if text.contains('@') => {
            return (normalizer
                .normalize("", IdentityKind::Email, text)
                .into_iter())
            .map(PersonRef::Identity)
            .collect()
        }
        None => (text, normalizer.normalize("", IdentityKind::Phone, text)),
    };
    let loyalty = normalizer.normalize("", IdentityKind::LoyaltyId, number);
    (phone.map(PersonRef::Identity).into_iter())
        .chain(loyalty.map(|l| PersonRef::Loyalty(l.value)))
        .collect()
}

/// Every item of the baskets.
fn union(baskets: Vec<Basket>) -> Basket {
    baskets.into_iter().flatten().collect()
}

/// The cues for the person `identity` names, under the shop's `rules` (its time is `rules.now`).
pub async fn for_identity(
    store: &Store,
    normalizer: &Normalizer,
    rules: &ViewRules<'_>,
    identity: &str,
) -> Result<Cues, CuesError> {
    let refs = readings(normalizer, identity);
    if refs.is_empty() {
        return Err(CuesError::Unreadable(identity.trim().to_owned()));
    }
    let person = one_of(store, &refs, identity.trim()).await?;
    let loaded = view::load(store, person.id, ViewKind::Staff, rules).await?;
    let staff = view::staff(&loaded, rules);
    let sales = store.sales_of(person.id).await?;
    let bought = Bought {
        products: union(baskets(&sales, PairsBy::Product)),
        categories: union(baskets(&sales, PairsBy::Category)),
    };
    let rules_of = |by| async move {
        store
            .pair_rules(by)
            .await
            .map(|rules| rules.into_iter().map(|(rule, _)| rule).collect::<Vec<_>>())
    };
    let products = rules_of(PairsBy::Product).await?;
    let categories = rules_of(PairsBy::Category).await?;
    let open_issues: Vec<String> = staff.open_issues.iter().map(|i| i.title.clone()).collect();
    Ok(word(&Facts {
        first_name: staff.first_name.as_deref(),
        tier: staff.loyalty_tier.as_deref(),
        points: staff.loyalty_points,
        birthday_this_month: staff.birthday_this_month,
        open_issues: &open_issues,
        last_visit: staff.last_visit,
        favoured_category: staff.favoured_category.as_deref(),
        today: rules.now.with_timezone(&rules.zone).date_naive(),
        bought: &bought,
        pairs: PairRules {
            products: &products,
            categories: &categories,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::identity::{IdentityRules, Region};

    #[test]
    fn a_counter_lookup_reads_an_email_a_phone_or_a_loyalty_number_and_nothing_else() {
        let normalizer =
            Normalizer::new("US".parse::<Region>().unwrap(), &IdentityRules::default());
        let kinds = |text: &str| -> Vec<String> {
            readings(&normalizer, text)
                .iter()
                .map(|r| match r {
                    PersonRef::Identity(i) => format!("{:?}:{}", i.kind, i.value),
                    PersonRef::Loyalty(l) => format!("loyalty:{l}"),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(kinds(" Ana@Example.com "), ["Email:ana@example.com"]);
        assert_eq!(
            kinds("(415) 555-0101"),
            ["Phone:+14155550101", "loyalty:(415) 555-0101"]
        );
        assert_eq!(kinds("loyalty:la-1"), ["loyalty:LA-1"]);
        assert_eq!(kinds("la-1"), ["loyalty:LA-1"]);
        assert_eq!(kinds("p-123"), ["loyalty:P-123"], "no profile keys");
        assert!(kinds("  ").is_empty());
    }
}
