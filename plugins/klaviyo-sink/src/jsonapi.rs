//! The JSON:API documents this sink sends, built from the contract's types. Absent values are
//! left out rather than sent as `null`, which would clear the field at Klaviyo.

use rapport_sdk::amount::major_units;
use rapport_sdk::people::{first_identity, latest_marketing};
use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Klaviyo's JSON:API media type, for `content-type` and `accept`.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// A collection's `links`: the next page's URL, absent (or empty) on the last page.
#[derive(Debug, Deserialize)]
pub struct Links {
    next: Option<String>,
}

impl Links {
    /// The next page's URL, if there is one.
    pub fn next_of(links: Option<Links>) -> Option<String> {
        links.and_then(|l| l.next).filter(|n| !n.is_empty())
    }
}

/// A subscription bulk job and the profile keys it covers.
pub struct Job {
    pub path: &'static str,
    pub body: Value,
    pub keys: Vec<String>,
}

/// `POST /api/profile-import`: identifiers, names, `external_id` = the host's profile key, and
/// the traits as custom properties.
pub fn profile_import(p: &Profile) -> Result<Value, String> {
    let mut attributes = identifiers(&p.identities);
    attributes.insert("external_id".into(), json!(p.key));
    for (field, name) in [("first_name", &p.given_name), ("last_name", &p.family_name)] {
        if let Some(name) = name {
            attributes.insert(field.into(), json!(name));
        }
    }
    let properties = properties(p.traits.iter().map(|t| (&t.name, &t.value)))?;
    if !properties.is_empty() {
        attributes.insert("properties".into(), Value::Object(properties));
    }
    Ok(json!({"data": {"type": "profile", "attributes": attributes}}))
}

/// `POST /api/events`: metric = activity name, `unique_id` = idempotency key, `value` in major
/// units, the person by email, phone and `external_id`.
pub fn event(a: &Activity) -> Result<Value, String> {
    let mut profile = identifiers(&a.identities);
    profile.insert("external_id".into(), json!(a.profile_key));
    let mut attributes = json!({
        "properties": properties(a.properties.iter().map(|p| (&p.name, &p.value)))?,
        "time": format_timestamp(a.occurred_at),
        "unique_id": a.idempotency_key,
        "metric": {"data": {"type": "metric", "attributes": {"name": a.name}}},
        "profile": {"data": {"type": "profile", "attributes": profile}},
    });
    if let Some(value) = &a.value {
        attributes["value"] = number(value)?;
        attributes["value_currency"] = json!(value.currency);
    }
    Ok(json!({"data": {"type": "event", "attributes": attributes}}))
}

/// Subscribes to `list` everyone whose latest email or SMS marketing choice is a grant, with the
/// time they gave it as `consented_at` (which Klaviyo accepts only in a `historical_import`).
pub fn subscribe_job(list: &str, profiles: &[&Profile]) -> Option<Job> {
    let entries = subscriptions(
        profiles,
        ConsentState::Granted,
        |c| json!({"marketing": {"consent": "SUBSCRIBED", "consented_at": format_timestamp(c.at)}}),
    );
    (!entries.is_empty()).then(|| Job {
        path: "/api/profile-subscription-bulk-create-jobs",
        body: json!({"data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "rapport",
                "historical_import": true,
                "profiles": {"data": entries.iter().map(|(_, e)| e).collect::<Vec<_>>()},
            },
            "relationships": {"list": {"data": {"type": "list", "id": list}}},
        }}),
        keys: entries.into_iter().map(|(key, _)| key).collect(),
    })
}

/// Unsubscribes everyone whose latest email or SMS marketing choice is a revocation: from `list`
/// when one is configured, otherwise from all marketing on that channel.
pub fn unsubscribe_job(list: Option<&str>, profiles: &[&Profile]) -> Option<Job> {
    let entries = subscriptions(
        profiles,
        ConsentState::Revoked,
        |_| json!({"marketing": {"consent": "UNSUBSCRIBED"}}),
    );
    if entries.is_empty() {
        return None;
    }
    let mut data = json!({
        "type": "profile-subscription-bulk-delete-job",
        "attributes": {"profiles": {"data": entries.iter().map(|(_, e)| e).collect::<Vec<_>>()}},
    });
    if let Some(list) = list {
        data["relationships"] = json!({"list": {"data": {"type": "list", "id": list}}});
    }
    Some(Job {
        path: "/api/profile-subscription-bulk-delete-jobs",
        body: json!({ "data": data }),
        keys: entries.into_iter().map(|(key, _)| key).collect(),
    })
}

/// The first email and phone as Klaviyo's `email` and `phone_number` (E.164, as the host keeps it).
fn identifiers(identities: &[Identity]) -> Map<String, Value> {
    let mut fields = Map::new();
    for (kind, field) in [
        (IdentityKind::Email, "email"),
        (IdentityKind::Phone, "phone_number"),
    ] {
        if let Some(value) = first_identity(identities, kind) {
            fields.insert(field.into(), json!(value));
        }
    }
    fields
}

/// The per-profile entries of a subscription job for marketing choices in `state`, with the
/// profile key each came from.
fn subscriptions(
    profiles: &[&Profile],
    state: ConsentState,
    parameters: impl Fn(&Consent) -> Value,
) -> Vec<(String, Value)> {
    let mut entries = Vec::new();
    for p in profiles {
        let contacts = identifiers(&p.identities);
        let mut attributes = Map::new();
        let mut channels = Map::new();
        for (channel, field, name) in [
            (Channel::Email, "email", "email"),
            (Channel::Sms, "phone_number", "sms"),
        ] {
            let latest = latest_marketing(&p.consents, channel);
            if let (Some(consent), Some(contact)) = (latest, contacts.get(field)) {
                if consent.state == state {
                    attributes.insert(field.into(), contact.clone());
                    channels.insert(name.into(), parameters(consent));
                }
            }
        }
        if !channels.is_empty() {
            attributes.insert("subscriptions".into(), Value::Object(channels));
            entries.push((
                p.key.clone(),
                json!({"type": "profile", "attributes": attributes}),
            ));
        }
    }
    entries
}

/// Traits or activity properties as Klaviyo custom properties: times as RFC 3339, money as a
/// major-unit number with a `<name>_currency` companion.
fn properties<'a>(
    pairs: impl Iterator<Item = (&'a String, &'a TraitValue)>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (name, value) in pairs {
        let converted = match value {
            TraitValue::Text(s) => json!(s),
            TraitValue::Integer(n) => json!(n),
            TraitValue::Boolean(b) => json!(b),
            TraitValue::Time(t) => json!(format_timestamp(*t)),
            TraitValue::Money(m) => {
                out.insert(format!("{name}_currency"), json!(m.currency));
                number(m)?
            }
        };
        out.insert(name.clone(), converted);
    }
    Ok(out)
}

/// Money as a JSON number in major units (12.5 for 1250 USD cents).
fn number(m: &Money) -> Result<Value, String> {
    let decimal = major_units(m).map_err(|e| e.to_string())?;
    serde_json::from_str(&decimal).map_err(|e| format!("amount {decimal} is not a number: {e}"))
}
