//! A source built for `rapport:connector@0.5.0` with the `service-issues` export, through
//! `rapport-sdk-service-issues`. Its one stream, "customers", reports on the first poll Ana,
//! customer C-ANA at the vendor; later polls report nothing. Its issues are a script that moves
//! one step per read: the first read reports issue T-1 ("grinder returned") opened, the second
//! reports it closed, later reads report nothing.

use rapport_sdk::v0_3::prelude::*;
use rapport_sdk_service_issues::{IssuePage, ServiceIssue, ServiceIssues};

const STREAM: &str = "customers";
/// 2023-11-14T22:13:20Z, when Ana became a customer and opened the issue.
const OPENED: Timestamp = 1_700_000_000_000;
/// A day later, when the issue was closed.
const CLOSED: Timestamp = OPENED + 86_400_000;
/// Where the first poll leaves the stream.
const DONE: &str = "done";

struct SourceV05;

impl Source for SourceV05 {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Contract 0.5 service issues".into(),
            kind: ConnectorKind::PosSource,
            streams: vec![STREAM.into()],
            max_batch: 0,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn poll(stream: String, cursor: Option<String>) -> Result<Batch, ConnectorError> {
        if stream != STREAM {
            return Err(ConnectorError::Invalid(format!(
                "unknown stream {stream:?}: this source has only {STREAM:?}"
            )));
        }
        let events = match cursor.as_deref() {
            Some(DONE) => Vec::new(),
            _ => vec![PosEvent {
                id: "customer-C-ANA".into(),
                occurred_at: OPENED,
                payload: PosPayload::Customer(ana()),
            }],
        };
        Ok(Batch {
            events,
            rejected: Vec::new(),
            cursor: Some(DONE.into()),
            more: false,
        })
    }

    fn webhook(_headers: Vec<Header>, _body: Vec<u8>) -> Result<Push, ConnectorError> {
        Err(ConnectorError::Invalid(
            "this source takes no webhooks".into(),
        ))
    }
}

impl ServiceIssues for SourceV05 {
    fn issue_changes(cursor: Option<String>) -> Result<IssuePage, ConnectorError> {
        let step: u32 = match cursor.as_deref() {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                ConnectorError::Invalid(format!("{text:?} is not this source's cursor"))
            })?,
        };
        let issue = |closed_at| ServiceIssue {
            id: "T-1".into(),
            customer: "C-ANA".into(),
            title: "grinder returned".into(),
            opened_at: OPENED,
            closed_at,
        };
        let issues = match step {
            0 => vec![issue(None)],
            1 => vec![issue(Some(CLOSED))],
            _ => Vec::new(),
        };
        Ok(IssuePage {
            issues,
            cursor: Some((step + 1).min(2).to_string()),
            more: false,
        })
    }
}

/// Ana, customer C-ANA at the vendor.
fn ana() -> Customer {
    Customer {
        identities: vec![
            Identity {
                kind: IdentityKind::VendorCustomer,
                value: "C-ANA".into(),
            },
            Identity {
                kind: IdentityKind::Email,
                value: "ana@example.com".into(),
            },
        ],
        given_name: Some("Ana".into()),
        family_name: None,
        consents: Vec::new(),
        created_at: Some(OPENED),
        birthday: None,
        loyalty: None,
    }
}

rapport_sdk_service_issues::export_source!(SourceV05);
