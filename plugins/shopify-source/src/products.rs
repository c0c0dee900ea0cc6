//! Product types, for the categories of order lines. Shopify's order (and refund) lines name their
//! product (`product_id`) but not its `product_type`, so the types are read from
//! `GET products.json?ids=…&fields=id,product_type,updated_at` — one request for all the products
//! a poll page or a webhook needs (up to 250 ids a request, Shopify's largest page), never one per
//! line.
//!
//! Every call runs in a fresh wasm instance, so what was read is remembered in the orders
//! stream's cursor, which the host stores in the same transaction as the page's events: a bounded
//! map "product id → (product_type, updated_at, read_at)" under the cursor's `products` key, next
//! to the watermark's own keys (cursors stored before it simply have none). A product known there
//! is not asked for again until [`REFRESH_AFTER_MS`] after it was read: an order line does not
//! say which version of its product it was sold as, so a renamed type can only be noticed by
//! reading the product again, and a day bounds how long new sales keep the old type. The map
//! keeps the [`MAX_KNOWN`] most recently read products. A webhook has no cursor: it reads the
//! products of its one order.
//!
//! A failed read never loses the order. A transient failure (Shopify unavailable, rate limited)
//! fails the poll step or the webhook, so the page is read again on the host's retry, or Shopify
//! redelivers the webhook, and the lines get their category then. Any other failure (the token
//! lacks the `read_products` scope, an answer that is not a product list) would fail every retry
//! the same way, so the lines go without a category, the warning says why, and nothing is
//! remembered for those products, so the next page asks again.

use crate::api;
use crate::map::Categories;
use rapport_sdk::log;
use rapport_sdk::v0_3::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Most products one cursor remembers (about 60 bytes each).
pub const MAX_KNOWN: usize = 500;
/// How long a product type read from Shopify is used before the product is read again: a day.
pub const REFRESH_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// Most ids one `products.json` request names: Shopify's largest page.
pub const IDS_PER_REQUEST: usize = 250;
/// The cursor key the map is kept under.
const CURSOR_KEY: &str = "products";

/// A product as last read from Shopify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its `product_type`, trimmed; empty when it has none (or Shopify did not return it).
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub product_type: String,
    /// Its `updated_at`: the version read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it was read (the host's clock, ms).
    pub read_at: i64,
}

/// The products known to a stream, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known(BTreeMap<u64, Product>);

#[derive(Deserialize)]
struct CursorPart {
    #[serde(default)]
    products: BTreeMap<u64, Product>,
}

impl Known {
    /// The products remembered in a stored cursor (none before the first poll, or in a cursor
    /// stored before products were remembered).
    pub fn from_cursor(cursor: Option<&str>) -> Result<Known, ConnectorError> {
        let Some(text) = cursor else {
            return Ok(Known::default());
        };
        serde_json::from_str::<CursorPart>(text)
            .map(|part| Known(part.products))
            .map_err(|e| {
                ConnectorError::Invalid(format!(
                    "stored cursor {text:?} is not a Shopify orders cursor: {e}"
                ))
            })
    }

    /// `cursor` (the watermark's JSON object) with the products remembered under `products`.
    pub fn into_cursor(self, cursor: Option<String>) -> Option<String> {
        let text = cursor?;
        if self.0.is_empty() {
            return Some(text);
        }
        let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&text) else {
            return Some(text);
        };
        fields.insert(
            CURSOR_KEY.to_owned(),
            serde_json::to_value(&self.0).expect("products serialize"),
        );
        Some(Value::Object(fields).to_string())
    }

    /// The ids of `wanted` to read from Shopify at `now`: those not known, or read
    /// [`REFRESH_AFTER_MS`] ago or longer, in ascending order.
    pub fn to_read(&self, wanted: &BTreeSet<u64>, now: i64) -> Vec<u64> {
        wanted
            .iter()
            .copied()
            .filter(|id| {
                self.0
                    .get(id)
                    .is_none_or(|p| now.saturating_sub(p.read_at) >= REFRESH_AFTER_MS)
            })
            .collect()
    }

    /// Notes Shopify's `answer` to a request for `asked` at `now`: each product returned as it is
    /// now, and each asked id it did not return (a deleted product) as one without a type, so it
    /// is not asked for again on every page.
    pub fn learn(&mut self, asked: &[u64], answer: &[Value], now: i64) {
        let asked: BTreeSet<u64> = asked.iter().copied().collect();
        for id in &asked {
            self.0.insert(
                *id,
                Product {
                    product_type: String::new(),
                    updated_at: None,
                    read_at: now,
                },
            );
        }
        for product in answer {
            let Some(id) = product["id"].as_u64().filter(|id| asked.contains(id)) else {
                continue;
            };
            self.0.insert(
                id,
                Product {
                    product_type: product["product_type"]
                        .as_str()
                        .unwrap_or("")
                        .trim()
                        .to_owned(),
                    updated_at: product["updated_at"].as_str().map(str::to_owned),
                    read_at: now,
                },
            );
        }
    }

    /// The categories of `wanted`: the known products with a non-empty type.
    pub fn categories(&self, wanted: &BTreeSet<u64>) -> Categories {
        wanted
            .iter()
            .filter_map(|id| {
                let product = self.0.get(id)?;
                (!product.product_type.is_empty()).then(|| (*id, product.product_type.clone()))
            })
            .collect()
    }

    /// Forgets the products read longest ago (the lowest id first among equals) until at most
    /// `max` remain.
    pub fn bound(&mut self, max: usize) {
        if self.0.len() <= max {
            return;
        }
        let mut by_age: Vec<(i64, u64)> = self.0.iter().map(|(id, p)| (p.read_at, *id)).collect();
        by_age.sort_unstable();
        let excess = self.0.len() - max;
        for (_, id) in by_age.into_iter().take(excess) {
            self.0.remove(&id);
        }
    }
}

/// The categories of the `wanted` products at `now`, reading from Shopify those `known` does not
/// hold fresh (and noting them in `known`). Transient failures fail the call; others leave those
/// products without a category, with a warning (see the module's documentation).
pub fn categories(
    known: &mut Known,
    wanted: &BTreeSet<u64>,
    now: i64,
) -> Result<Categories, ConnectorError> {
    let to_read = known.to_read(wanted, now);
    for ids in to_read.chunks(IDS_PER_REQUEST) {
        match api::products(ids) {
            Ok(answer) => known.learn(ids, &answer, now),
            Err(e @ (ConnectorError::Transient(_) | ConnectorError::RateLimited(_))) => {
                return Err(e)
            }
            Err(e) => log::warn(&format!(
                "could not read the product types of {} product(s) from Shopify, so their lines \
                 go without a category ({}); check that the token has the read_products scope",
                ids.len(),
                describe(&e)
            )),
        }
    }
    Ok(known.categories(wanted))
}

fn describe(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Config(m) => format!("configuration: {m}"),
        ConnectorError::Auth(m) => format!("refused: {m}"),
        ConnectorError::RateLimited(ms) => format!("rate limited for {ms} ms"),
        ConnectorError::Transient(m) => format!("transient: {m}"),
        ConnectorError::Invalid(m) => format!("invalid: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: i64 = 24 * 60 * 60 * 1000;

    fn ids(list: &[u64]) -> BTreeSet<u64> {
        list.iter().copied().collect()
    }

    fn product(product_type: &str, updated_at: &str, read_at: i64) -> Product {
        Product {
            product_type: product_type.into(),
            updated_at: Some(updated_at.into()),
            read_at,
        }
    }

    #[test]
    fn a_cursor_without_products_knows_none_and_keeps_its_watermark() {
        let old = r#"{"since":"2026-10-01T05:00:00-04:00"}"#;
        let known = Known::from_cursor(Some(old)).unwrap();
        assert_eq!(known, Known::default());
        assert_eq!(Known::from_cursor(None).unwrap(), Known::default());
        assert_eq!(known.into_cursor(Some(old.into())).as_deref(), Some(old));
        assert!(matches!(
            Known::from_cursor(Some("not json")),
            Err(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn products_ride_in_the_cursor_next_to_the_watermark() {
        let mut known = Known::default();
        known.learn(
            &[11, 12],
            &[
                json!({"id": 11, "product_type": " Coffee ", "updated_at": "2026-09-01T10:00:00-04:00"}),
                json!({"id": 12, "product_type": "", "updated_at": "2026-09-02T10:00:00-04:00"}),
            ],
            1_000,
        );
        let cursor = known
            .into_cursor(Some(r#"{"since":"2026-10-01T05:00:00-04:00"}"#.into()))
            .unwrap();
        let value: Value = serde_json::from_str(&cursor).unwrap();
        assert_eq!(
            value,
            json!({
                "since": "2026-10-01T05:00:00-04:00",
                "products": {
                    "11": {"type": "Coffee", "updated_at": "2026-09-01T10:00:00-04:00", "read_at": 1000},
                    "12": {"updated_at": "2026-09-02T10:00:00-04:00", "read_at": 1000},
                },
            })
        );
        let again = Known::from_cursor(Some(&cursor)).unwrap();
        assert_eq!(
            again.0[&11],
            product("Coffee", "2026-09-01T10:00:00-04:00", 1000)
        );
        assert_eq!(again.0[&12].product_type, "");
    }

    #[test]
    fn only_unknown_and_stale_products_are_read() {
        let mut known = Known::default();
        known.0.insert(1, product("Tea", "t", 10 * DAY));
        known.0.insert(2, product("Coffee", "t", 9 * DAY));
        let wanted = ids(&[1, 2, 3]);
        // 3 is unknown; 2 is read again a day after it was read, 1 a day after that.
        assert_eq!(known.to_read(&wanted, 10 * DAY - 1), vec![3]);
        assert_eq!(known.to_read(&wanted, 10 * DAY), vec![2, 3]);
        assert_eq!(known.to_read(&wanted, 11 * DAY), vec![1, 2, 3]);
        assert!(known.to_read(&ids(&[]), 0).is_empty());
    }

    #[test]
    fn a_product_shopify_did_not_return_is_known_without_a_type() {
        let mut known = Known::default();
        known.learn(
            &[5, 6],
            &[
                json!({"id": 5, "product_type": "Brewing", "updated_at": "u"}),
                json!({"id": 99, "product_type": "Not asked"}),
            ],
            7,
        );
        assert_eq!(
            known.0[&6],
            Product {
                product_type: String::new(),
                updated_at: None,
                read_at: 7
            }
        );
        assert!(!known.0.contains_key(&99));
        assert!(known.to_read(&ids(&[5, 6]), 8).is_empty());
        assert_eq!(
            known.categories(&ids(&[5, 6, 7])),
            Categories::from([(5, "Brewing".to_owned())])
        );
    }

    #[test]
    fn the_map_keeps_the_most_recently_read() {
        let mut known = Known::default();
        for (id, read_at) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            known.0.insert(id, product("x", "t", read_at));
        }
        known.bound(2);
        assert_eq!(known.0.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        known.bound(5);
        assert_eq!(known.0.len(), 2);
    }
}
