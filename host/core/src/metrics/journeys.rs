//! The figures of a period read from journeys: each journey's entries and conversions, the
//! response by channel, and the attachment rate of targeted accessories against the holdout.
//!
//! Definitions (`P` the period, days in the shop's time zone):
//! - an entry is counted in `P` when the person entered the journey on a day of `P`; it is sent
//!   (a message queued) or held out by an experiment ("would have received");
//! - an entry converted when a sale was credited to it by attribution (last touch within the
//!   journey's window: `rapport_core::experiments::attribution`); a cancelled sale loses it;
//! - response by channel: per channel, the entries sent in `P`, those of them that converted, and
//!   the rate;
//! - attachment: the entries in `P` of accessory journeys that suggested an item; one attached
//!   when the person bought the suggested item (a line whose product — sku, else name — or whose
//!   category is the item) in a sale placed within the journey's window after the entry
//!   (`entered_at ≤ placed_at < entered_at + window`). The rate is attached entries over entries,
//!   for recipients (sent) and the holdout apart; the revenue is the total of those lines (in the
//!   shop's currency). Lifts are the recipients' figure minus the holdout's. Merged identities are
//!   one person: their entries and sales are the survivor's.
//! - margin: no source gives product costs (the contract carries none), so margins are never
//!   worked out and [`MARGIN_NOTE`] says so.

use super::business::{divide_rounded, share};
use super::period::Period;
use crate::model::{Currency, LineItem, Money, Order};
use crate::pairs::Item;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Why there is no margin figure.
pub const MARGIN_NOTE: &str = "no product costs from the sources";

/// A journey entry, as the metrics read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub person: i64,
    pub journey: String,
    pub channel: String,
    pub held_out: bool,
    pub entered_at: DateTime<Utc>,
    /// Whether a sale is credited to it.
    pub converted: bool,
    /// The item an accessory journey suggested.
    pub suggested: Option<Item>,
}

/// One journey's entries in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneyResult {
    pub journey: String,
    pub entered: u64,
    pub sent: u64,
    pub held_out: u64,
    pub converted: u64,
    /// `converted / entered`.
    pub conversion_rate: Option<f64>,
}

/// One channel's messages in a period and what came of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelResponse {
    pub channel: String,
    pub sent: u64,
    pub converted: u64,
    /// `converted / sent`.
    pub rate: Option<f64>,
}

/// Recipients' or the holdout's accessory suggestions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentArm {
    pub entries: u64,
    pub attached: u64,
    pub rate: Option<f64>,
    /// What the suggested items they bought came to.
    pub revenue: Option<Money>,
    /// `revenue / entries`, rounded half away from zero.
    pub revenue_per_entry: Option<Money>,
}

/// Targeted attachments: accessory journeys' recipients against their holdout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub recipients: AttachmentArm,
    pub holdout: AttachmentArm,
    /// The recipients' rate minus the holdout's; `None` unless both had entries.
    pub rate_lift: Option<f64>,
    /// The recipients' revenue per entry minus the holdout's.
    pub revenue_lift_per_entry: Option<Money>,
    /// Always `None`: see [`MARGIN_NOTE`].
    pub margin: Option<Money>,
    pub margin_note: &'static str,
}

fn in_period(entry: &Entry, period: Period, zone: Tz) -> bool {
    period.contains(entry.entered_at.with_timezone(&zone).date_naive())
}

/// Each journey's entries in `period`: the `configured` journeys first, in their order (with
/// zeros if none entered), then any other journey with entries, by name.
pub fn journey_results(
    entries: &[Entry],
    configured: &[&str],
    period: Period,
    zone: Tz,
) -> Vec<JourneyResult> {
    let mut counts: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for entry in entries.iter().filter(|e| in_period(e, period, zone)) {
        let [sent, held_out, converted] = counts.entry(entry.journey.as_str()).or_default();
        match entry.held_out {
            true => *held_out += 1,
            false => *sent += 1,
        }
        *converted += u64::from(entry.converted);
    }
    let others = counts.keys().filter(|j| !configured.contains(j)).copied();
    let names: Vec<&str> = configured.iter().copied().chain(others).collect();
    names
        .into_iter()
        .map(|journey| {
            let [sent, held_out, converted] = counts.get(journey).copied().unwrap_or_default();
            JourneyResult {
                journey: journey.to_string(),
                entered: sent + held_out,
                sent,
                held_out,
                converted,
                conversion_rate: share(converted, sent + held_out),
            }
        })
        .collect()
}

/// The messages sent in `period` per channel (by name), and how many converted.
pub fn channel_response(entries: &[Entry], period: Period, zone: Tz) -> Vec<ChannelResponse> {
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for entry in (entries.iter()).filter(|e| !e.held_out && in_period(e, period, zone)) {
        let (sent, converted) = counts.entry(entry.channel.as_str()).or_default();
        *sent += 1;
        *converted += u64::from(entry.converted);
    }
    counts
        .into_iter()
        .map(|(channel, (sent, converted))| ChannelResponse {
            channel: channel.to_string(),
            sent,
            converted,
            rate: share(converted, sent),
        })
        .collect()
}

/// Whether `line` is `item`: its product (sku, else name) or its category.
fn is_item(line: &LineItem, item: &Item) -> bool {
    Item::product(line.sku.as_deref(), &line.product).as_ref() == Some(item)
        || line.category.as_deref().and_then(Item::new).as_ref() == Some(item)
}

/// The attachment of the accessory suggestions entered in `period`. `windows`: each accessory
/// journey's window (entries of other journeys are left out); `orders`: counted sales with their
/// buyers (every one of the entries' people's, at least: no one else's are looked at);
/// `currency`: the shop's, that revenue is counted in.
pub fn attachment(
    entries: &[Entry],
    windows: &HashMap<&str, Duration>,
    orders: &[(i64, Order)],
    currency: Option<&Currency>,
    period: Period,
    zone: Tz,
) -> Attachment {
    let mut bought: HashMap<i64, Vec<&Order>> = HashMap::new();
    for (person, order) in orders {
        bought.entry(*person).or_default().push(order);
    }
    // [entries, attached, revenue] for recipients, then the holdout.
    let mut arms = [[0i64; 3]; 2];
    for entry in entries.iter().filter(|e| in_period(e, period, zone)) {
        let (Some(item), Some(window)) = (&entry.suggested, windows.get(entry.journey.as_str()))
        else {
            continue;
        };
        let lines: Vec<&LineItem> = (bought.get(&entry.person).into_iter().flatten())
            .filter(|o| entry.entered_at <= o.placed_at && o.placed_at < entry.entered_at + *window)
            .flat_map(|o| o.lines.iter())
            .filter(|line| is_item(line, item))
            .collect();
        let arm = &mut arms[usize::from(entry.held_out)];
        arm[0] += 1;
        arm[1] += i64::from(!lines.is_empty());
        arm[2] += (lines.iter())
            .filter(|l| Some(&l.total.currency) == currency)
            .map(|l| l.total.minor)
            .sum::<i64>();
    }
    let money = |minor| {
        currency.map(|c| Money {
            minor,
            currency: c.clone(),
        })
    };
    let per_entry =
        |[entries, _, revenue]: [i64; 3]| (entries > 0).then(|| divide_rounded(revenue, entries));
    let arm = |counts: [i64; 3]| AttachmentArm {
        entries: counts[0] as u64,
        attached: counts[1] as u64,
        rate: share(counts[1] as u64, counts[0] as u64),
        revenue: money(counts[2]),
        revenue_per_entry: per_entry(counts).and_then(money),
    };
    let (recipients, holdout) = (arm(arms[0]), arm(arms[1]));
    Attachment {
        rate_lift: recipients.rate.zip(holdout.rate).map(|(r, h)| r - h),
        revenue_lift_per_entry: (per_entry(arms[0]).zip(per_entry(arms[1])))
            .and_then(|(r, h)| money(r - h)),
        recipients,
        holdout,
        margin: None,
        margin_note: MARGIN_NOTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Quantity, SalesChannel};
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn march() -> Period {
        Period::new("2026-03-01".parse().unwrap(), "2026-04-01".parse().unwrap()).unwrap()
    }

    fn entry(person: i64, journey: &str, channel: &str, held_out: bool, day: u32) -> Entry {
        Entry {
            person,
            journey: journey.into(),
            channel: channel.into(),
            held_out,
            entered_at: at(day, 9),
            converted: false,
            suggested: None,
        }
    }

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: "USD".to_string().try_into().unwrap(),
        }
    }

    fn line(sku: &str, product: &str, category: &str, minor: i64) -> LineItem {
        LineItem {
            sku: (!sku.is_empty()).then(|| sku.to_string()),
            product: product.into(),
            category: Some(category.into()),
            quantity: Quantity { units: 1, scale: 0 },
            unit_price: usd(minor),
            total: usd(minor),
        }
    }

    fn order(placed_at: DateTime<Utc>, lines: Vec<LineItem>) -> Order {
        let total = usd(lines.iter().map(|l| l.total.minor).sum());
        Order {
            id: format!("o-{}", placed_at.timestamp()),
            customer: None,
            location: None,
            channel: SalesChannel::InStore,
            state: crate::model::OrderState::Completed,
            lines,
            subtotal: total.clone(),
            tax: usd(0),
            discount: usd(0),
            total,
            placed_at,
            updated_at: placed_at,
            version: None,
        }
    }

    #[test]
    fn journeys_count_their_entries_in_the_period() {
        let converted = |mut e: Entry| {
            e.converted = true;
            e
        };
        let entries = [
            converted(entry(1, "thanks", "email", false, 2)),
            entry(2, "thanks", "email", false, 3),
            converted(entry(3, "thanks", "email", true, 4)),
            converted(entry(1, "lens", "sms", false, 5)),
            // February: another period.
            Entry {
                entered_at: Utc.with_ymd_and_hms(2026, 2, 27, 9, 0, 0).unwrap(),
                ..entry(4, "thanks", "email", false, 1)
            },
            converted(entry(5, "old", "email", false, 6)),
        ];
        let lines = journey_results(
            &entries,
            &["welcome", "thanks", "lens"],
            march(),
            chrono_tz::UTC,
        );
        let rows: Vec<(&str, u64, u64, u64, u64)> = (lines.iter())
            .map(|l| {
                (
                    l.journey.as_str(),
                    l.entered,
                    l.sent,
                    l.held_out,
                    l.converted,
                )
            })
            .collect();
        // thanks: 3 entries in March (2 sent, 1 held out), 2 converted (one of them the holdout's).
        assert_eq!(
            rows,
            [
                ("welcome", 0, 0, 0, 0),
                ("thanks", 3, 2, 1, 2),
                ("lens", 1, 1, 0, 1),
                ("old", 1, 1, 0, 1)
            ]
        );
        assert_eq!(lines[0].conversion_rate, None);
        assert_eq!(lines[1].conversion_rate, Some(2.0 / 3.0));
        // By channel, sent messages only: email 3 sent (thanks ×2, old), 2 converted (1's thanks,
        // 5's old); sms 1 sent, 1 converted. The holdout's conversion is no message's.
        let channels: Vec<(String, u64, u64, Option<f64>)> =
            (channel_response(&entries, march(), chrono_tz::UTC).into_iter())
                .map(|c| (c.channel, c.sent, c.converted, c.rate))
                .collect();
        assert_eq!(
            channels,
            [
                ("email".to_string(), 3, 2, Some(2.0 / 3.0)),
                ("sms".to_string(), 1, 1, Some(1.0))
            ]
        );
    }

    #[test]
    fn attachment_compares_recipients_with_the_holdout() {
        let suggest = |person, held_out, day, item: &str| Entry {
            suggested: Item::new(item),
            ..entry(person, "lens", "email", held_out, day)
        };
        let entries = [
            suggest(1, false, 2, "FILT-1"),
            suggest(2, false, 2, "FILT-1"),
            suggest(3, false, 10, "brewing"),
            suggest(4, true, 2, "FILT-1"),
            suggest(5, true, 2, "FILT-1"),
            // Not an accessory journey: left out.
            Entry {
                suggested: Item::new("FILT-1"),
                ..entry(6, "thanks", "email", false, 2)
            },
        ];
        let windows = HashMap::from([("lens", Duration::days(7))]);
        let filters = |minor| line("FILT-1", "Paper filters", "brewing", minor);
        let orders = vec![
            // 1 buys the filters (4.00) with bread on day 5, inside the window: attached, 4.00.
            (
                1,
                order(
                    at(5, 12),
                    vec![filters(400), line("", "Bread", "bakery", 300)],
                ),
            ),
            // 2 buys them on day 9 at 09:00: the window (entered day 2 at 09:00, 7 days) has
            // closed.
            (2, order(at(9, 9), vec![filters(400)])),
            // 3 was suggested the category "brewing" and buys a grinder (brewing, 30.00) on day 11.
            (
                3,
                order(
                    at(11, 9),
                    vec![line("GRND-1", "Hand grinder", "brewing", 3000)],
                ),
            ),
            // 4 (held out) buys a line named "Paper filters" without a sku, in another category.
            (
                4,
                order(at(3, 9), vec![line("", "Paper filters", "bakery", 500)]),
            ),
            // 5 (held out) bought them before the entry.
            (5, order(at(1, 9), vec![filters(400)])),
            (6, order(at(3, 9), vec![filters(400)])),
        ];
        let currency = usd(0).currency;
        let a = attachment(
            &entries,
            &windows,
            &orders,
            Some(&currency),
            march(),
            chrono_tz::UTC,
        );
        // Recipients: 1 and 3 attached of 3 entries; revenue 4.00 + 30.00 = 34.00, per entry
        // 3400 / 3 = 1133.3 → 11.33.
        assert_eq!((a.recipients.entries, a.recipients.attached), (3, 2));
        assert_eq!(a.recipients.rate, Some(2.0 / 3.0));
        assert_eq!(a.recipients.revenue, Some(usd(3400)));
        assert_eq!(a.recipients.revenue_per_entry, Some(usd(1133)));
        // Holdout: 4's "Paper filters" line has no sku, so its product is its name, not FILT-1:
        // not attached; 5 bought before. 0 of 2.
        assert_eq!((a.holdout.entries, a.holdout.attached), (2, 0));
        assert_eq!(a.holdout.revenue_per_entry, Some(usd(0)));
        assert_eq!(a.rate_lift, Some(2.0 / 3.0));
        assert_eq!(a.revenue_lift_per_entry, Some(usd(1133)));
        assert_eq!(
            (a.margin, a.margin_note),
            (None, "no product costs from the sources")
        );
    }

    #[test]
    fn without_a_holdout_there_is_no_lift() {
        let entries = [Entry {
            suggested: Item::new("FILT-1"),
            ..entry(1, "lens", "email", false, 2)
        }];
        let windows = HashMap::from([("lens", Duration::days(7))]);
        let a = attachment(&entries, &windows, &[], None, march(), chrono_tz::UTC);
        assert_eq!((a.recipients.entries, a.recipients.rate), (1, Some(0.0)));
        assert_eq!((a.holdout.entries, a.holdout.rate), (0, None));
        assert_eq!((a.rate_lift, a.revenue_lift_per_entry), (None, None));
        assert_eq!(a.recipients.revenue, None, "no currency: no sale");
    }
}
