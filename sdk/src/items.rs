//! A vendor's page read straight into the types a source maps. Read as a `serde_json::Value`, a
//! record is a tree of maps and strings built, searched and freed for the few fields the mapping
//! takes: for Square's orders that was most of the plugin's own work in a pull (about a fifth of
//! `rapport sync`'s CPU, perf). Here a page's items stay their JSON text ([`RawValue`]) until each
//! is decoded on its own, so a malformed record is rejected with its id while the rest of the page
//! is kept, as with values.
//!
//! ```ignore
//! let page: Page<Box<RawValue>> = /* the vendor's list, its items as JSON text */;
//! let page = items::decode_page::<SquareOrder>(page, "Square order");
//! Ok(mark.batch("orders", page, |order| map::order(order?)))
//! ```

use crate::watermark::{Page, PageItem};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

/// A page item that is not a record of its stream's type: its id and `updated_at` as far as they
/// could be read, and why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecoded {
    id: String,
    updated_at: Option<String>,
    /// Why the item is not a record of the stream's type ("not a Square order: missing field …").
    pub reason: String,
}

impl From<Undecoded> for String {
    fn from(undecoded: Undecoded) -> String {
        undecoded.reason
    }
}

/// A page item decoded into its stream's type, or why it is not one.
pub type Decoded<T> = Result<T, Undecoded>;

impl<T: PageItem> PageItem for Decoded<T> {
    fn id(&self) -> String {
        match self {
            Ok(item) => item.id(),
            Err(undecoded) => undecoded.id.clone(),
        }
    }

    fn updated_at(&self) -> Option<&str> {
        match self {
            Ok(item) => item.updated_at(),
            Err(undecoded) => undecoded.updated_at.as_deref(),
        }
    }
}

/// Decodes one item as `T`; `what` names the record in the reason when it is not one.
pub fn decode<T: DeserializeOwned>(item: &RawValue, what: &str) -> Decoded<T> {
    serde_json::from_str(item.get()).map_err(|e| {
        // Only a malformed item is read as a whole value, to say which one it was.
        let value: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
        Undecoded {
            id: value.id(),
            updated_at: value.updated_at().map(str::to_owned),
            reason: format!("not a {what}: {e}"),
        }
    })
}

/// Every item of `page` decoded as `T` (see [`decode`]).
pub fn decode_page<T: DeserializeOwned>(page: Page<Box<RawValue>>, what: &str) -> Page<Decoded<T>> {
    Page {
        items: page.items.iter().map(|item| decode(item, what)).collect(),
        next: page.next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watermark::Watermark;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sale {
        id: String,
        updated_at: String,
        total: i64,
    }

    impl PageItem for Sale {
        fn id(&self) -> String {
            self.id.clone()
        }
        fn updated_at(&self) -> Option<&str> {
            Some(&self.updated_at)
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn a_malformed_item_is_rejected_with_its_id_and_the_rest_of_the_page_is_kept() {
        let page = Page {
            items: vec![
                raw(
                    r#"{"id":"S1","updated_at":"2024-01-02T00:00:00Z","total":300,"extra":{"a":[1]}}"#,
                ),
                raw(r#"{"updated_at":"2024-01-04T00:00:00Z","total":"three","id":7}"#),
                raw(r#"[1,2]"#),
            ],
            next: None,
        };
        let page = decode_page::<Sale>(page, "sale");
        assert_eq!(
            page.items[0],
            Ok(Sale {
                id: "S1".into(),
                updated_at: "2024-01-02T00:00:00Z".into(),
                total: 300
            })
        );
        let bad = page.items[1].as_ref().unwrap_err();
        assert_eq!(bad.id, "7");
        assert_eq!(bad.updated_at.as_deref(), Some("2024-01-04T00:00:00Z"));
        assert!(
            bad.reason
                .starts_with("not a sale: invalid type: string \"three\""),
            "{}",
            bad.reason
        );
        assert_eq!(page.items[2].id(), "?");

        let batch: crate::v0_3::Batch = Watermark::default().batch("sales", page, |sale| {
            let sale = sale?;
            Ok(Some(crate::v0_3::types::PosEvent {
                id: sale.id,
                occurred_at: 0,
                payload: crate::v0_3::types::PosPayload::CustomerDeleted(Vec::new()),
            }))
        });
        assert_eq!(batch.events.len(), 1);
        let located: Vec<&str> = batch.rejected.iter().map(|r| r.locator.as_str()).collect();
        assert_eq!(
            located,
            ["sales page item 1 (id 7)", "sales page item 2 (id ?)"]
        );
        assert_eq!(
            batch.cursor.as_deref(),
            Some(r#"{"since":"2024-01-04T00:00:00Z"}"#),
            "a malformed item's time still moves the watermark, as a value's does"
        );
    }
}
