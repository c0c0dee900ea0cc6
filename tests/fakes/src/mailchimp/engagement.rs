//! The Mailchimp simulator's engagement: customer journeys started by a member event, each
//! sending its one email to the member, reported like a campaign (`GET /reports`, paged by
//! `count` and `offset`, `total_items`), and what a test marks the recipient doing with it —
//! opens, clicks and bounces — read per recipient from `GET /reports/{campaign_id}/email-activity`
//! (`emails[]` with `email_id`, `email_address` and `activity[]` of `action`, `type`, `timestamp`,
//! `url` and `ip`; `since` keeps the activity strictly after it, a recipient with none left is
//! not listed; paged by `count` and `offset`, `total_items`).

use super::{not_found, paging, subscriber_hash, Data, MailchimpSim, Problem, Shared};
use crate::time::{now_unix, rfc3339_at_offset, rfc3339_millis};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A customer journey's email: started for a member by a member event named `trigger` in
/// audience `list_id`, reported as campaign `campaign_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyEmail {
    pub campaign_id: String,
    pub list_id: String,
    pub trigger: String,
    /// Who it was sent to, by subscriber hash.
    pub recipients: BTreeMap<String, Recipient>,
}

/// One recipient of a journey email.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub email_address: String,
    /// When it was sent to them, Unix seconds.
    pub sent_at: i64,
    pub activity: Vec<Activity>,
}

/// One thing a recipient did with the email, as the email-activity report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// `open`, `click` or `bounce`.
    pub action: String,
    /// A bounce's kind (`hard`).
    pub kind: Option<String>,
    /// Unix seconds.
    pub timestamp: i64,
    /// The link clicked.
    pub url: Option<String>,
    pub ip: String,
}

impl MailchimpSim {
    /// Starts a customer journey in audience `list` whose starting point is the member event
    /// `trigger` (as the sink names it, e.g. `journey__thanks`): each such event sends the member
    /// the journey's email. Returns the email's campaign id.
    pub fn add_journey(&self, list: &str, trigger: &str) -> String {
        let campaign_id = subscriber_hash(&format!("journey:{list}:{trigger}"))[..10].to_owned();
        self.shared.data().journeys.push(JourneyEmail {
            campaign_id: campaign_id.clone(),
            list_id: list.to_owned(),
            trigger: trigger.to_owned(),
            recipients: BTreeMap::new(),
        });
        campaign_id
    }

    /// Records that the member with `email` did `action` (`open`, `click`, `bounce`) with the
    /// journey email they were sent last, at `at` (ms since the epoch); false if they were sent
    /// none.
    pub fn mark(&self, email: &str, action: &str, at: i64) -> bool {
        let hash = subscriber_hash(email);
        let mut data = self.shared.data();
        let latest = (data.journeys.iter_mut())
            .filter_map(|j| j.recipients.get_mut(&hash))
            .max_by_key(|r| r.sent_at);
        let Some(recipient) = latest else {
            return false;
        };
        recipient.activity.push(Activity {
            action: action.to_owned(),
            kind: (action == "bounce").then(|| "hard".to_owned()),
            timestamp: at.div_euclid(1000),
            url: (action == "click").then(|| "https://shop.example.com/thanks".to_owned()),
            ip: "192.0.2.1".to_owned(),
        });
        true
    }

    /// Every journey email, with its recipients and their activity.
    pub fn journey_emails(&self) -> Vec<JourneyEmail> {
        self.shared.data().journeys.clone()
    }
}

/// What follows a member event: a journey of the audience that starts on it sends the member its
/// email at the event's `occurred_at` (else now).
pub(super) fn after_event(
    data: &mut Data,
    list: &str,
    hash: &str,
    email: &str,
    event: &Map<String, Value>,
) {
    let name = event.get("name").and_then(Value::as_str);
    let sent_at = (event.get("occurred_at").and_then(Value::as_str))
        .and_then(rfc3339_millis)
        .map_or_else(now_unix, |ms| ms.div_euclid(1000));
    for journey in &mut data.journeys {
        if journey.list_id == list && Some(journey.trigger.as_str()) == name {
            journey.recipients.insert(
                hash.to_owned(),
                Recipient {
                    email_address: email.to_owned(),
                    sent_at,
                    activity: Vec::new(),
                },
            );
        }
    }
}

fn time(unix: i64) -> String {
    rfc3339_at_offset(unix, 0)
}

/// A campaign report of a journey email, computed from its recipients.
fn report_json(journey: &JourneyEmail) -> Value {
    let all = || journey.recipients.values().flat_map(|r| &r.activity);
    let total = |action: &str| all().filter(|a| a.action == action).count();
    let unique = |action: &str| {
        (journey.recipients.values())
            .filter(|r| r.activity.iter().any(|a| a.action == action))
            .count()
    };
    let last = |action: &str| {
        (all().filter(|a| a.action == action))
            .map(|a| a.timestamp)
            .max()
            .map_or(String::new(), time)
    };
    let sent = journey.recipients.len();
    let rate = |n: usize| {
        if sent == 0 {
            0.0
        } else {
            n as f64 / sent as f64
        }
    };
    let send_time = (journey.recipients.values())
        .map(|r| r.sent_at)
        .min()
        .map_or(String::new(), time);
    json!({
        "id": journey.campaign_id,
        "campaign_title": format!("Customer journey: {}", journey.trigger),
        "type": "automation",
        "list_id": journey.list_id,
        "list_is_active": true,
        "list_name": journey.list_id,
        "subject_line": "Thank you",
        "preview_text": "",
        "emails_sent": sent,
        "abuse_reports": 0,
        "unsubscribed": 0,
        "send_time": send_time,
        "bounces": {"hard_bounces": unique("bounce"), "soft_bounces": 0, "syntax_errors": 0},
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": {"opens_total": total("open"), "unique_opens": unique("open"),
                  "open_rate": rate(unique("open")), "last_open": last("open")},
        "clicks": {"clicks_total": total("click"), "unique_clicks": unique("click"),
                   "unique_subscriber_clicks": unique("click"),
                   "click_rate": rate(unique("click")), "last_click": last("click")},
        "_links": [],
    })
}

/// `GET /reports`: the reports of the journey emails sent so far, paged by `count` and `offset`.
pub(super) async fn list_reports(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Problem> {
    let (count, offset) = paging(&params)?;
    let data = shared.data();
    let sent: Vec<&JourneyEmail> = (data.journeys.iter())
        .filter(|j| !j.recipients.is_empty())
        .collect();
    let reports: Vec<Value> = (sent.iter().skip(offset).take(count))
        .map(|j| report_json(j))
        .collect();
    Ok(Json(json!({"reports": reports, "total_items": sent.len(), "_links": []})).into_response())
}

/// `GET /reports/{campaign_id}/email-activity`: each recipient with their activity (strictly after
/// `since`, when given), by subscriber hash, paged by `count` and `offset`.
pub(super) async fn email_activity(
    State(shared): State<Arc<Shared>>,
    Path(campaign): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Problem> {
    let (count, offset) = paging(&params)?;
    let since = match params.get("since") {
        Some(text) => Some(
            rfc3339_millis(text).ok_or_else(|| {
                super::invalid(&[("since", "The date must be in ISO 8601 format.")])
            })? / 1000,
        ),
        None => None,
    };
    let data = shared.data();
    let Some(journey) = data.journeys.iter().find(|j| j.campaign_id == campaign) else {
        return Err(not_found());
    };
    let emails: Vec<Value> = (journey.recipients.iter())
        .filter_map(|(hash, r)| {
            let activity: Vec<Value> = (r.activity.iter())
                .filter(|a| since.is_none_or(|since| a.timestamp > since))
                .map(|a| {
                    let mut entry = json!({"action": a.action, "timestamp": time(a.timestamp),
                                           "ip": a.ip});
                    if let Some(kind) = &a.kind {
                        entry["type"] = json!(kind);
                    }
                    if let Some(url) = &a.url {
                        entry["url"] = json!(url);
                    }
                    entry
                })
                .collect();
            (since.is_none() || !activity.is_empty()).then(|| {
                json!({"campaign_id": campaign, "list_id": journey.list_id,
                       "list_is_active": true, "email_id": hash,
                       "email_address": r.email_address, "activity": activity, "_links": []})
            })
        })
        .collect();
    let total = emails.len();
    let page: Vec<Value> = emails.into_iter().skip(offset).take(count).collect();
    Ok(Json(
        json!({"emails": page, "campaign_id": campaign, "total_items": total,
                   "_links": []}),
    )
    .into_response())
}
