//! A source whose cursor loops: its one stream, "orders", answers every poll with one valid
//! order and the cursor of the other of two pages, always saying more is waiting, so a host that
//! trusted it would poll for ever. Everything else it does right (`check` answers ok, an unsigned
//! webhook fails as auth), so `rapport plugin test` fails it on its poll alone.

use rapport_sdk::prelude::*;

const STREAM: &str = "orders";
/// 2026-10-02T09:30:00Z
const PLACED: Timestamp = 1_790_933_400_000;

struct LoopingSource;

impl Source for LoopingSource {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Looping test source".into(),
            kind: ConnectorKind::PosSource,
            streams: vec![STREAM.into()],
            max_batch: 1,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn poll(_stream: String, cursor: Option<String>) -> Result<Batch, ConnectorError> {
        let (page, next) = match cursor.as_deref() {
            Some("page-1") => (1, "page-2"),
            _ => (0, "page-1"),
        };
        Ok(Batch {
            events: vec![order(page)],
            rejected: Vec::new(),
            cursor: Some(next.into()),
            more: true,
        })
    }

    fn webhook(_headers: Vec<Header>, _body: Vec<u8>) -> Result<Push, ConnectorError> {
        Err(ConnectorError::Auth(
            "this test source accepts no signature".into(),
        ))
    }
}

fn order(page: u32) -> PosEvent {
    let total = Money {
        minor: 450,
        currency: "EUR".into(),
    };
    PosEvent {
        id: format!("order-{page}"),
        occurred_at: PLACED,
        payload: PosPayload::Order(Order {
            id: format!("O-{page}"),
            customer: None,
            location: None,
            channel: SalesChannel::InStore,
            state: OrderState::Completed,
            lines: vec![LineItem {
                sku: None,
                product: "Espresso".into(),
                category: None,
                quantity: Decimal { units: 1, scale: 0 },
                unit_price: total.clone(),
                total: total.clone(),
            }],
            subtotal: total.clone(),
            tax: Money {
                minor: 0,
                currency: "EUR".into(),
            },
            discount: Money {
                minor: 0,
                currency: "EUR".into(),
            },
            total,
            placed_at: PLACED,
            updated_at: PLACED,
        }),
    }
}

rapport_sdk::export_source!(LoopingSource);
