//! Contact rules: when a journey message may reach a person at all. Quiet hours (in the shop's time
//! zone) delay a message to their end, the shop's and the person's own (set on the preference
//! page) alike; a frequency cap per channel delays it until an earlier send leaves the window, or
//! drops it, as the operator chose. The rules only judge; delivery applies the verdict.

use crate::model::Channel;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// `[consent] quiet_hours`: the shop's local times between which nobody is contacted. `start`
/// after `end` wraps midnight ("21:00" to "08:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawQuietHours")]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuietHours {
    start: String,
    end: String,
}

impl TryFrom<RawQuietHours> for QuietHours {
    type Error = String;

    fn try_from(raw: RawQuietHours) -> Result<Self, String> {
        let time = |key: &str, text: &str| {
            NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
                format!("consent.quiet_hours.{key}: {text:?} is not a time of day like \"21:00\"")
            })
        };
        QuietHours::new(time("start", &raw.start)?, time("end", &raw.end)?).ok_or_else(|| {
            format!(
                "consent.quiet_hours: start and end are both {:?}; give the hours nobody is contacted, like start = \"21:00\", end = \"08:00\"",
                raw.start
            )
        })
    }
}

impl QuietHours {
    /// The hours from `start` to `end`; none when they are the same time (no hours at all).
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<QuietHours> {
        (start != end).then_some(QuietHours { start, end })
    }

    /// The hours from minute `start` to minute `end` of the day (0 to 1439), as stored.
    pub fn from_minutes(start: u32, end: u32) -> Option<QuietHours> {
        let time = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0);
        QuietHours::new(time(start)?, time(end)?)
    }

    /// `(start, end)` in minutes of the day, as stored.
    pub fn minutes(&self) -> (u32, u32) {
        let minute = |t: NaiveTime| t.hour() * 60 + t.minute();
        (minute(self.start), minute(self.end))
    }

    /// Whether the local time of day `t` is quiet.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// What happens to a message over its channel's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverCap {
    /// Not sent, ever.
    #[default]
    Drop,
    /// Sent once an earlier message leaves the window.
    Delay,
}

/// `[[consent.cap]]`: at most `max` messages on `channel` to one person in any `per_days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawCap")]
pub struct Cap {
    pub channel: Channel,
    pub max: u32,
    pub per_days: u32,
    pub over_cap: OverCap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCap {
    channel: Channel,
    max: i64,
    per_days: i64,
    #[serde(default)]
    over_cap: OverCap,
}

impl TryFrom<RawCap> for Cap {
    type Error = String;

    fn try_from(raw: RawCap) -> Result<Self, String> {
        let key = |name: &str| format!("consent.cap ({}): {name}", raw.channel.as_str());
        let positive = |name: &str, value: i64, most: i64| {
            if (1..=most).contains(&value) {
                Ok(value as u32)
            } else {
                Err(format!(
                    "{} must be between 1 and {most}, not {value}",
                    key(name)
                ))
            }
        };
        Ok(Cap {
            channel: raw.channel,
            max: positive("max", raw.max, 10_000)?,
            per_days: positive("per_days", raw.per_days, 3_650)?,
            over_cap: raw.over_cap,
        })
    }
}

impl Cap {
    pub fn window(&self) -> Duration {
        Duration::days(i64::from(self.per_days))
    }
}

/// What the rules say about one message now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Not before `until`; the reason names the rule.
    Delay {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Never.
    Drop {
        reason: String,
    },
}

/// The shop's contact rules.
#[derive(Debug, Clone)]
pub struct ContactRules {
    zone: Tz,
    quiet: Option<QuietHours>,
    caps: Vec<Cap>,
}

/// Which rule moved a message last.
enum Cause<'a> {
    /// The shop's quiet hours (`false`) or the person's own (`true`).
    Quiet {
        own: bool,
    },
    Cap(&'a Cap),
}

impl ContactRules {
    pub fn new(zone: Tz, quiet: Option<QuietHours>, caps: Vec<Cap>) -> ContactRules {
        ContactRules { zone, quiet, caps }
    }

    /// How far back a person's sends on `channel` matter (the longest cap window), if at all.
    pub fn lookback(&self, channel: Channel) -> Option<Duration> {
        self.caps
            .iter()
            .filter(|c| c.channel == channel)
            .map(Cap::window)
            .max()
    }

    /// Whether a message on `channel` may go at `now`, given when the person's earlier messages on
    /// that channel were sent and the person's own quiet hours (`own`, in the shop's time zone),
    /// if they set some. A delayed message's `until` is outside both quiet hours and within every
    /// cap, assuming nothing else is sent meanwhile.
    pub fn judge(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        sent: &[DateTime<Utc>],
        own: Option<QuietHours>,
    ) -> Verdict {
        let mut sent: Vec<DateTime<Utc>> = sent.to_vec();
        sent.sort_unstable();
        let quiet: Vec<(QuietHours, bool)> = (self.quiet.map(|q| (q, false)).into_iter())
            .chain(own.map(|q| (q, true)))
            .collect();
        let quiet_end = |at: DateTime<Utc>| {
            (quiet.iter()).find_map(|(q, own)| Some((self.quiet_end(*q, at)?, *own)))
        };
        let mut at = now;
        let mut cause = None;
        loop {
            while let Some((end, own)) = quiet_end(at) {
                at = end;
                cause = Some(Cause::Quiet { own });
            }
            let mut moved = false;
            for cap in self.caps.iter().filter(|c| c.channel == channel) {
                let counted: Vec<&DateTime<Utc>> = sent
                    .iter()
                    .filter(|t| **t > at - cap.window() && **t <= at)
                    .collect();
                if counted.len() < cap.max as usize {
                    continue;
                }
                let summary = format!(
                    "frequency cap: {} {} messages in {} days (at most {})",
                    counted.len(),
                    channel.as_str(),
                    cap.per_days,
                    cap.max
                );
                match cap.over_cap {
                    OverCap::Drop => return Verdict::Drop { reason: summary },
                    OverCap::Delay => {
                        // The oldest sends that must leave the window for one more to fit.
                        at = *counted[counted.len() - cap.max as usize] + cap.window();
                        cause = Some(Cause::Cap(cap));
                        moved = true;
                    }
                }
            }
            if !moved && quiet_end(at).is_none() {
                break;
            }
        }
        let local = at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M %Z");
        match cause {
            None => Verdict::Send,
            Some(Cause::Quiet { own: false }) => Verdict::Delay {
                until: at,
                reason: format!("quiet hours until {local}"),
            },
            Some(Cause::Quiet { own: true }) => Verdict::Delay {
                until: at,
                reason: format!("the person's own quiet hours until {local}"),
            },
            Some(Cause::Cap(cap)) => Verdict::Delay {
                until: at,
                reason: format!(
                    "frequency cap: at most {} {} messages in {} days; waiting until {local}",
                    cap.max,
                    channel.as_str(),
                    cap.per_days
                ),
            },
        }
    }

    /// Whether `t` falls in quiet hours, in the shop's time zone.
    pub fn is_quiet(&self, t: DateTime<Utc>) -> bool {
        self.quiet
            .is_some_and(|q| q.contains(t.with_timezone(&self.zone).time()))
    }

    /// When the quiet hours `quiet` end, if `t` falls in them (in the shop's time zone).
    fn quiet_end(&self, quiet: QuietHours, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.zone);
        if !quiet.contains(local.time()) {
            return None;
        }
        let mut date = local.date_naive();
        if quiet.start > quiet.end && local.time() >= quiet.start {
            date = date.succ_opt()?;
        }
        // A DST change can put that end at or before `t` (a repeated hour): take the next day's.
        loop {
            if let Some(end) = self.first_after(date.and_time(quiet.end), t) {
                return Some(end);
            }
            date = date.succ_opt()?;
        }
    }

    /// The first instant after `t` that the shop's clocks show as `local`: the later of a repeated
    /// hour if the earlier one is past, and an hour later (or more) if `local` is skipped by DST.
    fn first_after(&self, local: NaiveDateTime, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let utc = |d: DateTime<Tz>| d.with_timezone(&Utc);
        let candidates = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(d) => vec![utc(d)],
            LocalResult::Ambiguous(a, b) => vec![utc(a), utc(b)],
            LocalResult::None => (1..=24)
                .find_map(
                    |h| match self.zone.from_local_datetime(&(local + Duration::hours(h))) {
                        LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => Some(utc(d)),
                        LocalResult::None => None,
                    },
                )
                .into_iter()
                .collect(),
        };
        candidates.into_iter().filter(|d| *d > t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn quiet(start: &str, end: &str) -> QuietHours {
        QuietHours::try_from(RawQuietHours {
            start: start.into(),
            end: end.into(),
        })
        .unwrap()
    }

    fn cap(max: u32, per_days: u32, over_cap: OverCap) -> Cap {
        Cap {
            channel: Channel::Email,
            max,
            per_days,
            over_cap,
        }
    }

    fn new_york(q: Option<QuietHours>, caps: Vec<Cap>) -> ContactRules {
        ContactRules::new(New_York, q, caps)
    }

    #[test]
    fn quiet_hours_wrapping_midnight_delay_to_their_end() {
        let rules = new_york(Some(quiet("21:00", "08:00")), vec![]);
        // 22:30 and 03:00 New York time (EST, UTC-5) are quiet; both wait until 08:00.
        for now in ["2026-11-25T03:30:00Z", "2026-11-25T08:00:00Z"] {
            match rules.judge(Channel::Email, at(now), &[], None) {
                Verdict::Delay { until, reason } => {
                    assert_eq!(until, at("2026-11-25T13:00:00Z"), "{now}");
                    assert!(reason.starts_with("quiet hours until 2026-11-25 08:00 EST"));
                }
                other => panic!("{now}: {other:?}"),
            }
        }
        // 08:00 and 20:59 are not.
        for now in ["2026-11-25T13:00:00Z", "2026-11-26T01:59:00Z"] {
            assert_eq!(
                rules.judge(Channel::Email, at(now), &[], None),
                Verdict::Send
            );
        }
    }

    #[test]
    fn quiet_hours_within_a_day() {
        let rules = new_york(Some(quiet("12:00", "13:30")), vec![]);
        let until = |now| match rules.judge(Channel::Sms, at(now), &[], None) {
            Verdict::Delay { until, .. } => Some(until),
            _ => None,
        };
        assert_eq!(
            until("2026-07-01T16:10:00Z"),
            Some(at("2026-07-01T17:30:00Z"))
        );
        assert_eq!(until("2026-07-01T17:30:00Z"), None);
        assert_eq!(until("2026-07-01T15:59:00Z"), None);
    }

    #[test]
    fn a_persons_own_quiet_hours_delay_beyond_the_shops() {
        let rules = new_york(Some(quiet("21:00", "08:00")), vec![]);
        let own = Some(quiet("07:30", "10:00"));
        // 22:30 EST: the shop's quiet hours end at 08:00, inside the person's, which end at 10:00.
        match rules.judge(Channel::Email, at("2026-11-25T03:30:00Z"), &[], own) {
            Verdict::Delay { until, reason } => {
                assert_eq!(until, at("2026-11-25T15:00:00Z"));
                assert!(
                    reason.starts_with("the person's own quiet hours until 2026-11-25 10:00 EST"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Without shop quiet hours, the person's alone; outside them, the message goes.
        let open = new_york(None, vec![]);
        let nine = at("2026-11-25T14:00:00Z");
        assert!(matches!(
            open.judge(Channel::Sms, nine, &[], own),
            Verdict::Delay { until, .. } if until == at("2026-11-25T15:00:00Z")
        ));
        assert_eq!(open.judge(Channel::Sms, nine, &[], None), Verdict::Send);
        assert_eq!(
            open.judge(Channel::Sms, at("2026-11-25T16:00:00Z"), &[], own),
            Verdict::Send
        );
    }

    #[test]
    fn quiet_hours_are_stored_as_minutes_of_the_day() {
        let hours = quiet("21:15", "08:00");
        assert_eq!(hours.minutes(), (1275, 480));
        assert_eq!(QuietHours::from_minutes(1275, 480), Some(hours));
        assert_eq!(QuietHours::from_minutes(480, 480), None);
        assert_eq!(QuietHours::from_minutes(1440, 480), None);
    }

    #[test]
    fn an_end_in_the_spring_forward_gap_falls_forward_an_hour() {
        // New York skips 02:00–03:00 on 2026-03-08; quiet hours ending at 02:30 end at 03:30 EDT.
        let rules = new_york(Some(quiet("22:00", "02:30")), vec![]);
        let now = at("2026-03-08T04:00:00Z"); // 23:00 EST on the 7th
        match rules.judge(Channel::Email, now, &[], None) {
            Verdict::Delay { until, .. } => assert_eq!(until, at("2026-03-08T07:30:00Z")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_end_in_the_repeated_hour_is_the_next_one_after_now() {
        // New York repeats 01:00–02:00 on 2026-11-01. At 01:15 EST (the second pass) the quiet
        // hours ending at 01:30 end at 01:30 EST, not at 01:30 EDT an hour earlier.
        let rules = new_york(Some(quiet("21:00", "01:30")), vec![]);
        let second_pass = at("2026-11-01T06:15:00Z");
        match rules.judge(Channel::Email, second_pass, &[], None) {
            Verdict::Delay { until, .. } => assert_eq!(until, at("2026-11-01T06:30:00Z")),
            other => panic!("{other:?}"),
        }
        let first_pass = at("2026-11-01T05:15:00Z"); // 01:15 EDT
        match rules.judge(Channel::Email, first_pass, &[], None) {
            Verdict::Delay { until, .. } => assert_eq!(until, at("2026-11-01T05:30:00Z")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn caps_drop_or_delay_until_the_oldest_counted_send_leaves() {
        let now = at("2026-11-25T15:00:00Z");
        let sent = [
            at("2026-11-10T15:00:00Z"), // outside the 7-day window
            at("2026-11-20T12:00:00Z"),
            at("2026-11-24T09:00:00Z"),
        ];
        let dropping = new_york(None, vec![cap(2, 7, OverCap::Drop)]);
        match dropping.judge(Channel::Email, now, &sent, None) {
            Verdict::Drop { reason } => assert!(reason.contains("frequency cap"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            dropping.judge(Channel::Sms, now, &sent, None),
            Verdict::Send
        );
        assert_eq!(
            dropping.judge(Channel::Email, now, &sent[..2], None),
            Verdict::Send
        );
        let delaying = new_york(None, vec![cap(2, 7, OverCap::Delay)]);
        match delaying.judge(Channel::Email, now, &sent, None) {
            Verdict::Delay { until, reason } => {
                assert_eq!(until, at("2026-11-27T12:00:00Z"));
                assert!(reason.starts_with("frequency cap"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cap_delay_that_lands_in_quiet_hours_waits_for_their_end() {
        let rules = new_york(
            Some(quiet("21:00", "08:00")),
            vec![cap(1, 1, OverCap::Delay)],
        );
        // Sent at 23:00 EST yesterday (an operator's manual send); free again at 23:00 EST today,
        // which is quiet, so 08:00 EST tomorrow.
        let sent = [at("2026-11-25T04:00:00Z")];
        match rules.judge(Channel::Email, at("2026-11-25T15:00:00Z"), &sent, None) {
            Verdict::Delay { until, reason } => {
                assert_eq!(until, at("2026-11-26T13:00:00Z"));
                assert!(reason.starts_with("quiet hours"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (raw, key) in [(("25:00", "08:00"), "start"), (("21:00", "8am"), "end")] {
            let error = QuietHours::try_from(RawQuietHours {
                start: raw.0.into(),
                end: raw.1.into(),
            })
            .unwrap_err();
            assert!(
                error.contains(&format!("consent.quiet_hours.{key}")),
                "{error}"
            );
        }
        let error = Cap::try_from(RawCap {
            channel: Channel::Email,
            max: 0,
            per_days: 7,
            over_cap: OverCap::Drop,
        })
        .unwrap_err();
        assert!(error.contains("max must be between 1"), "{error}");
    }

    fn any_quiet() -> impl Strategy<Value = QuietHours> {
        (0u32..96, 0u32..96)
            .prop_filter("start and end differ", |(s, e)| s != e)
            .prop_map(|(s, e)| QuietHours {
                start: NaiveTime::from_hms_opt(s / 4, (s % 4) * 15, 0).unwrap(),
                end: NaiveTime::from_hms_opt(e / 4, (e % 4) * 15, 0).unwrap(),
            })
    }

    proptest! {
        /// Around both of New York's 2026 DST changes: a delay never ends inside quiet hours nor
        /// before now, and leaves room under the cap.
        #[test]
        fn delays_end_outside_quiet_hours_and_not_before_now(
            q in any_quiet(),
            spring in any::<bool>(),
            offset_min in 0i64..(4 * 24 * 60),
            sent_ago_min in proptest::collection::vec(0i64..(3 * 24 * 60), 0..5),
            max in 1u32..4,
        ) {
            let base = if spring { at("2026-03-06T00:00:00Z") } else { at("2026-10-30T00:00:00Z") };
            let now = base + Duration::minutes(offset_min);
            let sent: Vec<_> = sent_ago_min.iter().map(|m| now - Duration::minutes(*m)).collect();
            let rules = new_york(Some(q), vec![cap(max, 2, OverCap::Delay)]);
            match rules.judge(Channel::Email, now, &sent, None) {
                Verdict::Send => prop_assert!(!rules.is_quiet(now)),
                Verdict::Delay { until, .. } => {
                    prop_assert!(until >= now);
                    prop_assert!(!rules.is_quiet(until), "{until} is quiet");
                    let counted = sent.iter().filter(|t| **t > until - Duration::days(2)).count();
                    prop_assert!(counted < max as usize);
                }
                Verdict::Drop { .. } => prop_assert!(false, "delaying caps never drop"),
            }
        }
    }
}
