//! The cursor of an incremental sync by an `updated_at` watermark, as the POS sources poll their
//! streams. A query asks for everything updated at or after the watermark, one page per poll; while
//! it is paged, the cursor keeps the query's watermark (`since`, so later pages resend the same
//! query), the vendor's token for the next page (`page`), and the newest `updated_at` read so far
//! (`newest`). When the last page is read, the newest time becomes the next watermark.
//!
//! The cursor is stored by the host as JSON `{"since":…,"newest":…,"page":…}`, each field omitted
//! when it is absent.
//!
//! ```ignore
//! let mut mark = Watermark::parse(cursor, "Square")?;
//! let page = fetch(mark.since(), mark.page())?;
//! for item in &page.items {
//!     mark.saw(item_updated_at);
//! }
//! let cursor = mark.advance(page.next).encode();
//! ```

use crate::time::parse_timestamp;
use crate::types::ConnectorError;
use serde::{Deserialize, Serialize};

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
}
