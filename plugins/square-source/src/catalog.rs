//! The category of each line sold, from Square's catalogue.
//!
//! A line names the item variation it sold (`catalog_object_id`) and the catalogue version it was
//! sold at (`catalog_version`). Its category is its item's: the item's `reporting_category`, else
//! the first of its `categories` (by `ordinal`), else the deprecated `category_id`; the name is
//! that `CatalogCategory`'s. `POST /v2/catalog/batch-retrieve` with `include_related_objects`
//! answers a variation with its parent item, and goes one level deep only (the spec says so), so
//! the items' category names take a second batch retrieve, of the category ids not known yet. A
//! poll page or a notification therefore costs at most two requests whatever its number of
//! lines, and none when everything it sold is known.
//!
//! Each call runs in a fresh instance, so what is known lives in the cursors of the streams that
//! read orders ([`Cache`], stored by the host in the same transaction as the events it
//! categorised): a bounded list of `(variation id, catalogue version) → category id` and one of
//! `category id → name`, the least recently used dropped first. A line sold at a catalogue version
//! already known is never asked about again; a line sold at a new version of its variation is.
//! Webhooks have no cursor: each asks for what its order needs.
//!
//! The current catalogue is asked, not the line's `catalog_version` (a BETA parameter that takes
//! one version per request, while a page's lines are sold at many): a product's category is as
//! the shop files it, and the version in the key only decides when to ask again.
//!
//! A catalogue that cannot answer must not lose an order: a transient failure or throttling fails
//! the poll step (or the notification, which Square then redelivers), so the order is read again,
//! with its categories, on the next attempt; a refusal (a token without `ITEMS_READ`, an answer
//! that is not a catalogue) must not stop the sales, so those lines go without a category, a
//! warning is logged, and nothing is remembered, so a later read asks again.

use crate::api;
use crate::map::SquareOrder;
use rapport_sdk::log;
use rapport_sdk::v0_3::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Most variations a cursor remembers.
pub const MAX_VARIATIONS: usize = 500;
/// Most category names a cursor remembers.
pub const MAX_CATEGORIES: usize = 200;

/// A line's catalogue object: the variation's id and the catalogue version it was sold at.
pub type Key = (String, Option<i64>);

/// What a stream knows of the catalogue, kept in its cursor as
/// `{"variations": [[id, version, category id], …], "categories": [[id, name], …]}`, each list
/// least recently used first.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    variations: Vec<(String, Option<i64>, Option<String>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    categories: Vec<(String, Option<String>)>,
}

impl Cache {
    pub fn is_empty(&self) -> bool {
        self.variations.is_empty() && self.categories.is_empty()
    }

    /// The category id known for `key` (`Some(None)`: known to have none), marked as just used.
    fn variation(&mut self, key: &Key) -> Option<Option<String>> {
        let at = self
            .variations
            .iter()
            .position(|(id, version, _)| *id == key.0 && *version == key.1)?;
        let entry = self.variations.remove(at);
        let category = entry.2.clone();
        self.variations.push(entry);
        Some(category)
    }

    /// The name known for category `id` (`Some(None)`: it has none), marked as just used.
    fn category(&mut self, id: &str) -> Option<Option<String>> {
        let at = self.categories.iter().position(|(c, _)| c == id)?;
        let entry = self.categories.remove(at);
        let name = entry.1.clone();
        self.categories.push(entry);
        Some(name)
    }

    fn remember_variation(&mut self, key: Key, category: Option<String>) {
        self.variations
            .retain(|(id, version, _)| !(*id == key.0 && *version == key.1));
        self.variations.push((key.0, key.1, category));
        let over = self.variations.len().saturating_sub(MAX_VARIATIONS);
        self.variations.drain(..over);
    }

    fn remember_category(&mut self, id: String, name: Option<String>) {
        self.categories.retain(|(c, _)| *c != id);
        self.categories.push((id, name));
        let over = self.categories.len().saturating_sub(MAX_CATEGORIES);
        self.categories.drain(..over);
    }
}

/// The category names of lines, by their catalogue [`Key`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Categories(HashMap<Key, String>);

impl Categories {
    /// No categories: every line goes without one.
    #[cfg(test)]
    pub fn none() -> Categories {
        Categories::default()
    }

    /// These categories, for tests.
    #[cfg(test)]
    pub fn of_pairs<const N: usize>(pairs: [(Key, &str); N]) -> Categories {
        Categories(pairs.map(|(k, name)| (k, name.to_owned())).into())
    }

    /// The category of the line that sold variation `id` at catalogue version `version`.
    pub fn of(&self, id: &str, version: Option<i64>) -> Option<String> {
        self.0.get(&(id.to_owned(), version)).cloned()
    }
}

/// The catalogue keys of the lines `orders` sold or took back.
pub fn line_keys<'a>(orders: impl IntoIterator<Item = &'a SquareOrder>) -> BTreeSet<Key> {
    (orders.into_iter())
        .flat_map(SquareOrder::catalog_objects)
        .filter(|(id, _)| !id.is_empty())
        .map(|(id, version)| (id.to_owned(), version))
        .collect()
}

/// The categories of the lines with `keys`, asking Square's catalogue only for what `cache` does
/// not know, and remembering in `cache` what it answered (see the module notes for failures).
pub fn resolve(keys: &BTreeSet<Key>, cache: &mut Cache) -> Result<Categories, ConnectorError> {
    // Each variation's category id, and each category's name, as far as known.
    let mut variations: HashMap<&Key, Option<String>> = HashMap::new();
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut unknown = Vec::new();
    for key in keys {
        match cache.variation(key) {
            Some(category) => {
                variations.insert(key, category);
            }
            None => unknown.push(key),
        }
    }
    let mut answered = Vec::new();
    if !unknown.is_empty() {
        let ids: BTreeSet<&str> = unknown.iter().map(|k| k.0.as_str()).collect();
        if let Some(answer) = retrieve(ids, true, "the items of the lines sold")? {
            let found = variation_categories(&answer);
            names.extend(category_names(&answer));
            for key in unknown {
                let category = found.get(&key.0).cloned().flatten();
                variations.insert(key, category.clone());
                answered.push((key.clone(), category));
            }
        }
    }
    let mut wanted = BTreeSet::new();
    for category in variations.values().flatten() {
        if names.contains_key(category) {
            continue;
        }
        match cache.category(category) {
            Some(name) => {
                names.insert(category.clone(), name);
            }
            None => {
                wanted.insert(category.clone());
            }
        }
    }
    if !wanted.is_empty() {
        let ids = wanted.iter().map(String::as_str);
        if let Some(answer) = retrieve(ids, false, "the categories of the lines sold")? {
            let found = category_names(&answer);
            for id in wanted {
                let name = found.get(&id).cloned().flatten();
                names.insert(id, name);
            }
        }
    }
    for (key, category) in answered {
        cache.remember_variation(key, category);
    }
    let mut result = HashMap::new();
    for (key, category) in variations {
        let Some(category) = category else { continue };
        let Some(name) = names.get(&category) else {
            continue;
        };
        cache.remember_category(category.clone(), name.clone());
        if let Some(name) = name {
            result.insert(key.clone(), name.clone());
        }
    }
    Ok(Categories(result))
}

/// `POST /v2/catalog/batch-retrieve` of `ids` (with their related objects if `related`); `None`
/// when the catalogue refused in a way that retrying will not mend (logged), and the lines go
/// without a category.
fn retrieve<'a>(
    ids: impl IntoIterator<Item = &'a str>,
    related: bool,
    what: &str,
) -> Result<Option<Value>, ConnectorError> {
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut body = json!({"object_ids": ids, "include_deleted_objects": true});
    if related {
        body["include_related_objects"] = json!(true);
    }
    match api::post("/v2/catalog/batch-retrieve", &body) {
        Ok(answer) => Ok(Some(answer)),
        Err(error @ (ConnectorError::Transient(_) | ConnectorError::RateLimited(_))) => Err(error),
        Err(other) => {
            log::warn(&format!(
                "Square's catalogue did not give {what} ({other:?}): those lines have no category this time"
            ));
            Ok(None)
        }
    }
}

/// From a batch retrieve of variations (their items among the related objects): each variation's
/// (or item's, if a line named an item) category id, `None` when its item has none or is missing.
fn variation_categories(answer: &Value) -> HashMap<String, Option<String>> {
    let all = || list(answer, "objects").chain(list(answer, "related_objects"));
    let items: HashMap<&str, &Value> = all()
        .filter(|o| o["type"] == "ITEM")
        .filter_map(|o| Some((o["id"].as_str()?, o)))
        .collect();
    list(answer, "objects")
        .filter_map(|o| {
            let id = o["id"].as_str()?;
            let category = match o["type"].as_str()? {
                "ITEM_VARIATION" => o["item_variation_data"]["item_id"]
                    .as_str()
                    .and_then(|item| items.get(item))
                    .and_then(|item| item_category(item)),
                "ITEM" => item_category(o),
                _ => return None,
            };
            Some((id.to_owned(), category))
        })
        .collect()
}

/// An item's category: its reporting category, else the first of its categories by ordinal,
/// else the deprecated `category_id`.
fn item_category(item: &Value) -> Option<String> {
    let data = &item["item_data"];
    let id = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    id(&data["reporting_category"]["id"])
        .or_else(|| {
            list(data, "categories")
                .filter(|c| id(&c["id"]).is_some())
                .min_by_key(|c| c["ordinal"].as_i64().unwrap_or(i64::MAX))
                .and_then(|c| id(&c["id"]))
        })
        .or_else(|| id(&data["category_id"]))
}

/// The names of the categories among an answer's objects and related objects.
fn category_names(answer: &Value) -> HashMap<String, Option<String>> {
    list(answer, "objects")
        .chain(list(answer, "related_objects"))
        .filter(|o| o["type"] == "CATEGORY")
        .filter_map(|o| {
            let name = o["category_data"]["name"]
                .as_str()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            Some((o["id"].as_str()?.to_owned(), name))
        })
        .collect()
}

fn list<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    value[field].as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, version: i64) -> Key {
        (id.to_owned(), Some(version))
    }

    #[test]
    fn the_keys_of_sold_and_returned_lines() {
        let order = |id: &str, lines: Value| -> SquareOrder {
            let mut order = json!({
                "id": id, "created_at": "2026-10-05T10:00:00Z",
                "updated_at": "2026-10-05T10:00:00Z",
                "total_money": {"amount": 0, "currency": "GBP"},
            });
            order
                .as_object_mut()
                .unwrap()
                .extend(lines.as_object().unwrap().clone());
            crate::map::decode("order", order).unwrap()
        };
        let sale = order(
            "O1",
            json!({"line_items": [
                {"catalog_object_id": "V1", "catalog_version": 7, "quantity": "1"},
                {"name": "Custom amount", "quantity": "1"},
                {"catalog_object_id": "V2", "quantity": "1"},
                {"catalog_object_id": "", "quantity": "1"},
            ]}),
        );
        let back = order(
            "O2",
            json!({"returns": [{"return_line_items": [
                {"catalog_object_id": "V1", "catalog_version": 7, "quantity": "1"},
                {"catalog_object_id": "V3", "catalog_version": 9, "quantity": "1"},
            ]}]}),
        );
        assert_eq!(
            line_keys([&sale, &back]),
            BTreeSet::from([key("V1", 7), ("V2".to_owned(), None), key("V3", 9)])
        );
    }

    #[test]
    fn a_variation_takes_its_items_reporting_category_then_categories_then_the_legacy_one() {
        let answer = json!({
            "objects": [
                {"type": "ITEM_VARIATION", "id": "V1", "item_variation_data": {"item_id": "I1"}},
                {"type": "ITEM_VARIATION", "id": "V2", "item_variation_data": {"item_id": "I2"}},
                {"type": "ITEM_VARIATION", "id": "V3", "item_variation_data": {"item_id": "I3"}},
                {"type": "ITEM_VARIATION", "id": "V4", "item_variation_data": {"item_id": "I4"}},
                {"type": "ITEM_VARIATION", "id": "V5", "item_variation_data": {"item_id": "GONE"}},
            ],
            "related_objects": [
                {"type": "ITEM", "id": "I1", "item_data": {
                    "reporting_category": {"id": "REP"},
                    "categories": [{"id": "C-A", "ordinal": 0}], "category_id": "OLD"}},
                {"type": "ITEM", "id": "I2", "item_data": {
                    "categories": [{"id": "C-B", "ordinal": 2}, {"id": "C-A", "ordinal": 1}],
                    "category_id": "OLD"}},
                {"type": "ITEM", "id": "I3", "item_data": {"category_id": "OLD"}},
                {"type": "ITEM", "id": "I4", "item_data": {"name": "Gift card"}},
                {"type": "CATEGORY", "id": "REP", "category_data": {"name": "Coffee"}},
            ],
        });
        let found = variation_categories(&answer);
        let category = |id: &str| found.get(id).cloned().flatten();
        assert_eq!(category("V1").as_deref(), Some("REP"));
        assert_eq!(category("V2").as_deref(), Some("C-A"));
        assert_eq!(category("V3").as_deref(), Some("OLD"));
        assert_eq!(category("V4"), None);
        assert!(found.contains_key("V5"), "found, without its item");
        assert_eq!(category("V5"), None);
        assert_eq!(
            category_names(&answer),
            HashMap::from([("REP".to_owned(), Some("Coffee".to_owned()))])
        );
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_within_its_bound() {
        let mut cache = Cache::default();
        for n in 0..MAX_VARIATIONS as i64 {
            cache.remember_variation(key("V", n), Some(format!("C{n}")));
        }
        // Using the oldest entry keeps it; the next one in is the second oldest's end.
        assert_eq!(cache.variation(&key("V", 0)), Some(Some("C0".into())));
        cache.remember_variation(key("W", 1), None);
        assert_eq!(cache.variations.len(), MAX_VARIATIONS);
        assert_eq!(cache.variation(&key("V", 1)), None);
        assert_eq!(cache.variation(&key("V", 0)), Some(Some("C0".into())));
        assert_eq!(cache.variation(&key("W", 1)), Some(None));
        // The same variation at another catalogue version is another entry.
        assert_eq!(cache.variation(&key("V", -1)), None);

        for n in 0..=MAX_CATEGORIES {
            cache.remember_category(format!("C{n}"), Some(format!("name {n}")));
        }
        assert_eq!(cache.categories.len(), MAX_CATEGORIES);
        assert_eq!(cache.category("C0"), None);
        assert_eq!(cache.category("C1"), Some(Some("name 1".into())));
    }

    #[test]
    fn the_cache_is_stored_as_short_lists() {
        let mut cache = Cache::default();
        assert!(cache.is_empty());
        assert_eq!(serde_json::to_string(&cache).unwrap(), "{}");
        cache.remember_variation(key("V1", 7), Some("C1".into()));
        cache.remember_variation(("V2".into(), None), None);
        cache.remember_category("C1".into(), Some("Coffee".into()));
        let text = serde_json::to_string(&cache).unwrap();
        assert_eq!(
            text,
            r#"{"variations":[["V1",7,"C1"],["V2",null,null]],"categories":[["C1","Coffee"]]}"#
        );
        assert_eq!(serde_json::from_str::<Cache>(&text).unwrap(), cache);
    }

    #[test]
    fn lines_find_their_category_by_variation_and_version() {
        let categories = Categories(HashMap::from([(key("V1", 7), "Coffee".to_owned())]));
        assert_eq!(categories.of("V1", Some(7)).as_deref(), Some("Coffee"));
        assert_eq!(categories.of("V1", Some(8)), None);
        assert_eq!(Categories::none().of("V1", Some(7)), None);
    }
}
