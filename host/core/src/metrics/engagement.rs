//! Message engagement in numbers: what became of the journey messages sinks were given, as the
//! CRMs reported it (delivered, opened, clicked, bounced, unsubscribed), counted per message (a
//! message opened twice counts once), and the rates over the messages sent. The business metrics
//! count it per journey, arm and channel; the experiment report per arm.

use serde::Serialize;

/// Distinct messages each thing happened to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngagementCounts {
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub bounced: u64,
    pub unsubscribed: u64,
}

/// Engagement with one journey's messages in one experiment arm (`None` outside an experiment) on
/// one channel, as the business metrics list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngagementLine {
    pub journey: String,
    pub arm: Option<String>,
    pub channel: String,
    #[serde(flatten)]
    pub counts: EngagementCounts,
}

/// What a sink reported of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngagementKind {
    Delivered,
    Opened,
    Clicked,
    Bounced,
    Unsubscribed,
}

impl EngagementKind {
    /// The kind as stored (`delivered`, `opened`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EngagementKind::Delivered => "delivered",
            EngagementKind::Opened => "opened",
            EngagementKind::Clicked => "clicked",
            EngagementKind::Bounced => "bounced",
            EngagementKind::Unsubscribed => "unsubscribed",
        }
    }

    /// The kind named `name` as stored, if it is one.
    pub fn parse(name: &str) -> Option<EngagementKind> {
        [
            EngagementKind::Delivered,
            EngagementKind::Opened,
            EngagementKind::Clicked,
            EngagementKind::Bounced,
            EngagementKind::Unsubscribed,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// Each reported thing as a share of the messages sent, 0 to 1; `None` when none were sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EngagementRates {
    pub open_rate: Option<f64>,
    pub click_rate: Option<f64>,
    pub bounce_rate: Option<f64>,
    pub unsubscribe_rate: Option<f64>,
}

impl EngagementCounts {
    /// Sets the count of `kind` to `messages`.
    pub fn set(&mut self, kind: EngagementKind, messages: u64) {
        let slot = match kind {
            EngagementKind::Delivered => &mut self.delivered,
            EngagementKind::Opened => &mut self.opened,
            EngagementKind::Clicked => &mut self.clicked,
            EngagementKind::Bounced => &mut self.bounced,
            EngagementKind::Unsubscribed => &mut self.unsubscribed,
        };
        *slot = messages;
    }

    /// The rates over `sent` messages.
    pub fn rates(&self, sent: u64) -> EngagementRates {
        let share = |n: u64| (sent > 0).then(|| n as f64 / sent as f64);
        EngagementRates {
            open_rate: share(self.opened),
            click_rate: share(self.clicked),
            bounce_rate: share(self.bounced),
            unsubscribe_rate: share(self.unsubscribed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_names_are_none() {
        for name in ["delivered", "opened", "clicked", "bounced", "unsubscribed"] {
            assert_eq!(EngagementKind::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(EngagementKind::parse("read"), None);
    }

    #[test]
    fn rates_are_shares_of_the_messages_sent() {
        let mut counts = EngagementCounts::default();
        counts.set(EngagementKind::Opened, 3);
        counts.set(EngagementKind::Clicked, 1);
        counts.set(EngagementKind::Bounced, 2);
        let rates = counts.rates(8);
        assert_eq!(rates.open_rate, Some(0.375));
        assert_eq!(rates.click_rate, Some(0.125));
        assert_eq!(rates.bounce_rate, Some(0.25));
        assert_eq!(rates.unsubscribe_rate, Some(0.0));
        assert_eq!(counts.rates(0), EngagementRates::default());
    }
}
