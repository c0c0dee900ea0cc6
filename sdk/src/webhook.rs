//! Signed webhook deliveries. Vendors sign a delivery with base64(HMAC-SHA256(secret, signed
//! bytes)) in a header; the host computes the HMAC, so the secret never enters the plugin, and the
//! plugin compares the two in constant time. Every webhook source repeats this check, so it lives
//! here; what is signed and what to tell the operator on a mismatch stay with the source.

use crate::host::{self, Header};
use crate::types::ConnectorError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The first value of header `name` of a delivery, matched case-insensitively.
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Whether header `name` holds the base64 HMAC-SHA256 of `signed` under the secret the host
/// knows as `secret`. A missing or non-base64 header is `Auth`; a secret the host cannot use is
/// `Config`.
pub fn signature_matches(
    headers: &[Header],
    name: &str,
    secret: &str,
    signed: &[u8],
) -> Result<bool, ConnectorError> {
    let given = given_signature(headers, name)?;
    let expected = host::hmac_sha256(secret, signed).map_err(|e| {
        ConnectorError::Config(format!("cannot compute the webhook signature: {e}"))
    })?;
    Ok(constant_time_eq(&given, &expected))
}

/// The signature bytes in header `name`.
fn given_signature(headers: &[Header], name: &str) -> Result<Vec<u8>, ConnectorError> {
    let given = header(headers, name)
        .ok_or_else(|| ConnectorError::Auth(format!("the {name} header is missing")))?;
    STANDARD
        .decode(given.trim())
        .map_err(|_| ConnectorError::Auth(format!("the {name} header is not base64")))
}

/// Equality that takes as long wherever the first difference is, so timing does not reveal how
/// much of a forged signature is right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, value: &str) -> Vec<Header> {
        vec![Header {
            name: name.into(),
            value: value.into(),
        }]
    }

    #[test]
    fn headers_are_found_case_insensitively() {
        let h = headers("X-Shopify-Topic", "orders/create");
        assert_eq!(header(&h, "x-shopify-topic"), Some("orders/create"));
        assert_eq!(header(&h, "x-shopify-webhook-id"), None);
    }

    #[test]
    fn the_signature_header_must_be_present_and_base64() {
        assert_eq!(
            given_signature(&headers("X-Sig", " AQID "), "x-sig"),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            given_signature(&[], "x-sig"),
            Err(ConnectorError::Auth("the x-sig header is missing".into()))
        );
        assert_eq!(
            given_signature(&headers("x-sig", "not base64!"), "x-sig"),
            Err(ConnectorError::Auth(
                "the x-sig header is not base64".into()
            ))
        );
    }

    #[test]
    fn signatures_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
