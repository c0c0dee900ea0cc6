//! `rapport metrics [--from DATE] [--to DATE] [--json]`: the business metrics of `[from, to)`
//! beside the period before it, as text for people or JSON for tools (the same document as
//! `GET /api/metrics`). Without dates, the last 30 days, today included, by the clock it is given.

use super::experiment;
use super::profile::{money, print_segment_table};
use chrono::NaiveDate;
use rapport_core::clock::SharedClock;
use rapport_core::metrics::business::SalesFigures;
use rapport_core::metrics::journeys::{Attachment, AttachmentArm};
use rapport_core::metrics::period::{Compared, Period};
use rapport_core::model::Money;
use rapport_host::config::Config;
use rapport_host::metrics::predicted::PredictedValue;
use rapport_host::metrics::{business, BusinessMetrics};
use rapport_store::Store;

pub async fn run(
    config: &Config,
    store: &Store,
    clock: SharedClock,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    let zone = config.shop.time_zone;
    let today = clock.now().with_timezone(&zone).date_naive();
    let period = Period::or_default(from, to, today)?;
    let metrics = business(store, &config.journeys, zone, period, today).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&metrics)?),
        false => print(&metrics),
    }
    Ok(())
}

pub(crate) fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0))
}

pub(crate) fn amount(m: Option<&Money>) -> String {
    m.map_or_else(|| "-".into(), |m| money(m.minor, m.currency.as_str()))
}

/// One figure of both periods, on one line.
fn row(name: &str, figures: &Compared<SalesFigures>, figure: impl Fn(&SalesFigures) -> String) {
    println!(
        "  {name:<30} {:>16} {:>16}",
        figure(&figures.current),
        figure(&figures.previous)
    );
}

fn arm(name: &str, a: &AttachmentArm) {
    println!(
        "    {name:<11} {} of {} attached ({}), revenue {} ({} per suggestion)",
        a.attached,
        a.entries,
        percent(a.rate),
        amount(a.revenue.as_ref()),
        amount(a.revenue_per_entry.as_ref())
    );
}

fn attachment(name: &str, a: &Attachment) {
    println!("  {name}");
    arm("recipients", &a.recipients);
    arm("holdout", &a.holdout);
    println!(
        "    lift {} points, {} per suggestion; margin: {}",
        a.rate_lift
            .map_or_else(|| "-".into(), |l| format!("{:+.1}", l * 100.0)),
        amount(a.revenue_lift_per_entry.as_ref()),
        a.margin_note
    );
}

fn print(m: &BusinessMetrics) {
    let span = |p: &Period| format!("{} – {}", p.from, p.last_day());
    println!(
        "business metrics, {} ({}), beside {}",
        span(&m.period),
        m.time_zone,
        span(&m.previous_period)
    );
    println!("  {:<30} {:>16} {:>16}", "", "this period", "previous");
    let s = &m.sales;
    row("buyers", s, |f| f.buyers.to_string());
    row("repeat purchase rate", s, |f| {
        format!("{} ({})", percent(f.repeat_purchase_rate), f.repeat_buyers)
    });
    row("mean days between visits", s, |f| {
        f.mean_days_between_visits
            .map_or_else(|| "-".into(), |d| format!("{d:.1}"))
    });
    row("second orders", s, |f| f.second_order.people.to_string());
    row("  median days to the second", s, |f| {
        f.second_order
            .median_days
            .map_or_else(|| "-".into(), |d| format!("{d:.1}"))
    });
    for (i, bucket) in s.current.second_order.distribution.iter().enumerate() {
        row(&format!("  {} days", bucket.days), s, |f| {
            f.second_order.distribution[i].people.to_string()
        });
    }
    row("lifetime value per buyer", s, |f| {
        amount(f.lifetime_value.mean_per_buyer.as_ref())
    });
    match &m.predicted_lifetime_value {
        PredictedValue::Available {
            customers,
            mean_12_months,
            total_12_months,
            fit_as_of,
            ..
        } => println!(
            "  predicted 12-month value: {} per customer, {} for {customers} (fit of {fit_as_of})",
            amount(Some(mean_12_months)),
            amount(Some(total_12_months))
        ),
        PredictedValue::NotAvailable { reason } => {
            println!("  predicted 12-month value: not available: {reason}")
        }
    }
    println!("\ntargeted attachments (accessory journeys against their holdout)");
    attachment("this period", &m.attachment.current);
    attachment("previous", &m.attachment.previous);
    println!("\nresponse by channel (messages sent, converted)");
    for (name, lines) in [
        ("this period", &m.response_by_channel.current),
        ("previous", &m.response_by_channel.previous),
    ] {
        for c in lines {
            println!(
                "  {name:<11} {:<8} {:>6} sent {:>6} converted ({})",
                c.channel,
                c.sent,
                c.converted,
                percent(c.rate)
            );
        }
    }
    println!("\njourneys (entered, sent, held out, converted)");
    for (name, lines) in [
        ("this period", &m.journeys.current),
        ("previous", &m.journeys.previous),
    ] {
        for j in lines {
            println!(
                "  {name:<11} {:<20} {:>6} {:>6} {:>6} {:>6} ({})",
                j.journey,
                j.entered,
                j.sent,
                j.held_out,
                j.converted,
                percent(j.conversion_rate)
            );
        }
    }
    println!("\nmessage engagement (journey, arm, channel: delivered, opened, clicked, bounced, unsubscribed)");
    for (name, lines) in [
        ("this period", &m.engagement.current),
        ("previous", &m.engagement.previous),
    ] {
        for e in lines {
            let c = &e.counts;
            println!(
                "  {name:<11} {:<20} {:<12} {:<6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                e.journey,
                e.arm.as_deref().unwrap_or("-"),
                e.channel,
                c.delivered,
                c.opened,
                c.clicked,
                c.bounced,
                c.unsubscribed
            );
        }
    }
    println!("\ntop product pairs");
    for rule in m.top_pairs.product.iter().chain(&m.top_pairs.category) {
        println!(
            "  {} → {}: lift {:.2}, confidence {:.0}%, {} baskets",
            rule.antecedent,
            rule.consequent,
            rule.lift,
            rule.confidence * 100.0,
            rule.baskets
        );
    }
    println!("\nsegments now");
    print_segment_table(&m.segments);
    for report in &m.experiments {
        print!("\n{}", experiment::text(report));
    }
}
