//! A POS source for Shopify's REST Admin API: orders (with the refunds embedded in them) and
//! customers, polled incrementally by their `updated_at` watermark with Link-header `page_info`
//! pagination, and pushed by signed webhooks. Shopify writes money as decimal strings in major
//! units, so amounts are converted by each order's currency exponent.
//!
//! Built for contract 0.3: lines carry their product's `product_type` as their category (read
//! from `products.json`, see [`products`]), a deleted customer is reported as such, and
//! Shopify's mandatory privacy webhooks become privacy requests (see [`privacy`]). Shopify has
//! no order version, so `order.version` is `none` and the host orders versions by `updated_at`.

mod api;
#[cfg(test)]
mod fuzz;
mod map;
mod privacy;
mod products;
mod sync;
mod webhook;

use rapport_sdk::config::config_u32;
use rapport_sdk::v0_3::prelude::*;

/// The streams this source polls; refunds arrive inside their orders.
const STREAMS: [&str; 2] = ["orders", "customers"];
/// Shopify's largest page.
const MAX_PAGE_LIMIT: u32 = 250;

struct ShopifySource;

impl Source for ShopifySource {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Shopify".into(),
            kind: ConnectorKind::PosSource,
            streams: STREAMS.iter().map(|s| s.to_string()).collect(),
            max_batch: 0,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        page_limit()?;
        api::first_page::<serde::de::IgnoredAny>("orders", 1, None)?;
        Ok(())
    }

    fn poll(stream: String, cursor: Option<String>) -> Result<Batch, ConnectorError> {
        sync::poll(&stream, cursor.as_deref())
    }

    fn webhook(headers: Vec<Header>, body: Vec<u8>) -> Result<Push, ConnectorError> {
        webhook::receive(&headers, &body)
    }
}

rapport_sdk::export_source_v0_3!(ShopifySource);

/// Most records one poll reads: 1 to 250.
fn page_limit() -> Result<u32, ConnectorError> {
    match config_u32("page_limit", MAX_PAGE_LIMIT)? {
        n @ 1..=MAX_PAGE_LIMIT => Ok(n),
        n => Err(ConnectorError::Config(format!(
            "config key `page_limit` must be from 1 to {MAX_PAGE_LIMIT} (Shopify's largest page), not {n}"
        ))),
    }
}
