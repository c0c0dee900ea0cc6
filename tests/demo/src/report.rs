//! What the demo prints, and the checks it makes: every expectation is worked out here from the
//! simulated year (who bought what, who refused marketing, which record had no email), never from
//! rapport's own figures, and compared with what HubSpot, the mailer and the store hold.

use crate::config::{THANKS, WIN_BACK};
use crate::live::WebhookAnswers;
use rapport_core::metrics::period::Period;
use rapport_core::model::Money;
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::shop::Receipt;
use rapport_fakes::square::SquareServer;
use rapport_fakes::year::YearShop;
use rapport_host::metrics::BusinessMetrics;
use rapport_host::pipeline::Pipeline;
use rapport_host::predictions::{self, Refit};
use rapport_store::Summary;
use std::path::Path;

pub(crate) fn header(
    year: &YearShop,
    square: &SquareServer,
    crm: &HubSpotSim,
    mailer: &CaptureServer,
    dir: &Path,
) {
    let shop = &year.shop;
    println!("rapport demo — a coffee shop's year on Square, its customers in HubSpot");
    println!(
        "  Square simulator:  {} ({} sales and {} refunds over the last 365 days, {} customer records, 1 cancelled order)",
        square.base_url(),
        shop.receipts.iter().filter(|r| r.refund_of.is_none()).count(),
        shop.receipts.iter().filter(|r| r.refund_of.is_some()).count(),
        shop.customers.len()
    );
    println!("  HubSpot simulator: {}", crm.base_url());
    println!("  the shop's mailer: {} (journey messages)", mailer.url());
    println!("  store:             {}", dir.join("rapport.db").display());
    println!();
}

pub(crate) fn polled(polled: &Summary) {
    println!("Polling Square (the history: profiles and CRM, no journeys)");
    println!(
        "  events stored:     {} orders ({} completed, {} cancelled), {} refunds, {} customer records",
        polled.orders,
        polled.orders_by_state.completed,
        polled.orders_by_state.canceled,
        polled.refunds,
        polled.customer_updates
    );
    println!("  profiles made:     {}", polled.profiles);
    sinks(polled);
}

pub(crate) fn fit(refit: &Refit) {
    println!();
    println!("Fitting the predictions (BG/NBD and Gamma-Gamma on the year's sales)");
    match refit {
        Refit::Fitted(stored) => {
            let (f, b) = (&stored.fit.figures, stored.fit.bgnbd.params);
            println!(
                "  fitted as of {}:  {} customers, {} came back, {} bought on three days or more, {} days of history",
                stored.fit.as_of, f.customers, f.repeat_customers, f.frequent_customers, f.history_days
            );
            println!(
                "  BG/NBD:            r = {:.3}, α = {:.3}, a = {:.3}, b = {:.3}",
                b.r, b.alpha, b.a, b.b
            );
            match &stored.fit.gamma_gamma {
                Some(g) => println!(
                    "  Gamma-Gamma:       p = {:.3}, q = {:.3}, v = {:.3}",
                    g.params.p, g.params.q, g.params.v
                ),
                None => {
                    println!("  Gamma-Gamma:       not fitted (the repeat spends are too alike)")
                }
            }
        }
        Refit::Refused { refusal, .. } => println!("  refused:           {refusal}"),
    }
}

pub(crate) fn live(answers: &WebhookAnswers, polled: &Summary, summary: &Summary) {
    println!();
    println!("New sales arriving as Square webhooks (and Square merging a customer's two records)");
    println!(
        "  {} signed deliveries stored ({} orders), {} replay acknowledged as a duplicate, {} forged delivery refused with 401",
        answers.stored,
        summary.orders - polled.orders,
        answers.duplicates,
        answers.refused
    );
    sinks(summary);
}

fn sinks(summary: &Summary) {
    for s in &summary.sinks {
        println!(
            "  delivered to {}: {} contact updates, {} activities, {} consent changes, {} journey messages ({} withheld for consent, {} rejected, {} dead, {} waiting)",
            s.sink,
            s.profiles_delivered,
            s.activities_delivered,
            s.consents_delivered,
            s.messages_delivered,
            s.withheld,
            s.rejected,
            s.dead,
            s.waiting
        );
    }
}

/// The shop's figures as `GET /api/metrics` serves them, for the last 30 days by the clock.
pub(crate) async fn facts(pipeline: &Pipeline) -> anyhow::Result<BusinessMetrics> {
    let zone = pipeline.config.shop.time_zone;
    let today = predictions::today(pipeline.clock.now(), zone);
    let period = Period::or_default(None, None, today)?;
    let journeys = &pipeline.config.journeys;
    Ok(rapport_host::metrics::business(&pipeline.store, journeys, zone, period, today).await?)
}

fn money(m: &Money) -> String {
    let sign = if m.minor < 0 { "-" } else { "" };
    let minor = m.minor.abs();
    format!("{sign}{} {}.{:02}", m.currency, minor / 100, minor % 100)
}

pub(crate) fn shop(metrics: &BusinessMetrics, refit: &Refit) {
    println!();
    println!(
        "The shop now (the last 30 days: {} to {})",
        metrics.period.from, metrics.period.to
    );
    let sales = &metrics.sales.current;
    println!(
        "  buyers:            {} ({} came more than once; {} the 30 days before)",
        sales.buyers, sales.repeat_buyers, metrics.sales.previous.buyers
    );
    let segments = (metrics.segments.segments.iter())
        .filter(|s| s.people > 0)
        .map(|s| format!("{} {}", s.segment, s.people))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "  segments:          {segments} ({} buyers)",
        metrics.segments.buyers
    );
    match &metrics.predicted_lifetime_value {
        rapport_host::metrics::predicted::PredictedValue::Available {
            customers,
            total_12_months,
            mean_12_months,
            ..
        } => println!(
            "  next 12 months:    {} predicted from {customers} customers ({} each)",
            money(total_12_months),
            money(mean_12_months)
        ),
        rapport_host::metrics::predicted::PredictedValue::NotAvailable { reason } => {
            println!("  next 12 months:    no prediction: {reason}")
        }
    }
    if let Refit::Refused { refusal, .. } = refit {
        println!("  predictions:       refused: {refusal}");
    }
    for j in &metrics.journeys.current {
        println!(
            "  journey {:<10} {} entered, {} sent, {} held out, {} converted",
            format!("{}:", j.journey),
            j.entered,
            j.sent,
            j.held_out,
            j.converted
        );
    }
}

/// Whether a receipt's buyer refused marketing.
fn refused(year: &YearShop, r: &Receipt) -> bool {
    r.customer
        .is_some_and(|c| year.shop.customers[c].marketing_opt_in == Some(false))
}

/// The journey messages the mailer received: (journey, email).
pub fn journey_messages(mailer: &CaptureServer) -> Vec<(String, String)> {
    let captured = mailer.captured();
    let mut seen = std::collections::BTreeSet::new();
    (captured.activities.iter())
        .filter(|a| seen.insert(a["idempotency_key"].to_string()))
        .filter_map(|a| {
            let journey = a["name"].as_str()?.strip_prefix("Journey: ")?;
            let email = (a["identities"].as_array()?.iter())
                .find(|i| i["kind"] == "email")
                .and_then(|i| i["value"].as_str())?;
            Some((journey.to_string(), email.to_string()))
        })
        .collect()
}

/// Compares what HubSpot, the mailer and the store hold with what the year says they should
/// (`buyers`: the people with a sale, as the shop's segments count them); prints the comparison
/// and returns what does not match.
pub(crate) fn checks(
    year: &YearShop,
    crm: &HubSpotSim,
    mailer: &CaptureServer,
    answers: &WebhookAnswers,
    summary: &Summary,
    buyers: usize,
) -> Vec<String> {
    let shop = &year.shop;
    let phone_record = Some(year.twin.phone_record);
    // HubSpot keys contacts by email: the till record without one is refused until the merge.
    let with_email = shop
        .customers
        .iter()
        .filter(|c| !c.email.is_empty())
        .count();
    let sent =
        |r: &&Receipt| r.customer.is_some() && r.customer != phone_record && !refused(year, r);
    let expected_events =
        shop.receipts.iter().filter(sent).count() + year.live.iter().filter(sent).count();
    let history_sales = shop
        .receipts
        .iter()
        .filter(|r| r.refund_of.is_none())
        .count();
    let thanked: Vec<&str> = (year.live.iter())
        .filter(|r| !refused(year, r))
        .filter_map(|r| Some(shop.customers[r.customer?].email.as_str()))
        .collect();
    let messages = journey_messages(mailer);
    let thanks: Vec<&str> = (messages.iter())
        .filter(|(j, _)| j == THANKS)
        .map(|(_, e)| e.as_str())
        .collect();
    let win_backs = messages.iter().filter(|(j, _)| j == WIN_BACK).count();

    println!();
    println!("HubSpot now holds");
    println!(
        "  contacts:          {} (expected {with_email}: every customer with an email; the till record without one joins its person's contact at the merge)",
        crm.contact_count()
    );
    println!(
        "  timeline events:   {} (expected {expected_events}: every sale with a known customer and every refund, but none of those who refused marketing nor of the record without an email)",
        crm.event_count()
    );
    println!(
        "  opt-outs recorded: {}",
        (shop.customers.iter())
            .filter(|c| crm
                .subscription_status(&c.email, hubspot::SUBSCRIPTION_ID)
                .is_some_and(|s| s.status == "UNSUBSCRIBED"))
            .count()
    );
    println!("The mailer received");
    println!(
        "  thank-you messages: {} (expected {}: one per new sale by someone who did not refuse marketing)",
        thanks.len(),
        thanked.len()
    );
    println!("  win-back messages:  {win_backs}");

    let mut problems = Vec::new();
    let mut expect = |what: &str, held: usize, want: usize| {
        if held != want {
            problems.push(format!("{what}: {held}, not {want}"));
        }
    };
    expect("HubSpot contacts", crm.contact_count(), with_email);
    expect(
        "HubSpot timeline events",
        crm.event_count(),
        expected_events,
    );
    expect("thank-you messages", thanks.len(), thanked.len());
    // Everyone bought but the customer whose one order was cancelled, and the twin's two records
    // are one person.
    expect("buyers", buyers, shop.customers.len() - 2);
    expect(
        "completed orders",
        summary.orders_by_state.completed as usize,
        history_sales + year.live.len(),
    );
    expect(
        "cancelled orders",
        summary.orders_by_state.canceled as usize,
        1,
    );
    expect("forged deliveries refused", answers.refused, 1);
    expect("replays acknowledged", answers.duplicates, 1);
    let mut thanks_sorted = thanks.clone();
    let mut thanked_sorted = thanked.clone();
    thanks_sorted.sort_unstable();
    thanked_sorted.sort_unstable();
    if thanks_sorted != thanked_sorted {
        problems.push(format!(
            "thank-you messages went to {thanks_sorted:?}, not {thanked_sorted:?}"
        ));
    }
    problems
}
