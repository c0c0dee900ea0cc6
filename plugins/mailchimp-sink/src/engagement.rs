//! What became of the messages Mailchimp sent for the host's journeys, read from Mailchimp's
//! campaign reports (customer-journey emails are reported like campaigns):
//!
//! - `GET /reports?count=…&offset=…` (all pages, by `total_items`) finds the reports of this
//!   audience's journey emails: `type` `automation` and `list_id` the configured audience;
//! - `GET /reports/{campaign_id}/email-activity?count=…&offset=…&since=…` then reads, one page
//!   per call, each email's recipients (`emails[]`: `email_id`, `email_address`) and what they did
//!   (`activity[]`: `action` `open`, `click` or `bounce`, with its `timestamp`), paged by
//!   `offset` until `total_items`, from the newest `timestamp` read before. The cursor remembers
//!   the email being read and each email's watermark (`rapport_sdk::feeds`); `since` is sent a
//!   second early, as the consent feed's is, and the host drops what it already holds.
//!
//! How a report's activity is tied to the host's message: the sink gives Mailchimp each journey
//! message as a member event (`POST /lists/{list}/members/{hash}/events`, named after the
//! activity, e.g. `journey__thanks`, with the idempotency key, `journey` and `variant` among its
//! properties), and the operator starts a customer journey on that event, whose email is the
//! message the person receives. Mailchimp's reports do not echo the event that started the
//! journey, so an activity names only the recipient (their email address) and the journey
//! email (its campaign id, as `vendor-id`): the host ties it to the person's latest journey
//! message on this sink at or before the activity's time. Email activity reports no sends, so
//! this sink reports no `delivered`; an unsubscribe reaches the host through the consent feed.

use crate::answer::MAILCHIMP;
use crate::body::md5_hex;
use crate::feed::reread_since;
use crate::Api;
use rapport_sdk::feeds::Feeds;
use rapport_sdk::http::Request;
use rapport_sdk::prelude::*;
use rapport_sdk::time::parse_field;
use rapport_sdk_engagement_consent_feed::{
    EngagementEvent, EngagementKind, EngagementPage, MessageRef,
};
use serde::Deserialize;

/// Records per page (Mailchimp's maximum `count`).
const PAGE: usize = 1000;
/// The report type of automated emails, customer journeys' included.
const JOURNEY_EMAIL: &str = "automation";

/// One page of engagement from `cursor`.
pub fn events(api: &Api, cursor: Option<&str>) -> Result<EngagementPage, ConnectorError> {
    let mut feeds = Feeds::parse(cursor, "Mailchimp")?;
    let campaigns = journey_emails(api)?;
    let Some(campaign) = feeds.current(&campaigns).map(str::to_owned) else {
        return Ok(EngagementPage {
            events: Vec::new(),
            cursor: None,
            more: false,
        });
    };
    let position = campaigns.iter().position(|c| *c == campaign).unwrap_or(0);
    let mark = feeds.mark(&campaign);
    let offset = mark.offset()?;
    let since = (mark.since())
        .map(|since| parse_field(since, "watermark").map_err(ConnectorError::Invalid))
        .transpose()?;
    let mut url = api.url(&format!(
        "/reports/{campaign}/email-activity?count={PAGE}&offset={offset}"
    ));
    if let Some(since) = reread_since(since) {
        url.push_str("&since=");
        url.push_str(&rapport_sdk::url::encode(&since));
    }
    let page: EmailActivity = MAILCHIMP.success(Request::get(&url).send()?)?.json()?;
    let mut events = Vec::new();
    for email in &page.emails {
        for activity in &email.activity {
            let kind = match activity.action.as_str() {
                "open" => EngagementKind::Opened,
                "click" => EngagementKind::Clicked,
                "bounce" => EngagementKind::Bounced,
                _ => continue,
            };
            mark.saw(&activity.timestamp);
            let at = parse_field(&activity.timestamp, "email activity timestamp")
                .map_err(ConnectorError::Invalid)?;
            // The recipient's id is the hash of their address: it is hashed again with the
            // rest, so the event's id holds nothing personal.
            let what = [
                email.email_id.as_str(),
                &activity.action,
                &activity.timestamp,
                activity.url.as_deref().unwrap_or_default(),
            ];
            events.push(EngagementEvent {
                id: format!("{campaign}-{}", md5_hex(&what.join("\n"))),
                kind,
                channel: Channel::Email,
                at,
                profile_key: None,
                identities: vec![Identity {
                    kind: IdentityKind::Email,
                    value: email.email_address.clone(),
                }],
                message: MessageRef {
                    idempotency_key: None,
                    journey: None,
                    variant: None,
                    vendor_id: Some(campaign.clone()),
                },
            });
        }
    }
    let read = offset + page.emails.len();
    let next = (!page.emails.is_empty() && read < page.total_items).then(|| read.to_string());
    let (cursor, more) = feeds.advance(&campaign, position, campaigns.len(), next);
    Ok(EngagementPage {
        events,
        cursor: Some(cursor),
        more,
    })
}

/// The campaign ids of the audience's journey emails, in Mailchimp's order (`GET /reports`, every
/// page).
fn journey_emails(api: &Api) -> Result<Vec<String>, ConnectorError> {
    let mut found = Vec::new();
    let mut offset = 0;
    loop {
        let url = api.url(&format!(
            "/reports?count={PAGE}&offset={offset}&fields=reports.id,reports.type,reports.list_id,total_items"
        ));
        let page: Reports = MAILCHIMP.success(Request::get(&url).send()?)?.json()?;
        let read = page.reports.len();
        offset += read;
        found.extend(
            (page.reports.into_iter())
                .filter(|r| r.kind == JOURNEY_EMAIL && r.list_id == api.list)
                .map(|r| r.id),
        );
        if read == 0 || offset >= page.total_items {
            return Ok(found);
        }
    }
}

/// `{"reports":[{"id","type","list_id",…}],"total_items"}`.
#[derive(Deserialize)]
struct Reports {
    reports: Vec<Report>,
    total_items: usize,
}

#[derive(Deserialize)]
struct Report {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    list_id: String,
}

/// `{"emails":[…],"campaign_id","total_items"}`.
#[derive(Deserialize)]
struct EmailActivity {
    emails: Vec<Email>,
    total_items: usize,
}

/// One recipient: `email_id` (the member's hash), `email_address` and their `activity`.
#[derive(Deserialize)]
struct Email {
    email_id: String,
    email_address: String,
    #[serde(default)]
    activity: Vec<Activity>,
}

/// `{"action","type","timestamp","url","ip"}`.
#[derive(Deserialize)]
struct Activity {
    action: String,
    timestamp: String,
    url: Option<String>,
}
