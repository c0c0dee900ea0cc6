//! The one-shot commands over a started pipeline: `rapport sync` (poll every source once and
//! deliver what is due), `rapport import` (upload a file through a source) and `rapport status`;
//! and `rapport sync --dry-run`, which starts no pipeline (see `rapport_host::dry_run`).

use rapport_core::clock::SystemClock;
use rapport_host::config::Config;
use rapport_host::delivery::dry_run::Verdict;
use rapport_host::dry_run::DryRun;
use rapport_host::ingest::push::PushPolicy;
use rapport_host::pipeline::Pipeline;
use std::path::Path;
use std::time::Duration;

/// Polls every source once, delivers what is due within `timeout`, and prints what happened.
pub async fn sync(pipeline: &Pipeline, timeout: Duration) -> anyhow::Result<()> {
    let report = pipeline.sync_once(timeout, timeout).await?;
    println!(
        "accepted {} events ({} duplicates, {} rejected); {} work items still waiting; \
         {} sink erasures pending",
        report.ingested.accepted,
        report.ingested.duplicates,
        report.ingested.rejected,
        report.still_waiting,
        report.erasures_pending
    );
    for e in &report.poll_errors {
        println!("poll error: {e}");
    }
    print_status(pipeline).await?;
    anyhow::ensure!(
        report.poll_errors.is_empty(),
        "some sources could not be polled"
    );
    Ok(())
}

/// Prints what a sync of `config` would send, change, withhold and refuse per sink, as a table and
/// item lines, or as JSON; sends and records nothing.
pub async fn dry_run(config: Config, json: bool) -> anyhow::Result<()> {
    let report = rapport_host::dry_run::run(config, SystemClock::shared()).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", dry_run_text(&report)),
    }
    Ok(())
}

/// The dry run for people: what it covers, then per sink a small table and one line per item not
/// simply sent (withheld or refused, with the person and the reason).
fn dry_run_text(report: &DryRun) -> String {
    let mut out = format!(
        "dry run: {}
",
        report.scope
    );
    for sink in &report.sinks {
        let p = &sink.preview;
        out += &format!("\nsink {} ({})\n", p.sink, sink.mode.as_str());
        for first in &sink.first {
            out += &format!("  first: {first}\n");
        }
        out += &format!(
            "  {:<20} {:>6}  ({} requests; {} people's records created or updated)\n",
            "would send",
            p.send,
            p.requests.len(),
            p.changed
        );
        out += &format!("  {:<20} {:>6}\n", "withheld", p.withheld);
        out += &format!(
            "  {:<20} {:>6}\n",
            "refused by rapport", p.refused_by_rapport
        );
        out += &format!("  {:<20} {:>6}\n", "refused by plugin", p.refused_by_plugin);
        for item in p.items.iter().filter(|i| i.verdict != Verdict::Send) {
            let verdict = match item.verdict {
                Verdict::Send => "send",
                Verdict::Withheld => "withheld",
                Verdict::RefusedByRapport => "refused by rapport",
                Verdict::RefusedByPlugin => "refused by plugin",
            };
            out += &format!(
                "  {verdict:<20} {:<8} {}: {}\n",
                item.kind,
                item.person,
                item.reason.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// Uploads `body` (the file at `file`) through `source`'s plugin, as history if `history` says so
/// (no journeys), under the source's `[server.sources.<id>]` rules, and prints what was stored and what was rejected, with each rejected row's
/// reason.
pub async fn import(
    pipeline: &Pipeline,
    source: &str,
    file: &Path,
    body: Vec<u8>,
    history: bool,
) -> anyhow::Result<()> {
    // This command opens the database itself, so it needs no upload token; the source's consent
    // rule and the inbox cap of `[server]` apply as they do to uploads over HTTP.
    let headers = vec![("content-type".into(), "text/csv".into())];
    let policy = PushPolicy::of(&pipeline.config.server, source);
    let report = pipeline
        .intake
        .receive(source, headers, body, history, policy)
        .await?;
    println!(
        "{}: accepted {} events, {} duplicates, {} rejected",
        file.display(),
        report.accepted,
        report.duplicates,
        report.rejected
    );
    for r in pipeline
        .store
        .rejected_inputs(source)
        .await?
        .iter()
        .rev()
        .take(report.rejected)
        .rev()
    {
        println!("  {}: {}", r.locator, r.reason);
    }
    Ok(())
}

/// Prints the store's figures, each sink's deliveries and operations figures, and each plugin's
/// provenance and health.
pub async fn print_status(pipeline: &Pipeline) -> anyhow::Result<()> {
    let s = pipeline.store.summary().await?;
    let states = &s.orders_by_state;
    println!(
        "store: {} orders ({} completed, {} open, {} cancelled), {} refunds, {} customer updates, {} rejected inputs, {} profiles",
        s.orders,
        states.completed,
        states.open,
        states.canceled,
        s.refunds,
        s.customer_updates,
        s.rejected_inputs,
        s.profiles
    );
    let waiting = (pipeline.store.privacy_requests().await?.iter())
        .filter(|r| r.confirmed_at.is_none() && r.handled_at.is_none())
        .count();
    if waiting > 0 {
        println!(
            "privacy: {waiting} request(s) to forget a person waiting for your confirmation (rapport privacy list)"
        );
    }
    for sink in &s.sinks {
        println!(
            "sink {}: {} profiles, {} activities and {} consent changes delivered, {} withheld for consent, {} rejected, {} dead, {} waiting",
            sink.sink,
            sink.profiles_delivered,
            sink.activities_delivered,
            sink.consents_delivered,
            sink.withheld,
            sink.rejected,
            sink.dead,
            sink.waiting
        );
        if let Some(pause) = &sink.pause {
            let until = chrono::DateTime::from_timestamp_millis(pause.until)
                .map_or_else(|| pause.until.to_string(), |t| t.to_rfc3339());
            println!(
                "sink {} {} until {until}: {}",
                sink.sink,
                match pause.needs_attention {
                    true => "NEEDS ATTENTION, paused",
                    false => "paused",
                },
                pause.reason
            );
        }
        if pipeline.routes.journeys.iter().any(|j| j.sink == sink.sink) {
            println!(
                "sink {} journeys: {} messages sent, {} waiting for their time, {} dropped by a frequency cap",
                sink.sink, sink.messages_delivered, sink.messages_delayed, sink.messages_dropped
            );
        }
    }
    super::status::print_operations(pipeline).await?;
    for c in pipeline.connectors.reports() {
        println!(
            "{} {}: plugin {} generation {} ({}), {:?}, {} faults, {} requests sent, {} denied",
            c.role,
            c.connector,
            c.plugin,
            c.generation,
            c.provenance,
            c.health.state,
            c.health.faults,
            c.requests.sent,
            c.requests.denied
        );
    }
    Ok(())
}
