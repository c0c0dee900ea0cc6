//! Searching the records a simulator keeps about people, so erasure tests can check that nothing of
//! a forgotten person is left at the vendor.

/// Whether one of `records` (each rendered as text) contains every one of `texts` as a whole word:
/// ignoring case, and not inside a longer word or number ("Ines" is not in "lines").
pub fn any_holds_all(records: impl Iterator<Item = String>, texts: &[&str]) -> bool {
    let texts: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
    records
        .map(|r| r.to_lowercase())
        .any(|r| texts.iter().all(|t| contains_word(&r, t)))
}

fn contains_word(text: &str, word: &str) -> bool {
    let alphanumeric_at = |at: Option<char>| at.is_some_and(char::is_alphanumeric);
    text.match_indices(word).any(|(at, _)| {
        !alphanumeric_at(text[..at].chars().next_back())
            && !alphanumeric_at(text[at + word.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::any_holds_all;

    #[test]
    fn texts_match_as_whole_words_in_one_record() {
        let records = || {
            [
                r#"{"given_name":"Ana","lines":["Banana bread"]}"#.to_string(),
                "Ines | Rossi | +442079460012".to_string(),
            ]
            .into_iter()
        };
        assert!(any_holds_all(records(), &["ana", "BANANA BREAD"]));
        assert!(any_holds_all(records(), &["ines", "rossi"]));
        assert!(!any_holds_all(records(), &["ines", "ana"]));
        assert!(!any_holds_all(records(), &["+44207946001"]));
        assert!(!any_holds_all(records(), &["nana"]));
    }
}
