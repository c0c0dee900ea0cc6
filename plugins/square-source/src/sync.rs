//! Incremental polling of the three streams. Each stream is read by an `updated_at` watermark: a
//! query asks for everything updated since the watermark, one page per poll; while it is paged,
//! the cursor keeps the query's watermark and Square's page cursor (later pages resend the same
//! query), and the newest `updated_at` seen. When the last page is read, the newest time seen
//! becomes the next watermark. The watermark is inclusive, so a record on the boundary is read
//! again with the same event id, which the host drops.
//!
//! A completed refund is read through the order it names (its return order, see `map`), so a
//! page of refunds costs one more request: a batch retrieve of those orders.

use crate::{api, location_ids, map, page_limit};
use rapport_sdk::prelude::*;
use rapport_sdk::watermark::{Page, Watermark};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Reads the next page of `stream` after `cursor`. Objects of other locations are skipped.
pub fn poll(stream: &str, cursor: Option<&str>) -> Result<Batch, ConnectorError> {
    let cursor = Watermark::parse(cursor, "Square")?;
    let limit = page_limit()?;
    let locations = location_ids()?;
    let here = |item: &Value| map::location(item).is_none_or(|l| locations.iter().any(|x| x == l));
    let (since, page) = (cursor.since(), cursor.page());
    let page = match stream {
        "orders" => fetch_orders(&locations, limit, since, page)?,
        "customers" => fetch_customers(limit, since, page)?,
        "refunds" => fetch_refunds(limit, since, page)?,
        other => {
            return Err(ConnectorError::Invalid(format!(
                "unknown stream {other:?}: Square has \"orders\", \"customers\" and \"refunds\""
            )))
        }
    };
    if stream == "refunds" {
        let orders = refund_orders(page.items.iter().filter(|item| here(item)))?;
        return Ok(cursor.batch(stream, page, |item| {
            if !here(&item) {
                return Ok(map::Mapped::default());
            }
            let order = map::refund_order_id(&item).and_then(|id| orders.get(id).cloned());
            map::payment_refund(item, order)
        }));
    }
    let mapper = if stream == "orders" {
        map::order
    } else {
        map::customer
    };
    Ok(cursor.batch(stream, page, |item| {
        if here(&item) {
            mapper(item)
        } else {
            Ok(map::Mapped::default())
        }
    }))
}

/// The orders the completed refunds among `refunds` name, by id, in one
/// `POST /v2/orders/batch-retrieve` (a refunds page holds at most 100, Square's limit for it).
fn refund_orders<'a>(
    refunds: impl Iterator<Item = &'a Value>,
) -> Result<HashMap<String, Value>, ConnectorError> {
    let mut ids: Vec<&str> = refunds.filter_map(map::refund_order_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let answer = api::post("/v2/orders/batch-retrieve", &json!({ "order_ids": ids }))?;
    Ok(page_of(answer, "orders")?
        .items
        .into_iter()
        .filter_map(|o| Some((o.get("id")?.as_str()?.to_owned(), o)))
        .collect())
}

/// `POST /v2/orders/search` for orders updated since `since`, oldest first.
pub fn fetch_orders(
    locations: &[String],
    limit: u32,
    since: Option<&str>,
    page: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut query = json!({"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}});
    if let Some(since) = since {
        query["filter"] = json!({"date_time_filter": {"updated_at": {"start_at": since}}});
    }
    let mut body = json!({"location_ids": locations, "query": query, "limit": limit.min(1000)});
    if let Some(page) = page {
        body["cursor"] = json!(page);
    }
    page_of(api::post("/v2/orders/search", &body)?, "orders")
}

/// `POST /v2/customers/search` for customers updated since `since`. Square sorts customers only by
/// name or creation time, so the watermark moves only when the whole query has been read.
fn fetch_customers(
    limit: u32,
    since: Option<&str>,
    page: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut query = json!({"sort": {"field": "CREATED_AT", "order": "ASC"}});
    if let Some(since) = since {
        query["filter"] = json!({"updated_at": {"start_at": since}});
    }
    let mut body = json!({"query": query, "limit": limit.min(100)});
    if let Some(page) = page {
        body["cursor"] = json!(page);
    }
    page_of(api::post("/v2/customers/search", &body)?, "customers")
}

/// `GET /v2/refunds` for refunds updated since `since`, oldest first. The endpoint takes one
/// location at most, so refunds of other locations are skipped by the caller.
fn fetch_refunds(
    limit: u32,
    since: Option<&str>,
    page: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut query = vec![
        ("sort_field", "UPDATED_AT".to_owned()),
        ("sort_order", "ASC".to_owned()),
        ("limit", limit.min(100).to_string()),
    ];
    query.extend(since.map(|s| ("updated_at_begin_time", s.to_owned())));
    query.extend(page.map(|p| ("cursor", p.to_owned())));
    page_of(api::get("/v2/refunds", &query)?, "refunds")
}

fn page_of(mut answer: Value, field: &str) -> Result<Page, ConnectorError> {
    let items = match answer.get_mut(field).map(Value::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConnectorError::Invalid(format!(
                "Square's `{field}` is not a list: {other}"
            )))
        }
    };
    let next = answer
        .get("cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Ok(Page { items, next })
}
