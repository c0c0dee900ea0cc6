//! Whether a person whose wait fell due enters the journey now: the journey runs and its rollout
//! share holds them, the fact that started it is not too old, they agree to marketing on its
//! channel, re-entry allows it, and — for a win-back — they
//! bought since the last attempt (or there was none); a win-back or replenishment also ends when
//! they bought after the lapse or the interval began. Caps, quiet hours and a consent withdrawn
//! after entry are delivery's to judge.

use super::{Journey, Reentry, Trigger};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;

/// What the scheduler knows of the person when their wait falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Whether they agree to marketing on the journey's channel.
    pub consented: bool,
    /// Their last counted sale.
    pub last_purchase: Option<DateTime<Utc>>,
    /// When they last entered this journey (sent or held out).
    pub last_entry: Option<DateTime<Utc>>,
}

/// The scheduler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Enter,
    /// Not now, for good (the wait is dropped), and why.
    Skip(String),
}

/// Decides a due wait of `journey` for the person whose profile key is `person`, whose fact
/// happened at `trigger_at`; `max_age` is the shop's default (`[journeys] max_age`).
pub fn admit(
    journey: &Journey,
    person: &str,
    max_age: Duration,
    trigger_at: DateTime<Utc>,
    standing: &Standing,
    now: DateTime<Utc>,
    zone: Tz,
) -> Admission {
    if !journey.enabled {
        return Admission::Skip("the journey is paused (enabled = false)".into());
    }
    if !journey.rolled_out_to(person) {
        return Admission::Skip(format!(
            "outside the journey's rollout ({})",
            crate::rollout::describe(journey.rollout)
        ));
    }
    let max_age = journey
        .max_age_days
        .map_or(max_age, |d| Duration::days(i64::from(d)));
    if now - trigger_at > max_age {
        return Admission::Skip(format!(
            "its trigger ({}) is older than the journey's maximum age ({} days)",
            trigger_at.format("%Y-%m-%d %H:%M UTC"),
            max_age.num_days()
        ));
    }
    if !standing.consented {
        return Admission::Skip(format!(
            "no consent to marketing by {}",
            journey.channel.as_str()
        ));
    }
    if let Some(last) = standing.last_entry {
        let again = match journey.reentry() {
            Reentry::Always => true,
            Reentry::Never => false,
            Reentry::Yearly => last.with_timezone(&zone).year() < now.with_timezone(&zone).year(),
            Reentry::AfterDays(days) => now - last >= Duration::days(i64::from(days)),
        };
        if !again {
            return Admission::Skip(format!(
                "re-entry ({:?}) does not allow another entry since {}",
                journey.reentry(),
                last.format("%Y-%m-%d")
            ));
        }
    }
    let bought_after = |t: DateTime<Utc>| standing.last_purchase.is_some_and(|p| p > t);
    match journey.trigger {
        Trigger::WinBack if standing.last_entry.is_some_and(|e| !bought_after(e)) => {
            Admission::Skip("no purchase since the last win-back attempt".into())
        }
        Trigger::WinBack if bought_after(trigger_at) => {
            Admission::Skip("they bought again after lapsing".into())
        }
        _ => Admission::Enter,
    }
}
