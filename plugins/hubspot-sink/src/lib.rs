//! HubSpot CRM sink: profiles become contacts upserted by email in batches, each person's latest
//! email marketing choice becomes a subscription status with its legal basis, activities become
//! custom event occurrences whose `uuid` is the activity's idempotency key (orders, refunds, and
//! every journey message as one event whose `journey` property a workflow branches on), and
//! forgetting is a GDPR delete of every contact the person's email, phone or profile key names
//! (`erase`). Built for contract 0.4, so the host hands it the profile key with the identities.
//! The private app token is injected by the host.

mod answer;
mod consent;
mod contact;
mod erase;
mod event;

use rapport_sdk::batch;
use rapport_sdk::config::{config_str, require, require_url};
use rapport_sdk::http::Request;
use rapport_sdk::journey;
use rapport_sdk::outcome::fail_call;
use rapport_sdk::people::{first_identity, latest_marketing};
use rapport_sdk::per_item;
use rapport_sdk::prelude::*;
use rapport_sdk_erasure::{Erasure, ErasureSubject};
use serde_json::{json, Value};

/// HubSpot's CRM batch endpoints take at most 100 inputs.
const MAX_BATCH: u32 = 100;

struct HubSpotSink;

impl Sink for HubSpotSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "HubSpot".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: MAX_BATCH,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        let api = Api::from_config()?;
        let response = Request::get(&api.url("/crm/v3/objects/contacts?limit=1")).send()?;
        fail_call(answer::outcome(&response)?)
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        let mut outcomes = vec![Outcome::Ok; profiles.len()];
        let mut inputs = Vec::new();
        for (index, p) in profiles.iter().enumerate() {
            match first_identity(&p.identities, IdentityKind::Email) {
                None => {
                    outcomes[index] =
                        Outcome::Rejected("no email: HubSpot contacts are keyed by email".into())
                }
                Some(email) => match contact::input(email, p) {
                    Ok(input) => inputs.push(Input {
                        index,
                        email,
                        input,
                    }),
                    Err(why) => outcomes[index] = Outcome::Rejected(why),
                },
            }
        }
        for batch in inputs.chunks(MAX_BATCH as usize) {
            for (input, outcome) in batch.iter().zip(api.upsert(batch)?) {
                outcomes[input.index] = outcome;
            }
        }
        if let Some(subscription) = api.subscription_id {
            let choices: Vec<(usize, &str, &Consent)> = inputs
                .iter()
                .filter(|i| outcomes[i.index] == Outcome::Ok)
                .filter_map(|i| {
                    latest_marketing(&profiles[i.index].consents, Channel::Email)
                        .map(|c| (i.index, i.email, c))
                })
                .collect();
            let sent = per_item::each(&choices, |(_, email, choice)| {
                let body = consent::status(choice, subscription, &api.legal_basis);
                let request = Request::post(&api.url(&consent::status_path(email)), &body)?;
                per_item::send(request, answer::outcome)
            })?;
            for ((index, ..), outcome) in choices.iter().zip(sent) {
                if outcome != Outcome::Ok {
                    outcomes[*index] = outcome;
                }
            }
        }
        Ok(outcomes)
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        let api = Api::from_config()?;
        per_item::each(&activities, |a| {
            let event_name = match a.name.as_str() {
                "Placed Order" => &api.placed_order_event,
                "Refunded Order" => &api.refunded_order_event,
                name if journey::is_message(name) => &api.journey_message_event,
                other => {
                    return Ok(Outcome::Rejected(format!(
                        "no HubSpot custom event is configured for activity {other:?}"
                    )))
                }
            };
            match event::occurrence(a, event_name) {
                Ok(body) => {
                    let request = Request::post(&api.url(event::SEND_PATH), &body)?;
                    per_item::send(request, |response| {
                        if event::already_recorded(response) {
                            Ok(Outcome::Ok)
                        } else {
                            answer::outcome(response)
                        }
                    })
                }
                Err(why) => Ok(Outcome::Rejected(why)),
            }
        })
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        erase::person(&Api::from_config()?.base, None, &identities)
    }
}

impl Erasure for HubSpotSink {
    fn forget_person(person: ErasureSubject) -> Result<(), ConnectorError> {
        erase::person(
            &Api::from_config()?.base,
            Some(&person.key),
            &person.identities,
        )
    }
}

rapport_sdk_erasure::export_sink!(HubSpotSink);

/// One contact of a batch upsert and the profile it came from.
struct Input<'a> {
    index: usize,
    email: &'a str,
    input: Value,
}

/// Where HubSpot is and how this portal is set up.
struct Api {
    base: String,
    placed_order_event: String,
    refunded_order_event: String,
    journey_message_event: String,
    subscription_id: Option<i64>,
    legal_basis: String,
}

impl Api {
    fn from_config() -> Result<Self, ConnectorError> {
        let subscription_id = config_str("subscription_id")
            .map(|id| {
                id.parse().map_err(|_| {
                    ConnectorError::Config(format!(
                        "config key `subscription_id` must be the numeric id of a HubSpot subscription type, not {id:?}"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            base: require_url("api_base")?.trim_end_matches('/').to_owned(),
            placed_order_event: require("event_name_placed_order")?,
            refunded_order_event: require("event_name_refunded_order")?,
            journey_message_event: require("event_name_journey_message")?,
            subscription_id,
            legal_basis: require("legal_basis")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Upserts one batch; a lost connection or a whole-batch answer applies to every input.
    fn upsert(&self, batch: &[Input]) -> Result<Vec<Outcome>, ConnectorError> {
        let body = json!({"inputs": batch.iter().map(|i| &i.input).collect::<Vec<_>>()});
        let request = Request::post(&self.url(contact::UPSERT_PATH), &body)?;
        batch::send(request, batch.len(), |response| {
            if (200..=299).contains(&response.status) {
                let emails: Vec<&str> = batch.iter().map(|i| i.email).collect();
                contact::outcomes(response, &emails)
            } else {
                Ok(vec![answer::outcome(response)?; batch.len()])
            }
        })
    }
}
