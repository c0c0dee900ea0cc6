//! `rapport forget`: the right to be forgotten for operators — forget one person (scrubbed locally,
//! each sink asked once right away and then by the daemon until it confirms), or list the erasure
//! log, which holds no PII.

use rapport_core::identity::Normalizer;
use rapport_host::governance::erasure::Attempt;
use rapport_host::governance::forget::{self, Forgotten};
use rapport_host::pipeline::Pipeline;
use rapport_store::{ErasureRecord, ErasureStatus, Store};

/// Forgets the person `who` names and prints what happened at each sink.
pub async fn forget_person(pipeline: &Pipeline, who: &str) -> anyhow::Result<()> {
    let normalizer = Normalizer::new(pipeline.config.shop.region, &pipeline.config.identity);
    let sinks = pipeline.connectors.sink_ids();
    let report = match forget::forget(&pipeline.store, &normalizer, who, &sinks).await? {
        Forgotten::Already {
            profile_key,
            erasures,
        } => {
            println!(
                "profile {profile_key} was already forgotten (erasure {}); nothing changed",
                join(erasures.iter())
            );
            for record in pipeline.store.erasures(erasures.last().copied(), 1).await? {
                print_record(&record);
            }
            return Ok(());
        }
        Forgotten::Now(report) => report,
    };
    println!(
        "forgot profile {} locally (erasure {}): {} identities, {} consents, {} events scrubbed; \
         {} rejected inputs and {} webhook deliveries removed; {} outbox items cancelled",
        report.profile_key,
        report.erasure_id,
        report.identities,
        report.consents,
        report.events,
        report.rejected_inputs,
        report.webhooks,
        report.outbox_items
    );
    let attempts = pipeline
        .erasure_worker()
        .step(Some(report.erasure_id))
        .await?;
    for (sink, attempt) in &attempts {
        match attempt {
            Attempt::Confirmed => println!("sink {sink}: confirmed"),
            Attempt::Pending { reason, .. } => println!("sink {sink}: pending ({reason})"),
        }
    }
    let record = pipeline.store.erasures(Some(report.erasure_id), 1).await?;
    let waiting: Vec<&str> = record
        .iter()
        .flat_map(|r| &r.sinks)
        .filter(|s| s.status == ErasureStatus::Pending)
        .map(|s| s.sink.as_str())
        .collect();
    for sink in waiting
        .iter()
        .filter(|s| !attempts.iter().any(|(a, _)| a == *s))
    {
        println!("sink {sink}: pending (waits for a delivery already in flight to end)");
    }
    if waiting.is_empty() {
        println!("every sink confirmed: the erasure is complete");
    } else {
        println!(
            "{} sink(s) pending: `rapport run` (or `rapport sync`) retries them until they confirm; \
             see `rapport forget --status`",
            waiting.len()
        );
    }
    Ok(())
}

/// Prints the erasure log, newest first.
pub async fn print_log(store: &Store, limit: i64) -> anyhow::Result<()> {
    let log = store.erasures(None, limit).await?;
    if log.is_empty() {
        println!("no erasures");
    }
    for record in &log {
        print_record(record);
    }
    Ok(())
}

fn print_record(r: &ErasureRecord) {
    println!(
        "erasure {} of profile {}: requested {}, {}",
        r.id,
        r.profile_key,
        time(r.requested_at),
        r.completed_at
            .map_or("pending".to_string(), |at| format!("complete {}", time(at)))
    );
    for s in &r.sinks {
        match s.status {
            ErasureStatus::Confirmed => println!(
                "  sink {}: confirmed {} after {} attempt(s)",
                s.sink,
                s.confirmed_at.map_or(String::new(), time),
                s.attempts
            ),
            ErasureStatus::Pending => println!(
                "  sink {}: pending after {} attempt(s), next {}{}",
                s.sink,
                s.attempts,
                time(s.next_attempt_at),
                s.last_error
                    .as_deref()
                    .map_or(String::new(), |e| format!("; last error: {e}"))
            ),
        }
    }
}

pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn join<'a>(ids: impl Iterator<Item = &'a i64>) -> String {
    ids.map(i64::to_string).collect::<Vec<_>>().join(", ")
}
