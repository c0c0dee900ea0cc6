//! Mailchimp Marketing 3.0 CRM sink: each profile becomes an audience member upserted at
//! `PUT /lists/{list}/members/{md5(lowercase email)}` with a consent-safe status, then its tags;
//! placed orders become e-commerce store orders when a store is configured, other activities
//! member events; forgetting permanently deletes the member of each of the person's email
//! addresses (Mailchimp keys members by email alone, so the profile key names no one there). Built
//! for contract 0.5 with its consent feed: it also reports the people who unsubscribed at
//! Mailchimp (`feed`), and the opens, clicks and bounces of the customer-journey emails its
//! member events start, read from Mailchimp's campaign reports (`engagement`, which says how
//! each is tied to the journey message the host sent: by the person and the activity's time).
//!
//! The API key never reaches the plugin, so its data-centre suffix cannot be read here: the
//! operator sets `data_center` to the key's suffix (or `api_base` to a full base URL).

mod answer;
mod body;
mod engagement;
mod feed;

use crate::answer::MAILCHIMP;
use rapport_sdk::config::{config_str, config_url, require};
use rapport_sdk::http::{Request, Response};
use rapport_sdk::people::first_identity;
use rapport_sdk::per_item;
use rapport_sdk::prelude::*;
use rapport_sdk::url;
use rapport_sdk_engagement_consent_feed::{
    ConsentFeed, ConsentPage, Engagement, EngagementPage, Erasure, ErasureSubject,
};
use serde_json::Value;

/// Mailchimp allows 10 simultaneous connections per account; 50 sequential requests per call
/// keep a call well inside the host's time limit.
const MAX_BATCH: u32 = 50;

struct MailchimpSink;

impl Sink for MailchimpSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Mailchimp".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: MAX_BATCH,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        let api = Api::from_config()?;
        Request::get(&api.url("/ping")).send()?.success()?;
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        per_item::each(&profiles, |p| {
            let Some(email) = first_identity(&p.identities, IdentityKind::Email) else {
                return Ok(Outcome::Rejected(
                    "Mailchimp keys audience members by email address and this profile has none"
                        .into(),
                ));
            };
            let member = api.member(email);
            let put = Request::put(&member, &body::member(email, p))?;
            match per_item::send(put, |r| MAILCHIMP.outcome(r))? {
                Outcome::Ok => {
                    let tags = Request::post(&format!("{member}/tags"), &body::tags(p))?;
                    per_item::send(tags, |r| MAILCHIMP.outcome(r))
                }
                failed => Ok(failed),
            }
        })
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        let store = config_str("store_id");
        per_item::each(&activities, |a| {
            let email = first_identity(&a.identities, IdentityKind::Email);
            match (&store, body::order(a, email)) {
                (Some(store), Some(order)) => api.add_order(store, order),
                _ => match email {
                    Some(email) => {
                        let url = format!("{}/events", api.member(email));
                        per_item::send(Request::post(&url, &body::event(a))?, |r| MAILCHIMP.outcome(r))
                    }
                    None => Ok(Outcome::Rejected(
                        "Mailchimp records member events by email address and this activity's person has none"
                            .into(),
                    )),
                },
            }
        })
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        let api = Api::from_config()?;
        for email in identities
            .iter()
            .filter(|i| i.kind == IdentityKind::Email)
            .map(|i| i.value.as_str())
        {
            let url = format!("{}/actions/delete-permanent", api.member(email));
            let response = Request::post(&url, &serde_json::json!({}))?.send()?;
            // 404: Mailchimp holds nobody with this address, which is what forgetting wants.
            if response.status != 404 {
                MAILCHIMP.success(response)?;
            }
        }
        Ok(())
    }
}

impl Erasure for MailchimpSink {
    /// Members are keyed by email alone: every address of the person is erased.
    fn forget_person(person: ErasureSubject) -> Result<(), ConnectorError> {
        <MailchimpSink as Sink>::forget(person.identities)
    }
}

impl ConsentFeed for MailchimpSink {
    fn consent_changes(cursor: Option<String>) -> Result<ConsentPage, ConnectorError> {
        feed::unsubscribes(&Api::from_config()?, cursor.as_deref())
    }
}

impl Engagement for MailchimpSink {
    fn engagement_events(cursor: Option<String>) -> Result<EngagementPage, ConnectorError> {
        engagement::events(&Api::from_config()?, cursor.as_deref())
    }
}

rapport_sdk_engagement_consent_feed::export_sink!(MailchimpSink);

/// Where the account's API is and which audience to write to.
struct Api {
    base: String,
    list: String,
}

impl Api {
    fn from_config() -> Result<Self, ConnectorError> {
        let base = match (config_url("api_base")?, config_str("data_center")) {
            (Some(base), _) => base,
            (None, Some(dc)) if !dc.is_empty() && dc.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                format!("https://{}.api.mailchimp.com/3.0", dc.to_ascii_lowercase())
            }
            (None, Some(dc)) => {
                return Err(ConnectorError::Config(format!(
                    "config key `data_center` must be the API key's suffix, like \"us21\", not {dc:?}"
                )))
            }
            (None, None) => {
                return Err(ConnectorError::Config(
                    "set config key `data_center` to the API key's suffix after '-' (e.g. \"us21\"), or `api_base` to the API's URL"
                        .into(),
                ))
            }
        };
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            list: require("list_id")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The member resource of `email` in the configured audience.
    fn member(&self, email: &str) -> String {
        self.url(&format!(
            "/lists/{}/members/{}",
            self.list,
            body::subscriber_hash(email)
        ))
    }

    /// Adds an order to `store`. Orders are immutable here, so an order Mailchimp already holds
    /// (a retry after a lost answer) counts as delivered.
    fn add_order(&self, store: &str, order: Value) -> Result<Outcome, ConnectorError> {
        let orders = self.url(&format!("/ecommerce/stores/{store}/orders"));
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        let outcome = per_item::send(Request::post(&orders, &order)?, |r| MAILCHIMP.outcome(r))?;
        if !matches!(outcome, Outcome::Rejected(_)) {
            return Ok(outcome);
        }
        let existing: Result<Response, ConnectorError> =
            Request::get(&format!("{orders}/{}", url::encode(&id))).send();
        Ok(match existing {
            Ok(found) if found.status == 200 => Outcome::Ok,
            _ => outcome,
        })
    }
}
