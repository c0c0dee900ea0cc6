//! Journey rules: short sequences of messages the shop sends a person when something in their
//! life with the shop happens — a first or any purchase (a thank-you), a consumable running out
//! (replenishment), a pricey item bought (an accessory that goes with it), a customer lapsing
//! (win-back), a birthday month, a new loyalty tier. A journey is declared in config (`[[journey]]`):
//! its trigger, channel, wait, re-entry, the maximum age of the fact that triggers it, the window in
//! which a sale counts as its conversion, and an optional experiment.
//!
//! The host plans a *wait* for each person a trigger fires for (`plan`): when it falls due, and
//! what fact started it. The scheduler takes waits as they fall due and decides (`admit`) whether
//! the person enters now (maximum age, consent, re-entry, "no purchase since the last attempt");
//! an entry either queues a message for the journey's sink or, for an experiment's holdout, is
//! recorded as "would have received". Delivery then applies consent, quiet hours and caps.

pub mod admit;
pub mod plan;

use crate::clock::{SharedClock, SystemClock};
use crate::consent::contact::ContactRules;
use crate::consent::gate::{MarketingGate, WithoutChoice};
use crate::experiments::{Arm, Experiment};
use crate::model::Channel;
use chrono::Duration;
use serde::Deserialize;

/// What starts a journey for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The first order stored for the person (a welcome, a thank-you).
    FirstOrder,
    /// Every order.
    EveryOrder,
    /// A consumable category's interval has passed since the person last bought it: their own
    /// interval once they have one, the category's typical interval before that.
    Replenishment,
    /// An order line at or above a price: later, the best-matched partner product they have not
    /// bought.
    Accessory,
    /// The person is lapsing: P(alive) fell below a threshold, or they are N days past their
    /// expected next order, with no purchase since the last attempt.
    WinBack,
    /// The person's birthday month has come.
    Birthday,
    /// The person reached a new loyalty tier.
    TierChange,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::FirstOrder => "first-order",
            Trigger::EveryOrder => "every-order",
            Trigger::Replenishment => "replenishment",
            Trigger::Accessory => "accessory",
            Trigger::WinBack => "win-back",
            Trigger::Birthday => "birthday",
            Trigger::TierChange => "tier-change",
        }
    }

    /// Whether a new sale is the fact that starts it (history never does); otherwise it is planned
    /// from what the profile knows.
    pub fn on_sale(self) -> bool {
        matches!(
            self,
            Trigger::FirstOrder | Trigger::EveryOrder | Trigger::Accessory
        )
    }

    /// Re-entry when the journey does not say: a birthday once a year, a first order never,
    /// anything else whenever it fires again.
    pub fn default_reentry(self) -> Reentry {
        match self {
            Trigger::FirstOrder => Reentry::Never,
            Trigger::Birthday => Reentry::Yearly,
            _ => Reentry::Always,
        }
    }
}

/// When a person who entered a journey may enter it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reentry {
    /// Only once.
    Never,
    /// Each time it fires.
    Always,
    /// Once per calendar year (shop time).
    Yearly,
    /// Not until this many days after the last entry.
    AfterDays(u32),
}

/// `[[journey]]`: one message a sink sends a person when a trigger fires.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journey {
    pub name: String,
    /// The configured sink that sends it.
    pub sink: String,
    /// How it contacts the person; one of the sink's `channels`.
    pub channel: Channel,
    pub trigger: Trigger,
    /// How long after the trigger it is due.
    #[serde(default)]
    pub wait_minutes: u32,
    /// `"never"`, `"always"`, `"yearly"` or `{ after_days = N }`; see [`Trigger::default_reentry`].
    pub reentry: Option<Reentry>,
    /// How old the triggering fact may be when the message would go; `[journeys] max_age` if unset.
    pub max_age_days: Option<u32>,
    /// How long after an entry a completed sale counts as its conversion (attribution, reports).
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Replenishment: the consumable categories it watches.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Replenishment: the interval before a person has one of their own (two purchase days of
    /// the category).
    pub typical_days: Option<u32>,
    /// Accessory: the lowest line price (minor units, any currency) that starts it.
    pub min_price_minor: Option<i64>,
    /// Win-back: enter when P(alive) falls below this.
    pub p_alive_below: Option<f64>,
    /// Win-back: enter this many days after the expected date of the next order.
    pub days_past_expected: Option<u32>,
    pub experiment: Option<Experiment>,
    /// Whether it lets people in: a paused journey (`false`) drops its waits as they fall due.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The share of people it runs for, 0 to 1, for a progressive go-live: a person is in when a
    /// point hashed from the journey's name and their profile key falls below it, so the same
    /// people stay in across restarts and as the share grows.
    #[serde(default = "everyone")]
    pub rollout: f64,
}

fn enabled_by_default() -> bool {
    true
}

fn everyone() -> f64 {
    1.0
}

fn default_window_days() -> u32 {
    7
}

/// The longest a journey may wait: a year.
pub const MAX_WAIT_MINUTES: u32 = 366 * 24 * 60;

impl Journey {
    /// The activity the sink records when the message is sent.
    pub fn activity_name(name: &str) -> String {
        format!("Journey: {name}")
    }

    pub fn reentry(&self) -> Reentry {
        self.reentry.unwrap_or(self.trigger.default_reentry())
    }

    /// The wait of a person in `arm` (a variant may have its own).
    pub fn wait(&self, arm: Option<Arm>) -> Duration {
        let variant_wait = match (&self.experiment, arm) {
            (Some(experiment), Some(Arm::Variant(i))) => experiment.variants[i].wait_minutes,
            _ => None,
        };
        Duration::minutes(i64::from(variant_wait.unwrap_or(self.wait_minutes)))
    }

    /// The arm of the person whose profile key is `person`, if the journey has an experiment.
    pub fn arm(&self, person: &str) -> Option<Arm> {
        self.experiment.as_ref().map(|e| e.assign(person))
    }

    /// Whether the person whose profile key is `person` is in the journey's rollout share.
    pub fn rolled_out_to(&self, person: &str) -> bool {
        crate::rollout::includes(&format!("rollout {}", self.name), self.rollout, person)
    }

    pub fn window(&self) -> Duration {
        Duration::days(i64::from(self.window_days))
    }

    /// Checks the keys its trigger needs, and only those, are set; the experiment's shares; the
    /// wait. `tiers`: whether the shop defines loyalty tiers. The error names the key.
    pub fn check(&self, tiers: bool) -> Result<(), String> {
        let name = &self.name;
        crate::rollout::check_share(&format!("[[journey]] {name:?}"), self.rollout)?;
        let trigger = self.trigger;
        let only = |key: &str, set: bool, for_trigger: Trigger| match set && trigger != for_trigger
        {
            true => Err(format!(
                "[[journey]] {name:?}: {key} is only for trigger = \"{}\", not \"{}\"",
                for_trigger.as_str(),
                trigger.as_str()
            )),
            false => Ok(()),
        };
        only(
            "categories",
            !self.categories.is_empty(),
            Trigger::Replenishment,
        )?;
        only(
            "typical_days",
            self.typical_days.is_some(),
            Trigger::Replenishment,
        )?;
        only(
            "min_price_minor",
            self.min_price_minor.is_some(),
            Trigger::Accessory,
        )?;
        only(
            "p_alive_below",
            self.p_alive_below.is_some(),
            Trigger::WinBack,
        )?;
        only(
            "days_past_expected",
            self.days_past_expected.is_some(),
            Trigger::WinBack,
        )?;
        let needs = |missing: bool, what: &str| match missing {
            true => Err(format!(
                "[[journey]] {name:?}: trigger = \"{}\" needs {what}",
                trigger.as_str()
            )),
            false => Ok(()),
        };
        match trigger {
            Trigger::Replenishment => needs(
                self.categories.iter().all(|c| c.trim().is_empty()),
                "categories = [\"…\"], the consumable categories it watches",
            )?,
            Trigger::WinBack => needs(
                self.p_alive_below.is_none() && self.days_past_expected.is_none(),
                "p_alive_below (a probability) or days_past_expected (days), or both",
            )?,
            Trigger::TierChange => needs(!tiers, "loyalty tiers ([[profiles.tiers]])")?,
            _ => {}
        }
        if let Some(p) = self.p_alive_below.filter(|p| !(*p > 0.0 && *p < 1.0)) {
            return Err(format!(
                "[[journey]] {name:?}: p_alive_below = {p} must be a probability between 0 and 1"
            ));
        }
        if self.window_days == 0 {
            return Err(format!(
                "[[journey]] {name:?}: window_days must be at least 1"
            ));
        }
        if let Reentry::AfterDays(0) = self.reentry() {
            return Err(format!(
                "[[journey]] {name:?}: reentry after_days must be at least 1 (or say \"always\")"
            ));
        }
        let waits = std::iter::once(self.wait_minutes).chain(
            (self.experiment.iter()).flat_map(|e| e.variants.iter().filter_map(|v| v.wait_minutes)),
        );
        for wait in waits {
            if wait > MAX_WAIT_MINUTES {
                return Err(format!(
                    "[[journey]] {name:?}: wait_minutes must be at most {MAX_WAIT_MINUTES} (a year), not {wait}"
                ));
            }
        }
        match &self.experiment {
            Some(experiment) => experiment
                .validate()
                .map_err(|e| format!("[[journey]] {name:?}: {e}")),
            None => Ok(()),
        }
    }
}

/// Where ingest sends the work a batch creates: every sink taking new work (none being retired) gets
/// the events' profile updates and activities, and journeys plan their waits; and the clock the
/// ingest reads.
#[derive(Debug, Clone)]
pub struct Routes {
    pub sinks: Vec<String>,
    pub journeys: Vec<Journey>,
    /// How old a sale may be and still start journeys; the default maximum age of a trigger.
    pub horizon: crate::sales::JourneyHorizon,
    /// The shop's time zone: what a day is, for visits.
    pub time_zone: chrono_tz::Tz,
    /// The loyalty tiers (for tier-change journeys).
    pub tiers: Vec<crate::profile::tiers::Tier>,
    pub clock: SharedClock,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes {
            sinks: Vec::new(),
            journeys: Vec::new(),
            horizon: crate::sales::JourneyHorizon::default(),
            time_zone: chrono_tz::Tz::UTC,
            tiers: Vec::new(),
            clock: SystemClock::shared(),
        }
    }
}

impl Routes {
    /// Whether a journey has the trigger `trigger`.
    pub fn has(&self, trigger: Trigger) -> bool {
        self.journeys.iter().any(|j| j.trigger == trigger)
    }

    /// Whether any journey is planned from what profiles know (not only from new sales).
    pub fn plans_from_facts(&self) -> bool {
        self.journeys.iter().any(|j| !j.trigger.on_sale())
    }
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
