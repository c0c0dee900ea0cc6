//! The cursor of an incremental sync by an `updated_at` watermark, as the POS sources poll their
//! streams. A query asks for everything updated at or after the watermark, one page per poll; while
//! it is paged, the cursor keeps the query's watermark (`since`, so later pages resend the same
//! query), the vendor's token for the next page (`page`), and the newest `updated_at` read so far
//! (`newest`). When the last page is read, the newest time becomes the next watermark.
//!
//! The cursor is stored by the host as JSON `{"since":…,"newest":…,"page":…}`, each field omitted
//! when it is absent.
//!
//! A source fetches one [`Page`] per poll and turns it into the poll's batch with
//! [`Watermark::batch`], the page loop every polling source would otherwise repeat:
//!
//! ```ignore
//! let mark = Watermark::parse(cursor, "Square")?;
//! let page: Page = fetch(mark.since(), mark.page())?;
//! Ok(mark.batch("orders", page, map::order))
//! ```
//!
//! The batch is of the contract the events are: 0.1's for 0.1 events, 0.3's for 0.3 events.
//!
//! A page's items are JSON values by default; a busy stream reads them straight into its own
//! types instead (see [`crate::items`]), any type that says its id and `updated_at`
//! ([`PageItem`]).

use crate::time::parse_timestamp;
use crate::types::{ConnectorError, RejectedInput};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event of a contract version, which knows the poll step (`batch`) of that version.
pub trait SourceEvent: Sized {
    /// The contract version's poll step.
    type Batch;
    /// The poll step holding `events`, the `rejected` inputs, the `cursor` to resume from and
    /// whether `more` pages remain.
    fn batch(
        events: Vec<Self>,
        rejected: Vec<RejectedInput>,
        cursor: Option<String>,
        more: bool,
    ) -> Self::Batch;
}

impl SourceEvent for crate::types::PosEvent {
    type Batch = crate::bindings::source::exports::rapport::connector::source::Batch;
    fn batch(
        events: Vec<Self>,
        rejected: Vec<RejectedInput>,
        cursor: Option<String>,
        more: bool,
    ) -> Self::Batch {
        Self::Batch {
            events,
            rejected,
            cursor,
            more,
        }
    }
}

impl SourceEvent for crate::v0_3::types::PosEvent {
    type Batch = crate::v0_3::Batch;
    fn batch(
        events: Vec<Self>,
        rejected: Vec<RejectedInput>,
        cursor: Option<String>,
        more: bool,
    ) -> Self::Batch {
        Self::Batch {
            events,
            rejected,
            cursor,
            more,
        }
    }
}

/// What the page loop reads of an item before mapping it.
pub trait PageItem {
    /// The item's id as text, to locate a rejection: `?` when it has none.
    fn id(&self) -> String;
    /// The item's `updated_at` as the vendor wrote it, if it has one.
    fn updated_at(&self) -> Option<&str>;
}

impl PageItem for Value {
    /// A string id as it is, any other in JSON (a number in digits).
    fn id(&self) -> String {
        match self.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(other) => other.to_string(),
            None => "?".to_owned(),
        }
    }

    fn updated_at(&self) -> Option<&str> {
        self.get("updated_at").and_then(Value::as_str)
    }
}

/// One page of a vendor's list: its records (as JSON, or as the types a stream reads them into),
/// and the vendor's token for the next page (`None` on the last page of the query).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T = Value> {
    /// The page's records, in the vendor's order.
    pub items: Vec<T>,
    /// The vendor's token for the next page.
    pub next: Option<String>,
}

/// Where a stream resumes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// The watermark of the query being paged (or of the next query).
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The newest `updated_at` read in the query being paged.
    #[serde(skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
    /// The vendor's token for the next page of that query.
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<String>,
}

impl Watermark {
    /// Reads a stored cursor (`None` before the first poll). `vendor` names the cursor's owner in
    /// the error when the stored text is not a cursor.
    pub fn parse(cursor: Option<&str>, vendor: &str) -> Result<Self, ConnectorError> {
        match cursor {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ConnectorError::Invalid(format!(
                    "stored cursor {text:?} is not a {vendor} cursor: {e}"
                ))
            }),
            None => Ok(Self::default()),
        }
    }

    /// The watermark of the query being paged, if any.
    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    /// The newest `updated_at` read in the query being paged, if any.
    pub fn newest(&self) -> Option<&str> {
        self.newest.as_deref()
    }

    /// The vendor's token for the next page of the query, if it is being paged.
    pub fn page(&self) -> Option<&str> {
        self.page.as_deref()
    }

    /// The next page of the query as a record offset, for vendors that page by `count` and
    /// `offset` (0 on the first page).
    pub fn offset(&self) -> Result<usize, ConnectorError> {
        match self.page() {
            Some(page) => page.parse().map_err(|_| {
                ConnectorError::Invalid(format!("stored cursor page {page:?} is not an offset"))
            }),
            None => Ok(0),
        }
    }

    /// Notes a record's `updated_at`; the newest time read moves forward only (times that do not
    /// parse never move it).
    pub fn saw(&mut self, updated_at: &str) {
        self.newest = newer(self.newest.take(), updated_at);
    }

    /// The cursor after a page: with `next_page`, the same query continues on that page; after the
    /// last page, the newest time read (or else the old watermark) becomes the next watermark.
    pub fn advance(self, next_page: Option<String>) -> Self {
        match next_page {
            Some(next) => Self {
                page: Some(next),
                ..self
            },
            None => Self {
                since: self.newest.or(self.since),
                newest: None,
                page: None,
            },
        }
    }

    /// The cursor as the host stores it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }

    /// The poll's batch from one `page` of `stream`: every item's `updated_at` is noted (see
    /// [`Watermark::saw`]), `map` turns each item into its events (none for an item to skip) or
    /// the reason it is rejected, located as "`<stream>` page item `<index>` (id `<id>`)", and the
    /// cursor moves on past the page (see [`Watermark::advance`]); `more` while pages remain.
    pub fn batch<T: PageItem, P: SourceEvent, E: IntoIterator<Item = P>>(
        mut self,
        stream: &str,
        page: Page<T>,
        mut map: impl FnMut(T) -> Result<E, String>,
    ) -> P::Batch {
        let mut events = Vec::new();
        let mut rejected = Vec::new();
        for (index, item) in page.items.into_iter().enumerate() {
            let id = item.id();
            if let Some(updated) = item.updated_at() {
                self.saw(updated);
            }
            match map(item) {
                Ok(mapped) => events.extend(mapped),
                Err(reason) => rejected.push(RejectedInput {
                    locator: format!("{stream} page item {index} (id {id})"),
                    reason,
                }),
            }
        }
        let more = page.next.is_some();
        P::batch(
            events,
            rejected,
            Some(self.advance(page.next).encode()),
            more,
        )
    }
}

/// The later of a known time and a newly read one (unparsable times never move the watermark).
fn newer(known: Option<String>, candidate: &str) -> Option<String> {
    let Ok(candidate_ms) = parse_timestamp(candidate) else {
        return known;
    };
    match known {
        Some(k) if parse_timestamp(&k).is_ok_and(|ms| ms >= candidate_ms) => Some(k),
        _ => Some(candidate.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PosEvent;

    #[test]
    fn no_cursor_is_the_start() {
        let mark = Watermark::parse(None, "Square").unwrap();
        assert_eq!(mark, Watermark::default());
        assert_eq!(mark.encode(), "{}");
    }

    #[test]
    fn stored_cursors_round_trip_with_absent_fields_omitted() {
        for text in [
            "{}",
            r#"{"since":"2024-01-01T00:00:00Z"}"#,
            r#"{"since":"2024-01-01T00:00:00Z","newest":"2024-01-02T00:00:00Z","page":"p2"}"#,
            r#"{"newest":"2024-01-02T00:00:00Z","page":"p2"}"#,
        ] {
            assert_eq!(
                Watermark::parse(Some(text), "Square").unwrap().encode(),
                text
            );
        }
    }

    #[test]
    fn a_bad_cursor_names_the_vendor() {
        let err = Watermark::parse(Some("nope"), "Shopify").unwrap_err();
        match err {
            ConnectorError::Invalid(message) => {
                assert!(message.starts_with("stored cursor \"nope\" is not a Shopify cursor: "))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn newest_moves_forward_only_and_ignores_bad_times() {
        let mut mark = Watermark::default();
        mark.saw("2024-01-02T00:00:00Z");
        mark.saw("2024-01-01T00:00:00Z");
        mark.saw("not a time");
        assert_eq!(mark.newest(), Some("2024-01-02T00:00:00Z"));
        mark.saw("2024-01-03T00:00:00+01:00");
        assert_eq!(mark.newest(), Some("2024-01-03T00:00:00+01:00"));
        // An equal instant keeps the known text.
        mark.saw("2024-01-02T23:00:00Z");
        assert_eq!(mark.newest(), Some("2024-01-03T00:00:00+01:00"));
    }

    #[test]
    fn paging_keeps_the_query_and_the_last_page_moves_the_watermark() {
        let mut mark = Watermark::parse(Some(r#"{"since":"2024-01-01T00:00:00Z"}"#), "x").unwrap();
        mark.saw("2024-01-05T00:00:00Z");
        let mark = mark.advance(Some("p2".into()));
        assert_eq!(mark.since(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(mark.page(), Some("p2"));
        assert_eq!(
            mark.encode(),
            r#"{"since":"2024-01-01T00:00:00Z","newest":"2024-01-05T00:00:00Z","page":"p2"}"#
        );
        let mark = mark.advance(None);
        assert_eq!(mark.encode(), r#"{"since":"2024-01-05T00:00:00Z"}"#);
    }

    #[test]
    fn an_empty_last_page_keeps_the_old_watermark() {
        let mark = Watermark::parse(Some(r#"{"since":"2024-01-01T00:00:00Z"}"#), "x").unwrap();
        assert_eq!(
            mark.advance(None).encode(),
            r#"{"since":"2024-01-01T00:00:00Z"}"#
        );
        assert_eq!(Watermark::default().advance(None).encode(), "{}");
    }

    fn event(id: &str) -> PosEvent {
        PosEvent {
            id: id.into(),
            occurred_at: 0,
            payload: crate::types::PosPayload::Customer(crate::types::Customer {
                identities: Vec::new(),
                given_name: None,
                family_name: None,
                consents: Vec::new(),
                created_at: None,
            }),
        }
    }

    #[test]
    fn a_page_becomes_a_batch_of_events_and_located_rejections() {
        let mark = Watermark::parse(Some(r#"{"since":"2024-01-01T00:00:00Z"}"#), "x").unwrap();
        let page = Page {
            items: vec![
                serde_json::json!({"id": "A1", "updated_at": "2024-01-02T00:00:00Z"}),
                serde_json::json!({"id": 7, "updated_at": "2024-01-04T00:00:00Z", "bad": true}),
                serde_json::json!({"updated_at": "2024-01-03T00:00:00Z", "skip": true}),
            ],
            next: Some("p2".into()),
        };
        let batch = mark.batch("customers", page, |item| {
            if item.get("bad").is_some() {
                return Err("no name".to_owned());
            }
            let skip = item.get("skip").is_some();
            Ok((!skip).then(|| event(item["id"].as_str().unwrap_or("?"))))
        });
        assert_eq!(batch.events, vec![event("A1")]);
        assert_eq!(
            batch.rejected,
            vec![RejectedInput {
                locator: "customers page item 1 (id 7)".into(),
                reason: "no name".into(),
            }]
        );
        assert!(batch.more);
        assert_eq!(
            batch.cursor.as_deref(),
            Some(r#"{"since":"2024-01-01T00:00:00Z","newest":"2024-01-04T00:00:00Z","page":"p2"}"#)
        );
    }

    #[test]
    fn a_page_of_0_3_events_becomes_a_0_3_batch() {
        use crate::v0_3::types as v0_3;
        let mark = Watermark::parse(None, "x").unwrap();
        let page = Page {
            items: vec![serde_json::json!({"id": "C1", "updated_at": "2024-01-02T00:00:00Z"})],
            next: None,
        };
        let batch: crate::v0_3::Batch = mark.batch("customers", page, |item| {
            Ok(Some(v0_3::PosEvent {
                id: item["id"].as_str().unwrap().into(),
                occurred_at: 0,
                payload: v0_3::PosPayload::CustomerDeleted(Vec::new()),
            }))
        });
        assert_eq!(batch.events.len(), 1);
        assert_eq!(
            batch.cursor.as_deref(),
            Some(r#"{"since":"2024-01-02T00:00:00Z"}"#)
        );
    }

    #[test]
    fn the_last_page_moves_the_watermark_and_ends_the_batch() {
        let mark = Watermark::parse(
            Some(r#"{"newest":"2024-01-05T00:00:00Z","page":"p2"}"#),
            "x",
        )
        .unwrap();
        let page = Page {
            items: vec![serde_json::json!({"updated_at": "2024-01-03T00:00:00Z"})],
            next: None,
        };
        let batch = mark.batch("orders", page, |_| Ok(Vec::<PosEvent>::new()));
        assert!(batch.events.is_empty() && batch.rejected.is_empty() && !batch.more);
        assert_eq!(
            batch.cursor.as_deref(),
            Some(r#"{"since":"2024-01-05T00:00:00Z"}"#)
        );
        assert_eq!(serde_json::json!({"id": null}).id(), "null");
        assert_eq!(serde_json::json!({"name": "x"}).id(), "?");
    }
}
