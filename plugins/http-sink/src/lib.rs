//! A generic catch-hook CRM sink: posts profiles, activities and erasure requests as JSON to the
//! operator's `url`, for CRMs (or glue like Zapier) that have no dedicated connector.

mod payload;

use rapport_sdk::batch;
use rapport_sdk::config::{config_u32, require_url};
use rapport_sdk::http::Request;
use rapport_sdk::prelude::*;
use serde::Serialize;

const DEFAULT_BATCH_SIZE: u32 = 100;

struct HttpSink;

impl Sink for HttpSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "HTTP catch-hook".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: batch_size().unwrap_or(DEFAULT_BATCH_SIZE),
        }
    }

    fn check() -> Result<(), ConnectorError> {
        require_url("url")?;
        batch_size()?;
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        deliver(
            payload::profiles(&profiles),
            profiles.iter().map(|p| p.key.as_str()),
        )
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        deliver(
            payload::activities(&activities),
            activities.iter().map(|a| a.idempotency_key.as_str()),
        )
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        Request::post(&require_url("url")?, &payload::forget(&identities))?
            .send()?
            .success()?;
        Ok(())
    }
}

rapport_sdk::export_sink!(HttpSink);

/// Posts one batch; the vendor's answer (or a lost connection) applies to every item.
fn deliver<'a>(
    body: impl Serialize,
    keys: impl ExactSizeIterator<Item = &'a str> + Clone,
) -> Result<Vec<Outcome>, ConnectorError> {
    let count = keys.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let request = Request::post(&require_url("url")?, &body)?
        .header("idempotency-key", &payload::batch_key(keys));
    batch::send(request, count, |response| response.outcomes(count))
}

fn batch_size() -> Result<u32, ConnectorError> {
    match config_u32("batch_size", DEFAULT_BATCH_SIZE)? {
        0 => Err(ConnectorError::Config(
            "config key `batch_size` must be at least 1".into(),
        )),
        n => Ok(n),
    }
}
