//! A POS source for Square, built for contract 0.3: orders (with Square's `version` and the
//! category of each line from the catalogue), customers (with their birthday), refunds and loyalty
//! accounts, polled incrementally by their `updated_at` watermark and pushed by signed webhooks,
//! which also report the customers Square merges or deletes. Money arrives from Square in minor
//! units already, so orders are mostly renamed; goods given back arrive as return orders, each
//! return a refund with its lines, read the same whichever stream or notification reports it (see
//! `map`).

mod api;
mod catalog;
#[cfg(test)]
mod fuzz;
mod map;
mod people;
mod sync;
mod webhook;

use rapport_sdk::config::{config_u32, require};
use rapport_sdk::v0_3::prelude::*;

/// The streams this source polls.
const STREAMS: [&str; 4] = ["orders", "customers", "refunds", "loyalty"];
/// Square's limit on `location_ids` in one order search.
const MAX_LOCATIONS: usize = 10;
const DEFAULT_PAGE_LIMIT: u32 = 100;

struct SquareSource;

impl Source for SquareSource {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Square".into(),
            kind: ConnectorKind::PosSource,
            streams: STREAMS.iter().map(|s| s.to_string()).collect(),
            max_batch: 0,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        page_limit()?;
        sync::fetch_orders(&location_ids()?, 1, None, None)?;
        Ok(())
    }

    fn poll(stream: String, cursor: Option<String>) -> Result<Batch, ConnectorError> {
        sync::poll(&stream, cursor.as_deref())
    }

    fn webhook(headers: Vec<Header>, body: Vec<u8>) -> Result<Push, ConnectorError> {
        webhook::receive(&headers, &body)
    }
}

rapport_sdk::export_source_v0_3!(SquareSource);

/// The configured location ids: at least one, at most ten.
fn location_ids() -> Result<Vec<String>, ConnectorError> {
    let ids: Vec<String> = require("location_ids")?
        .split(',')
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    match ids.len() {
        0 => Err(ConnectorError::Config(
            "config key `location_ids` names no location".into(),
        )),
        n if n > MAX_LOCATIONS => Err(ConnectorError::Config(format!(
            "config key `location_ids` names {n} locations; Square searches at most {MAX_LOCATIONS} at once"
        ))),
        _ => Ok(ids),
    }
}

/// Most records one poll reads, before each endpoint's own maximum.
fn page_limit() -> Result<u32, ConnectorError> {
    match config_u32("page_limit", DEFAULT_PAGE_LIMIT)? {
        0 => Err(ConnectorError::Config(
            "config key `page_limit` must be at least 1".into(),
        )),
        n => Ok(n),
    }
}
