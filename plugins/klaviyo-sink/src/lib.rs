//! Klaviyo CRM sink: each profile becomes a `profile-import` (keyed by the host's profile key as
//! `external_id`), marketing consent becomes subscription bulk jobs on the configured list, each
//! activity becomes an event whose `unique_id` is the activity's idempotency key, and forgetting
//! becomes data-privacy deletion jobs by email, phone and the profiles found by `external_id`
//! (`erase`). Built for contract 0.5: the host hands it the profile key with the identities, and
//! it reports what became of the messages Klaviyo sent (`engagement`).

mod answer;
mod engagement;
mod erase;
mod jsonapi;

use rapport_sdk::config::{config_str, require, require_url};
use rapport_sdk::http::Request;
use rapport_sdk::per_item;
use rapport_sdk::prelude::*;
use rapport_sdk_engagement::{Engagement, EngagementPage, Erasure, ErasureSubject};
use serde_json::Value;

/// Klaviyo's unsubscribe jobs take at most 100 profiles, so no batch is larger.
const MAX_BATCH: u32 = 100;

struct KlaviyoSink;

impl Sink for KlaviyoSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Klaviyo".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: MAX_BATCH,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        let api = Api::from_config()?;
        api.get(&api.url("/api/accounts")).send()?.success()?;
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        let mut outcomes = per_item::each(&profiles, |p| match jsonapi::profile_import(p) {
            Ok(body) => api.post("/api/profile-import", &body),
            Err(why) => Ok(Outcome::Rejected(why)),
        })?;
        let imported: Vec<&Profile> = profiles
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Outcome::Ok)
            .map(|(p, _)| p)
            .collect();
        let list = config_str("list_id");
        let jobs = [
            list.as_deref()
                .and_then(|list| jsonapi::subscribe_job(list, &imported)),
            jsonapi::unsubscribe_job(list.as_deref(), &imported),
        ];
        for job in jobs.into_iter().flatten() {
            let result = api.post(job.path, &job.body)?;
            if result != Outcome::Ok {
                for (profile, outcome) in profiles.iter().zip(outcomes.iter_mut()) {
                    if job.keys.contains(&profile.key) {
                        *outcome = result.clone();
                    }
                }
            }
        }
        Ok(outcomes)
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        per_item::each(&activities, |a| match jsonapi::event(a) {
            Ok(body) => api.post("/api/events", &body),
            Err(why) => Ok(Outcome::Rejected(why)),
        })
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        erase::person(&Api::from_config()?, None, &identities)
    }
}

impl Erasure for KlaviyoSink {
    fn forget_person(person: ErasureSubject) -> Result<(), ConnectorError> {
        erase::person(&Api::from_config()?, Some(&person.key), &person.identities)
    }
}

impl Engagement for KlaviyoSink {
    fn engagement_events(cursor: Option<String>) -> Result<EngagementPage, ConnectorError> {
        engagement::events(&Api::from_config()?, cursor.as_deref())
    }
}

rapport_sdk_engagement::export_sink!(KlaviyoSink);

/// Where and how to reach Klaviyo. The API key is injected by the host.
pub(crate) struct Api {
    base: String,
    revision: String,
}

impl Api {
    fn from_config() -> Result<Self, ConnectorError> {
        Ok(Self {
            base: require_url("api_base")?.trim_end_matches('/').to_owned(),
            revision: require("revision")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET of `url` carrying the `revision` header and accepting JSON:API.
    fn get(&self, url: &str) -> Request {
        Request::get(url)
            .header("accept", jsonapi::MEDIA_TYPE)
            .header("revision", &self.revision)
    }

    /// A JSON:API POST carrying the `revision` header every Klaviyo endpoint requires.
    fn request(&self, path: &str, body: &Value) -> Result<Request, ConnectorError> {
        Ok(Request::post(&self.url(path), body)?
            .header("content-type", jsonapi::MEDIA_TYPE)
            .header("accept", jsonapi::MEDIA_TYPE)
            .header("revision", &self.revision))
    }

    /// The outcome of posting `body` to `path` for one item (or one job).
    fn post(&self, path: &str, body: &Value) -> Result<Outcome, ConnectorError> {
        per_item::send(self.request(path, body)?, |r| answer::KLAVIYO.outcome(r))
    }
}
