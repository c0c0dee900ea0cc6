//! `rapport retention`: apply the `[retention]` periods now, or see what applying them would remove
//! (`--dry-run`), without waiting for the daemon's next run.

use clap::Subcommand;
use rapport_core::governance::retention::Mode;
use rapport_host::config::Config;
use rapport_host::governance::retention;
use rapport_store::Store;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete, or summarise, every record past its retention period, and say what was done.
    Run {
        /// Count what would be removed, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `retention` subcommand against `store`, printing what it did.
pub async fn run(config: &Config, store: &Store, command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Run { dry_run } => {
            let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
            let report = retention::run(store, &config.retention, chrono::Utc::now(), mode).await?;
            print!("{report}");
            if report.total() == 0 {
                println!("nothing is past its retention period");
            }
        }
    }
    Ok(())
}
