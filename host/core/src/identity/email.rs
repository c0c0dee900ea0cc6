//! Email addresses: one spelling per mailbox, and nothing stored that cannot be an address. Kept apart
//! because provider-specific rules (Gmail's) are opt-in and must not leak into the general case.

/// Trims and lowercases `raw`; `None` unless it looks like an address (one `@`, a local part, a
/// dotted domain, no whitespace). With `gmail_canonical`, Gmail addresses lose dots and
/// `+tag` from the local part and googlemail.com becomes gmail.com.
pub(super) fn normalize(raw: &str, gmail_canonical: bool) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.contains(char::is_whitespace) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty());
    if !plausible {
        return None;
    }
    if gmail_canonical && matches!(domain, "gmail.com" | "googlemail.com") {
        let mailbox = local
            .split_once('+')
            .map_or(local, |(mailbox, _tag)| mailbox);
        let mailbox = mailbox.replace('.', "");
        return (!mailbox.is_empty()).then(|| format!("{mailbox}@gmail.com"));
    }
    Some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: bool = false;
    const GMAIL: bool = true;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        for (raw, want) in [
            ("ana@example.com", "ana@example.com"),
            ("  Ana@Example.COM ", "ana@example.com"),
            (
                "\tBEN.OKAFOR+news@Mail.Example.co.uk\n",
                "ben.okafor+news@mail.example.co.uk",
            ),
            ("Chloé@Exemple.FR", "chloé@exemple.fr"),
        ] {
            assert_eq!(normalize(raw, PLAIN).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn implausible_emails_are_refused() {
        for raw in [
            "",
            "   ",
            "not-an-email",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@example.",
            "ana@.com",
            "ana@example..com",
            "ana@@example.com",
            "ana@b@example.com",
            "ana maria@example.com",
            "ana@exa mple.com",
            "ana@example.com\u{a0}x",
        ] {
            assert_eq!(normalize(raw, PLAIN), None, "{raw:?}");
        }
    }

    #[test]
    fn gmail_tricks_apply_only_when_configured() {
        for (raw, plain, gmail) in [
            (
                "A.Na+shop@Gmail.com",
                Some("a.na+shop@gmail.com"),
                Some("ana@gmail.com"),
            ),
            (
                "ana@googlemail.com",
                Some("ana@googlemail.com"),
                Some("ana@gmail.com"),
            ),
            (
                "a.n.a@gmail.com",
                Some("a.n.a@gmail.com"),
                Some("ana@gmail.com"),
            ),
            (
                "ana+@gmail.com",
                Some("ana+@gmail.com"),
                Some("ana@gmail.com"),
            ),
            ("+tag@gmail.com", Some("+tag@gmail.com"), None),
            ("...@gmail.com", Some("...@gmail.com"), None),
            // Other providers keep their dots and tags, even when the rule is on.
            (
                "a.na+shop@example.com",
                Some("a.na+shop@example.com"),
                Some("a.na+shop@example.com"),
            ),
            (
                "a.na@gmail.com.evil.example",
                Some("a.na@gmail.com.evil.example"),
                Some("a.na@gmail.com.evil.example"),
            ),
        ] {
            assert_eq!(normalize(raw, PLAIN).as_deref(), plain, "{raw:?} plain");
            assert_eq!(normalize(raw, GMAIL).as_deref(), gmail, "{raw:?} gmail");
        }
    }
}
