//! Who a piece of text names: an email, a phone number (read as dialled in the shop's region), a
//! vendor customer id, a loyalty number, a profile key or id, read the way ingest reads identifiers.
//! Forgetting, the identity graph, the profile routes and the staff cues all look people up here,
//! and each refuses text that names nobody or more than one person.

use rapport_core::identity::Normalizer;
use rapport_core::model::IdentityKind;
use rapport_store::{FoundProfile, PersonRef, Store, StoreError};

/// Why text names no one person. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(
        "{0:?} cannot name a person: it is not an email address, a phone number (read as dialled \
         in the [shop] region), a vendor customer id (source:id), a loyalty number \
         (loyalty:NUMBER), a profile key (p-…) or a profile id, or it is a placeholder that never \
         identifies anyone (built in, or in [identity] blocked)"
    )]
    Unreadable(String),
    #[error(
        "nobody is known by {0:?}; nothing was changed (a person already forgotten is no longer \
         known by their identifiers: see `rapport forget --status`)"
    )]
    Unknown(String),
    #[error(
        "{input:?} names {} different people (profiles {}); nothing was changed: name them one \
         at a time by profile key", keys.len(), keys.join(", ")
    )]
    Ambiguous { input: String, keys: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a loyalty number is written where a person is looked up: `loyalty:<number>`.
pub const LOYALTY_PREFIX: &str = "loyalty:";

/// The ways `text` may name a person: an email, a phone number, a vendor customer id, a loyalty
/// number (`loyalty:<number>`), a profile key or a profile id. Several readings may apply (digits
/// are a phone number or an id).
pub fn readings(normalizer: &Normalizer, text: &str) -> Result<Vec<PersonRef>, LookupError> {
    let text = text.trim();
    if let Some(number) = text.strip_prefix(LOYALTY_PREFIX) {
        let loyalty = normalizer.normalize("", IdentityKind::LoyaltyId, number);
        return match loyalty {
            Some(identity) => Ok(vec![PersonRef::Loyalty(identity.value)]),
            None => Err(LookupError::Unreadable(text.to_string())),
        };
    }
    let mut refs = Vec::new();
    if text.contains('@') {
        refs.extend(normalizer.normalize("", IdentityKind::Email, text));
    } else {
        refs.extend(normalizer.normalize("", IdentityKind::Phone, text));
        if let Some((source, id)) = text.split_once(':') {
            refs.extend(normalizer.normalize(source.trim(), IdentityKind::VendorCustomer, id));
        }
    }
    let mut refs: Vec<PersonRef> = refs.into_iter().map(PersonRef::Identity).collect();
    if text.starts_with("p-") && text.len() > 2 {
        refs.push(PersonRef::ProfileKey(text.to_string()));
    }
    if let Ok(id) = text.parse::<i64>() {
        if id > 0 {
            refs.push(PersonRef::ProfileId(id));
        }
    }
    if refs.is_empty() {
        return Err(LookupError::Unreadable(text.to_string()));
    }
    Ok(refs)
}

/// The one stored profile `text` names (see [`readings`]); refused if it names nobody or several
/// people. `rapport identity` looks people up the same way.
pub async fn find_one(
    store: &Store,
    normalizer: &Normalizer,
    text: &str,
) -> Result<FoundProfile, LookupError> {
    one_of(store, &readings(normalizer, text)?, text).await
}

/// The one stored profile the readings `refs` of `text` name; refused if they name nobody or
/// several people.
pub async fn one_of(
    store: &Store,
    refs: &[PersonRef],
    text: &str,
) -> Result<FoundProfile, LookupError> {
    let found = store.find_profiles(refs).await?;
    match <[FoundProfile; 1]>::try_from(found) {
        Ok([one]) => Ok(one),
        Err(found) if found.is_empty() => Err(LookupError::Unknown(text.trim().to_string())),
        Err(many) => Err(LookupError::Ambiguous {
            input: text.trim().to_string(),
            keys: many.iter().map(|p| p.key.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::identity::{IdentityRules, Region};
    use rapport_core::model::Identity;

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: value.to_string(),
        }
    }

    fn normalizer() -> Normalizer {
        Normalizer::new("GB".parse::<Region>().unwrap(), &IdentityRules::default())
    }

    #[test]
    fn an_argument_is_read_as_every_kind_of_reference_it_can_be() {
        let n = normalizer();
        assert_eq!(
            readings(&n, " Ana.Silva@Example.com ").unwrap(),
            vec![PersonRef::Identity(identity(
                IdentityKind::Email,
                "ana.silva@example.com"
            ))]
        );
        assert_eq!(
            readings(&n, "020 7946 0012").unwrap(),
            vec![PersonRef::Identity(identity(
                IdentityKind::Phone,
                "+442079460012"
            ))]
        );
        assert_eq!(
            readings(&n, "shop:C00001").unwrap(),
            vec![PersonRef::Identity(identity(
                IdentityKind::VendorCustomer,
                "shop:C00001"
            ))]
        );
        assert_eq!(
            readings(&n, "p-0a1b").unwrap(),
            vec![PersonRef::ProfileKey("p-0a1b".into())]
        );
        assert_eq!(readings(&n, "42").unwrap(), vec![PersonRef::ProfileId(42)]);
    }

    #[test]
    fn what_names_nobody_is_refused_with_the_input() {
        let n = normalizer();
        for text in [
            "",
            "   ",
            "ana@",
            "not a person",
            "p-",
            "-3",
            "test@test.com",
        ] {
            let error = readings(&n, text).unwrap_err().to_string();
            assert!(error.contains(&format!("{:?}", text.trim())), "{error}");
        }
    }
}
