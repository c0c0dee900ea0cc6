//! Journeys: messages the shop sends a person after a sale (a welcome after their first order, a
//! thank-you after each one). Ingest queues one `message` work item per journey a stored sale
//! triggers; delivery sends it to the journey's sink as a `Journey: <name>` activity once the
//! person's consent and the shop's contact rules (quiet hours, frequency caps) allow.

use crate::config::Config;
use crate::consent::contact::ContactRules;
use crate::consent::gate::{MarketingGate, WithoutChoice};
use crate::governance::retention::Keep;
use crate::model::Channel;
use serde::Deserialize;
use std::collections::HashSet;

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
const MAX_WAIT_MINUTES: u32 = 366 * 24 * 60;

impl Journey {
    /// The activity the sink records when the message is sent.
    pub fn activity_name(name: &str) -> String {
        format!("Journey: {name}")
    }

    /// The message's idempotency key: stable for this journey and sale, so re-ingesting the sale
    /// never queues it twice.
    pub fn message_key(&self, source_id: &str, source_event_id: &str) -> String {
        crate::store::activity_key(
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
    pub fn from_config(config: &Config) -> Messaging {
        Messaging {
            rules: ContactRules::new(
                config.shop.time_zone,
                config.consent.quiet_hours,
                config.consent.caps.clone(),
            ),
            without_choice: config.consent.marketing_without_choice,
        }
    }

    /// The consent gate of a message on `channel`: the person must have agreed to marketing there.
    pub fn gate(&self, channel: Channel) -> MarketingGate {
        MarketingGate::new(vec![channel], self.without_choice)
    }
}

/// Checks `[[journey]]` entries against the sinks, and `[[consent.cap]]` windows against how long
/// the history they count is kept.
pub fn validate(config: &Config) -> Result<(), String> {
    let mut names = HashSet::new();
    for journey in &config.journeys {
        let name = &journey.name;
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(format!(
                "[[journey]] name {name:?} must be non-empty printable text"
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("[[journey]] name {name:?} is used twice"));
        }
        let sink = config
            .sinks
            .iter()
            .find(|s| s.id == journey.sink)
            .ok_or_else(|| {
                let known: Vec<&str> = config.sinks.iter().map(|s| s.id.as_str()).collect();
                format!(
                    "[[journey]] {name:?}: sink {:?} is not a configured [[sink]] id (configured: {})",
                    journey.sink,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })?;
        if sink.retire {
            return Err(format!(
                "[[journey]] {name:?}: sink {:?} is being retired (retire = true) and takes no new work; point the journey at the sink that replaces it",
                journey.sink
            ));
        }
        let channels = sink
            .channels
            .clone()
            .unwrap_or_else(|| vec![Channel::Email]);
        if !channels.contains(&journey.channel) {
            let listed: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
            return Err(format!(
                "[[journey]] {name:?}: channel {:?} is not one sink {:?} markets on (its channels: [{}])",
                journey.channel.as_str(),
                journey.sink,
                listed.join(", ")
            ));
        }
        if journey.wait_minutes > MAX_WAIT_MINUTES {
            return Err(format!(
                "[[journey]] {name:?}: wait_minutes must be at most {MAX_WAIT_MINUTES} (a year), not {}",
                journey.wait_minutes
            ));
        }
    }
    let retention = &config.retention;
    for cap in &config.consent.caps {
        for (key, keep) in [
            ("outbox", retention.outbox),
            ("deliveries", retention.deliveries),
        ] {
            if let Keep::For(period) = keep {
                if period < cap.window().to_std().unwrap_or_default() {
                    return Err(format!(
                        "consent.cap ({}): per_days = {} counts sends older than retention.{key} keeps ({keep}); shorten the cap or keep {key} longer",
                        cap.channel.as_str(),
                        cap.per_days,
                    ));
                }
            }
        }
    }
    Ok(())
}
