//! Data minimisation at the edge: a profile or activity rendered for a sink loses what the sink's
//! field allowlist (`rapport_core::governance::fields`) does not name: identities, traits, and an
//! activity's products, location and refund reason. Consents always go.

use crate::ingest::validate::identity_kind;
use rapport_core::governance::fields::{Allowlist, Field};
use rapport_sandbox::contract::wit;

/// Removes from a profile what the sink may not receive. A trait the host does not know as a
/// field is removed too: only what the operator named goes out.
pub fn minimise_profile(allow: &Allowlist, profile: &mut wit::Profile) {
    minimise_identities(allow, &mut profile.identities);
    if !allow.allows(Field::GivenName) {
        profile.given_name = None;
    }
    if !allow.allows(Field::FamilyName) {
        profile.family_name = None;
    }
    profile
        .traits
        .retain(|t| Field::of_trait(&t.name).is_some_and(|f| allow.allows(f)));
}

/// Removes from an activity the identities and the properties (what was bought, where, why it
/// was refunded) the sink may not receive.
pub fn minimise_activity(allow: &Allowlist, activity: &mut wit::Activity) {
    minimise_identities(allow, &mut activity.identities);
    activity
        .properties
        .retain(|p| Field::of_property(&p.name).is_none_or(|f| allow.allows(f)));
}

/// Removes the identities the sink may not receive.
pub fn minimise_identities(allow: &Allowlist, identities: &mut Vec<wit::Identity>) {
    identities.retain(|i| allow.allows(Field::of_identity(identity_kind(i.kind))));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> wit::Profile {
        let identity = |kind, value: &str| wit::Identity {
            kind,
            value: value.into(),
        };
        let integer = |name: &str, n| wit::ProfileTrait {
            name: name.into(),
            value: wit::TraitValue::Integer(n),
        };
        wit::Profile {
            key: "p-1".into(),
            identities: vec![
                identity(wit::IdentityKind::Email, "ana@example.com"),
                identity(wit::IdentityKind::Phone, "+442079460958"),
            ],
            given_name: Some("Ana".into()),
            family_name: Some("Lima".into()),
            consents: vec![wit::Consent {
                channel: wit::Channel::Email,
                purpose: wit::Purpose::Marketing,
                state: wit::ConsentState::Revoked,
                at: 1,
                source: "pos".into(),
            }],
            traits: vec![integer("orders_count", 3), integer("refunds_count", 1)],
        }
    }

    #[test]
    fn a_sink_gets_only_the_fields_it_names_and_always_the_consents() {
        let allow = Allowlist::new(Some(&[Field::Email, Field::OrdersCount]));
        let mut p = profile();
        minimise_profile(&allow, &mut p);
        assert_eq!(p.identities.len(), 1);
        assert_eq!(p.identities[0].kind, wit::IdentityKind::Email);
        assert_eq!((p.given_name, p.family_name), (None, None));
        let traits: Vec<_> = p.traits.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(traits, ["orders_count"]);
        assert_eq!(p.consents.len(), 1);
    }

    #[test]
    fn without_a_list_everything_goes() {
        let mut p = profile();
        minimise_profile(&Allowlist::new(None), &mut p);
        assert_eq!(p.identities.len(), 2);
        assert_eq!(p.given_name.as_deref(), Some("Ana"));
        assert_eq!(p.traits.len(), 2);
    }

    #[test]
    fn an_activity_keeps_its_facts_and_loses_the_properties_the_sink_may_not_receive() {
        let text = |name: &str, value: &str| wit::Property {
            name: name.into(),
            value: wit::TraitValue::Text(value.into()),
        };
        let mut activity = wit::Activity {
            idempotency_key: "k".into(),
            profile_key: "p-1".into(),
            identities: profile().identities,
            name: "Refunded Order".into(),
            occurred_at: 1,
            value: None,
            properties: vec![
                text("refund_id", "r-1"),
                text("order_id", "o-1"),
                text("products", "Stoneware mug"),
                text("location", "High Street"),
                text("reason", "Chipped"),
            ],
        };
        let allow = Allowlist::new(Some(&[Field::Email, Field::Location]));
        minimise_activity(&allow, &mut activity);
        let names: Vec<_> = activity
            .properties
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["refund_id", "order_id", "location"]);
        assert_eq!(activity.identities.len(), 1);
    }
}
