//! Forgetting a person (the right to erasure): what the local scrub removes, what it keeps for the
//! sinks, and when each sink is first asked to forget them. The host's forget service reads what the
//! store holds of the person, asks [`plan`], and has the store carry the plan out in one
//! transaction.
//!
//! Whatever is stored, forgetting removes the person's identities, their consents in force and the
//! choices in their ledger, their names, the names and choices left on profiles merged into theirs
//! (kept for an unmerge, which is refused from then on), and their undelivered work items (delivered
//! ones keep no vendor message: a vendor's error may quote the identifier it refused). The plan
//! says the rest, from what is stored:
//! - each of their events loses its customer block (amounts and times stay, so figures stay right);
//!   a customer event keeps only when the record was created, and its object id, made of the
//!   vendor's customer id, is replaced;
//! - kept raw input (rejected input, malformed webhook deliveries) that mentions one of their
//!   identifiers, as the POS wrote them or as the operator typed them, is deleted;
//! - the identifiers are kept, for the sinks alone, until the last sink confirms it forgot them;
//! - a sink holding one of their work items in flight is first asked once that lease ends, so an
//!   update still on its way cannot land after the sink forgot them.

use crate::model::{Identity, IdentityKind, Payload};
use std::collections::{BTreeSet, HashMap};

/// Raw text shorter than this is not searched for in kept input: it would match unrelated rows.
pub const MIN_MATCH_LEN: usize = 5;

/// What the store holds of a person to forget.
#[derive(Debug, Clone, Default)]
pub struct Held<'a> {
    /// The identifiers linked to their profile.
    pub identities: &'a [Identity],
    /// Their events, by row id.
    pub events: Vec<(i64, &'a Payload)>,
    /// For each sink with one of their work items in flight, when the last such lease ends.
    pub leases: HashMap<String, i64>,
}

/// One of the person's events, scrubbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubbedEvent {
    pub id: i64,
    pub payload: Payload,
    /// The event's new object id, when the old one was made of the person's identifier.
    pub object_id: Option<String>,
}

/// One sink's part of an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkPart {
    pub sink: String,
    /// When the sink is first asked to forget the person.
    pub first_attempt_at: i64,
}

/// What forgetting one person does, beyond what it always removes (see the module's summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasurePlan {
    /// Every event of theirs, in the order given, scrubbed.
    pub events: Vec<ScrubbedEvent>,
    /// Text whose mention in kept raw input (compared case-insensitively) deletes the row: each
    /// trimmed, and at least [`MIN_MATCH_LEN`] characters long.
    pub mentions: BTreeSet<String>,
    /// The identifiers kept for the sinks until the last one confirms (none without sinks).
    pub kept_identities: Vec<Identity>,
    /// Each sink's part.
    pub sinks: Vec<SinkPart>,
    /// When the erasure is complete: now, with no sink to tell; otherwise once the last sink
    /// confirms.
    pub completed_at: Option<i64>,
}

/// What forgetting the person the store holds `held` of does, at `now`, for `sinks`; `typed` is the
/// text the operator named them by.
pub fn plan(held: &Held<'_>, typed: &str, sinks: &[String], now: i64) -> ErasurePlan {
    let mut raw: BTreeSet<&str> = mentionable(held.identities).collect();
    raw.insert(typed);
    let events = held
        .events
        .iter()
        .map(|(id, payload)| {
            raw.extend(mentionable(payload.identities()));
            scrub(*id, payload)
        })
        .collect();
    let mentions = raw
        .into_iter()
        .map(str::trim)
        .filter(|text| text.chars().count() >= MIN_MATCH_LEN)
        .map(str::to_string)
        .collect();
    let kept_identities = match sinks.is_empty() {
        true => Vec::new(),
        false => held.identities.to_vec(),
    };
    let sinks = sinks
        .iter()
        .map(|sink| SinkPart {
            sink: sink.clone(),
            first_attempt_at: held.leases.get(sink).map_or(now, |lease| now.max(*lease)),
        })
        .collect::<Vec<_>>();
    ErasurePlan {
        events,
        mentions,
        kept_identities,
        completed_at: sinks.is_empty().then_some(now),
        sinks,
    }
}

/// The identifiers that may appear in kept raw input as the person wrote them: a vendor's customer
/// id is the vendor's, not theirs.
fn mentionable(identities: &[Identity]) -> impl Iterator<Item = &str> {
    identities
        .iter()
        .filter(|i| i.kind != IdentityKind::VendorCustomer)
        .map(|i| i.value.trim())
}

/// Event `id` without its customer block.
fn scrub(id: i64, payload: &Payload) -> ScrubbedEvent {
    let mut payload = payload.clone();
    let object_id = match &mut payload {
        Payload::Order(order) => {
            order.customer = None;
            None
        }
        Payload::Refund(refund) => {
            refund.customer = None;
            None
        }
        // These events' object ids are made of the person's identities: they get a neutral one.
        Payload::Customer(customer)
        | Payload::CustomersMerged {
            survivor: customer, ..
        }
        | Payload::LoyaltyChanged { customer } => {
            *customer = customer.without_details();
            Some(format!("erased:{id}"))
        }
        Payload::CustomerDeleted { identities } => {
            identities.clear();
            Some(format!("erased:{id}"))
        }
        Payload::PrivacyRequest { identities, .. } => {
            identities.clear();
            None
        }
    };
    ScrubbedEvent {
        id,
        payload,
        object_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Channel, Consent, ConsentState, Currency, Customer, Money, Order, OrderState, Purpose,
        Refund, SalesChannel,
    };
    use chrono::{TimeZone, Utc};

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: value.into(),
        }
    }

    fn customer(identities: Vec<Identity>) -> Customer {
        Customer {
            identities,
            given_name: Some("Ana".into()),
            family_name: Some("Silva".into()),
            consents: vec![Consent {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                state: ConsentState::Granted,
                at: Utc.timestamp_millis_opt(1_000).unwrap(),
                source: "pos".into(),
            }],
            created_at: Some(Utc.timestamp_millis_opt(2_000).unwrap()),
            birthday: Some(crate::model::Birthday {
                month: 7,
                day: 14,
                year: None,
            }),
            loyalty: Some(crate::model::LoyaltyAccount {
                id: "LA-1".into(),
                balance: 40,
                lifetime: 90,
            }),
        }
    }

    fn euros(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::try_from("EUR".to_string()).unwrap(),
        }
    }

    fn order(customer: Option<Customer>) -> Payload {
        let at = Utc.timestamp_millis_opt(3_000).unwrap();
        let money = euros(1250);
        Payload::Order(Order {
            id: "o1".into(),
            customer,
            location: None,
            channel: SalesChannel::InStore,
            state: OrderState::Completed,
            lines: Vec::new(),
            subtotal: money.clone(),
            tax: money.clone(),
            discount: money.clone(),
            total: money,
            placed_at: at,
            updated_at: at,
            version: None,
        })
    }

    fn refund(customer: Option<Customer>) -> Payload {
        Payload::Refund(Refund {
            id: "r1".into(),
            order_id: "o1".into(),
            customer,
            amount: euros(200),
            reason: Some("damaged".into()),
            lines: Vec::new(),
            created_at: Utc.timestamp_millis_opt(4_000).unwrap(),
        })
    }

    fn sinks() -> Vec<String> {
        vec!["crm".into(), "mail".into()]
    }

    #[test]
    fn every_event_loses_its_customer_block_and_a_customer_event_its_object_id() {
        let person = customer(vec![identity(IdentityKind::Email, "ana@example.com")]);
        let events = [
            order(Some(person.clone())),
            refund(Some(person.clone())),
            Payload::Customer(person.clone()),
            order(None),
        ];
        let held = Held {
            events: events
                .iter()
                .enumerate()
                .map(|(i, p)| (i as i64 + 1, p))
                .collect(),
            ..Held::default()
        };
        let plan = plan(&held, "ana@example.com", &sinks(), 10);
        assert_eq!(
            plan.events,
            vec![
                ScrubbedEvent {
                    id: 1,
                    payload: order(None),
                    object_id: None
                },
                ScrubbedEvent {
                    id: 2,
                    payload: refund(None),
                    object_id: None
                },
                ScrubbedEvent {
                    id: 3,
                    payload: Payload::Customer(Customer {
                        identities: Vec::new(),
                        given_name: None,
                        family_name: None,
                        consents: Vec::new(),
                        created_at: person.created_at,
                        birthday: None,
                        loyalty: None,
                    }),
                    object_id: Some("erased:3".into())
                },
                ScrubbedEvent {
                    id: 4,
                    payload: order(None),
                    object_id: None
                },
            ]
        );
    }

    #[test]
    fn kept_input_is_searched_for_their_identifiers_as_written_and_as_typed() {
        let linked = [
            identity(IdentityKind::Email, "ana@example.com"),
            identity(IdentityKind::Phone, "+442079460012"),
            identity(IdentityKind::VendorCustomer, "pos:C00001"),
            identity(IdentityKind::LoyaltyId, "L7"),
        ];
        let as_written = order(Some(customer(vec![
            identity(IdentityKind::Email, "  Ana@Example.com "),
            identity(IdentityKind::Phone, "020 7946 0012"),
            identity(IdentityKind::VendorCustomer, "C00001"),
        ])));
        let held = Held {
            identities: &linked,
            events: vec![(1, &as_written)],
            ..Held::default()
        };
        let plan = plan(&held, "ANA@example.com", &sinks(), 10);
        // Trimmed; a vendor's customer id and text too short to mean anyone are left out.
        assert_eq!(
            plan.mentions.into_iter().collect::<Vec<_>>(),
            [
                "+442079460012",
                "020 7946 0012",
                "ANA@example.com",
                "Ana@Example.com",
                "ana@example.com"
            ]
        );
    }

    #[test]
    fn each_sink_is_asked_at_once_unless_an_item_of_theirs_is_in_flight() {
        let linked = [identity(IdentityKind::Email, "ana@example.com")];
        let held = Held {
            identities: &linked,
            leases: HashMap::from([("crm".to_string(), 70), ("other".to_string(), 90)]),
            ..Held::default()
        };
        let plan = plan(&held, "ana@example.com", &sinks(), 50);
        assert_eq!(
            plan.sinks,
            vec![
                SinkPart {
                    sink: "crm".into(),
                    first_attempt_at: 70
                },
                SinkPart {
                    sink: "mail".into(),
                    first_attempt_at: 50
                },
            ]
        );
        assert_eq!(plan.kept_identities, linked);
        assert_eq!(plan.completed_at, None);
        // A lease already over does not hold the sink back.
        let plan = super::plan(&held, "ana@example.com", &sinks(), 80);
        assert_eq!(plan.sinks[0].first_attempt_at, 80);
    }

    #[test]
    fn without_sinks_the_erasure_is_complete_at_once_and_nothing_is_kept() {
        let linked = [identity(IdentityKind::Email, "ana@example.com")];
        let held = Held {
            identities: &linked,
            ..Held::default()
        };
        let plan = plan(&held, "ana@example.com", &[], 50);
        assert_eq!(plan.sinks, vec![]);
        assert_eq!(plan.kept_identities, vec![]);
        assert_eq!(plan.completed_at, Some(50));
    }
}
