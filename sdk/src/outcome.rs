//! One reading of HTTP statuses for every connector, so the host's retry logic sees the same
//! answer for the same vendor behaviour: 2xx ok, 429 wait, 408/5xx retry, other 4xx give up.

use crate::types::{ConnectorError, Outcome};

/// The wait used for a 429 without a usable `Retry-After` header.
pub const DEFAULT_RETRY_AFTER_MS: u32 = 1000;

/// How much of a vendor's response body goes into a reason.
const EXCERPT_CHARS: usize = 200;

/// The outcome of one item answered with `status`: ok, retry-after (`Retry-After` seconds as ms),
/// transient (408, 5xx except 501) or rejected with the vendor's reason.
pub fn outcome(status: u16, retry_after: Option<&str>, body: &[u8]) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        429 => Outcome::RetryAfter(retry_after_ms(retry_after)),
        s if is_transient(s) => Outcome::Transient(reason(s, body)),
        s => Outcome::Rejected(reason(s, body)),
    }
}

/// The same mapping for a whole call: `Ok` for 2xx, otherwise the error the call should fail with
/// (401/403 are `Auth`, 429 `RateLimited`, 408/5xx `Transient`, anything else `Invalid`).
pub fn check_status(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<(), ConnectorError> {
    match status {
        200..=299 => Ok(()),
        401 | 403 => Err(ConnectorError::Auth(reason(status, body))),
        429 => Err(ConnectorError::RateLimited(retry_after_ms(retry_after))),
        s if is_transient(s) => Err(ConnectorError::Transient(reason(s, body))),
        s => Err(ConnectorError::Invalid(reason(s, body))),
    }
}

/// One outcome per item of a batch the vendor answered as a whole, except that refused
/// credentials (401/403) fail the call: rejecting every item for good would lose them.
pub fn batch_outcomes(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    items: usize,
) -> Result<Vec<Outcome>, ConnectorError> {
    if matches!(status, 401 | 403) {
        check_status(status, retry_after, body)?;
    }
    Ok(vec![outcome(status, retry_after, body); items])
}

/// The whole call's result when its answer reads as `outcome` for one item: ok stays ok, a wait
/// is `RateLimited`, a transient failure stays transient and a rejection is `Invalid`.
pub fn fail_call(outcome: Outcome) -> Result<(), ConnectorError> {
    match outcome {
        Outcome::Ok => Ok(()),
        Outcome::RetryAfter(ms) => Err(ConnectorError::RateLimited(ms)),
        Outcome::Transient(why) => Err(ConnectorError::Transient(why)),
        Outcome::Rejected(why) => Err(ConnectorError::Invalid(why)),
    }
}

fn is_transient(status: u16) -> bool {
    status == 408 || (500..=599).contains(&status) && status != 501
}

/// `Retry-After` in delta-seconds (fractions allowed) as milliseconds; the default otherwise.
fn retry_after_ms(header: Option<&str>) -> u32 {
    header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_RETRY_AFTER_MS, |s| {
            (s * 1000.0).min(f64::from(u32::MAX)) as u32
        })
}

/// "HTTP 422: <first 200 characters of the body, whitespace collapsed>".
fn reason(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let collapsed = words.join(" ");
    let excerpt = match collapsed.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None if collapsed.is_empty() => "(empty body)".to_owned(),
        None => collapsed,
    };
    format!("HTTP {status}: {excerpt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_ok() {
        assert_eq!(outcome(200, None, b""), Outcome::Ok);
        assert_eq!(outcome(204, None, b"ignored"), Outcome::Ok);
        assert_eq!(check_status(201, None, b""), Ok(()));
    }

    #[test]
    fn too_many_requests_waits() {
        assert_eq!(outcome(429, Some("7"), b""), Outcome::RetryAfter(7000));
        assert_eq!(outcome(429, Some(" 0.5 "), b""), Outcome::RetryAfter(500));
        assert_eq!(outcome(429, None, b""), Outcome::RetryAfter(1000));
        assert_eq!(
            outcome(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b""),
            Outcome::RetryAfter(DEFAULT_RETRY_AFTER_MS)
        );
        assert_eq!(
            outcome(429, Some("99999999999"), b""),
            Outcome::RetryAfter(u32::MAX)
        );
        assert_eq!(
            check_status(429, Some("3"), b""),
            Err(ConnectorError::RateLimited(3000))
        );
    }

    #[test]
    fn server_trouble_is_transient() {
        for status in [408, 500, 502, 503, 504, 599] {
            assert!(
                matches!(outcome(status, None, b"x"), Outcome::Transient(_)),
                "{status}"
            );
        }
        assert_eq!(
            outcome(503, None, b"  down\n for   maintenance "),
            Outcome::Transient("HTTP 503: down for maintenance".into())
        );
        assert_eq!(
            check_status(502, None, b""),
            Err(ConnectorError::Transient("HTTP 502: (empty body)".into()))
        );
    }

    #[test]
    fn client_errors_are_rejected_with_the_vendor_reason() {
        assert_eq!(
            outcome(422, None, br#"{"message":"email is invalid"}"#),
            Outcome::Rejected(r#"HTTP 422: {"message":"email is invalid"}"#.into())
        );
        assert!(matches!(outcome(501, None, b""), Outcome::Rejected(_)));
        assert!(matches!(outcome(404, None, b""), Outcome::Rejected(_)));
        let long = "é".repeat(500);
        let Outcome::Rejected(reason) = outcome(400, None, long.as_bytes()) else {
            panic!("expected rejected");
        };
        assert_eq!(reason, format!("HTTP 400: {}…", "é".repeat(200)));
        assert!(matches!(
            check_status(400, None, b""),
            Err(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn refused_credentials_fail_the_call() {
        assert_eq!(
            check_status(401, None, b"bad token"),
            Err(ConnectorError::Auth("HTTP 401: bad token".into()))
        );
        assert!(matches!(
            check_status(403, None, b""),
            Err(ConnectorError::Auth(_))
        ));
        assert!(matches!(
            batch_outcomes(403, None, b"", 3),
            Err(ConnectorError::Auth(_))
        ));
        assert_eq!(
            batch_outcomes(429, Some("2"), b"", 2),
            Ok(vec![Outcome::RetryAfter(2000); 2])
        );
    }

    #[test]
    fn an_item_outcome_fails_a_call_as_check_status_does() {
        for status in [200, 204, 400, 404, 408, 422, 429, 500, 501, 503] {
            assert_eq!(
                fail_call(outcome(status, Some("2"), b"why")),
                check_status(status, Some("2"), b"why"),
                "{status}"
            );
        }
    }
}
