//! Journey rules: messages the shop sends a person after a sale (a welcome after their first order,
//! a thank-you after each one): which sales trigger them, when they are due, their idempotency key,
//! and the consent and contact rules a message must pass. Ingest queues one `message` work item per
//! journey a stored sale triggers; delivery sends it as a `Journey: <name>` activity.

use crate::consent::contact::ContactRules;
use crate::consent::gate::{MarketingGate, WithoutChoice};
use crate::model::Channel;
use serde::Deserialize;

/// Which sales start a journey for their buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The first order stored for the person.
    FirstOrder,
    /// Every order.
    EveryOrder,
}

impl Trigger {
    /// Whether an order fires this trigger, given whether it is the person's first.
    pub fn fires(self, first_order: bool) -> bool {
        match self {
            Trigger::FirstOrder => first_order,
            Trigger::EveryOrder => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::FirstOrder => "first-order",
            Trigger::EveryOrder => "every-order",
        }
    }
}

/// `[[journey]]`: one message a sink sends a person after a sale.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journey {
    pub name: String,
    /// The configured sink that sends it.
    pub sink: String,
    /// How it contacts the person; one of the sink's `channels`.
    pub channel: Channel,
    pub trigger: Trigger,
    /// How long after the sale it is due.
    #[serde(default)]
    pub wait_minutes: u32,
}

/// The longest a journey may wait: a year.
pub const MAX_WAIT_MINUTES: u32 = 366 * 24 * 60;

impl Journey {
    /// The activity the sink records when the message is sent.
    pub fn activity_name(name: &str) -> String {
        format!("Journey: {name}")
    }

    /// The message's idempotency key: stable for this journey and sale, so re-ingesting the sale
    /// never queues it twice.
    pub fn message_key(&self, source_id: &str, source_event_id: &str) -> String {
        crate::keys::activity_key(
            &format!("journey:{}\n{source_id}", self.name),
            source_event_id,
        )
    }

    pub fn wait_ms(&self) -> i64 {
        i64::from(self.wait_minutes) * 60_000
    }
}

/// Where ingest sends the work a batch creates: every sink taking new work (none being retired) gets
/// the events' profile updates and activities, and each journey's sink gets that journey's messages.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub sinks: Vec<String>,
    pub journeys: Vec<Journey>,
}

/// What delivery needs to judge a journey message: the consent regime and the contact rules.
#[derive(Debug, Clone)]
pub struct Messaging {
    pub rules: ContactRules,
    without_choice: WithoutChoice,
}

impl Messaging {
    pub fn new(rules: ContactRules, without_choice: WithoutChoice) -> Messaging {
        Messaging {
            rules,
            without_choice,
        }
    }

    /// The consent gate of a message on `channel`: the person must have agreed to marketing there.
    pub fn gate(&self, channel: Channel) -> MarketingGate {
        MarketingGate::new(vec![channel], self.without_choice)
    }
}
