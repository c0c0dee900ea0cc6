//! A source built for `rapport:connector@0.1.0` through the SDK's 0.1 prelude and export macro, as
//! a connector published before contract 0.3 was. Its one stream, "sales", reports on the first poll
//! a customer and her completed order; later polls report nothing.

use rapport_sdk::prelude::*;

const STREAM: &str = "sales";
/// 2023-11-14T22:13:20Z, when everything here happened.
const AT: Timestamp = 1_700_000_000_000;
/// Where the first poll leaves the stream.
const DONE: &str = "done";

struct SourceV01;

impl Source for SourceV01 {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Contract 0.1 sales".into(),
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
            _ => sales(),
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

rapport_sdk::export_source!(SourceV01);

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: "USD".into(),
    }
}

fn ana() -> Customer {
    Customer {
        identities: vec![Identity {
            kind: IdentityKind::Email,
            value: "ana@example.com".into(),
        }],
        given_name: Some("Ana".into()),
        family_name: None,
        consents: Vec::new(),
        created_at: Some(AT),
    }
}

fn sales() -> Vec<PosEvent> {
    let order = Order {
        id: "O-1".into(),
        customer: Some(ana()),
        location: None,
        channel: SalesChannel::InStore,
        state: OrderState::Completed,
        lines: Vec::new(),
        subtotal: usd(1200),
        tax: usd(0),
        discount: usd(0),
        total: usd(1200),
        placed_at: AT,
        updated_at: AT,
    };
    vec![
        PosEvent {
            id: "customer-ana".into(),
            occurred_at: AT,
            payload: PosPayload::Customer(ana()),
        },
        PosEvent {
            id: "order-O-1".into(),
            occurred_at: AT,
            payload: PosPayload::Order(order),
        },
    ]
}
