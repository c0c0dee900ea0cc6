//! A vendor's answers read in its own words. CRM sinks all read answers the same way (the
//! statuses as [`outcome`](crate::outcome) maps them), except that a refused credential (401/403)
//! fails the whole call with `Auth` saying what to check (rejecting every item for good over a
//! revoked key would lose them), and a client error the vendor explains in its error body rejects
//! the item with that explanation instead of the raw body. Each sink describes its vendor once as
//! a [`Vendor`] and reads every answer through it.

use crate::http::Response;
use crate::outcome::fail_call;
use crate::types::{ConnectorError, Outcome};

/// How a vendor is named in reasons and what its error bodies say.
#[derive(Debug, Clone, Copy)]
pub struct Vendor {
    /// Starts every reason: "Klaviyo HTTP 422: …".
    pub name: &'static str,
    /// What the vendor refuses on a 401/403, as the host injects it: "the API key".
    pub credential: &'static str,
    /// What the operator should check then: "check the secret `klaviyo_key` and its scopes".
    pub advice: &'static str,
    /// The explanation in an error body, if the body is the vendor's error document.
    pub detail: fn(&[u8]) -> Option<String>,
}

impl Vendor {
    /// The outcome of one item answered by `response`: 401/403 fail the call (`Auth`), another
    /// 4xx but 408 and 429 with an explanation is rejected as "`<name>` HTTP `<status>`: `<detail>`",
    /// and everything else reads as [`Response::outcome`].
    pub fn outcome(&self, response: &Response) -> Result<Outcome, ConnectorError> {
        let status = response.status;
        match status {
            401 | 403 => Err(self.refused(response)),
            400..=499 if !matches!(status, 408 | 429) => Ok(match (self.detail)(&response.body) {
                Some(detail) => Outcome::Rejected(self.rejection(status, &detail)),
                None => response.outcome(),
            }),
            _ => Ok(response.outcome()),
        }
    }

    /// `response` if it is a 2xx; otherwise the error the whole call fails with, read as
    /// [`Vendor::outcome`] then [`fail_call`].
    pub fn success(&self, response: Response) -> Result<Response, ConnectorError> {
        fail_call(self.outcome(&response)?)?;
        Ok(response)
    }

    /// A rejection's reason in the vendor's words: "`<name>` HTTP `<status>`: `<detail>`".
    pub fn rejection(&self, status: u16, detail: &str) -> String {
        format!("{} HTTP {status}: {detail}", self.name)
    }

    /// "<name> refused <credential> (HTTP 401: <detail>); <advice>".
    fn refused(&self, response: &Response) -> ConnectorError {
        ConnectorError::Auth(format!(
            "{} refused {} (HTTP {}: {}); {}",
            self.name,
            self.credential,
            response.status,
            (self.detail)(&response.body)
                .as_deref()
                .unwrap_or("no error detail"),
            self.advice
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Header;

    const ACME: Vendor = Vendor {
        name: "Acme",
        credential: "the API key",
        advice: "check the secret `acme_key`",
        detail: |body| {
            let text = std::str::from_utf8(body).ok()?;
            text.strip_prefix("error: ").map(str::to_owned)
        },
    };

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![Header {
                name: "retry-after".into(),
                value: "3".into(),
            }],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn refused_credentials_fail_the_call_saying_what_to_check() {
        assert_eq!(
            ACME.outcome(&response(401, "error: key revoked")),
            Err(ConnectorError::Auth(
                "Acme refused the API key (HTTP 401: key revoked); check the secret `acme_key`"
                    .into()
            ))
        );
        assert_eq!(
            ACME.success(response(403, "<html>")),
            Err(ConnectorError::Auth(
                "Acme refused the API key (HTTP 403: no error detail); check the secret `acme_key`"
                    .into()
            ))
        );
    }

    #[test]
    fn explained_client_errors_are_rejected_in_the_vendor_words() {
        assert_eq!(
            ACME.outcome(&response(422, "error: email is invalid")),
            Ok(Outcome::Rejected("Acme HTTP 422: email is invalid".into()))
        );
        assert_eq!(ACME.rejection(207, "bad"), "Acme HTTP 207: bad");
        assert_eq!(
            ACME.outcome(&response(404, "gone")),
            Ok(Outcome::Rejected("HTTP 404: gone".into()))
        );
        assert_eq!(
            ACME.success(response(400, "error: bad")),
            Err(ConnectorError::Invalid("Acme HTTP 400: bad".into()))
        );
    }

    #[test]
    fn other_statuses_read_as_the_sdk_outcome() {
        assert_eq!(ACME.outcome(&response(200, "")), Ok(Outcome::Ok));
        assert_eq!(
            ACME.outcome(&response(429, "error: slow down")),
            Ok(Outcome::RetryAfter(3000))
        );
        assert_eq!(
            ACME.outcome(&response(408, "error: late")),
            Ok(Outcome::Transient("HTTP 408: error: late".into()))
        );
        assert_eq!(
            ACME.success(response(503, "")),
            Err(ConnectorError::Transient("HTTP 503: (empty body)".into()))
        );
        assert_eq!(ACME.success(response(201, "ok")).map(|r| r.status), Ok(201));
    }
}
