//! A POS source for tills without an API: imports their CSV or JSON Lines export, uploaded by the
//! operator (as a webhook body) or fetched from `export_url` on every poll. Built for contract 0.3:
//! an export may carry a customer's birthday; it carries no loyalty accounts or order versions, so
//! those stay absent.

mod csv_file;
mod export;
#[cfg(test)]
mod fuzz;
mod jsonl;
mod raw;
mod receipt;

use export::Format;
use rapport_sdk::config::{config_str, config_u32, config_url};
use rapport_sdk::http::Request;
use rapport_sdk::log;
use rapport_sdk::v0_3::prelude::*;

const STREAM: &str = "sales";
const DEFAULT_BATCH_SIZE: u32 = 500;
const ACCEPT: &str = "text/csv, application/x-ndjson, application/jsonl, */*;q=0.5";

struct CsvSource;

impl Source for CsvSource {
    fn describe() -> Descriptor {
        Descriptor {
            name: "CSV export".into(),
            kind: ConnectorKind::PosSource,
            streams: vec![STREAM.into()],
            max_batch: 0,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        format()?;
        batch_size()?;
        if let Some(url) = config_url("export_url")? {
            download(&url)?;
        }
        Ok(())
    }

    fn poll(stream: String, cursor: Option<String>) -> Result<Batch, ConnectorError> {
        if stream != STREAM {
            return Err(ConnectorError::Invalid(format!(
                "unknown stream {stream:?}: this source has only {STREAM:?}"
            )));
        }
        let format = format()?;
        let limit = batch_size()?;
        let cursor = export::parse_cursor(cursor.as_deref())?;
        let Some(url) = config_url("export_url")? else {
            return Ok(Batch {
                events: Vec::new(),
                rejected: Vec::new(),
                cursor: None,
                more: false,
            });
        };
        let entries = export::read(&download(&url)?, format)?;
        let batch = export::batch(entries, cursor, limit);
        log::info(&summary("poll", &batch.events, &batch.rejected));
        Ok(batch)
    }

    fn webhook(_headers: Vec<Header>, body: Vec<u8>) -> Result<Push, ConnectorError> {
        let push = export::push(export::read(&body, format()?)?);
        log::info(&summary("upload", &push.events, &push.rejected));
        Ok(push)
    }
}

rapport_sdk::export_source_v0_3!(CsvSource);

fn format() -> Result<Format, ConnectorError> {
    Format::from_config(config_str("format").as_deref())
}

fn batch_size() -> Result<usize, ConnectorError> {
    match config_u32("batch_size", DEFAULT_BATCH_SIZE)? {
        0 => Err(ConnectorError::Config(
            "config key `batch_size` must be at least 1".into(),
        )),
        n => Ok(n as usize),
    }
}

/// The export file at `url`, if the vendor answers 2xx.
fn download(url: &str) -> Result<Vec<u8>, ConnectorError> {
    Ok(Request::get(url)
        .header("accept", ACCEPT)
        .send()?
        .success()?
        .body)
}

fn summary(what: &str, events: &[PosEvent], rejected: &[RejectedInput]) -> String {
    format!(
        "{what}: {} receipts read, {} lines rejected",
        events.len(),
        rejected.len()
    )
}
