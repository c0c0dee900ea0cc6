//! Incremental polling of the four streams. Each stream is read by an `updated_at` watermark: a
//! query asks for everything updated since the watermark, one page per poll; while it is paged,
//! the cursor keeps the query's watermark and Square's page cursor (later pages resend the same
//! query), and the newest `updated_at` seen. When the last page is read, the newest time seen
//! becomes the next watermark. The watermark is inclusive, so a record on the boundary is read
//! again with the same event id, which the host drops.
//!
//! A completed refund is read through the order it names (its return order, see `map`), so a
//! page of refunds costs one more request: a batch retrieve of those orders.
//!
//! The lines of the orders a page reads take their categories from the catalogue (see
//! `catalog`); what the orders and refunds streams know of it rides in their cursors, beside the
//! watermark: `{"since":…,"newest":…,"page":…,"catalog":{…}}`.
//!
//! Loyalty accounts have no time filter (Square searches them by phone or customer only, sorted by
//! creation): each query reads them all, page by page, and reports those updated at or after the
//! watermark; the newest `updated_at` read becomes the next watermark as for the other streams.

use crate::catalog::{self, Cache};
use crate::map::SquareOrder;
use crate::{api, location_ids, map, page_limit, people};
use rapport_sdk::items::{self, Decoded};
use rapport_sdk::log;
use rapport_sdk::time::parse_timestamp;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::watermark::{Page, PageItem, Watermark};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A list answer of Square's: the page's records (under the name of what is listed; none when
/// absent or `null`) and the cursor of the next page. A busy stream reads its records as JSON text
/// (`RawValue`) to decode each straight into the type it maps (see `rapport_sdk::items`).
#[derive(Deserialize)]
struct Listing<T> {
    #[serde(alias = "orders", alias = "customers", alias = "refunds")]
    #[serde(alias = "loyalty_accounts")]
    records: Option<Vec<T>>,
    cursor: Option<String>,
}

/// What an order that does not decode is called in its rejection.
const ORDER: &str = "Square order";

/// Square's largest page of loyalty accounts.
const MAX_LOYALTY_PAGE: u32 = 200;

/// The catalogue a stream's cursor remembers (the rest of the cursor is its [`Watermark`]).
#[derive(Deserialize, Default)]
struct CatalogCursor {
    #[serde(default)]
    catalog: Cache,
}

/// Reads the next page of `stream` after `cursor`. Objects of other locations are skipped.
pub fn poll(stream: &str, cursor: Option<&str>) -> Result<Batch, ConnectorError> {
    let mark = Watermark::parse(cursor, "Square")?;
    let limit = page_limit()?;
    let (since, page) = (mark.since(), mark.page());
    match stream {
        "orders" => {
            let locations = location_ids()?;
            let page = fetch_orders(&locations, limit, since, page)?;
            let mut cache = stored_catalog(cursor)?;
            let here = |order: &SquareOrder| at(&locations, order.location());
            let keys = catalog::line_keys(page.items.iter().flatten().filter(|o| here(o)));
            let categories = catalog::resolve(&keys, &mut cache)?;
            let batch = batch(mark, stream, page, |order| {
                let order = order?;
                if here(&order) {
                    map::order(order, &categories)
                } else {
                    Ok(map::Mapped::default())
                }
            });
            Ok(with_catalog(batch, &cache))
        }
        "refunds" => {
            let locations = location_ids()?;
            let page = fetch_refunds(limit, since, page)?;
            let here = |item: &Value| at(&locations, map::location(item));
            let orders = refund_orders(page.items.iter().filter(|item| here(item)))?;
            let mut cache = stored_catalog(cursor)?;
            let keys = catalog::line_keys(orders.values().flatten());
            let categories = catalog::resolve(&keys, &mut cache)?;
            let batch = batch(mark, stream, page, |item| {
                if !here(&item) {
                    return Ok(map::Mapped::default());
                }
                let order = (map::refund_order_id(&item).and_then(|id| orders.get(id)))
                    .map(|order| order.as_ref().map_err(|e| e.reason.as_str()));
                map::payment_refund(item, order, &categories)
            });
            Ok(with_catalog(batch, &cache))
        }
        "customers" => {
            let page = fetch_customers(limit, since, page)?;
            Ok(batch(mark, stream, page, people::customer))
        }
        "loyalty" => {
            let since_ms = since.map(parse_timestamp).transpose().map_err(|e| {
                ConnectorError::Invalid(format!("stored loyalty watermark {since:?}: {e}"))
            })?;
            let Some(page) = fetch_loyalty_accounts(limit, page)? else {
                log::warn(
                    "Square Loyalty cannot be read (no programme, or the token lacks LOYALTY_READ): \
                     no loyalty accounts this time",
                );
                return Ok(Batch {
                    events: Vec::new(),
                    rejected: Vec::new(),
                    cursor: None,
                    more: false,
                });
            };
            Ok(batch(mark, stream, page, |item| {
                if updated_since(&item, since_ms) {
                    people::loyalty_account(item)
                } else {
                    Ok(map::Mapped::default())
                }
            }))
        }
        other => Err(ConnectorError::Invalid(format!(
            "unknown stream {other:?}: Square has \"orders\", \"customers\", \"refunds\" and \"loyalty\""
        ))),
    }
}

/// Whether an object of `location` belongs to one of `locations` (or to none in particular).
fn at(locations: &[String], location: Option<&str>) -> bool {
    location.is_none_or(|l| locations.iter().any(|x| x == l))
}

/// Whether a loyalty account changed at or after the watermark (`None`: the first read, all
/// of them). An account whose `updated_at` does not parse is read, and its mapping says why.
fn updated_since(item: &Value, since_ms: Option<i64>) -> bool {
    match (since_ms, updated_ms(item)) {
        (Some(since), Some(updated)) => updated >= since,
        _ => true,
    }
}

/// An object's `updated_at` in ms, if it has one that parses.
fn updated_ms(item: &impl PageItem) -> Option<i64> {
    item.updated_at().and_then(|t| parse_timestamp(t).ok())
}

/// The poll's batch from a page (see [`Watermark::batch`]), with the rejected inputs the mapped
/// objects carried beside their events (a customer's malformed birthday). An object updated
/// exactly at the watermark was read by the query before, which reported what was wrong in it:
/// its events are sent again (the host drops them by id), its rejected inputs are not.
fn batch<T: PageItem>(
    mark: Watermark,
    stream: &str,
    page: Page<T>,
    mut map: impl FnMut(T) -> Result<map::Mapped, String>,
) -> Batch {
    let since = mark.since().and_then(|s| parse_timestamp(s).ok());
    let mut noted = Vec::new();
    let mut batch: Batch = mark.batch(stream, page, |item| {
        let reread = since.is_some() && updated_ms(&item) == since;
        let mut mapped = map(item)?;
        if !reread {
            noted.append(&mut mapped.rejected);
        }
        Ok(mapped)
    });
    batch.rejected.append(&mut noted);
    batch
}

/// The catalogue the stored cursor remembers (nothing before the first poll).
fn stored_catalog(cursor: Option<&str>) -> Result<Cache, ConnectorError> {
    let Some(text) = cursor else {
        return Ok(Cache::default());
    };
    serde_json::from_str::<CatalogCursor>(text)
        .map(|c| c.catalog)
        .map_err(|e| {
            ConnectorError::Invalid(format!(
                "stored cursor {text:?} has no Square catalogue: {e}"
            ))
        })
}

/// `batch` with `cache` in its cursor, beside the watermark.
fn with_catalog(mut batch: Batch, cache: &Cache) -> Batch {
    if cache.is_empty() {
        return batch;
    }
    batch.cursor = batch.cursor.map(|text| {
        let mut cursor: Value = serde_json::from_str(&text).expect("a watermark is JSON");
        cursor["catalog"] = serde_json::to_value(cache).expect("a catalogue serializes");
        cursor.to_string()
    });
    batch
}

/// The orders the completed refunds among `refunds` name, by id, in one
/// `POST /v2/orders/batch-retrieve` (a refunds page holds at most 100, Square's limit for it).
fn refund_orders<'a>(
    refunds: impl Iterator<Item = &'a Value>,
) -> Result<HashMap<String, Decoded<SquareOrder>>, ConnectorError> {
    let mut ids: Vec<&str> = refunds.filter_map(map::refund_order_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let orders = post_orders("/v2/orders/batch-retrieve", &json!({ "order_ids": ids }))?;
    Ok(orders.items.into_iter().map(|o| (o.id(), o)).collect())
}

/// `POST /v2/orders/search` for orders updated since `since`, oldest first.
pub fn fetch_orders(
    locations: &[String],
    limit: u32,
    since: Option<&str>,
    page: Option<&str>,
) -> Result<Page<Decoded<SquareOrder>>, ConnectorError> {
    let mut query = json!({"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}});
    if let Some(since) = since {
        query["filter"] = json!({"date_time_filter": {"updated_at": {"start_at": since}}});
    }
    let mut body = json!({"location_ids": locations, "query": query, "limit": limit.min(1000)});
    if let Some(page) = page {
        body["cursor"] = json!(page);
    }
    post_orders("/v2/orders/search", &body)
}

/// The orders Square answers a `POST` to `path` with, each decoded on its own.
fn post_orders(path: &str, body: &Value) -> Result<Page<Decoded<SquareOrder>>, ConnectorError> {
    let answer: Listing<Box<RawValue>> = api::post(path, body)?;
    Ok(items::decode_page(answer.into(), ORDER))
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
    api::post("/v2/customers/search", &body).map(Listing::into)
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
    api::get("/v2/refunds", &query).map(Listing::into)
}

/// `POST /v2/loyalty/accounts/search` for every account (no query), by creation time: Square
/// offers no filter by update time. `None` when the shop's loyalty programme cannot be read (it
/// has none, or the token lacks `LOYALTY_READ`): the other streams go on.
fn fetch_loyalty_accounts(limit: u32, page: Option<&str>) -> Result<Option<Page>, ConnectorError> {
    let mut body = json!({"limit": limit.min(MAX_LOYALTY_PAGE)});
    if let Some(page) = page {
        body["cursor"] = json!(page);
    }
    let answer: Option<Listing<Value>> =
        api::post_if_enabled("/v2/loyalty/accounts/search", &body)?;
    Ok(answer.map(Listing::into))
}

impl<T> From<Listing<T>> for Page<T> {
    fn from(listing: Listing<T>) -> Page<T> {
        Page {
            items: listing.records.unwrap_or_default(),
            next: listing.cursor.filter(|c| !c.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loyalty_accounts_are_read_from_the_watermark_on() {
        let at = |t: &str| json!({"id": "LA1", "updated_at": t});
        let since = parse_timestamp("2026-10-05T10:00:00Z").ok();
        assert!(
            updated_since(&at("2026-10-05T10:00:00Z"), since),
            "inclusive"
        );
        assert!(updated_since(&at("2026-10-05T11:00:00+01:00"), since));
        assert!(!updated_since(&at("2026-10-05T09:59:59.999Z"), since));
        assert!(updated_since(&at("2020-01-01T00:00:00Z"), None));
        assert!(
            updated_since(&json!({"id": "LA1"}), since),
            "mapping says why"
        );
    }

    #[test]
    fn the_catalogue_rides_in_the_cursor_beside_the_watermark() {
        assert_eq!(stored_catalog(None).unwrap(), Cache::default());
        let text = r#"{"since":"2026-10-05T10:00:00Z","catalog":{"variations":[["V1",7,"C1"]],"categories":[["C1","Coffee"]]}}"#;
        let cache = stored_catalog(Some(text)).unwrap();
        assert!(!cache.is_empty());
        assert_eq!(
            Watermark::parse(Some(text), "Square").unwrap().since(),
            Some("2026-10-05T10:00:00Z")
        );
        let batch = Batch {
            events: Vec::new(),
            rejected: Vec::new(),
            cursor: Some(r#"{"since":"2026-10-06T10:00:00Z"}"#.into()),
            more: false,
        };
        let batch = with_catalog(batch, &cache);
        let cursor: Value = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            cursor,
            json!({
                "since": "2026-10-06T10:00:00Z",
                "catalog": {"variations": [["V1", 7, "C1"]], "categories": [["C1", "Coffee"]]},
            })
        );
        assert!(matches!(
            stored_catalog(Some(r#"{"catalog": 3}"#)),
            Err(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn a_rejection_read_again_at_the_watermark_is_not_reported_twice() {
        let bad = |id: &str, at: &str| {
            json!({"id": id, "updated_at": at, "birthday": "1990-02-30",
                   "created_at": "2026-09-01T00:00:00Z"})
        };
        let mark = Watermark::parse(Some(r#"{"since":"2026-10-05T10:00:00Z"}"#), "Square").unwrap();
        let page = Page {
            items: vec![
                bad("C1", "2026-10-05T10:00:00.000Z"),
                bad("C2", "2026-10-05T10:00:01Z"),
            ],
            next: None,
        };
        let batch = batch(mark, "customers", page, people::customer);
        assert_eq!(batch.events.len(), 2, "both customers are kept");
        let located: Vec<&str> = batch.rejected.iter().map(|r| r.locator.as_str()).collect();
        assert_eq!(located, ["customer C2"]);
    }

    #[test]
    fn a_page_of_orders_is_read_straight_into_orders_and_a_malformed_one_is_rejected_alone() {
        let order = |id: &str, at: &str| {
            json!({"id": id, "location_id": "L1", "state": "COMPLETED",
                   "created_at": at, "updated_at": at, "closed_at": at,
                   "total_money": {"amount": 300, "currency": "GBP"}})
        };
        let mut malformed = order("O2", "2026-10-05T11:00:00Z");
        malformed["total_money"] = json!("three pounds");
        let text = json!({
            "orders": [order("O1", "2026-10-05T10:00:00Z"), malformed,
                       order("O3", "2026-10-05T09:00:00Z")],
            "cursor": "next-page",
        })
        .to_string();
        let listing: Listing<Box<RawValue>> = serde_json::from_str(&text).unwrap();
        let page = items::decode_page::<SquareOrder>(listing.into(), ORDER);
        assert_eq!(page.next.as_deref(), Some("next-page"));
        let batch = batch(Watermark::default(), "orders", page, |order| {
            map::order(order?, &catalog::Categories::none())
        });
        let ids: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "order:O1:2026-10-05T10:00:00Z",
                "order:O3:2026-10-05T09:00:00Z"
            ]
        );
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].locator, "orders page item 1 (id O2)");
        assert!(
            (batch.rejected[0].reason).starts_with("not a Square order: invalid type: string"),
            "{}",
            batch.rejected[0].reason
        );
        let cursor: Value = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            cursor,
            json!({"newest": "2026-10-05T11:00:00Z", "page": "next-page"}),
            "the malformed order's time counts, as it did when pages were values"
        );

        let empty: Listing<Value> = serde_json::from_str(r#"{"cursor": ""}"#).unwrap();
        let empty = Page::from(empty);
        assert!(empty.items.is_empty() && empty.next.is_none());
        let customers: Listing<Value> =
            serde_json::from_str(r#"{"customers": [{"id": "C1"}], "cursor": "c2"}"#).unwrap();
        assert_eq!(Page::from(customers).items, vec![json!({"id": "C1"})]);
    }
}
