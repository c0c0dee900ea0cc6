//! Forgetting a person at Klaviyo: a data-privacy deletion job for each identifier Klaviyo can
//! delete by (`email`, `phone_number`, or the profile `id`). The profiles that carry the person's
//! profile key as `external_id` (which this sink sets on every profile it imports) are looked up
//! first and deleted by id, unless a job by their email or phone already covers them. An answer of
//! "not found" (404) means there is nothing left to delete.

use crate::answer::KLAVIYO;
use crate::jsonapi::Links;
use crate::Api;
use rapport_sdk::prelude::*;
use rapport_sdk::url;
use serde::Deserialize;
use serde_json::json;

const DELETION_JOBS: &str = "/api/data-privacy-deletion-jobs";

/// Deletes every profile the profile key `key` (if known) and `identities` name.
pub fn person(api: &Api, key: Option<&str>, identities: &[Identity]) -> Result<(), ConnectorError> {
    let jobs: Vec<(&str, &str)> = identities
        .iter()
        .filter_map(|i| match i.kind {
            IdentityKind::Email => Some(("email", i.value.as_str())),
            IdentityKind::Phone => Some(("phone_number", i.value.as_str())),
            IdentityKind::LoyaltyId | IdentityKind::VendorCustomer => None,
        })
        .collect();
    let keyed = match key {
        Some(key) => with_external_id(api, key)?,
        None => Vec::new(),
    };
    let covered = |p: &Found| {
        jobs.iter().any(|(field, value)| match *field {
            "email" => p.attributes.email.as_deref() == Some(*value),
            _ => p.attributes.phone_number.as_deref() == Some(*value),
        })
    };
    let by_identifier = jobs
        .iter()
        .map(|(field, value)| json!({"type": "profile", "attributes": {*field: value}}));
    let by_id = keyed
        .iter()
        .filter(|p| !covered(p))
        .map(|p| json!({"type": "profile", "id": p.id, "attributes": {}}));
    for profile in by_identifier.chain(by_id) {
        let body = json!({"data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }});
        let response = api.request(DELETION_JOBS, &body)?.send()?;
        if response.status != 404 {
            KLAVIYO.success(response)?;
        }
    }
    Ok(())
}

/// `{"data":[{"type":"profile","id","attributes":{…}}],"links":{"next"}}`.
#[derive(Deserialize)]
struct Page {
    data: Vec<Found>,
    links: Option<Links>,
}

/// A profile found by its `external_id`: its id and the identifiers a deletion job could use.
#[derive(Deserialize)]
struct Found {
    id: String,
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize, Default)]
struct Attributes {
    email: Option<String>,
    phone_number: Option<String>,
}

/// Every profile whose `external_id` is `key` (`GET /api/profiles`, following `links.next`).
fn with_external_id(api: &Api, key: &str) -> Result<Vec<Found>, ConnectorError> {
    let filter = format!("equals(external_id,\"{}\")", key.replace('"', "\\\""));
    let mut next = Some(api.url(&format!(
        "/api/profiles?filter={}&fields[profile]=email,phone_number&page[size]=100",
        url::encode(&filter)
    )));
    let mut found = Vec::new();
    while let Some(page_url) = next {
        let response = KLAVIYO.success(api.get(&page_url).send()?)?;
        let page: Page = response.json()?;
        found.extend(page.data);
        next = Links::next_of(page.links);
    }
    Ok(found)
}
