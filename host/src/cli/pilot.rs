//! `rapport pilot`: a pilot of rapport beside the shop's current integration. `requests` lists
//! the requests a shadow sink's plugin made (captured, never sent; stored without the credentials
//! the host would have added); `report` compares what a sink was given (a shadow sink: what it
//! would have sent) with an export of the current tool ([`rapport_host::pilot`]), as text for
//! people or JSON for tools.

use anyhow::{bail, Context};
use clap::Subcommand;
use rapport_core::model::Money;
use rapport_core::pilot::Conflict;
use rapport_core::predictions::summary::minor_unit_exponent;
use rapport_host::config::mode::SinkMode;
use rapport_host::pilot::PilotReport;
use rapport_host::pipeline::Pipeline;
use rapport_store::shadow::ShadowRequest;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PilotCommand {
    /// The requests a shadow sink's plugin made, newest last.
    Requests {
        /// The sink (`[[sink]] id`).
        #[arg(long)]
        sink: String,
        /// How many of the latest requests to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the requests as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare what a sink was given with an export of the current tool (JSON Lines: contacts and
    /// orders; HubSpot's, Mailchimp's and Klaviyo's contact export columns are read as keys).
    Report {
        /// The configured sink (a shadow sink in a pilot).
        #[arg(long)]
        sink: String,
        /// The export, one JSON object per line.
        #[arg(long)]
        against: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `pilot` subcommand against `pipeline`.
pub async fn run(pipeline: &Pipeline, command: PilotCommand) -> anyhow::Result<()> {
    match command {
        PilotCommand::Requests { sink, limit, json } => {
            requests(pipeline, &sink, limit, json).await
        }
        PilotCommand::Report {
            sink,
            against,
            json,
        } => report(pipeline, &sink, &against, json).await,
    }
}

/// Prints the latest `limit` requests shadow sink `sink`'s plugin made.
async fn requests(pipeline: &Pipeline, sink: &str, limit: u32, json: bool) -> anyhow::Result<()> {
    let config = &pipeline.config;
    let Some(configured) = config.sinks.iter().find(|s| s.id == sink) else {
        let known: Vec<&str> = config.sinks.iter().map(|s| s.id.as_str()).collect();
        bail!(
            "no sink {sink:?} in the config; its sinks are: {}",
            known.join(", ")
        );
    };
    let requests = pipeline
        .store
        .shadow_requests(sink, i64::from(limit))
        .await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&requests)?),
        false => {
            if requests.is_empty() {
                let mode = match configured.mode() {
                    SinkMode::Shadow => "it is in shadow mode but has made none yet",
                    SinkMode::Live => "it is live (set mode = \"shadow\" to pilot it)",
                };
                println!("sink {sink}: no shadow requests stored; {mode}");
            }
            for request in &requests {
                print!("{}", text(request));
            }
        }
    }
    Ok(())
}

/// Compares what sink `sink` was given with the export in `against` and prints the report.
pub async fn report(
    pipeline: &Pipeline,
    sink: &str,
    against: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(against)
        .with_context(|| format!("reading the export {}", against.display()))?;
    let report = rapport_host::pilot::report(pipeline, sink, &text).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", report_text(&report)),
    }
    Ok(())
}

/// An amount as people write it: `12.50 GBP`.
fn money(m: &Money) -> String {
    let exponent = minor_unit_exponent(m.currency.as_str()) as usize;
    let sign = if m.minor < 0 { "-" } else { "" };
    let digits = format!("{:0>width$}", m.minor.unsigned_abs(), width = exponent + 1);
    let (whole, fraction) = digits.split_at(digits.len() - exponent);
    match exponent {
        0 => format!("{sign}{whole} {}", m.currency),
        _ => format!("{sign}{whole}.{fraction} {}", m.currency),
    }
}

/// The report as people read it: the counts, then every finding.
pub fn report_text(r: &PilotReport) -> String {
    let f = &r.findings;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "sink {}: {} people, {} orders, {} journey messages given; the export: {} contacts, {} orders",
        r.sink,
        r.people,
        r.orders,
        f.messages.len(),
        r.export_contacts,
        r.export_orders
    ));
    line(format!(
        "people: {} matched, {} missing from the export, {} extra in the export, {} identity conflicts",
        f.matched.len(),
        f.missing.len(),
        f.extra.len(),
        f.conflicts.len()
    ));
    for m in &f.missing {
        let ids: Vec<&str> = m
            .emails
            .iter()
            .chain(&m.phones)
            .map(String::as_str)
            .collect();
        line(format!("  missing: {} ({})", m.person, ids.join(", ")));
    }
    for e in &f.extra {
        let ids: Vec<&str> = e.email.iter().chain(&e.phone).map(String::as_str).collect();
        line(format!("  extra: line {}: {}", e.line, ids.join(", ")));
    }
    for c in &f.conflicts {
        line(match c {
            Conflict::SplitInRapport { line, email, phone, by_email, by_phone } => format!(
                "  conflict: line {line}: the export's contact {email} / {phone} is two people in rapport: {by_email} (by email) and {by_phone} (by phone)"
            ),
            Conflict::SplitInExport { person, lines } => format!(
                "  conflict: rapport's person {person} is {} contacts in the export (lines {})",
                lines.len(),
                lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    line(format!(
        "orders: {} on both sides, {} with totals that differ, {} missing from the export, {} extra in the export",
        f.orders_matched,
        f.totals_differ.len(),
        f.orders_missing.len(),
        f.orders_extra.len()
    ));
    for t in &f.totals_differ {
        line(format!(
            "  total differs: order {} (line {}, {}): rapport {}, the export {}",
            t.order_id,
            t.line,
            t.person,
            money(&t.ours),
            money(&t.theirs)
        ));
    }
    for id in &f.orders_missing {
        line(format!("  order missing from the export: {id}"));
    }
    for (number, id) in &f.orders_extra {
        line(format!("  order extra in the export: line {number}: {id}"));
    }
    line(format!("consents: {} differ", f.consents_differ.len()));
    for c in &f.consents_differ {
        line(format!(
            "  consent differs: {} ({}line {}): rapport {}, the export {}",
            c.person,
            c.email.as_ref().map_or(String::new(), |e| format!("{e}, ")),
            c.line,
            c.ours.map_or("no choice", |s| s.as_str()),
            c.theirs.as_str()
        ));
    }
    line(format!(
        "journey messages rapport would have sent: {}",
        match f.journeys.is_empty() {
            true => "none".to_string(),
            false => f
                .journeys
                .iter()
                .map(|(journey, n)| format!("{journey} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    ));
    for m in &f.messages {
        line(format!(
            "  {} to {} at {}",
            m.journey,
            m.person,
            m.at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    out
}

/// One request: a header line (when, method, URL, the work it carried), then its body.
fn text(request: &ShadowRequest) -> String {
    let at = chrono::DateTime::from_timestamp_millis(request.captured_at)
        .map_or_else(|| request.captured_at.to_string(), |t| t.to_rfc3339());
    let work = match (request.outbox_id, request.profile_id) {
        (Some(item), Some(profile)) => format!("{} item {item}, profile {profile}", request.kind),
        _ => format!("{} call of {} items", request.kind, request.items),
    };
    format!(
        "#{} {at} {} {} ({work})\n  {}\n",
        request.id, request.method, request.url, request.body
    )
}
