//! A source built for `rapport:connector@0.3.0` through the SDK's 0.3 prelude and export macro.
//! Its one stream, "facts", reports on the first poll one event of each kind 0.3 adds to 0.1's (a
//! customer with a birthday and a loyalty account, an order with the vendor's version, merged and
//! deleted customers, privacy requests, a loyalty change) and one customer whose birthday does not
//! exist; later polls report nothing. A webhook reports a `shop-redact` request whose id is the
//! body.

use rapport_sdk::v0_3::prelude::*;

const STREAM: &str = "facts";
/// 2023-11-14T22:13:20Z, when everything here happened.
const AT: Timestamp = 1_700_000_000_000;
/// Where the first poll leaves the stream.
const DONE: &str = "done";

struct SourceV03;

impl Source for SourceV03 {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Contract 0.3 facts".into(),
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
            _ => facts(),
        };
        Ok(Batch {
            events,
            rejected: Vec::new(),
            cursor: Some(DONE.into()),
            more: false,
        })
    }

    fn webhook(_headers: Vec<Header>, body: Vec<u8>) -> Result<Push, ConnectorError> {
        let id = String::from_utf8(body)
            .map_err(|_| ConnectorError::Invalid("the body is not UTF-8".into()))?;
        Ok(Push {
            events: vec![event(
                &format!("privacy-{id}"),
                PosPayload::PrivacyRequest(PrivacyRequest {
                    id,
                    kind: PrivacyKind::ShopRedact,
                    identities: Vec::new(),
                }),
            )],
            rejected: Vec::new(),
        })
    }
}

rapport_sdk::export_source_v0_3!(SourceV03);

fn event(id: &str, payload: PosPayload) -> PosEvent {
    PosEvent {
        id: id.into(),
        occurred_at: AT,
        payload,
    }
}

fn identity(kind: IdentityKind, value: &str) -> Identity {
    Identity {
        kind,
        value: value.into(),
    }
}

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".into(),
    }
}

/// Jane, customer C-NEW at the vendor: born on 29 February (year not given), with 120 of the 450
/// points she ever earned in account LA-1.
fn jane(balance: i64) -> Customer {
    Customer {
        identities: vec![
            identity(IdentityKind::VendorCustomer, "C-NEW"),
            identity(IdentityKind::Email, "jane@example.com"),
        ],
        given_name: Some("Jane".into()),
        family_name: Some("Doe".into()),
        consents: Vec::new(),
        created_at: Some(AT),
        birthday: Some(Birthday {
            month: 2,
            day: 29,
            year: Some(1992),
        }),
        loyalty: Some(LoyaltyAccount {
            id: "LA-1".into(),
            balance,
            lifetime: 450,
        }),
    }
}

fn facts() -> Vec<PosEvent> {
    let latte = LineItem {
        sku: Some("LAT".into()),
        product: "Latte".into(),
        category: Some("Coffee".into()),
        quantity: Decimal { units: 2, scale: 0 },
        unit_price: usd(450),
        total: usd(900),
    };
    let order = Order {
        id: "O-1".into(),
        customer: Some(jane(120)),
        location: Some("L1".into()),
        channel: SalesChannel::InStore,
        state: OrderState::Completed,
        lines: vec![latte],
        subtotal: usd(900),
        tax: usd(72),
        discount: usd(0),
        total: usd(972),
        placed_at: AT,
        updated_at: AT,
        version: Some(7),
    };
    let mut impossible = jane(120);
    impossible.identities = vec![identity(IdentityKind::Email, "feb30@example.com")];
    impossible.birthday = Some(Birthday {
        month: 2,
        day: 30,
        year: Some(1990),
    });
    vec![
        event("customer-C-NEW", PosPayload::Customer(jane(120))),
        event("order-O-1-v7", PosPayload::Order(order)),
        event(
            "merge-C-NEW",
            PosPayload::CustomersMerged(CustomerMerge {
                survivor: jane(120),
                replaced: vec!["C-OLD-1".into(), "C-OLD-2".into()],
            }),
        ),
        event(
            "deleted-C-GONE",
            PosPayload::CustomerDeleted(vec![
                identity(IdentityKind::VendorCustomer, "C-GONE"),
                identity(IdentityKind::Email, "gone@example.com"),
            ]),
        ),
        event(
            "privacy-PR-1",
            PosPayload::PrivacyRequest(PrivacyRequest {
                id: "PR-1".into(),
                kind: PrivacyKind::DataRequest,
                identities: vec![identity(IdentityKind::Email, "jane@example.com")],
            }),
        ),
        event(
            "privacy-PR-2",
            PosPayload::PrivacyRequest(PrivacyRequest {
                id: "PR-2".into(),
                kind: PrivacyKind::Redact,
                identities: vec![identity(IdentityKind::VendorCustomer, "C-GONE")],
            }),
        ),
        event(
            "loyalty-LA-1-80",
            PosPayload::LoyaltyChanged(LoyaltyChange { customer: jane(80) }),
        ),
        event("customer-feb30", PosPayload::Customer(impossible)),
    ]
}
