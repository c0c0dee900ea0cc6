//! Incremental polling of the two streams by an `updated_at` watermark. A query asks for everything
//! updated at or after the watermark, one page per poll; while it is paged the cursor keeps the
//! query's watermark, Shopify's `page_info` for the next page, and the newest `updated_at` read.
//! When the last page is read, the newest time becomes the next watermark. The watermark is
//! inclusive, so a record on the boundary is read again with the same event id, which the host
//! drops. The orders cursor also remembers the product types read for the lines' categories (see
//! [`crate::products`]).

use crate::map::ShopifyOrder;
use crate::products::{self, Known};
use crate::{api, map, page_limit};
use rapport_sdk::host;
use rapport_sdk::items;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::watermark::{Page, Watermark};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// What an order that does not decode is called in its rejection.
const ORDER: &str = "Shopify order";

/// Reads the next page of `stream` after `cursor`.
pub fn poll(stream: &str, cursor: Option<&str>) -> Result<Batch, ConnectorError> {
    if !matches!(stream, "orders" | "customers") {
        return Err(ConnectorError::Invalid(format!(
            "unknown stream {stream:?}: Shopify has \"orders\" and \"customers\""
        )));
    }
    let mark = Watermark::parse(cursor, "Shopify")?;
    if stream == "customers" {
        let page: Page = fetch(stream, &mark)?;
        return Ok(mark.batch(stream, page, map::customer_event));
    }
    let page = items::decode_page::<ShopifyOrder>(fetch(stream, &mark)?, ORDER);
    // One products.json request for the whole page, for the products the cursor does not know.
    let mut known = Known::from_cursor(cursor)?;
    let wanted: BTreeSet<u64> = (page.items.iter().flatten())
        .flat_map(ShopifyOrder::products_wanted)
        .collect();
    let categories = products::categories(&mut known, &wanted, host::now())?;
    known.bound(products::MAX_KNOWN);
    let mut batch = mark.batch(stream, page, |order| {
        map::order_with_refunds(order?, &categories)
    });
    batch.cursor = known.into_cursor(batch.cursor);
    Ok(batch)
}

/// The page of `stream` the cursor `mark` is at, its records read as `T`.
fn fetch<T: DeserializeOwned>(stream: &str, mark: &Watermark) -> Result<Page<T>, ConnectorError> {
    let limit = page_limit()?;
    match mark.page() {
        Some(page_info) => api::next_page(stream, limit, page_info),
        None => api::first_page(stream, limit, mark.since()),
    }
}
