//! What a sink receives: the stored profile snapshot and event rendered into the contract's
//! `profile` and `activity` records (journey messages included).

use crate::ingest::{CANCELLED_ORDER, PLACED_ORDER, REFUNDED_ORDER};
use rapport_core::model::{self, Payload};
use rapport_sandbox::contract::wit;
use rapport_store::ProfileSnapshot;

pub fn identity(i: &model::Identity) -> wit::Identity {
    wit::Identity {
        kind: match i.kind {
            model::IdentityKind::Email => wit::IdentityKind::Email,
            model::IdentityKind::Phone => wit::IdentityKind::Phone,
            model::IdentityKind::LoyaltyId => wit::IdentityKind::LoyaltyId,
            model::IdentityKind::VendorCustomer => wit::IdentityKind::VendorCustomer,
        },
        value: i.value.clone(),
    }
}

fn money(m: &model::Money) -> wit::Money {
    wit::Money {
        minor: m.minor,
        currency: m.currency.as_str().to_string(),
    }
}

fn text(name: &str, value: impl Into<String>) -> wit::Property {
    wit::Property {
        name: name.into(),
        value: wit::TraitValue::Text(value.into()),
    }
}

fn integer(name: &str, value: i64) -> wit::Property {
    wit::Property {
        name: name.into(),
        value: wit::TraitValue::Integer(value),
    }
}

/// The profile a sink receives.
pub fn profile(s: &ProfileSnapshot) -> wit::Profile {
    let mut traits = vec![
        wit::ProfileTrait {
            name: "orders_count".into(),
            value: wit::TraitValue::Integer(s.orders_count),
        },
        wit::ProfileTrait {
            name: "refunds_count".into(),
            value: wit::TraitValue::Integer(s.refunds_count),
        },
    ];
    if let Some(spent) = &s.net_spent {
        traits.push(wit::ProfileTrait {
            name: "net_spent".into(),
            value: wit::TraitValue::Money(money(spent)),
        });
    }
    for (name, at) in [
        ("first_order_at", s.first_order_at),
        ("last_order_at", s.last_order_at),
    ] {
        if let Some(at) = at {
            traits.push(wit::ProfileTrait {
                name: name.into(),
                value: wit::TraitValue::Time(at),
            });
        }
    }
    if let Some(birthday) = s.birthday {
        traits.push(wit::ProfileTrait {
            name: "birthday".into(),
            value: wit::TraitValue::Text(birthday_text(birthday)),
        });
    }
    if let Some(loyalty) = &s.loyalty {
        for (name, points) in [
            ("loyalty_points", loyalty.balance),
            ("loyalty_lifetime_points", loyalty.lifetime),
        ] {
            traits.push(wit::ProfileTrait {
                name: name.into(),
                value: wit::TraitValue::Integer(points),
            });
        }
    }
    wit::Profile {
        key: s.key.clone(),
        identities: s.identities.iter().map(identity).collect(),
        given_name: s.given_name.clone(),
        family_name: s.family_name.clone(),
        consents: s
            .consents
            .iter()
            .map(|c| wit::Consent {
                channel: match c.channel {
                    model::Channel::Email => wit::Channel::Email,
                    model::Channel::Sms => wit::Channel::Sms,
                    model::Channel::Push => wit::Channel::Push,
                    model::Channel::Postal => wit::Channel::Postal,
                },
                purpose: match c.purpose {
                    model::Purpose::Marketing => wit::Purpose::Marketing,
                    model::Purpose::Transactional => wit::Purpose::Transactional,
                },
                state: match c.state {
                    model::ConsentState::Granted => wit::ConsentState::Granted,
                    model::ConsentState::Revoked => wit::ConsentState::Revoked,
                },
                at: c.at,
                source: c.source.clone(),
            })
            .collect(),
        traits,
    }
}

/// A birthday as ISO 8601 writes it: `YYYY-MM-DD`, or `--MM-DD` without the year.
fn birthday_text(b: model::Birthday) -> String {
    match b.year {
        Some(year) => format!("{year:04}-{:02}-{:02}", b.month, b.day),
        None => format!("--{:02}-{:02}", b.month, b.day),
    }
}

/// The profile a sink receives about a person whose consents bar it from the rest: who they are
/// and what they chose, so the vendor honours the refusal.
pub fn consents_only(s: &ProfileSnapshot) -> wit::Profile {
    wit::Profile {
        given_name: None,
        family_name: None,
        traits: Vec::new(),
        ..profile(s)
    }
}

/// The activity a sink receives for a stored order or refund event: a completed order was placed
/// when the sale was made, a cancelled one was cancelled when it last changed; a refund happened
/// at the event's time (`occurred_at`).
pub fn activity(
    key: &str,
    snapshot: &ProfileSnapshot,
    source_id: &str,
    occurred_at: i64,
    payload: &Payload,
) -> Option<wit::Activity> {
    let (name, occurred_at) = match payload {
        Payload::Order(o) if o.state == model::OrderState::Completed => {
            (PLACED_ORDER, o.placed_at.timestamp_millis())
        }
        Payload::Order(o) => (CANCELLED_ORDER, o.updated_at.timestamp_millis()),
        _ => (REFUNDED_ORDER, occurred_at),
    };
    let (value, properties) = match payload {
        Payload::Order(o) => (
            &o.total,
            vec![
                text("order_id", o.id.clone()),
                text("source", source_id),
                text(
                    "channel",
                    match o.channel {
                        model::SalesChannel::InStore => "in-store",
                        model::SalesChannel::Online => "online",
                        model::SalesChannel::Other => "other",
                    },
                ),
                integer("line_count", o.lines.len() as i64),
                text(
                    "products",
                    o.lines
                        .iter()
                        .map(|l| l.product.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]
            .into_iter()
            .chain(o.location.as_ref().map(|l| text("location", l.clone())))
            .collect::<Vec<_>>(),
        ),
        Payload::Refund(r) => (
            &r.amount,
            vec![
                text("refund_id", r.id.clone()),
                text("order_id", r.order_id.clone()),
                text("source", source_id),
            ]
            .into_iter()
            .chain(r.reason.as_ref().map(|why| text("reason", why.clone())))
            .collect(),
        ),
        Payload::Customer(_)
        | Payload::CustomersMerged { .. }
        | Payload::CustomerDeleted { .. }
        | Payload::PrivacyRequest { .. }
        | Payload::LoyaltyChanged { .. } => return None,
    };
    Some(wit::Activity {
        idempotency_key: key.to_string(),
        profile_key: snapshot.key.clone(),
        identities: snapshot.identities.iter().map(identity).collect(),
        name: name.to_string(),
        occurred_at,
        value: Some(money(value)),
        properties,
    })
}

/// The activity a sink records when it sends a journey's message, at `at` (ms since the epoch):
/// named `Journey: <name>`, with the journey and what its entry carries (its step, the order or
/// category that started it, the suggested product, the experiment variant and its properties).
pub fn journey_message(
    key: &str,
    snapshot: &ProfileSnapshot,
    journey: &str,
    detail: &std::collections::BTreeMap<String, String>,
    at: i64,
) -> wit::Activity {
    let mut properties = vec![text("journey", journey)];
    properties.extend(
        detail
            .iter()
            .map(|(name, value)| text(name, value.as_str())),
    );
    wit::Activity {
        idempotency_key: key.to_string(),
        profile_key: snapshot.key.clone(),
        identities: snapshot.identities.iter().map(identity).collect(),
        name: rapport_core::journeys::Journey::activity_name(journey),
        occurred_at: at,
        value: None,
        properties,
    }
}
