//! A source that may not grant consent (`[server.sources.<id>] grants_consent = false`: a web form,
//! a partner's upload) has the grants it reports dropped, whether pushed or polled, each event that
//! lost one recorded as rejected input saying why; its refusals always count.

use rapport_sandbox::contract::pos;

/// Drops the consent grants in `events` (refusals stay), and says which events lost one.
pub fn drop_grants(source_id: &str, events: &mut [pos::PosEvent]) -> Vec<pos::RejectedInput> {
    let mut dropped = Vec::new();
    for event in events {
        let customers: Vec<&mut pos::Customer> = match &mut event.payload {
            pos::PosPayload::Order(o) => o.customer.iter_mut().collect(),
            pos::PosPayload::Refund(r) => r.customer.iter_mut().collect(),
            pos::PosPayload::Customer(c) => vec![c],
            pos::PosPayload::CustomersMerged(m) => vec![&mut m.survivor],
            pos::PosPayload::LoyaltyChanged(l) => vec![&mut l.customer],
            pos::PosPayload::CustomerDeleted(_) | pos::PosPayload::PrivacyRequest(_) => vec![],
        };
        let mut grants = 0;
        for customer in customers {
            let before = customer.consents.len();
            customer
                .consents
                .retain(|c| c.state != pos::ConsentState::Granted);
            grants += before - customer.consents.len();
        }
        if grants > 0 {
            dropped.push(pos::RejectedInput {
                locator: format!("event {:?}", event.id),
                reason: format!(
                    "{grants} consent grant(s) not taken: source `{source_id}` may not grant consent ([server.sources.{source_id}] grants_consent = false); the rest of the event is stored"
                ),
            });
        }
    }
    dropped
}
