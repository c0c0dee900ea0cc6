//! The parts of `rapport status` beyond the store's figures: the north-star numbers (the last 30
//! days beside the 30 before), the go-live state (a freeze in force, what is held or rolled out to
//! a share), one operations line per sink (backlog, dead letters, latency, error
//! budget, rate-limit waits), and `rapport status --json`, the store's figures, the operations
//! figures and the north-star numbers as one JSON document.

use super::metrics::{amount, percent};
use chrono::{DateTime, Utc};
use rapport_core::freeze::Freeze;
use rapport_core::metrics::business::SalesFigures;
use rapport_core::metrics::period::{Compared, Period};
use rapport_core::model::Money;
use rapport_core::rollout;
use rapport_host::config::mode::SinkMode;
use rapport_host::metrics::predicted::PredictedValue;
use rapport_host::metrics::{business, BusinessMetrics};
use rapport_host::operations::{self, OperationsReport, SinkOperations};
use rapport_host::pipeline::Pipeline;
use serde::Serialize;
use std::time::Duration;

/// The numbers everyone can recite, for the default period of `rapport metrics`.
#[derive(Debug, Serialize)]
pub struct NorthStar {
    pub period: Period,
    pub previous_period: Period,
    pub repeat_purchase_rate: Compared<Option<f64>>,
    pub mean_days_between_visits: Compared<Option<f64>>,
    pub median_days_to_second_order: Compared<Option<f64>>,
    pub lifetime_value_per_buyer: Compared<Option<Money>>,
    pub predicted_lifetime_value: PredictedValue,
}

impl NorthStar {
    fn of(m: BusinessMetrics) -> NorthStar {
        let both = |figure: fn(&SalesFigures) -> Option<f64>| Compared {
            current: figure(&m.sales.current),
            previous: figure(&m.sales.previous),
        };
        NorthStar {
            period: m.period,
            previous_period: m.previous_period,
            repeat_purchase_rate: both(|s| s.repeat_purchase_rate),
            mean_days_between_visits: both(|s| s.mean_days_between_visits),
            median_days_to_second_order: both(|s| s.second_order.median_days),
            lifetime_value_per_buyer: Compared {
                current: m.sales.current.lifetime_value.mean_per_buyer.clone(),
                previous: m.sales.previous.lifetime_value.mean_per_buyer.clone(),
            },
            predicted_lifetime_value: m.predicted_lifetime_value,
        }
    }
}

/// The north-star numbers of the last 30 days (today included, by the pipeline's clock).
pub async fn north_star(pipeline: &Pipeline) -> anyhow::Result<NorthStar> {
    let zone = pipeline.config.shop.time_zone;
    let today = pipeline.clock.now().with_timezone(&zone).date_naive();
    let period = Period::or_default(None, None, today)?;
    let journeys = &pipeline.config.journeys;
    Ok(NorthStar::of(
        business(&pipeline.store, journeys, zone, period, today).await?,
    ))
}

/// Prints the north-star numbers, each beside the period before.
pub async fn print_north_star(pipeline: &Pipeline) -> anyhow::Result<()> {
    let n = north_star(pipeline).await?;
    let days = |x: Option<f64>| x.map_or("-".into(), |d| format!("{d:.1} days"));
    println!(
        "north star, {} to {} (before: {} to {}):",
        n.period.from,
        n.period.last_day(),
        n.previous_period.from,
        n.previous_period.last_day()
    );
    let line =
        |name: &str, c: (String, String)| println!("  {name:<30} {:>14} (before {})", c.0, c.1);
    let pair = |c: &Compared<Option<f64>>, show: &dyn Fn(Option<f64>) -> String| {
        (show(c.current), show(c.previous))
    };
    line(
        "repeat purchase rate",
        pair(&n.repeat_purchase_rate, &percent),
    );
    line(
        "days between visits (mean)",
        pair(&n.mean_days_between_visits, &days),
    );
    line(
        "time to second order (median)",
        pair(&n.median_days_to_second_order, &days),
    );
    let ltv = &n.lifetime_value_per_buyer;
    line(
        "lifetime value per buyer",
        (amount(ltv.current.as_ref()), amount(ltv.previous.as_ref())),
    );
    match &n.predicted_lifetime_value {
        PredictedValue::Available {
            mean_12_months,
            customers,
            fit_as_of,
            ..
        } => println!(
            "  {:<30} {:>14} per customer ({customers} customers, fit of {fit_as_of})",
            "predicted value, next 12 months",
            amount(Some(mean_12_months))
        ),
        PredictedValue::NotAvailable { reason } => {
            println!("  {:<30} {reason}", "predicted value, next 12 months")
        }
    }
    Ok(())
}

/// The go-live state: the freeze in force, and each sink and journey that is held or rolled out to
/// a share of people only.
#[derive(Debug, Serialize)]
pub struct GoLive {
    pub freeze: Option<FreezeInForce>,
    pub sinks: Vec<Share>,
    pub journeys: Vec<Share>,
}

#[derive(Debug, Serialize)]
pub struct FreezeInForce {
    #[serde(flatten)]
    pub freeze: Freeze,
    pub ends_at: DateTime<Utc>,
}

/// A sink or journey not yet live for everyone.
#[derive(Debug, Serialize)]
pub struct Share {
    pub name: String,
    pub enabled: bool,
    pub rollout: f64,
}

pub fn go_live(pipeline: &Pipeline) -> GoLive {
    let zone = pipeline.config.shop.time_zone;
    let partial = |name: &str, enabled: bool, rollout: f64| {
        (!enabled || rollout < 1.0).then(|| Share {
            name: name.to_string(),
            enabled,
            rollout,
        })
    };
    GoLive {
        freeze: pipeline.freeze_in_force().map(|f| FreezeInForce {
            freeze: f.clone(),
            ends_at: f.ends_at(zone),
        }),
        sinks: (pipeline.config.sinks.iter())
            .filter_map(|s| partial(&s.id, s.enabled, s.rollout))
            .collect(),
        journeys: (pipeline.config.journeys.iter())
            .filter_map(|j| partial(&j.name, j.enabled, j.rollout))
            .collect(),
    }
}

/// Prints the freeze in force and what is held or rolled out to a share, a line each.
pub fn print_go_live(pipeline: &Pipeline) {
    let g = go_live(pipeline);
    if let Some(f) = &g.freeze {
        let zone = pipeline.config.shop.time_zone;
        println!(
            "FREEZE in force: {}, until {}: config edits and new plugin versions wait{}",
            f.freeze.describe(),
            f.ends_at.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z"),
            match f.freeze.pause_journeys {
                true => "; journeys paused",
                false => "",
            }
        );
    }
    for (kind, shares) in [("sink", &g.sinks), ("journey", &g.journeys)] {
        for share in shares {
            match share.enabled {
                false => println!("{kind} {}: held (enabled = false)", share.name),
                true => println!(
                    "{kind} {}: rolled out to {}",
                    share.name,
                    rollout::describe(share.rollout)
                ),
            }
        }
    }
}

/// Prints each sink's operations figures, one line a sink.
pub async fn print_operations(pipeline: &Pipeline) -> anyhow::Result<()> {
    for sink in &read(pipeline).await?.sinks {
        println!("{}", operations_line(sink));
    }
    Ok(())
}

/// The store's figures (`store`), the operations figures (`operations`) and the north-star
/// numbers (`north_star`) as JSON.
pub async fn json(pipeline: &Pipeline) -> anyhow::Result<serde_json::Value> {
    let store = pipeline.store.summary().await?;
    let operations = read(pipeline).await?;
    let north_star = north_star(pipeline).await?;
    let go_live = go_live(pipeline);
    Ok(
        serde_json::json!({ "store": store, "operations": operations, "north_star": north_star, "go_live": go_live }),
    )
}

async fn read(pipeline: &Pipeline) -> anyhow::Result<OperationsReport> {
    let now = pipeline.clock.now();
    Ok(operations::read(&pipeline.store, &pipeline.connectors, now).await?)
}

fn operations_line(s: &SinkOperations) -> String {
    let oldest = s
        .oldest_backlog_age_seconds
        .map_or(String::new(), |age| format!(", oldest {}", seconds(age)));
    let latency = match (s.latency.p50_seconds, s.latency.p99_seconds) {
        (Some(p50), Some(p99)) => format!(
            "latency p50 {} p99 {} over {} deliveries",
            seconds(p50),
            seconds(p99),
            s.latency.samples
        ),
        _ => "no latency yet".to_string(),
    };
    let days = s.slo.window.as_secs() / 86_400;
    let shadow = match s.mode {
        SinkMode::Shadow => " (SHADOW: requests captured, nothing sent; rapport pilot requests)",
        SinkMode::Live => "",
    };
    format!(
        "sink {}{shadow} operations: backlog {}{oldest}, {} dead letters, {latency}, error budget \
         {:.1} % burned of a {} % objective over {days} days ({:.1} % left), {} held by rate limits",
        s.sink,
        s.backlog,
        s.dead_letters,
        s.error_budget.burned * 100.0,
        // In tenths of a percent, as objectives are written (99.5), without float noise.
        (s.slo.target * 1000.0).round() / 10.0,
        s.error_budget.remaining * 100.0,
        seconds(s.rate_limit_wait_seconds),
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
