//! What became of the messages Klaviyo sent, read back as the spec says: `GET /api/metrics` finds
//! the ids of the engagement metrics ("Received Email", "Opened Email", …), then
//! `GET /api/events?filter=…` reads each metric's events (with their profiles included) oldest
//! first, paged by `links.next`, from the newest `datetime` read before. One page per call; the
//! cursor remembers the metric, the page and each metric's watermark (`rapport_sdk::feeds`).
//!
//! Each event names its person by the profile's `external_id` (the host's profile key, which
//! this sink sets on every profile), email and phone; the host ties it to the message it sent.
//! Klaviyo's flow messages do not echo the triggering event, so the message is named by
//! Klaviyo's own message id (`$message`) alone.

use crate::answer::KLAVIYO;
use crate::jsonapi::Links;
use crate::Api;
use rapport_sdk::feeds::Feeds;
use rapport_sdk::prelude::*;
use rapport_sdk::time::parse_field;
use rapport_sdk::url;
use rapport_sdk_engagement::{EngagementEvent, EngagementKind, EngagementPage, MessageRef};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Klaviyo's engagement metrics: what each means, and on which channel.
const METRICS: [(&str, EngagementKind, Channel); 8] = [
    ("Received Email", EngagementKind::Delivered, Channel::Email),
    ("Opened Email", EngagementKind::Opened, Channel::Email),
    ("Clicked Email", EngagementKind::Clicked, Channel::Email),
    ("Bounced Email", EngagementKind::Bounced, Channel::Email),
    (
        "Unsubscribed from Email Marketing",
        EngagementKind::Unsubscribed,
        Channel::Email,
    ),
    ("Received SMS", EngagementKind::Delivered, Channel::Sms),
    ("Clicked SMS", EngagementKind::Clicked, Channel::Sms),
    (
        "Unsubscribed from SMS Marketing",
        EngagementKind::Unsubscribed,
        Channel::Sms,
    ),
];

/// Events per page (Klaviyo allows up to 1000).
const PAGE_SIZE: u32 = 200;

/// One page of engagement from `cursor`.
pub fn events(api: &Api, cursor: Option<&str>) -> Result<EngagementPage, ConnectorError> {
    let mut feeds = Feeds::parse(cursor, "Klaviyo")?;
    let metrics = metric_ids(api)?;
    let names: Vec<String> = metrics.iter().map(|(name, _)| name.clone()).collect();
    let Some(name) = feeds.current(&names).map(str::to_owned) else {
        return Ok(EngagementPage {
            events: Vec::new(),
            cursor: None,
            more: false,
        });
    };
    let position = names.iter().position(|n| *n == name).unwrap_or(0);
    let (_, kind, channel) = METRICS
        .iter()
        .find(|(metric, _, _)| *metric == name)
        .expect("only known metrics are read");
    let mark = feeds.mark(&name);
    let page_url = match mark.page() {
        Some(next) => next.to_owned(),
        None => first_page(api, &metrics[position].1, mark.since()),
    };
    let page: Page = KLAVIYO.success(api.get(&page_url).send()?)?.json()?;
    let mut events = Vec::with_capacity(page.data.len());
    for item in &page.data {
        let Some(datetime) = item.attributes.datetime.as_deref() else {
            continue;
        };
        mark.saw(datetime);
        events.push(EngagementEvent {
            id: item.id.clone(),
            kind: *kind,
            channel: *channel,
            at: parse_field(datetime, "event datetime").map_err(ConnectorError::Invalid)?,
            profile_key: None,
            identities: Vec::new(),
            message: MessageRef {
                idempotency_key: None,
                journey: None,
                variant: None,
                vendor_id: (item.attributes.event_properties.get("$message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
        });
        let person = item.profile_id().and_then(|id| {
            page.included
                .iter()
                .find(|p| p.kind == "profile" && p.id == id)
        });
        if let (Some(person), Some(event)) = (person, events.last_mut()) {
            event.profile_key = person.attributes.external_id.clone();
            event.identities = person.identities();
        }
    }
    let (cursor, more) = feeds.advance(&name, position, names.len(), Links::next_of(page.links));
    Ok(EngagementPage {
        events,
        cursor: Some(cursor),
        more,
    })
}

/// The first page of a metric's events at or after `since`, oldest first, profiles included.
fn first_page(api: &Api, metric_id: &str, since: Option<&str>) -> String {
    let metric = format!("equals(metric_id,\"{metric_id}\")");
    let filter = match since {
        Some(since) => format!("and({metric},greater-or-equal(datetime,{since}))"),
        None => metric,
    };
    api.url(&format!(
        "/api/events?filter={}&sort=datetime&include=profile&page[size]={PAGE_SIZE}",
        url::encode(&filter)
    ))
}

/// The engagement metrics the account has, as (name, id), in [`METRICS`]' order (`GET
/// /api/metrics`, following `links.next`). A metric nothing was recorded under yet is absent.
fn metric_ids(api: &Api) -> Result<Vec<(String, String)>, ConnectorError> {
    let mut next = Some(api.url("/api/metrics"));
    let mut found: Vec<(String, String)> = Vec::new();
    while let Some(page_url) = next {
        let page: MetricPage = KLAVIYO.success(api.get(&page_url).send()?)?.json()?;
        found.extend((page.data.into_iter()).filter_map(|m| Some((m.attributes.name?, m.id))));
        next = Links::next_of(page.links);
    }
    Ok(METRICS
        .iter()
        .filter_map(|(name, _, _)| found.iter().find(|(n, _)| n == name).cloned())
        .collect())
}

/// `{"data":[{"type":"metric","id","attributes":{"name"}}],"links":{"next"}}`.
#[derive(Deserialize)]
struct MetricPage {
    data: Vec<Metric>,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Metric {
    id: String,
    attributes: MetricAttributes,
}

#[derive(Deserialize)]
struct MetricAttributes {
    name: Option<String>,
}

/// `{"data":[event…],"links":{"next"},"included":[profile…]}`.
#[derive(Deserialize)]
struct Page {
    data: Vec<Event>,
    links: Option<Links>,
    #[serde(default)]
    included: Vec<Included>,
}

/// An event: its id, `attributes.datetime` and `event_properties`, and its profile's id.
#[derive(Deserialize)]
struct Event {
    id: String,
    attributes: EventAttributes,
    #[serde(default)]
    relationships: Map<String, Value>,
}

impl Event {
    fn profile_id(&self) -> Option<&str> {
        self.relationships
            .get("profile")?
            .pointer("/data/id")?
            .as_str()
    }
}

#[derive(Deserialize)]
struct EventAttributes {
    datetime: Option<String>,
    #[serde(default)]
    event_properties: Map<String, Value>,
}

/// An included resource: a profile, with the identifiers the host can find the person by.
#[derive(Deserialize)]
struct Included {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    attributes: ProfileAttributes,
}

#[derive(Deserialize, Default)]
struct ProfileAttributes {
    email: Option<String>,
    phone_number: Option<String>,
    external_id: Option<String>,
}

impl Included {
    fn identities(&self) -> Vec<Identity> {
        [
            (IdentityKind::Email, &self.attributes.email),
            (IdentityKind::Phone, &self.attributes.phone_number),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.clone().map(|value| Identity { kind, value }))
        .collect()
    }
}
