//! Square's catalogue: items (each with its variations) and categories as `CatalogObject`s. Every
//! change takes the catalogue's next version, which becomes the `version` of the objects changed
//! (an item's variations change with it); every version is kept, so a batch retrieve may ask for
//! the catalogue as it was (`catalog_version`). `POST /v2/catalog/batch-retrieve` answers the
//! objects asked for and, with `include_related_objects`, the objects they reference one level
//! deep: a variation's item, an item's categories.

use super::{bad_request, object_body, text, BadRequest, Shared, SquareServer};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Square's first catalogue version in the simulator (versions look like Square's: large).
const FIRST_VERSION: i64 = 1_790_000_000_000;

impl SquareServer {
    /// Creates or changes a category named `name` at `at`; returns its new version.
    pub fn put_category(&self, id: &str, name: &str, at: &str) -> i64 {
        self.put_catalog_object(
            json!({
                "type": "CATEGORY", "id": id,
                "category_data": {"name": name, "category_type": "REGULAR_CATEGORY", "is_top_level": true},
            }),
            at,
        )
    }

    /// Creates or changes a catalogue object (an item from [`catalog_item`], or a category) at
    /// `at`, as Square's upsert does: it takes the catalogue's next version (and so do an item's
    /// variations, which are stored as objects of their own too); returns that version.
    pub fn put_catalog_object(&self, mut object: Value, at: &str) -> i64 {
        let mut data = self.data();
        data.catalog_version = data.catalog_version.max(FIRST_VERSION - 1) + 1;
        let version = data.catalog_version;
        let stamp = |o: &mut Value| {
            o["version"] = json!(version);
            o["updated_at"] = json!(at);
            o["is_deleted"] = json!(false);
            o["present_at_all_locations"] = json!(true);
        };
        stamp(&mut object);
        let item_id = text(&object, "id");
        if let Some(variations) = object["item_data"]["variations"].as_array_mut() {
            for variation in variations {
                stamp(variation);
                variation["item_variation_data"]["item_id"] = json!(item_id);
                let id = text(variation, "id");
                data.catalog.entry(id).or_default().push(variation.clone());
            }
        }
        data.catalog.entry(item_id).or_default().push(object);
        version
    }

    /// A catalogue object as Square now holds it.
    pub fn catalog_object(&self, id: &str) -> Option<Value> {
        self.data().catalog.get(id)?.last().cloned()
    }
}

/// A `CatalogObject` of type ITEM named `name`, filed as `filing` says (fields of its `item_data`,
/// e.g. `{"categories": [{"id": "CAT1", "ordinal": 0}]}`, `{"reporting_category": {"id":
/// "CAT1"}}` or the deprecated `{"category_id": "CAT1"}`), selling `variations` as `(id, name,
/// price)` with prices in minor units of `currency`. Store it with
/// [`SquareServer::put_catalog_object`].
pub fn catalog_item(
    id: &str,
    name: &str,
    filing: Value,
    variations: &[(&str, &str, i64)],
    currency: &str,
) -> Value {
    let variations: Vec<Value> = variations
        .iter()
        .enumerate()
        .map(|(ordinal, (variation, label, price))| {
            json!({
                "type": "ITEM_VARIATION", "id": variation,
                "item_variation_data": {
                    "item_id": id, "name": label, "ordinal": ordinal,
                    "pricing_type": "FIXED_PRICING",
                    "price_money": {"amount": price, "currency": currency},
                },
            })
        })
        .collect();
    let mut data = json!({"name": name, "variations": variations, "product_type": "REGULAR"});
    if let (Some(data), Some(filing)) = (data.as_object_mut(), filing.as_object()) {
        data.extend(filing.clone());
    }
    json!({"type": "ITEM", "id": id, "item_data": data})
}

pub(super) async fn batch_retrieve(
    State(shared): State<Arc<Shared>>,
    bytes: axum::body::Bytes,
) -> Response {
    batch_retrieve_in(&shared, &bytes).unwrap_or_else(IntoResponse::into_response)
}

fn batch_retrieve_in(shared: &Shared, bytes: &[u8]) -> Result<Response, BadRequest> {
    let body = object_body(bytes)?;
    let ids: Vec<&str> = match body.get("object_ids") {
        Some(Value::Array(ids)) if !ids.is_empty() => ids
            .iter()
            .map(|id| {
                id.as_str().ok_or_else(|| {
                    bad_request(
                        "EXPECTED_STRING",
                        "object_ids must hold strings.",
                        "object_ids",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad_request(
                "INVALID_ARRAY_VALUE",
                "object_ids must hold at least one id.",
                "object_ids",
            ))
        }
        None => {
            return Err(bad_request(
                "MISSING_REQUIRED_PARAMETER",
                "Field must be set.",
                "object_ids",
            ))
        }
    };
    let flag = |name: &str| -> Result<bool, BadRequest> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad_request(
                "EXPECTED_BOOLEAN",
                &format!("{name} must be a boolean."),
                name,
            )),
        }
    };
    let related = flag("include_related_objects")?;
    let deleted = flag("include_deleted_objects")?;
    let as_of = match body.get("catalog_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            bad_request(
                "EXPECTED_INTEGER",
                "catalog_version must be an integer.",
                "catalog_version",
            )
        })?),
    };
    let data = shared.data.lock().expect("square data");
    let find = |id: &str| -> Option<Value> {
        let versions = data.catalog.get(id)?;
        let object = versions
            .iter()
            .rev()
            .find(|o| as_of.is_none_or(|v| o["version"].as_i64().is_some_and(|o| o <= v)))?;
        (deleted || object["is_deleted"] != true).then(|| object.clone())
    };
    let mut seen = BTreeSet::new();
    let objects: Vec<Value> = ids
        .iter()
        .filter(|id| seen.insert(id.to_string()))
        .filter_map(|id| find(id))
        .collect();
    let mut related_objects = Vec::new();
    if related {
        for object in &objects {
            for id in references(object) {
                if seen.insert(id.clone()) {
                    related_objects.extend(find(&id));
                }
            }
        }
    }
    let mut answer = Map::new();
    if !objects.is_empty() {
        answer.insert("objects".into(), json!(objects));
    }
    if !related_objects.is_empty() {
        answer.insert("related_objects".into(), json!(related_objects));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

/// The ids an object references, one level deep: a variation's item; an item's categories.
fn references(object: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut add = |v: &Value| ids.extend(v.as_str().map(str::to_owned));
    add(&object["item_variation_data"]["item_id"]);
    let item = &object["item_data"];
    add(&item["reporting_category"]["id"]);
    for category in item["categories"].as_array().into_iter().flatten() {
        add(&category["id"]);
    }
    add(&item["category_id"]);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(square: &SquareServer, body: Value) -> (u16, Value) {
        let response = batch_retrieve_in(&square.shared, body.to_string().as_bytes())
            .unwrap_or_else(IntoResponse::into_response);
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn ids(list: &Value) -> Vec<&str> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|o| o["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn related_objects_go_one_level_deep_and_old_versions_stay_readable() {
        let square = SquareServer::start("t").await.unwrap();
        let first = square.put_category("CAT", "Coffee", "2026-09-01T08:00:00Z");
        let filing = json!({"categories": [{"id": "CAT", "ordinal": 0}]});
        let item = catalog_item("ITEM", "Beans", filing, &[("VAR", "250g", 1450)], "USD");
        let second = square.put_catalog_object(item, "2026-09-01T08:01:00Z");
        assert_eq!(second, first + 1, "every change takes the next version");
        assert_eq!(square.catalog_object("VAR").unwrap()["version"], second);
        assert_eq!(
            square.catalog_object("VAR").unwrap()["item_variation_data"]["item_id"],
            "ITEM"
        );

        // A variation brings its item, not the item's category.
        let (status, body) = answer(
            &square,
            json!({"object_ids": ["VAR", "NOPE"], "include_related_objects": true}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(ids(&body["objects"]), ["VAR"]);
        assert_eq!(ids(&body["related_objects"]), ["ITEM"]);
        // An item brings its category; without the flag, nothing comes along.
        let (_, body) = answer(
            &square,
            json!({"object_ids": ["ITEM"], "include_related_objects": true}),
        )
        .await;
        assert_eq!(ids(&body["related_objects"]), ["CAT"]);
        let (_, body) = answer(&square, json!({"object_ids": ["ITEM"]})).await;
        assert!(body.get("related_objects").is_none());

        // A rename is a new version; the catalogue as it was still reads the old name.
        square.put_category("CAT", "Whole beans", "2026-09-02T08:00:00Z");
        let (_, now) = answer(&square, json!({"object_ids": ["CAT"]})).await;
        assert_eq!(now["objects"][0]["category_data"]["name"], "Whole beans");
        let (_, then) = answer(
            &square,
            json!({"object_ids": ["CAT"], "catalog_version": second}),
        )
        .await;
        assert_eq!(then["objects"][0]["category_data"]["name"], "Coffee");

        let (status, refused) = answer(&square, json!({"object_ids": []})).await;
        assert_eq!(
            (status, refused["errors"][0]["code"].as_str()),
            (400, Some("INVALID_ARRAY_VALUE"))
        );
    }

    #[tokio::test]
    async fn a_line_rung_up_from_the_catalogue_names_its_version() {
        let square = SquareServer::start("t").await.unwrap();
        let item = catalog_item("ITEM", "Mug", json!({}), &[("VAR", "Regular", 1800)], "USD");
        let version = square.put_catalog_object(item, "2026-09-01T08:00:00Z");
        square.put_order(json!({"id": "O1", "line_items": [
            {"catalog_object_id": "VAR"}, {"catalog_object_id": "ELSEWHERE"},
            {"catalog_object_id": "VAR", "catalog_version": 5},
        ]}));
        let lines = &square.order("O1").unwrap()["line_items"];
        assert_eq!(lines[0]["catalog_version"], version);
        assert!(lines[1].get("catalog_version").is_none());
        assert_eq!(lines[2]["catalog_version"], 5, "a version given is kept");
    }
}
