//! A catch-hook sink that does everything right but one thing, chosen by config `flaw`:
//! `logs-emails` logs each profile's email address as it sends it; `rejects-rate-limits` reads a
//! 429 as a rejection (so the host would drop work the vendor only asked to slow down).
//! `rapport plugin test` must fail it on that check alone.

use rapport_sdk::batch;
use rapport_sdk::config::{require, require_url};
use rapport_sdk::http::{Request, Response};
use rapport_sdk::prelude::*;
use serde_json::json;

struct BrokenSink;

impl Sink for BrokenSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Broken test sink".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: 100,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        require_url("url")?;
        flaw()?;
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        if flaw()? == Flaw::LogsEmails {
            for identity in profiles.iter().flat_map(|p| &p.identities) {
                if identity.kind == IdentityKind::Email {
                    rapport_sdk::log::info(&format!("upserting {}", identity.value));
                }
            }
        }
        let items: Vec<_> = profiles.iter().map(|p| json!({ "key": p.key })).collect();
        deliver(
            json!({ "type": "profiles", "items": items }),
            profiles.len(),
        )
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        let items: Vec<_> = (activities.iter())
            .map(|a| json!({ "idempotency_key": a.idempotency_key }))
            .collect();
        deliver(
            json!({ "type": "activities", "items": items }),
            activities.len(),
        )
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        let count = identities.len();
        Request::post(
            &require_url("url")?,
            &json!({ "type": "forget", "count": count }),
        )?
        .send()?
        .success()?;
        Ok(())
    }
}

#[derive(PartialEq)]
enum Flaw {
    LogsEmails,
    RejectsRateLimits,
}

fn flaw() -> Result<Flaw, ConnectorError> {
    match require("flaw")?.as_str() {
        "logs-emails" => Ok(Flaw::LogsEmails),
        "rejects-rate-limits" => Ok(Flaw::RejectsRateLimits),
        other => Err(ConnectorError::Config(format!(
            "config key `flaw` is {other:?}: use logs-emails or rejects-rate-limits"
        ))),
    }
}

/// Posts one batch and reads the answer for every item, with the configured flaw.
fn deliver(body: serde_json::Value, items: usize) -> Result<Vec<Outcome>, ConnectorError> {
    let flaw = flaw()?;
    let request = Request::post(&require_url("url")?, &body)?;
    batch::send(request, items, |response: &Response| {
        if flaw == Flaw::RejectsRateLimits && response.status == 429 {
            return Ok(vec![Outcome::Rejected("HTTP 429: refused".into()); items]);
        }
        response.outcomes(items)
    })
}

rapport_sdk::export_sink!(BrokenSink);
