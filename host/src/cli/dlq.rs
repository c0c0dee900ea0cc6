//! `rapport dlq`: the dead-letter queue for operators — list what a vendor refused or what ran out of
//! attempts, look at one item, replay items once the cause is fixed, or discard them for good.

use clap::{Subcommand, ValueEnum};
use rapport_store::{DeadLetter, LetterStatus, Store};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Retries exhausted.
    Dead,
    /// Refused by the vendor.
    Rejected,
}

impl From<StatusArg> for LetterStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Dead => LetterStatus::Dead,
            StatusArg::Rejected => LetterStatus::Rejected,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead (or rejected) items, newest first.
    List {
        #[arg(long)]
        sink: Option<String>,
        #[arg(long, value_enum, default_value = "dead")]
        status: StatusArg,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one item, with the event it carries.
    Show { id: i64 },
    /// Put items back in line with fresh attempts: the given ids, or `--all` of a status (and sink).
    Replay {
        ids: Vec<i64>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        sink: Option<String>,
        #[arg(long, value_enum, default_value = "dead")]
        status: StatusArg,
    },
    /// Discard items for good.
    Discard { ids: Vec<i64> },
}

fn line(l: &DeadLetter) -> String {
    format!(
        "{:>8}  {:<12} {:<8} {:<8} attempts {:<3} {}",
        l.id,
        l.sink,
        l.kind,
        l.status,
        l.attempts,
        l.error.as_deref().unwrap_or("")
    )
}

/// Runs a `dlq` subcommand against `store`, printing what it did.
pub async fn run(store: &Store, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List {
            sink,
            status,
            limit,
        } => {
            let letters = store
                .dead_letters(sink.as_deref(), status.into(), limit)
                .await?;
            if letters.is_empty() {
                println!("no {status:?} items");
            }
            for l in &letters {
                println!("{}", line(l));
            }
        }
        DlqCommand::Show { id } => {
            let letter = store
                .dead_letter(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no dead, rejected or discarded item {id}"))?;
            println!("{}", line(&letter));
            println!("idempotency key: {}", letter.idempotency_key);
            println!("profile:         {}", letter.profile_key);
            if let Some(event) = &letter.event {
                println!("event:           {event}");
            }
        }
        DlqCommand::Replay {
            ids,
            all,
            sink,
            status,
        } => {
            let ids = match (all, ids.is_empty()) {
                (true, true) => {
                    store
                        .dead_letter_ids(sink.as_deref(), status.into())
                        .await?
                }
                (false, false) => ids,
                _ => anyhow::bail!("give item ids, or --all (optionally with --sink and --status)"),
            };
            let moved = store.replay_dead_letters(&ids).await?;
            println!("{moved} of {} items put back in line", ids.len());
        }
        DlqCommand::Discard { ids } => {
            anyhow::ensure!(!ids.is_empty(), "give the ids of the items to discard");
            let moved = store.discard_dead_letters(&ids).await?;
            println!("{moved} of {} items discarded", ids.len());
        }
    }
    Ok(())
}
