//! The cursor of a reader that takes several feeds of one vendor in turn (Klaviyo's engagement
//! metrics, Mailchimp's campaign reports), each paged from its own [`Watermark`]: one page per
//! read, the next feed once a feed's last page is read, and "nothing more right now" after the
//! last feed, when the turn starts again at the first.
//!
//! Stored by the host as JSON `{"turn":…,"marks":{"<feed>":<watermark>}}`.

use crate::types::ConnectorError;
use crate::watermark::Watermark;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a reader of several feeds resumes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feeds {
    /// The position of the feed read next, in the list the reader names.
    #[serde(default)]
    turn: usize,
    /// Each feed's watermark, by the feed's name.
    #[serde(default)]
    marks: BTreeMap<String, Watermark>,
}

impl Feeds {
    /// Reads a stored cursor (`None` before the first read); `vendor` names its owner in the error
    /// when the stored text is not such a cursor.
    pub fn parse(cursor: Option<&str>, vendor: &str) -> Result<Self, ConnectorError> {
        match cursor {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ConnectorError::Invalid(format!(
                    "stored cursor {text:?} is not a {vendor} engagement cursor: {e}"
                ))
            }),
            None => Ok(Self::default()),
        }
    }

    /// The feed to read now among `names` (which may change between reads), if any.
    pub fn current<'a>(&self, names: &'a [String]) -> Option<&'a str> {
        names
            .get(self.turn)
            .or_else(|| names.first())
            .map(String::as_str)
    }

    /// The watermark of feed `name`.
    pub fn mark(&mut self, name: &str) -> &mut Watermark {
        self.marks.entry(name.to_owned()).or_default()
    }

    /// The stored cursor and whether more is available right now, after a page of feed `name`
    /// (at `position` in its reader's list of `feeds` feeds) whose next page is `next_page`.
    pub fn advance(
        mut self,
        name: &str,
        position: usize,
        feeds: usize,
        next_page: Option<String>,
    ) -> (String, bool) {
        let last_page = next_page.is_none();
        let mark = self.marks.remove(name).unwrap_or_default();
        self.marks.insert(name.to_owned(), mark.advance(next_page));
        self.turn = if last_page { position + 1 } else { position };
        let more = self.turn < feeds;
        if !more {
            self.turn = 0;
        }
        let text = serde_json::to_string(&self).expect("a cursor is plain JSON");
        (text, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["Opened Email".into(), "Clicked Email".into()]
    }

    #[test]
    fn pages_one_feed_then_the_next_then_rests() {
        let names = names();
        let mut feeds = Feeds::parse(None, "Test").unwrap();
        assert_eq!(feeds.current(&names), Some("Opened Email"));
        feeds.mark("Opened Email").saw("2026-01-02T00:00:00+00:00");
        let (cursor, more) = feeds.advance("Opened Email", 0, 2, Some("page-2".into()));
        assert!(more);
        let mut feeds = Feeds::parse(Some(&cursor), "Test").unwrap();
        assert_eq!(feeds.current(&names), Some("Opened Email"));
        assert_eq!(feeds.mark("Opened Email").page(), Some("page-2"));
        let (cursor, more) = feeds.advance("Opened Email", 0, 2, None);
        assert!(more);
        let mut feeds = Feeds::parse(Some(&cursor), "Test").unwrap();
        assert_eq!(feeds.current(&names), Some("Clicked Email"));
        assert_eq!(
            feeds.mark("Opened Email").since(),
            Some("2026-01-02T00:00:00+00:00")
        );
        let (cursor, more) = feeds.advance("Clicked Email", 1, 2, None);
        assert!(!more);
        let feeds = Feeds::parse(Some(&cursor), "Test").unwrap();
        assert_eq!(feeds.current(&names), Some("Opened Email"));
    }

    #[test]
    fn a_stranger_cursor_is_invalid() {
        assert!(matches!(
            Feeds::parse(Some("page-2"), "Test"),
            Err(ConnectorError::Invalid(_))
        ));
    }
}
