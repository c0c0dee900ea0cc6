//! Planning journeys: for each person a trigger fires for, a [`Wait`] — when the message falls
//! due, the fact that started it (its time is what the maximum age is measured from), and what
//! the message will need. A new sale plans the sale-triggered journeys (first order, every order,
//! accessory); what the profile knows plans the others (replenishment from the person's purchases
//! of a category, win-back from the shop's fit, the birthday month, a new loyalty tier). The
//! scheduler reads the waits by due time, so nothing scans profiles to find who is due.

use super::{Journey, Trigger};
use crate::clock::day_start;
use crate::model::Order;
use crate::pairs::Item;
use crate::predictions::person::Models;
use crate::predictions::summary::{self, ShopHistory};
use crate::profile::facts::Sale;
use crate::profile::tiers::Tier;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A person waiting in a journey until `due`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait<'j> {
    pub journey: &'j Journey,
    pub profile_id: i64,
    /// Names the wait, so the same fact never plans it twice: the journey, the person and the
    /// order, category, year or tier.
    pub key: String,
    pub due: DateTime<Utc>,
    /// When the fact that started it happened (or, for a lapse or a replenishment, came to be).
    pub trigger_at: DateTime<Utc>,
    /// The sale that started it, if one did.
    pub event_id: Option<i64>,
    /// What the message carries (the order, the category, the tier...).
    pub detail: BTreeMap<String, String>,
    /// Whether a newer plan replaces a stored wait of the same key (the facts it was planned from
    /// changed), or the stored one stands.
    pub replaces: bool,
}

/// A sale stored for the first time, by a known person, recent enough to start journeys.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSale<'e> {
    pub profile_id: i64,
    /// The person's profile key (for their experiment arm).
    pub person: &'e str,
    pub event_id: i64,
    /// The source's id of the event.
    pub source_event_id: &'e str,
    pub order: &'e Order,
}

fn wait_key(journey: &Journey, profile_id: i64, what: &str) -> String {
    format!("{}\n{profile_id}\n{what}", journey.name)
}

fn wait<'j>(
    journey: &'j Journey,
    profile_id: i64,
    person: &str,
    what: &str,
    trigger_at: DateTime<Utc>,
) -> Wait<'j> {
    Wait {
        journey,
        profile_id,
        key: wait_key(journey, profile_id, what),
        due: trigger_at + journey.wait(journey.arm(person)),
        trigger_at,
        event_id: None,
        detail: BTreeMap::new(),
        replaces: false,
    }
}

/// The waits a batch's new sales from `source_id` start. A person's first order is their earliest
/// new one, if they had none stored (`ordered_before`). An accessory journey starts from the
/// sale's dearest line at or above its price, naming that line's product and category.
pub fn sale_waits<'j>(
    source_id: &str,
    journeys: &'j [Journey],
    mut sales: Vec<NewSale<'_>>,
    mut ordered_before: HashSet<i64>,
) -> Vec<Wait<'j>> {
    sales.sort_by_key(|sale| (sale.order.placed_at, sale.event_id));
    let mut waits = Vec::new();
    for sale in sales {
        let first_order = ordered_before.insert(sale.profile_id);
        let what = format!("{source_id}\n{}", sale.source_event_id);
        for journey in journeys {
            let fires = match journey.trigger {
                Trigger::FirstOrder => first_order,
                Trigger::EveryOrder => true,
                Trigger::Accessory => true,
                _ => false,
            };
            if !fires {
                continue;
            }
            let mut planned = wait(
                journey,
                sale.profile_id,
                sale.person,
                &what,
                sale.order.placed_at,
            );
            planned.event_id = Some(sale.event_id);
            planned
                .detail
                .insert("order_id".into(), sale.order.id.clone());
            if journey.trigger == Trigger::Accessory {
                let min = journey.min_price_minor.unwrap_or(0);
                let Some(line) = (sale.order.lines.iter())
                    .filter(|l| l.unit_price.minor >= min)
                    .max_by_key(|l| l.unit_price.minor)
                else {
                    continue;
                };
                // Named as the pair rules name items, so the scheduler finds its partners.
                if let Some(bought) = Item::product(line.sku.as_deref(), &line.product) {
                    planned
                        .detail
                        .insert("bought".into(), bought.as_str().into());
                }
                if let Some(category) = line.category.as_deref().and_then(Item::new) {
                    planned
                        .detail
                        .insert("bought_category".into(), category.as_str().into());
                }
            }
            waits.push(planned);
        }
    }
    waits
}

/// What the profile knows of a person, for the journeys planned from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Person<'a> {
    pub profile_id: i64,
    pub key: &'a str,
    /// Their counted sales, any order.
    pub sales: &'a [Sale],
    /// Month and day.
    pub birthday: Option<(u32, u32)>,
}

/// What the fact-triggered plans need besides the person.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub zone: Tz,
    pub now: DateTime<Utc>,
    /// How old a trigger may be (`[journeys] max_age`) when a journey names no age of its own: a
    /// wait whose trigger is older is not planned.
    pub max_age: Duration,
    /// The shop's latest fit, for win-back.
    pub models: Option<&'a Models>,
}

/// The waits of the fact-triggered journeys (replenishment, win-back, birthday) for `person`.
pub fn fact_waits<'j>(
    journeys: &'j [Journey],
    person: &Person<'_>,
    context: &Context<'_>,
) -> Vec<Wait<'j>> {
    let mut waits = Vec::new();
    for journey in journeys {
        match journey.trigger {
            Trigger::Replenishment => {
                for category in &journey.categories {
                    waits.extend(replenishment(journey, person, category, context));
                }
            }
            Trigger::WinBack => waits.extend(win_back(journey, person, context)),
            Trigger::Birthday => waits.extend(birthday(journey, person, context)),
            _ => {}
        }
    }
    let max_age = |journey: &Journey| {
        journey
            .max_age_days
            .map_or(context.max_age, |d| Duration::days(i64::from(d)))
    };
    waits.retain(|w| context.now - w.trigger_at <= max_age(w.journey));
    waits
}

/// Replenishment of `category`: due one interval after the person's last purchase of it — the mean
/// gap between their purchase days of it once there are two, the journey's typical interval before.
fn replenishment<'j>(
    journey: &'j Journey,
    person: &Person<'_>,
    category: &str,
    context: &Context<'_>,
) -> Option<Wait<'j>> {
    let times: Vec<DateTime<Utc>> = (person.sales.iter())
        .filter(|s| s.categories.iter().any(|(c, _)| c == category))
        .map(|s| s.placed_at)
        .collect();
    let last = *times.iter().max()?;
    let days: BTreeSet<NaiveDate> = (times.iter())
        .map(|t| t.with_timezone(&context.zone).date_naive())
        .collect();
    let own = match (days.first(), days.last()) {
        (Some(first), Some(last)) if days.len() >= 2 => {
            Some((*last - *first).num_days() as f64 / (days.len() - 1) as f64)
        }
        _ => None,
    };
    let interval_days = own.or(journey.typical_days.map(f64::from))?;
    let trigger_at = last + Duration::seconds((interval_days * 86_400.0).round() as i64);
    let mut planned = wait(journey, person.profile_id, person.key, category, trigger_at);
    planned.replaces = true;
    planned.detail.insert("category".into(), category.into());
    planned
        .detail
        .insert("interval_days".into(), format!("{interval_days:.1}"));
    Some(planned)
}

/// Win-back: due when the person lapses by the journey's measure — P(alive) falling below
/// `p_alive_below` (the earliest of the two when both are set), or `days_past_expected` days after
/// the median date of their next order, both judged from their purchases alone (the time since
/// their last one is what moves them).
fn win_back<'j>(
    journey: &'j Journey,
    person: &Person<'_>,
    context: &Context<'_>,
) -> Option<Wait<'j>> {
    let models = context.models?;
    let sales: Vec<summary::Sale> = (person.sales.iter())
        .map(|s| summary::Sale {
            profile_id: person.profile_id,
            placed_at: s.placed_at,
            amount_minor: s.total.minor,
            currency: s.total.currency.clone(),
        })
        .collect();
    let last_day = (sales.iter())
        .map(|s| s.placed_at.with_timezone(&context.zone).date_naive())
        .max()?;
    let currency = sales.first().map(|s| s.currency.clone());
    let history =
        ShopHistory::summarise_in(&sales, context.zone, last_day, models.time_unit, currency);
    let summary = history.customers.get(&person.profile_id)?;
    let first_day = *history.first_days.get(&person.profile_id)?;
    let unit_days = models.time_unit.days();
    let lapses = [
        journey
            .p_alive_below
            .and_then(|p| models.bgnbd.p_alive_falls_below(summary, p)),
        journey.days_past_expected.and_then(|days| {
            let next = models.bgnbd.median_next_purchase(summary)?;
            Some(summary.t + next + f64::from(days) / unit_days)
        }),
    ];
    let since_first = lapses.into_iter().flatten().reduce(f64::min)?;
    let start = day_start(context.zone, first_day);
    let trigger_at = start + Duration::seconds((since_first * unit_days * 86_400.0).ceil() as i64);
    let mut planned = wait(journey, person.profile_id, person.key, "lapse", trigger_at);
    planned.replaces = true;
    planned
        .detail
        .insert("last_visit".into(), last_day.to_string());
    Some(planned)
}

/// Birthday: due on the first day of the person's birthday month (shop time), or now if that
/// month has begun; once per year.
fn birthday<'j>(
    journey: &'j Journey,
    person: &Person<'_>,
    context: &Context<'_>,
) -> Option<Wait<'j>> {
    let (month, _) = person.birthday?;
    let today = context.now.with_timezone(&context.zone).date_naive();
    let year = match today.month() > month {
        true => today.year() + 1,
        false => today.year(),
    };
    let month_start = day_start(context.zone, NaiveDate::from_ymd_opt(year, month, 1)?);
    let trigger_at = month_start.max(context.now);
    let mut planned = wait(
        journey,
        person.profile_id,
        person.key,
        &year.to_string(),
        trigger_at,
    );
    planned.detail.insert("year".into(), year.to_string());
    Some(planned)
}

/// The tier-change waits of a person whose tier went from `before` to `after` at `at` (a move to a
/// higher tier: one later in the shop's list).
pub fn tier_waits<'j>(
    journeys: &'j [Journey],
    tiers: &[Tier],
    person: (i64, &str),
    before: Option<&Tier>,
    after: Option<&Tier>,
    at: DateTime<Utc>,
) -> Vec<Wait<'j>> {
    let rank = |tier: Option<&Tier>| tier.and_then(|t| tiers.iter().position(|x| x.name == t.name));
    let Some(reached) = after.filter(|_| rank(after) > rank(before)) else {
        return Vec::new();
    };
    (journeys.iter())
        .filter(|j| j.trigger == Trigger::TierChange)
        .map(|journey| {
            let mut planned = wait(journey, person.0, person.1, &reached.name, at);
            planned.detail.insert("tier".into(), reached.name.clone());
            planned
        })
        .collect()
}

#[cfg(test)]
mod tests;
