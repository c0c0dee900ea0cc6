//! Klaviyo CRM sink: each profile becomes a `profile-import` (keyed by the host's profile key as
//! `external_id`), marketing consent becomes subscription bulk jobs on the configured list, each
//! activity becomes an event whose `unique_id` is the activity's idempotency key, and forget
//! becomes data-privacy deletion jobs.

mod answer;
mod jsonapi;

use rapport_sdk::config::{config_str, require, require_url};
use rapport_sdk::http::Request;
use rapport_sdk::per_item;
use rapport_sdk::prelude::*;
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
        Request::get(&api.url("/api/accounts"))
            .header("revision", &api.revision)
            .send()?
            .success()?;
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
        let api = Api::from_config()?;
        for body in identities.iter().filter_map(jsonapi::deletion_job) {
            api.request("/api/data-privacy-deletion-jobs", &body)?
                .send()?
                .success()?;
        }
        Ok(())
    }
}

rapport_sdk::export_sink!(KlaviyoSink);

/// Where and how to reach Klaviyo. The API key is injected by the host.
struct Api {
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
