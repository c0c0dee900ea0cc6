//! `rapport privacy list | confirm ID | decline ID`: the privacy requests the host holds. Vendors'
//! requests come confirmed and are carried out by the daemon (or `rapport sync`) within seconds; a
//! person's own "forget me" from the preference page waits here until the operator confirms it
//! (then it is carried out the same way) or declines it (then nothing happens). Lists name people
//! by their profile key only, never by what identifies them.

use chrono::DateTime;
use clap::Subcommand;
use rapport_core::clock::{Clock, SystemClock};
use rapport_store::privacy_requests::{self, RequestRecord};
use rapport_store::Store;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Every request: id, when it came, from where, its kind and where it stands.
    List,
    /// Confirm a request waiting for you: the daemon (or the next `rapport sync`) carries it out.
    Confirm { id: i64 },
    /// Decline a request waiting for you: it is closed and nothing is done.
    Decline { id: i64 },
}

/// Runs a `privacy` subcommand against `store`.
pub async fn run(store: &Store, command: PrivacyCommand) -> anyhow::Result<()> {
    let now = SystemClock.now_ms();
    match command {
        PrivacyCommand::List => {
            let requests = store.privacy_requests().await?;
            if requests.is_empty() {
                println!("no privacy requests");
            }
            for r in &requests {
                println!(
                    "{:>5}  {}  {} {} ({})  {}",
                    r.id,
                    time(r.received_at),
                    r.source_id,
                    r.request_id,
                    r.kind.as_str(),
                    standing(r)
                );
            }
        }
        PrivacyCommand::Confirm { id } => {
            let mut tx = store.begin().await?;
            let confirmed = privacy_requests::confirm(&mut tx, id, now).await?;
            tx.commit().await?;
            anyhow::ensure!(
                confirmed,
                "privacy request {id} is not waiting for confirmation (see `rapport privacy list`)"
            );
            println!(
                "confirmed: the running daemon (or the next `rapport sync`) carries out request {id} within seconds"
            );
        }
        PrivacyCommand::Decline { id } => {
            let mut tx = store.begin().await?;
            let outcome = "declined by the operator: nothing was done";
            let declined = privacy_requests::decline(&mut tx, id, outcome, now).await?;
            tx.commit().await?;
            anyhow::ensure!(
                declined,
                "privacy request {id} is not waiting for confirmation (see `rapport privacy list`)"
            );
            println!("declined: request {id} is closed and nothing was done");
        }
    }
    Ok(())
}

/// Where a request stands, in words.
fn standing(r: &RequestRecord) -> String {
    match (r.confirmed_at, r.handled_at, &r.outcome) {
        (_, Some(_), Some(outcome)) => outcome.clone(),
        (_, Some(at), None) => format!("done {}", time(at)),
        (None, None, _) => format!(
            "WAITING for your confirmation: rapport privacy confirm {} (or decline {})",
            r.id, r.id
        ),
        (Some(_), None, _) => "confirmed; to be carried out".to_string(),
    }
}

fn time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
