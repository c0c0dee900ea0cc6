//! Journey rules: messages the shop sends a person after a sale (a welcome after their first order,
//! a thank-you after each one): which sales trigger them, when they are due, their idempotency key,
//! and the consent and contact rules a message must pass. Ingest queues one `message` work item per
//! journey a stored sale triggers; delivery sends it as a `Journey: <name>` activity.

use crate::consent::contact::ContactRules;
use crate::consent::gate::{MarketingGate, WithoutChoice};
use crate::model::Channel;
use chrono::{DateTime, Utc};
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

/// A sale stored for the first time, by a known person: what may start their journeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSale<'e> {
    pub profile_id: i64,
    pub event_id: i64,
    /// The source's id of the event, for the message's idempotency key.
    pub source_event_id: &'e str,
    pub occurred_at: DateTime<Utc>,
}

/// A journey message one new sale triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMessage<'j> {
    pub journey: &'j Journey,
    pub profile_id: i64,
    pub event_id: i64,
    pub key: String,
    /// When it is due (ms since the epoch): the sale's time plus the journey's wait.
    pub due: i64,
}

/// The journey messages a batch's new sales trigger from `source_id`, for every journey whose
/// trigger each fires. A person's first order is their earliest new one, if they had none stored
/// (`ordered_before`).
pub fn plan_messages<'j>(
    source_id: &str,
    journeys: &'j [Journey],
    mut sales: Vec<NewSale<'_>>,
    mut ordered_before: HashSet<i64>,
) -> Vec<PlannedMessage<'j>> {
    sales.sort_by_key(|sale| (sale.occurred_at, sale.event_id));
    let mut messages = Vec::new();
    for sale in sales {
        let first_order = ordered_before.insert(sale.profile_id);
        for journey in journeys.iter().filter(|j| j.trigger.fires(first_order)) {
            messages.push(PlannedMessage {
                journey,
                profile_id: sale.profile_id,
                event_id: sale.event_id,
                key: journey.message_key(source_id, sale.source_event_id),
                due: sale.occurred_at.timestamp_millis() + journey.wait_ms(),
            });
        }
    }
    messages
}

/// Where ingest sends the work a batch creates: every sink taking new work (none being retired) gets
/// the events' profile updates and activities, and each journey's sink gets that journey's messages.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub sinks: Vec<String>,
    pub journeys: Vec<Journey>,
    /// How old a sale may be and still start journeys.
    pub horizon: crate::sales::JourneyHorizon,
    /// The shop's time zone: what a day is, for visits.
    pub time_zone: chrono_tz::Tz,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn journey(name: &str, trigger: Trigger, wait_minutes: u32) -> Journey {
        Journey {
            name: name.into(),
            sink: "crm".into(),
            channel: Channel::Email,
            trigger,
            wait_minutes,
        }
    }

    fn sale(profile_id: i64, event_id: i64, id: &str, at_ms: i64) -> NewSale<'_> {
        NewSale {
            profile_id,
            event_id,
            source_event_id: id,
            occurred_at: DateTime::from_timestamp_millis(at_ms).unwrap(),
        }
    }

    #[test]
    fn a_welcome_goes_once_for_the_earliest_new_sale_and_a_thank_you_for_each() {
        let journeys = [
            journey("welcome", Trigger::FirstOrder, 0),
            journey("thanks", Trigger::EveryOrder, 60),
        ];
        // Person 1 bought twice in the batch (the later one listed first); person 2 had bought
        // before.
        let sales = vec![
            sale(1, 11, "o-b", 2_000_000),
            sale(1, 10, "o-a", 1_000_000),
            sale(2, 12, "o-c", 1_500_000),
        ];
        let messages = plan_messages("square", &journeys, sales, HashSet::from([2]));
        let got: Vec<(&str, i64, i64)> = messages
            .iter()
            .map(|m| (m.journey.name.as_str(), m.event_id, m.due))
            .collect();
        assert_eq!(
            got,
            [
                ("welcome", 10, 1_000_000),
                ("thanks", 10, 1_000_000 + 3_600_000),
                ("thanks", 12, 1_500_000 + 3_600_000),
                ("thanks", 11, 2_000_000 + 3_600_000),
            ]
        );
        assert_eq!(
            messages[0].key,
            crate::keys::activity_key("journey:welcome\nsquare", "o-a")
        );
    }
}
