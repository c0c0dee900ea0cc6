//! Retention rules: how long each class of stored record is kept (`[retention]` in the config),
//! what an old event keeps when it is summarised, and how a run's report reads. Old events are
//! summarised rather than deleted: their payload loses every personal detail, while the columns a
//! person's totals come from stay, so orders counts and spend never change. Everything else past its
//! period is deleted. The job that applies these rules is the host's retention service.

use crate::model::{Order, Payload, Refund};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A class of stored records with a retention period of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordClass {
    /// The payload of an event (the receipt's lines, the customer block): summarised, not deleted.
    EventDetails,
    /// Input a source could not use.
    RejectedInputs,
    /// Malformed webhook deliveries kept verbatim.
    WebhookInbox,
    /// Work items a sink accepted.
    DeliveredWork,
    /// Work items a vendor refused, that ran out of attempts, or that the operator discarded.
    DeadLetters,
    /// The record of each finished delivery attempt.
    DeliveryHistory,
}

impl RecordClass {
    /// Every class, in the order the retention job retires them: work items first, so the events
    /// they held on to can be summarised in the same run.
    pub const ALL: [RecordClass; 6] = [
        RecordClass::DeadLetters,
        RecordClass::DeliveredWork,
        RecordClass::DeliveryHistory,
        RecordClass::RejectedInputs,
        RecordClass::WebhookInbox,
        RecordClass::EventDetails,
    ];
}

/// How long a class of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Forever,
    For(Duration),
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Reads a duration written like `"90d"`, `"12h"` or `"2w"` (hours, days, weeks; at least one).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        'h' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    let count: u64 = text[..text.len() - 1].parse().ok()?;
    (count > 0)
        .then(|| count.checked_mul(unit).map(Duration::from_secs))
        .flatten()
}

/// Writes a duration as [`parse_duration`] reads it, in the largest whole unit (`"2w"`, `"1d"`,
/// `"6h"`); a duration of no whole hours is rounded down to them.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        s if s >= 7 * DAY && s % (7 * DAY) == 0 => format!("{}w", s / (7 * DAY)),
        s if s >= DAY && s % DAY == 0 => format!("{}d", s / DAY),
        s => format!("{}h", s / HOUR),
    }
}

impl Keep {
    /// Reads `"forever"` or a duration like `"400d"`; `key` names the setting in the error.
    pub fn parse(key: &str, text: &str) -> Result<Keep, String> {
        if text.trim() == "forever" {
            return Ok(Keep::Forever);
        }
        parse_duration(text).map(Keep::For).ok_or_else(|| {
            format!(
                "{key}: {text:?} is not a duration like \"90d\" \
                 (a whole number of hours \"h\", days \"d\" or weeks \"w\"), or \"forever\""
            )
        })
    }

    /// The time before which a record is past this period, in ms since the epoch.
    pub fn cutoff(self, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Keep::Forever => None,
            Keep::For(period) => {
                Some(now.timestamp_millis() - i64::try_from(period.as_millis()).ok()?)
            }
        }
    }
}

/// A duration in words: "400 days", "12 hours", "1 day".
pub fn in_words(period: Duration) -> String {
    let secs = period.as_secs();
    let (n, unit) = if secs.is_multiple_of(DAY) {
        (secs / DAY, "day")
    } else {
        (secs / HOUR, "hour")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Forever => f.write_str("with no time limit"),
            Keep::For(period) => write!(f, "for {}", in_words(*period)),
        }
    }
}

/// `[retention]`: a period per class of record, and how often the daemon applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// The details of sales, refunds and customer updates (what was bought, the customer block);
    /// after this the event keeps only its date, amount and link to the person's totals.
    pub events: Keep,
    pub rejected_inputs: Keep,
    pub webhook_inbox: Keep,
    /// Work items a sink accepted.
    pub outbox: Keep,
    /// Work items a vendor refused, that ran out of attempts, or that were discarded.
    pub dead_letters: Keep,
    /// The record of each finished delivery.
    pub deliveries: Keep,
    /// How often the daemon runs the retention job.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let days = |n| Keep::For(Duration::from_secs(n * DAY));
        RetentionConfig {
            events: days(400),
            rejected_inputs: days(90),
            webhook_inbox: days(30),
            outbox: days(30),
            dead_letters: days(90),
            deliveries: days(90),
            interval: Duration::from_secs(HOUR),
        }
    }
}

impl RetentionConfig {
    /// The period of a class of record.
    pub fn period(&self, class: RecordClass) -> Keep {
        match class {
            RecordClass::EventDetails => self.events,
            RecordClass::RejectedInputs => self.rejected_inputs,
            RecordClass::WebhookInbox => self.webhook_inbox,
            RecordClass::DeliveredWork => self.outbox,
            RecordClass::DeadLetters => self.dead_letters,
            RecordClass::DeliveryHistory => self.deliveries,
        }
    }
}

/// `[retention]` as written: every value a string, checked by [`RetentionConfig::try_from`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    events: Option<String>,
    rejected_inputs: Option<String>,
    webhook_inbox: Option<String>,
    outbox: Option<String>,
    dead_letters: Option<String>,
    deliveries: Option<String>,
    interval: Option<String>,
}

impl TryFrom<RawRetention> for RetentionConfig {
    type Error = String;

    fn try_from(raw: RawRetention) -> Result<Self, String> {
        let defaults = RetentionConfig::default();
        let keep = |key: &str, text: Option<String>, default| match text {
            Some(text) => Keep::parse(&format!("retention.{key}"), &text),
            None => Ok(default),
        };
        let interval = match raw.interval {
            Some(text) => parse_duration(&text).ok_or_else(|| {
                format!("retention.interval: {text:?} is not a duration like \"1h\" or \"1d\"")
            })?,
            None => defaults.interval,
        };
        Ok(RetentionConfig {
            events: keep("events", raw.events, defaults.events)?,
            rejected_inputs: keep(
                "rejected_inputs",
                raw.rejected_inputs,
                defaults.rejected_inputs,
            )?,
            webhook_inbox: keep("webhook_inbox", raw.webhook_inbox, defaults.webhook_inbox)?,
            outbox: keep("outbox", raw.outbox, defaults.outbox)?,
            dead_letters: keep("dead_letters", raw.dead_letters, defaults.dead_letters)?,
            deliveries: keep("deliveries", raw.deliveries, defaults.deliveries)?,
            interval,
        })
    }
}

impl<'de> Deserialize<'de> for RetentionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawRetention::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

/// What an old event keeps: its kind, vendor ids, amounts and times — what totals, metrics and a
/// replayed activity need — and none of the person's details, the items bought or a refund's
/// free-text reason.
pub fn summarise(payload: Payload) -> Payload {
    match payload {
        Payload::Order(order) => Payload::Order(Order {
            customer: None,
            lines: Vec::new(),
            ..order
        }),
        Payload::Refund(refund) => Payload::Refund(Refund {
            customer: None,
            reason: None,
            lines: Vec::new(),
            ..refund
        }),
        Payload::Customer(customer) => Payload::Customer(customer.without_details()),
        Payload::CustomersMerged { survivor, replaced } => Payload::CustomersMerged {
            survivor: survivor.without_details(),
            replaced,
        },
        Payload::CustomerDeleted { .. } => Payload::CustomerDeleted {
            identities: Vec::new(),
        },
        Payload::PrivacyRequest { id, kind, .. } => Payload::PrivacyRequest {
            id,
            kind,
            identities: Vec::new(),
        },
        Payload::LoyaltyChanged { customer } => Payload::LoyaltyChanged {
            customer: customer.without_details(),
        },
    }
}

/// Whether the job changes the store or only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

/// What one run retired (or, in a dry run, would retire) of each class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub mode: Mode,
    pub classes: Vec<ClassReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassReport {
    pub class: RecordClass,
    pub period: Keep,
    pub retired: u64,
}

impl RetentionReport {
    /// How many records of `class` were retired.
    pub fn retired(&self, class: RecordClass) -> u64 {
        self.classes
            .iter()
            .find(|c| c.class == class)
            .map_or(0, |c| c.retired)
    }

    pub fn total(&self) -> u64 {
        self.classes.iter().map(|c| c.retired).sum()
    }
}

/// A class of record in plain words, for reports and the data policy.
pub fn describe(class: RecordClass) -> &'static str {
    match class {
        RecordClass::EventDetails => "details of sales, refunds and customer updates",
        RecordClass::RejectedInputs => "till records that could not be read",
        RecordClass::WebhookInbox => "malformed webhook deliveries",
        RecordClass::DeliveredWork => "updates already delivered to a CRM",
        RecordClass::DeadLetters => "updates a CRM refused or that failed for good",
        RecordClass::DeliveryHistory => "delivery history",
    }
}

impl fmt::Display for ClassReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = describe(self.class);
        match (self.period, self.class) {
            (Keep::Forever, _) => write!(f, "{what}: kept with no time limit"),
            (Keep::For(period), RecordClass::EventDetails) => write!(
                f,
                "{what}: {} older than {} summarised (date, amount and customer totals kept)",
                self.retired,
                in_words(period)
            ),
            (Keep::For(period), _) => write!(
                f,
                "{what}: {} older than {} deleted",
                self.retired,
                in_words(period)
            ),
        }
    }
}

impl fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == Mode::DryRun {
            writeln!(f, "dry run: nothing was changed; a real run would do this:")?;
        }
        for class in &self.classes {
            writeln!(f, "  {class}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionConfig, String> {
        toml::from_str::<RetentionConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_read_hours_days_and_weeks() {
        let secs = |text| parse_duration(text).map(|d| d.as_secs());
        assert_eq!(secs("12h"), Some(12 * 3600));
        assert_eq!(secs("90d"), Some(90 * 86_400));
        assert_eq!(secs(" 2w "), Some(14 * 86_400));
        for bad in ["", "d", "0d", "ten days", "90", "1.5d", "-3d", "90 d", "3m"] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_are_written_in_their_largest_whole_unit() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        assert_eq!(format_duration(hours(6)), "6h");
        assert_eq!(format_duration(hours(36)), "36h");
        assert_eq!(format_duration(hours(48)), "2d");
        assert_eq!(format_duration(hours(24 * 14)), "2w");
        assert_eq!(format_duration(hours(24 * 10)), "10d");
        for text in ["12h", "90d", "2w", "1d"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn every_key_reads_a_period_or_forever() {
        let config = parse(
            "events = \"2w\"\nrejected_inputs = \"forever\"\nwebhook_inbox = \"12h\"\n\
             outbox = \"1d\"\ndead_letters = \"60d\"\ndeliveries = \"30d\"\ninterval = \"6h\"\n",
        )
        .unwrap();
        assert_eq!(config.events, Keep::For(Duration::from_secs(14 * DAY)));
        assert_eq!(config.rejected_inputs, Keep::Forever);
        assert_eq!(
            config.webhook_inbox,
            Keep::For(Duration::from_secs(12 * HOUR))
        );
        assert_eq!(config.outbox, Keep::For(Duration::from_secs(DAY)));
        assert_eq!(
            config.dead_letters,
            Keep::For(Duration::from_secs(60 * DAY))
        );
        assert_eq!(config.deliveries, Keep::For(Duration::from_secs(30 * DAY)));
        assert_eq!(config.interval, Duration::from_secs(6 * HOUR));
        assert_eq!(parse("").unwrap(), RetentionConfig::default());
    }

    #[test]
    fn a_bad_value_names_its_key_and_the_value() {
        let err = parse("events = \"ten days\"\n").unwrap_err();
        assert!(
            err.contains("retention.events: \"ten days\" is not a duration like \"90d\""),
            "{err}"
        );
        let err = parse("interval = \"forever\"\n").unwrap_err();
        assert!(err.contains("retention.interval: \"forever\""), "{err}");
        let err = parse("receipts = \"90d\"\n").unwrap_err();
        assert!(err.contains("receipts"), "{err}");
    }

    #[test]
    fn periods_read_in_words() {
        assert_eq!(
            Keep::parse("k", "400d").unwrap().to_string(),
            "for 400 days"
        );
        assert_eq!(Keep::parse("k", "1d").unwrap().to_string(), "for 1 day");
        assert_eq!(Keep::parse("k", "36h").unwrap().to_string(), "for 36 hours");
        assert_eq!(Keep::parse("k", "2w").unwrap().to_string(), "for 14 days");
        assert_eq!(Keep::Forever.to_string(), "with no time limit");
    }
}
