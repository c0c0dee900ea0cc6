//! JSON over the host's `send`, the plugin's only way out: builds the request, and turns the
//! host's transport errors into the `ConnectorError` the host's retry logic expects.

use crate::host::{self, Header, HttpError, HttpRequest, Method};
use crate::outcome;
use crate::types::{ConnectorError, Outcome};
use serde::de::DeserializeOwned;
use serde::Serialize;

const JSON: &str = "application/json";

/// An HTTP request to send through the host. Credentials are never set here: the host injects the
/// auth the plugin's manifest declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<Header>,
    body: Vec<u8>,
}

impl Request {
    /// A GET that accepts JSON.
    pub fn get(url: &str) -> Self {
        Self::new(Method::Get, url, Vec::new()).header("accept", JSON)
    }

    /// A POST of `body` as JSON.
    pub fn post<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Self, ConnectorError> {
        Self::json(Method::Post, url, body)
    }

    /// A PUT of `body` as JSON.
    pub fn put<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Self, ConnectorError> {
        Self::json(Method::Put, url, body)
    }

    /// Sets header `name` (replacing any header of that name, case-insensitively).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.to_owned(),
        });
        self
    }

    /// Sends the request through the host. Any status is a [`Response`]; only a missing response
    /// is an error (see [`send_error`]).
    pub fn send(self) -> Result<Response, ConnectorError> {
        let url = self.url.clone();
        host::send(&HttpRequest {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        })
        .map(|r| Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
        .map_err(|e| send_error(&url, e))
    }

    fn new(method: Method, url: &str, body: Vec<u8>) -> Self {
        Self {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body,
        }
    }

    fn json<T: Serialize + ?Sized>(
        method: Method,
        url: &str,
        body: &T,
    ) -> Result<Self, ConnectorError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ConnectorError::Invalid(format!(
                "could not encode the request to {url} as JSON: {e}"
            ))
        })?;
        Ok(Self::new(method, url, bytes)
            .header("content-type", JSON)
            .header("accept", JSON))
    }
}

/// `GET url`, accepting JSON.
pub fn get(url: &str) -> Result<Response, ConnectorError> {
    Request::get(url).send()
}

/// `POST url` with `body` as JSON.
pub fn post<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response, ConnectorError> {
    Request::post(url, body)?.send()
}

/// `PUT url` with `body` as JSON.
pub fn put<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response, ConnectorError> {
    Request::put(url, body)?.send()
}

/// A vendor's answer, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers, in the order the vendor sent them.
    pub headers: Vec<Header>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body decoded as JSON, or `ConnectorError::Invalid` saying why it is not the expected shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::Invalid(format!(
                "the vendor's response (HTTP {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }

    /// The outcome for one item answered by this response (see [`outcome::outcome`]).
    pub fn outcome(&self) -> Outcome {
        outcome::outcome(self.status, self.header("retry-after"), &self.body)
    }

    /// One outcome per item of a batch answered by this response (see [`outcome::batch_outcomes`]).
    pub fn outcomes(&self, items: usize) -> Result<Vec<Outcome>, ConnectorError> {
        outcome::batch_outcomes(self.status, self.header("retry-after"), &self.body, items)
    }

    /// This response if it is a 2xx, otherwise the error the whole call should fail with
    /// (see [`outcome::check_status`]).
    pub fn success(self) -> Result<Self, ConnectorError> {
        outcome::check_status(self.status, self.header("retry-after"), &self.body)?;
        Ok(self)
    }
}

/// Maps a failed `send` for `url`: refused or malformed requests are configuration problems,
/// connection trouble and timeouts are transient, oversized bodies are invalid.
pub fn send_error(url: &str, error: HttpError) -> ConnectorError {
    match error {
        HttpError::Denied(reason) => ConnectorError::Config(format!(
            "the host refused the request to {url}: {reason} (check the config and the manifest's egress rules)"
        )),
        HttpError::InvalidRequest(reason) => {
            ConnectorError::Config(format!("the request to {url} is invalid: {reason}"))
        }
        HttpError::Connect(reason) => {
            ConnectorError::Transient(format!("could not connect to {url}: {reason}"))
        }
        HttpError::Timeout => ConnectorError::Transient(format!("{url} did not answer in time")),
        HttpError::TooLarge(reason) => {
            ConnectorError::Invalid(format!("the exchange with {url} is too large: {reason}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn json_requests_carry_their_content_type() {
        let request = Request::post("https://x.test/a", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(
            request.headers,
            vec![
                header("content-type", "application/json"),
                header("accept", "application/json")
            ]
        );
        let get = Request::get("https://x.test/").header("Accept", "text/csv");
        assert_eq!(get.headers, vec![header("Accept", "text/csv")]);
        assert!(get.body.is_empty());
    }

    #[test]
    fn responses_read_headers_and_json() {
        let response = Response {
            status: 429,
            headers: vec![header("Retry-After", "2")],
            body: br#"{"ok":false}"#.to_vec(),
        };
        assert_eq!(response.header("retry-after"), Some("2"));
        assert_eq!(response.header("x-missing"), None);
        assert_eq!(
            response.json::<serde_json::Value>().unwrap()["ok"],
            serde_json::json!(false)
        );
        assert!(matches!(
            response.json::<Vec<u8>>(),
            Err(ConnectorError::Invalid(_))
        ));
        assert_eq!(response.outcome(), Outcome::RetryAfter(2000));
        assert_eq!(response.success(), Err(ConnectorError::RateLimited(2000)));
    }

    #[test]
    fn send_errors_map_to_connector_errors() {
        let url = "https://crm.test/hook";
        let ConnectorError::Config(msg) = send_error(url, HttpError::Denied("not allowed".into()))
        else {
            panic!("denied must be a config error");
        };
        assert!(msg.contains(url) && msg.contains("not allowed"), "{msg}");
        assert!(matches!(
            send_error(url, HttpError::InvalidRequest("bad scheme".into())),
            ConnectorError::Config(_)
        ));
        assert!(matches!(
            send_error(url, HttpError::Connect("refused".into())),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            send_error(url, HttpError::Timeout),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            send_error(url, HttpError::TooLarge("2 MiB".into())),
            ConnectorError::Invalid(_)
        ));
    }
}
