//! Percent-encoding for the pieces of vendor URLs a connector builds from data (ids, emails,
//! times in a query). Every connector needs it and the sandbox has no URL crate, so it lives here
//! once, following RFC 3986: only unreserved characters go through as they are.

/// `value` with every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) as
/// `%XX`: safe as a query value or as one path segment.
pub fn encode(value: &str) -> String {
    encode_keeping(value, b"")
}

/// [`encode`], but the bytes in `keep` also stay as they are: for a path segment that may keep
/// characters RFC 3986 allows there (`@`, `:`, sub-delimiters) and a vendor expects to see bare.
pub fn encode_keeping(value: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A query string (without the leading `?`) of `pairs` in order: `name=value&…`, both encoded.
pub fn query<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_and_the_rest_is_encoded() {
        assert_eq!(encode("R-1001_a.b~c"), "R-1001_a.b~c");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(
            encode("2024-01-01T00:00:00+01:00"),
            "2024-01-01T00%3A00%3A00%2B01%3A00"
        );
        assert_eq!(encode("ü"), "%C3%BC");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn kept_bytes_stay_bare() {
        assert_eq!(
            encode_keeping("ada+x@example.com", b"@"),
            "ada%2Bx@example.com"
        );
        assert_eq!(encode("ada@example.com"), "ada%40example.com");
    }

    #[test]
    fn queries_join_encoded_pairs_in_order() {
        assert_eq!(
            query(&[("limit", "50".to_owned()), ("cursor", "a b&c".to_owned())]),
            "limit=50&cursor=a%20b%26c"
        );
        assert_eq!(query::<&str>(&[]), "");
    }
}
