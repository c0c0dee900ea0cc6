//! Forgetting a person at HubSpot: a GDPR delete of every contact they name. By email HubSpot
//! erases the contact itself (and blocklists the address); the contacts that carry the person's
//! profile key (`rapport_profile_key`, which this sink sets on every contact) or one of their
//! phone numbers are found with the CRM search first, then erased by contact id. A contact HubSpot
//! no longer holds (404) is already gone.

use crate::answer;
use crate::contact::{already_gone, GDPR_DELETE_PATH};
use rapport_sdk::http::Request;
use rapport_sdk::outcome::fail_call;
use rapport_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

pub const SEARCH_PATH: &str = "/crm/v3/objects/contacts/search";

/// The search takes at most five filter groups (ORed).
const MAX_FILTER_GROUPS: usize = 5;
/// Contacts per search page.
const PAGE_SIZE: u32 = 100;

/// Erases every contact the profile key `key` (if known) and `identities` name, through the API
/// at `base`.
pub fn person(
    base: &str,
    key: Option<&str>,
    identities: &[Identity],
) -> Result<(), ConnectorError> {
    let of = |kind| {
        identities
            .iter()
            .filter(move |i| i.kind == kind)
            .map(|i| i.value.as_str())
    };
    let emails: Vec<String> = of(IdentityKind::Email).map(str::to_lowercase).collect();
    let mut by = Vec::new();
    by.extend(key.map(|key| ("rapport_profile_key", key)));
    by.extend(of(IdentityKind::Phone).map(|phone| ("phone", phone)));
    // Searched before anything is deleted, so every contact is found; a contact deleted by its
    // email is not deleted again.
    let mut ids = Vec::new();
    for filters in by.chunks(MAX_FILTER_GROUPS) {
        for found in search(base, filters)? {
            let deleted_by_email = found
                .email
                .is_some_and(|e| emails.contains(&e.to_lowercase()));
            if !deleted_by_email && !ids.contains(&found.id) {
                ids.push(found.id);
            }
        }
    }
    let by_email = emails
        .iter()
        .map(|e| json!({"objectId": e, "idProperty": "email"}));
    let by_id = ids.iter().map(|id| json!({"objectId": id}));
    for body in by_email.chain(by_id) {
        let response = Request::post(&format!("{base}{GDPR_DELETE_PATH}"), &body)?.send()?;
        if !already_gone(&response) {
            fail_call(answer::outcome(&response)?)?;
        }
    }
    Ok(())
}

/// A contact the search found: its id and email, if it has one.
struct Found {
    id: String,
    email: Option<String>,
}

/// `{"total","results":[{"id","properties":{…}}],"paging":{"next":{"after"}}}`.
#[derive(Deserialize)]
struct SearchAnswer {
    results: Vec<SearchResult>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct SearchResult {
    id: String,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    after: String,
}

/// Every contact whose property equals the value of any of `filters` (property, value), page by
/// page.
fn search(base: &str, filters: &[(&str, &str)]) -> Result<Vec<Found>, ConnectorError> {
    let groups: Vec<Value> = filters
        .iter()
        .map(|(property, value)| {
            json!({"filters": [{"propertyName": property, "operator": "EQ", "value": value}]})
        })
        .collect();
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut body = json!({"filterGroups": groups, "properties": ["email"], "limit": PAGE_SIZE});
        if let Some(after) = &after {
            body["after"] = json!(after);
        }
        let response = Request::post(&format!("{base}{SEARCH_PATH}"), &body)?.send()?;
        if !(200..=299).contains(&response.status) {
            fail_call(answer::outcome(&response)?)?;
        }
        let page: SearchAnswer = response.json()?;
        found.extend(page.results.into_iter().map(|r| {
            Found {
                email: r
                    .properties
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                id: r.id,
            }
        }));
        match page.paging.and_then(|p| p.next) {
            Some(next) => after = Some(next.after),
            None => return Ok(found),
        }
    }
}
