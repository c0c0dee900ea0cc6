//! The business metrics of a period: reads every sale, refund and journey entry the figures need,
//! turns the rows into `rapport_core::metrics`' values and works the figures out for the period
//! and the one before it; adds what the CRMs reported of the journey messages, the predicted
//! lifetime value, the top product pairs, the segments and each configured experiment's report.

use super::predicted::{predicted_value, PredictedValue};
use crate::experiments::{configured, experiment_report};
use crate::predictions::before;
use crate::profiles::segments::{segments, Segments};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rapport_core::experiments::report::Report;
use rapport_core::journeys::{Journey, Trigger};
use rapport_core::metrics::business::{Purchase, Refund, SalesFigures, SalesHistory};
use rapport_core::metrics::engagement::EngagementLine;
use rapport_core::metrics::journeys::{
    attachment, channel_response, journey_results, Attachment, ChannelResponse, Entry,
    JourneyResult,
};
use rapport_core::metrics::period::{Compared, Period};
use rapport_core::model::{Money, Order, Payload};
use rapport_core::pairs::{Item, PairsBy, Rule};
use rapport_store::metrics::EntryRow;
use rapport_store::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// How many product pairs of each kind the metrics list.
pub const TOP_PAIRS: usize = 5;

/// Every business figure of a period, each period-bound one beside the period before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusinessMetrics {
    pub period: Period,
    pub previous_period: Period,
    /// The shop's time zone, whose calendar the days are.
    pub time_zone: String,
    pub sales: Compared<SalesFigures>,
    pub predicted_lifetime_value: PredictedValue,
    pub attachment: Compared<Attachment>,
    /// The stored product pairs, best first (as last mined).
    pub top_pairs: TopPairs,
    /// Buyers per RFM segment now, with their net spend.
    pub segments: Segments,
    pub response_by_channel: Compared<Vec<ChannelResponse>>,
    pub journeys: Compared<Vec<JourneyResult>>,
    /// What the CRMs reported of the journey messages, per journey, arm and channel, by when it
    /// happened (sinks built for contract 0.5 report it).
    pub engagement: Compared<Vec<EngagementLine>>,
    /// Each configured experiment's report, over all its entries.
    pub experiments: Vec<Report>,
}

/// The best stored pairs of each kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopPairs {
    pub product: Vec<Rule>,
    pub category: Vec<Rule>,
}

/// UTC midnight starting `day`, in ms: a bound that holds the whole of `day` in any time zone
/// when taken a day early.
fn midnight_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms} ms")))
}

fn money(minor: i64, currency: String) -> Result<Money, StoreError> {
    let currency = currency
        .try_into()
        .map_err(|e| StoreError::Corrupt(format!("events.currency: {e}")))?;
    Ok(Money { minor, currency })
}

/// The business metrics of `period` in time zone `zone`, for the shop whose journeys are
/// `journeys`; `today` caps the day predictions are made for.
pub async fn business(
    store: &Store,
    journeys: &[Journey],
    zone: Tz,
    period: Period,
    today: NaiveDate,
) -> Result<BusinessMetrics, StoreError> {
    let until = before(period.last_day());
    let windows: HashMap<&str, Duration> = (journeys.iter())
        .filter(|j| j.trigger == Trigger::Accessory)
        .map(|j| (j.name.as_str(), j.window()))
        .collect();
    let widest = windows.values().copied().max().unwrap_or(Duration::zero());
    let since = midnight_ms(period.previous().from - Duration::days(1));
    let accessories: Vec<&str> = windows.keys().copied().collect();
    // The reads are independent, each on a connection of its own: the database works on them
    // side by side while this task decodes what arrives.
    let (sales, refunds, entries, orders, segments) = tokio::try_join!(
        store.sales_before(until),
        store.refunds_before(until),
        store.entries_between(since, until),
        store.orders_after_entries(
            &accessories,
            since,
            until,
            until + widest.num_milliseconds()
        ),
        segments(store),
    )?;
    let purchases: Vec<Purchase> = (sales.iter())
        .map(|s| Purchase {
            person: s.profile_id,
            placed_at: s.placed_at,
            total: Money {
                minor: s.amount_minor,
                currency: s.currency.clone(),
            },
        })
        .collect();
    let refunds = (refunds.into_iter())
        .map(|r| {
            Ok(Refund {
                person: r.profile_id,
                at: time(r.at)?,
                amount: money(r.amount_minor, r.currency)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let history = SalesHistory::new(&purchases, &refunds, zone);
    let sales_compared = Compared::of(period, |p| history.figures(p));
    let currency = sales_compared
        .current
        .lifetime_value
        .net_spend
        .clone()
        .map(|m| m.currency);
    let entries = (entries.into_iter())
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?;
    let orders: Vec<(i64, Order)> = (orders.into_iter())
        .filter_map(|(person, payload)| match serde_json::from_str(&payload) {
            Ok(Payload::Order(order)) => Some((person, order)),
            // A sale the retention job summarised keeps no lines: nothing bought to match.
            _ => None,
        })
        .collect();
    let names: Vec<&str> = journeys.iter().map(|j| j.name.as_str()).collect();

    let mut experiments = Vec::new();
    for experiment in configured(journeys) {
        experiments.push(experiment_report(store, experiment).await?);
    }
    let top = |rules: Vec<(Rule, i64)>| -> Vec<Rule> {
        rules
            .into_iter()
            .take(TOP_PAIRS)
            .map(|(rule, _)| rule)
            .collect()
    };
    let top_pairs = TopPairs {
        product: top(store.pair_rules(PairsBy::Product).await?),
        category: top(store.pair_rules(PairsBy::Category).await?),
    };
    Ok(BusinessMetrics {
        period,
        previous_period: period.previous(),
        time_zone: zone.name().to_string(),
        predicted_lifetime_value: predicted_value(
            store,
            &sales,
            zone,
            period.last_day().min(today),
        )
        .await?,
        attachment: Compared::of(period, |p| {
            attachment(&entries, &windows, &orders, currency.as_ref(), p, zone)
        }),
        top_pairs,
        segments,
        response_by_channel: Compared::of(period, |p| channel_response(&entries, p, zone)),
        engagement: Compared {
            current: engagement(store, period, zone).await?,
            previous: engagement(store, period.previous(), zone).await?,
        },
        journeys: Compared::of(period, |p| journey_results(&entries, &names, p, zone)),
        sales: sales_compared,
        experiments,
    })
}

/// What the CRMs reported of the journey messages in `period`.
async fn engagement(
    store: &Store,
    period: Period,
    zone: Tz,
) -> Result<Vec<EngagementLine>, StoreError> {
    let (from, to) = period.bounds(zone);
    let counts = crate::engagement::per_journey(store, from, to).await?;
    Ok((counts.into_iter())
        .map(|((journey, arm, channel), counts)| EngagementLine {
            journey,
            arm,
            channel,
            counts,
        })
        .collect())
}

/// An entry as the core reads it; an accessory's suggestion from its detail.
fn entry(row: EntryRow) -> Result<Entry, StoreError> {
    Ok(Entry {
        person: row.profile_id,
        held_out: row.held_out,
        entered_at: time(row.entered_at)?,
        converted: row.credited > 0,
        suggested: row
            .detail
            .get("suggested_product")
            .and_then(|s| Item::new(s)),
        journey: row.journey,
        channel: row.channel,
    })
}
