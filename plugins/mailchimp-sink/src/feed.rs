//! The consent feed (contract 0.2): people who unsubscribed at Mailchimp — through an email's
//! unsubscribe link, the preference centre or the account's own staff — read from the audience's
//! members by `last_changed`, so the refusal reaches the shop's other tools.
//!
//! `GET /lists/{list}/members?status=unsubscribed&since_last_changed=…&sort_field=last_changed
//! &sort_dir=ASC&count=…&offset=…`. Each query re-reads the second before its watermark, since
//! Mailchimp's `since_last_changed` is exclusive and times have whole seconds; the host drops the
//! changes it already holds by their id. When a whole page shares the watermark's second, the
//! cursor pages through it by offset instead.

use crate::answer::MAILCHIMP;
use crate::Api;
use rapport_sdk::http::Request;
use rapport_sdk::prelude::*;
use rapport_sdk::time::{format_timestamp, parse_timestamp};
use rapport_sdk::watermark::Watermark;
use rapport_sdk_engagement_consent_feed::{ConsentChange, ConsentPage};
use serde::Deserialize;

/// Members per page (Mailchimp's maximum `count`).
const PAGE: usize = 1000;
/// How Mailchimp's consent choices are described in the host's ledger.
const SOURCE: &str = "crm-unsubscribe";

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    /// Mailchimp's id for the address, which (unlike the member id, an md5 of the address) holds
    /// nothing personal: it becomes part of the change's id, which the host keeps as evidence.
    unique_email_id: String,
    email_address: String,
    last_changed: String,
}

/// The unsubscribes after `cursor`, oldest first.
pub fn unsubscribes(api: &Api, cursor: Option<&str>) -> Result<ConsentPage, ConnectorError> {
    let mut mark = Watermark::parse(cursor, "Mailchimp")?;
    let since = mark.since().map(parse_time).transpose()?;
    let offset = mark.offset()?;
    let list = &api.list;
    let mut url = api.url(&format!(
        "/lists/{list}/members?status=unsubscribed&sort_field=last_changed&sort_dir=ASC&count={PAGE}&offset={offset}\
         &fields=members.unique_email_id,members.email_address,members.last_changed"
    ));
    if let Some(since) = reread_since(since) {
        url.push_str("&since_last_changed=");
        url.push_str(&since);
    }
    let members: Members = MAILCHIMP.success(Request::get(&url).send()?)?.json()?;
    let mut changes = Vec::with_capacity(members.members.len());
    for member in &members.members {
        let at = parse_time(&member.last_changed)?;
        mark.saw(&member.last_changed);
        changes.push(ConsentChange {
            id: format!("{}@{at}", member.unique_email_id),
            identities: vec![Identity {
                kind: IdentityKind::Email,
                value: member.email_address.clone(),
            }],
            consent: Consent {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                state: ConsentState::Revoked,
                at,
                source: SOURCE.into(),
            },
        });
    }
    let full = changes.len() == PAGE;
    let newest = mark.newest().map(parse_time).transpose()?;
    let moved_on = newest > since;
    let (mark, more) = match (full, moved_on) {
        (false, _) => (mark.advance(None), false),
        (true, true) => (mark.advance(None), true),
        (true, false) => (mark.advance(Some((offset + PAGE).to_string())), true),
    };
    Ok(ConsentPage {
        changes,
        cursor: Some(mark.encode()),
        more,
    })
}

fn parse_time(text: &str) -> Result<Timestamp, ConnectorError> {
    parse_timestamp(text).map_err(|e| ConnectorError::Invalid(format!("Mailchimp member: {e}")))
}

/// The `since` to send for watermark `since`: a second earlier, since Mailchimp's `since`
/// parameters are exclusive and its times have whole seconds (the host drops what it holds).
pub fn reread_since(since: Option<Timestamp>) -> Option<String> {
    since.map(|since| format_timestamp(since - 1000))
}
