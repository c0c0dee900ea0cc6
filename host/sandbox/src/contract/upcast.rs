//! What a 0.1 or 0.2 source returns (both export 0.1's `source`), as 0.3's types: every field is
//! carried over as it is and what 0.1 cannot say is absent (no birthday, no loyalty account, no
//! vendor version), so nothing is lost and everything past the sandbox handles one set of types.
//!
//! Every record is taken apart field by field, so a field added to either side fails to compile
//! here rather than being dropped.

use super::pos;
use super::source::exports::rapport::connector::source as v0_1;
use super::wit;

/// A 0.1 poll step.
pub fn batch(batch: v0_1::Batch) -> pos::Batch {
    let v0_1::Batch {
        events,
        rejected,
        cursor,
        more,
    } = batch;
    pos::Batch {
        events: events.into_iter().map(event).collect(),
        rejected,
        cursor,
        more,
    }
}

/// A 0.1 webhook delivery.
pub fn push(push: v0_1::Push) -> pos::Push {
    let v0_1::Push { events, rejected } = push;
    pos::Push {
        events: events.into_iter().map(event).collect(),
        rejected,
    }
}

/// A 0.1 event.
pub fn event(event: wit::PosEvent) -> pos::PosEvent {
    let wit::PosEvent {
        id,
        occurred_at,
        payload,
    } = event;
    pos::PosEvent {
        id,
        occurred_at,
        payload: match payload {
            wit::PosPayload::Order(o) => pos::PosPayload::Order(order(o)),
            wit::PosPayload::Refund(r) => pos::PosPayload::Refund(refund(r)),
            wit::PosPayload::Customer(c) => pos::PosPayload::Customer(customer(c)),
        },
    }
}

/// A 0.1 customer: no birthday, no loyalty account.
pub fn customer(customer: wit::Customer) -> pos::Customer {
    let wit::Customer {
        identities,
        given_name,
        family_name,
        consents,
        created_at,
    } = customer;
    pos::Customer {
        identities,
        given_name,
        family_name,
        consents,
        created_at,
        birthday: None,
        loyalty: None,
    }
}

/// A 0.1 order: no vendor version (the host orders its versions by `updated-at`).
fn order(order: wit::Order) -> pos::Order {
    let wit::Order {
        id,
        customer: buyer,
        location,
        channel,
        state,
        lines,
        subtotal,
        tax,
        discount,
        total,
        placed_at,
        updated_at,
    } = order;
    pos::Order {
        id,
        customer: buyer.map(customer),
        location,
        channel,
        state,
        lines,
        subtotal,
        tax,
        discount,
        total,
        placed_at,
        updated_at,
        version: None,
    }
}

fn refund(refund: wit::Refund) -> pos::Refund {
    let wit::Refund {
        id,
        order_id,
        customer: buyer,
        amount,
        reason,
        lines,
        created_at,
    } = refund;
    pos::Refund {
        id,
        order_id,
        customer: buyer.map(customer),
        amount,
        reason,
        lines,
        created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(minor: i64) -> wit::Money {
        wit::Money {
            minor,
            currency: "USD".into(),
        }
    }

    fn line() -> wit::LineItem {
        wit::LineItem {
            sku: Some("LAT-12".into()),
            product: "Latte".into(),
            category: Some("Coffee".into()),
            quantity: wit::Decimal {
                units: 15,
                scale: 1,
            },
            unit_price: usd(450),
            total: usd(675),
        }
    }

    fn old_customer() -> wit::Customer {
        wit::Customer {
            identities: vec![wit::Identity {
                kind: wit::IdentityKind::Email,
                value: "jane@example.com".into(),
            }],
            given_name: Some("Jane".into()),
            family_name: Some("Doe".into()),
            consents: vec![wit::Consent {
                channel: wit::Channel::Email,
                purpose: wit::Purpose::Marketing,
                state: wit::ConsentState::Granted,
                at: 1_700_000_000_000,
                source: "pos-checkbox".into(),
            }],
            created_at: Some(1_600_000_000_000),
        }
    }

    fn new_customer() -> pos::Customer {
        let c = old_customer();
        pos::Customer {
            identities: c.identities,
            given_name: c.given_name,
            family_name: c.family_name,
            consents: c.consents,
            created_at: c.created_at,
            birthday: None,
            loyalty: None,
        }
    }

    #[test]
    fn an_order_keeps_every_field_and_has_no_vendor_version() {
        let old = wit::Order {
            id: "O-1".into(),
            customer: Some(old_customer()),
            location: Some("L1".into()),
            channel: wit::SalesChannel::InStore,
            state: wit::OrderState::Completed,
            lines: vec![line()],
            subtotal: usd(675),
            tax: usd(54),
            discount: usd(0),
            total: usd(729),
            placed_at: 1_700_000_000_000,
            updated_at: 1_700_000_060_000,
        };
        let upcast = event(wit::PosEvent {
            id: "e1".into(),
            occurred_at: 1_700_000_060_000,
            payload: wit::PosPayload::Order(old),
        });
        let expected = pos::PosEvent {
            id: "e1".into(),
            occurred_at: 1_700_000_060_000,
            payload: pos::PosPayload::Order(pos::Order {
                id: "O-1".into(),
                customer: Some(new_customer()),
                location: Some("L1".into()),
                channel: pos::SalesChannel::InStore,
                state: pos::OrderState::Completed,
                lines: vec![line()],
                subtotal: usd(675),
                tax: usd(54),
                discount: usd(0),
                total: usd(729),
                placed_at: 1_700_000_000_000,
                updated_at: 1_700_000_060_000,
                version: None,
            }),
        };
        assert_eq!(upcast, expected);
    }

    #[test]
    fn refunds_customers_batches_and_pushes_keep_every_field() {
        let refund = wit::PosPayload::Refund(wit::Refund {
            id: "R-1".into(),
            order_id: "O-1".into(),
            customer: Some(old_customer()),
            amount: usd(300),
            reason: Some("cold".into()),
            lines: vec![line()],
            created_at: 1_700_000_100_000,
        });
        let events = vec![
            wit::PosEvent {
                id: "r1".into(),
                occurred_at: 1,
                payload: refund,
            },
            wit::PosEvent {
                id: "c1".into(),
                occurred_at: 2,
                payload: wit::PosPayload::Customer(old_customer()),
            },
        ];
        let rejected = vec![wit::RejectedInput {
            locator: "line 3".into(),
            reason: "no total".into(),
        }];
        let expected_events = vec![
            pos::PosEvent {
                id: "r1".into(),
                occurred_at: 1,
                payload: pos::PosPayload::Refund(pos::Refund {
                    id: "R-1".into(),
                    order_id: "O-1".into(),
                    customer: Some(new_customer()),
                    amount: usd(300),
                    reason: Some("cold".into()),
                    lines: vec![line()],
                    created_at: 1_700_000_100_000,
                }),
            },
            pos::PosEvent {
                id: "c1".into(),
                occurred_at: 2,
                payload: pos::PosPayload::Customer(new_customer()),
            },
        ];
        let polled = batch(v0_1::Batch {
            events: events.clone(),
            rejected: rejected.clone(),
            cursor: Some("c".into()),
            more: true,
        });
        assert_eq!(
            polled,
            pos::Batch {
                events: expected_events.clone(),
                rejected: rejected.clone(),
                cursor: Some("c".into()),
                more: true,
            }
        );
        let pushed = push(v0_1::Push {
            events,
            rejected: rejected.clone(),
        });
        assert_eq!(
            pushed,
            pos::Push {
                events: expected_events,
                rejected,
            }
        );
    }
}
