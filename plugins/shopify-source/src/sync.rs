//! Incremental polling of the two streams by an `updated_at` watermark. A query asks for everything
//! updated at or after the watermark, one page per poll; while it is paged the cursor keeps the
//! query's watermark, Shopify's `page_info` for the next page, and the newest `updated_at` read.
//! When the last page is read, the newest time becomes the next watermark. The watermark is
//! inclusive, so a record on the boundary is read again with the same event id, which the host
//! drops.

use crate::{api, map, page_limit};
use rapport_sdk::prelude::*;
use rapport_sdk::watermark::Watermark;

/// Reads the next page of `stream` after `cursor`.
pub fn poll(stream: &str, cursor: Option<&str>) -> Result<Batch, ConnectorError> {
    let mapper: fn(serde_json::Value) -> Result<Vec<PosEvent>, String> = match stream {
        "orders" => map::order_with_refunds,
        "customers" => map::customer_event,
        other => {
            return Err(ConnectorError::Invalid(format!(
                "unknown stream {other:?}: Shopify has \"orders\" and \"customers\""
            )))
        }
    };
    let cursor = Watermark::parse(cursor, "Shopify")?;
    let limit = page_limit()?;
    let page = match cursor.page() {
        Some(page_info) => api::next_page(stream, limit, page_info)?,
        None => api::first_page(stream, limit, cursor.since())?,
    };
    Ok(cursor.batch(stream, page, mapper))
}
