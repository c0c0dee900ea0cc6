//! Which journey entry a sale is credited to: the latest entry (a message sent, or a holdout's
//! would-have-received) of the same person whose journey's window still held the sale (last
//! touch). Experiments count conversions through it, and the metrics read it as response by
//! channel. Pure, so the window's edges are tested with plain numbers.

use std::collections::HashMap;

/// A journey entry that may earn a sale: one with outcome `sent` or `holdout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub entry_id: i64,
    pub profile_id: i64,
    pub journey: String,
    pub channel: String,
    pub experiment: Option<String>,
    pub arm: Option<String>,
    /// When the person entered the journey, ms since the epoch.
    pub entered_at: i64,
}

/// A completed sale to credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sale {
    /// The sale's event.
    pub event_id: i64,
    pub profile_id: i64,
    /// When it was placed, ms since the epoch.
    pub sold_at: i64,
}

/// A sale credited to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit<'t> {
    pub sale: Sale,
    pub touch: &'t Touch,
}

/// Credits each sale to the latest of `touches` of its person with
/// `entered_at ≤ sold_at < entered_at + window` (ties: the later entry), where `windows` gives
/// each journey's window in ms; entries of journeys without a window (no longer configured) earn
/// nothing. Sales no entry covers are left out.
pub fn last_touch<'t>(
    sales: &[Sale],
    touches: &'t [Touch],
    windows: &HashMap<&str, i64>,
) -> Vec<Credit<'t>> {
    let mut by_person: HashMap<i64, Vec<&Touch>> = HashMap::new();
    for touch in touches {
        by_person.entry(touch.profile_id).or_default().push(touch);
    }
    (sales.iter())
        .filter_map(|sale| {
            let touch = (by_person.get(&sale.profile_id)?.iter())
                .filter(|t| {
                    let window = windows.get(t.journey.as_str()).copied().unwrap_or(0);
                    t.entered_at <= sale.sold_at && sale.sold_at < t.entered_at + window
                })
                .max_by_key(|t| (t.entered_at, t.entry_id))?;
            Some(Credit { sale: *sale, touch })
        })
        .collect()
}

/// The span of entry times that can earn any of `sales` within windows of at most `widest` ms:
/// `(earliest, latest)` entered_at, inclusive, for the store to read; `None` without sales.
pub fn entry_span(sales: &[Sale], widest: i64) -> Option<(i64, i64)> {
    let first = sales.iter().map(|s| s.sold_at).min()?;
    let last = sales.iter().map(|s| s.sold_at).max()?;
    Some((first - widest + 1, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn touch(entry_id: i64, profile_id: i64, journey: &str, entered_at: i64) -> Touch {
        Touch {
            entry_id,
            profile_id,
            journey: journey.into(),
            channel: "email".into(),
            experiment: None,
            arm: None,
            entered_at,
        }
    }

    fn sale(event_id: i64, profile_id: i64, sold_at: i64) -> Sale {
        Sale {
            event_id,
            profile_id,
            sold_at,
        }
    }

    #[test]
    fn the_latest_entry_whose_window_holds_the_sale_earns_it() {
        let windows = HashMap::from([("thanks", 7 * DAY), ("winback", 2 * DAY)]);
        let touches = [
            touch(1, 10, "thanks", 0),
            touch(2, 10, "winback", 3 * DAY),
            touch(3, 10, "thanks", 9 * DAY),
            touch(4, 20, "thanks", 0),
            touch(5, 30, "gone", 0),
        ];
        let sales = [
            // Day 4: entries 1 (window to day 7) and 2 (to day 5) hold it; 2 is the latest.
            sale(100, 10, 4 * DAY),
            // Day 6: entry 2's window closed on day 5; entry 1 still holds it.
            sale(101, 10, 6 * DAY),
            // Day 7 exactly: entry 1's window is over (sold_at < entered_at + window); entry 3
            // is not yet entered. Nothing.
            sale(102, 10, 7 * DAY),
            // At the moment of entry 3: it counts.
            sale(103, 10, 9 * DAY),
            // Another person's entry never earns it; a journey without a window neither.
            sale(104, 99, DAY),
            sale(105, 30, DAY),
            // Before any entry.
            sale(106, 20, -1),
        ];
        let credits: Vec<(i64, i64)> = last_touch(&sales, &touches, &windows)
            .iter()
            .map(|c| (c.sale.event_id, c.touch.entry_id))
            .collect();
        assert_eq!(credits, [(100, 2), (101, 1), (103, 3)]);
    }

    #[test]
    fn entries_at_the_same_moment_go_to_the_later_one() {
        let windows = HashMap::from([("a", DAY), ("b", DAY)]);
        let touches = [touch(8, 1, "b", 5), touch(7, 1, "a", 5)];
        let credits = last_touch(&[sale(1, 1, 6)], &touches, &windows);
        assert_eq!(credits[0].touch.entry_id, 8);
    }

    #[test]
    fn the_span_read_covers_the_widest_window_before_the_first_sale() {
        let sales = [sale(1, 1, 10 * DAY), sale(2, 1, 12 * DAY)];
        // An entry at 3 days + 1 ms holds a sale at day 10 in a 7-day window; one at day 3 does not.
        assert_eq!(entry_span(&sales, 7 * DAY), Some((3 * DAY + 1, 12 * DAY)));
        assert_eq!(entry_span(&[], 7 * DAY), None);
    }
}
