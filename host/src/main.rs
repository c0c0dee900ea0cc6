//! The `rapport` command line: the daemon, one-shot sync, file import, status, the go-live check, plugin
//! packages (`rapport plugin …`), the retention job, the data policy, forgetting a person and the
//! identity graph (`rapport identity …`), backups (`rapport export`, `rapport restore`).

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "POS transactions into customer relationships"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to start the host.
#[derive(clap::Args)]
struct HostArgs {
    #[arg(long, default_value = "rapport.toml")]
    config: PathBuf,
    /// Development mode: load unsigned local plugins too (they are marked DEV-UNSIGNED everywhere).
    #[arg(long)]
    dev: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Apply the config file in the running daemon now (it also applies an edit by itself, unless
    /// a `[[freeze]]` is in force); --force goes through a freeze.
    Apply {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll sources, receive webhooks, deliver to sinks until SIGTERM or Ctrl-C.
    Run {
        #[command(flatten)]
        host: HostArgs,
    },
    /// Poll every source once and deliver everything due, then exit.
    Sync {
        #[command(flatten)]
        host: HostArgs,
        /// Give up waiting for retries after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// Say what would be sent, changed, withheld and refused per sink, sending and recording
        /// nothing (polls no source: covers the work already queued and due).
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print it as JSON.
        #[arg(long, requires = "dry_run")]
        json: bool,
    },
    /// Push an exported file (CSV, JSONL) through a source, as an upload.
    Import {
        #[command(flatten)]
        host: HostArgs,
        /// The configured source to read the file.
        #[arg(long)]
        source: String,
        /// The file is past sales: fill profiles and the CRM, start no journey.
        #[arg(long)]
        history: bool,
        file: PathBuf,
    },
    /// Print what the store holds and how each connector is doing.
    Status {
        #[command(flatten)]
        host: HostArgs,
        /// Print the store's and the operations figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The go-live check: config, secrets, database, each plugin against its vendor, clock and
    /// disk, one line each with a verdict; exits non-zero if a line fails.
    Check {
        #[command(flatten)]
        host: HostArgs,
        /// Print the lines as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show a vendor swap as it runs: each new sink's backfill as a progress bar, and what each
    /// sink being retired (`retire = true`) still owes.
    Swap {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// Redraw until every backfill and retirement is done.
        #[arg(long)]
        follow: bool,
    },
    /// Forget a person (right to be forgotten): remove their PII here and have every sink erase them.
    Forget {
        #[command(flatten)]
        host: HostArgs,
        /// The person: an email address, a phone number, a vendor customer id (source:id), or a
        /// profile key (p-…) or id.
        #[arg(required_unless_present = "status", conflicts_with = "status")]
        who: Option<String>,
        /// List the erasure log instead (it holds no PII): each erasure and each sink's part.
        #[arg(long)]
        status: bool,
        /// With --status: how many erasures to list, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Run a sample shop end to end on SQLite and print a summary.
    /// Publisher keys and plugin packages (keygen, pack, sign, verify, install), and the running
    /// daemon's plugin generations (list, rollback, disable, enable).
    Plugin {
        #[command(subcommand)]
        command: cli::plugin::PluginCommand,
    },
    /// The running daemon's config: `apply` it now (a `[[freeze]]` in force refuses unless --force).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The go-live playbook, one page from the config: what runs where, who to call, the freezes,
    /// and the exact rollback commands.
    Playbook {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
    },
    /// The dead-letter queue: work a vendor refused or that ran out of attempts.
    Dlq {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::dlq::DlqCommand,
    },
    /// Retention: delete or summarise records past the periods in [retention].
    Retention {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::retention::RetentionCommand,
    },
    /// The identity graph: show a person and their merges, merge two profiles, undo a merge.
    Identity {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::identity::IdentityCommand,
    },
    /// One person as the counter (`--view staff`) or a marketer sees them; their service issues.
    Profile {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::profile::ProfileCommand,
    },
    /// A journey's experiment: `report NAME` compares its arms (rate, 95% interval, lift, p-value).
    Experiment {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::experiment::ExperimentCommand,
    },
    /// The shop's buyers per RFM segment, with what each segment is worth.
    Segments {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Business metrics of [--from, --to) beside the period before: repeat purchases, visits,
    /// time to a second order, lifetime value, attachment, pairs, segments, journeys, experiments.
    Metrics {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// The first day (YYYY-MM-DD, the shop's time zone); default 30 days before --to.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// The day after the last one (not included); default tomorrow, so today is the last.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Print the metrics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work out which products (or categories) sell together, store the rules and list them, best
    /// first; below the minimum of baskets, say how far the shop is from it and exit non-zero.
    Pairs {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// `product` (a line's sku, else its name) or `category`.
        #[arg(long, default_value = "product")]
        by: rapport_core::pairs::PairsBy,
        #[arg(long)]
        json: bool,
    },
    /// Privacy requests: list them; confirm or decline a person's own "forget me" from the
    /// preference page, which waits for the operator.
    Privacy {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::privacy::PrivacyCommand,
    },
    /// Tokens of the HTTP surface: create (printed once), list, revoke.
    Token {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: cli::token::TokenCommand,
    },
    /// Fit the customer-base models (BG/NBD, Gamma-Gamma) on the shop's history, record the fit
    /// and print it; below rapport's minimum data, say how far the shop is from it and exit non-zero.
    Predict {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// Fit on the history up to and including this day (YYYY-MM-DD, the shop's time zone);
        /// default today.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        /// Print the fit as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the shop's data policy, in plain language, from the config.
    Policy {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
    },
    /// Say for one person what each sink has received and would receive, and why: the consents
    /// in force, fields held back, caps and quiet hours, journey eligibility, merges.
    Explain {
        #[command(flatten)]
        host: HostArgs,
        /// The person: an email address, a phone number, a vendor customer id (source:id), a
        /// loyalty number (loyalty:NUMBER), or a profile key (p-…) or id.
        who: String,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A pilot beside the current integration: `report` compares what a (shadow) sink was given
    /// with an export of the current tool.
    Pilot {
        #[arg(long, global = true, default_value = "rapport.toml")]
        config: PathBuf,
        /// Development mode: load unsigned local plugins too.
        #[arg(long, global = true)]
        dev: bool,
        #[command(subcommand)]
        command: cli::pilot::PilotCommand,
    },
    /// Write a backup of the store (JSONL: a header, then every row) to FILE (`-`: standard
    /// output); safe beside a running daemon.
    Export {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        file: PathBuf,
    },
    /// Load a backup into an empty store (a new database), all of it or nothing.
    Restore {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        file: PathBuf,
    },
}

/// Logs to stderr at `RAPPORT_LOG` (or `default`): JSON lines with `RAPPORT_LOG_FORMAT=json`,
/// text otherwise, coloured only when stderr is a terminal.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("RAPPORT_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { host } => {
            init_logging("info");
            let (stop, shutdown) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping: finishing work in flight");
                let _ = stop.send(true);
            });
            rapport_host::daemon::serve(&host.config, host.dev, shutdown).await
        }
        Command::Sync {
            host,
            dry_run: true,
            json,
            ..
        } => {
            init_logging("warn");
            cli::oneshot::dry_run(load(&host)?, json).await
        }
        Command::Sync {
            host, timeout_secs, ..
        } => {
            init_logging("warn");
            let pipeline = start(&host).await?;
            let result = cli::oneshot::sync(&pipeline, Duration::from_secs(timeout_secs)).await;
            pipeline.store.close().await;
            result
        }
        Command::Import {
            host,
            source,
            history,
            file,
        } => {
            init_logging("warn");
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let pipeline = start(&host).await?;
            let result = cli::oneshot::import(&pipeline, &source, &file, body, history).await;
            pipeline.store.close().await;
            result
        }
        Command::Status { host, json } => {
            init_logging("warn");
            let pipeline = start(&host).await?;
            let result = match json {
                true => cli::status::json(&pipeline)
                    .await
                    .map(|figures| println!("{figures:#}")),
                false => match cli::status::print_north_star(&pipeline).await {
                    Ok(()) => {
                        cli::status::print_go_live(&pipeline);
                        cli::oneshot::print_status(&pipeline).await
                    }
                    Err(e) => Err(e),
                },
            };
            pipeline.store.close().await;
            result
        }
        Command::Check { host, json } => {
            init_logging("error");
            let lines = rapport_host::check::run(&host.config, host.dev).await;
            match json {
                true => println!("{:#}", cli::check::json(&lines)),
                false => print!("{}", cli::check::table(&lines)),
            }
            if rapport_core::readiness::failed(lines.iter().map(|l| l.verdict)) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Swap { config, follow } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::swap::run(&config, &store, follow).await;
            store.close().await;
            result
        }
        Command::Forget {
            host,
            who,
            status,
            limit,
        } => {
            init_logging("warn");
            if status {
                let config = Config::load(&host.config)?;
                let store = rapport_store::Store::open(&config.store.database_url).await?;
                let result = cli::forget::print_log(&store, limit).await;
                store.close().await;
                return result;
            }
            let pipeline = start(&host).await?;
            let who = who.expect("clap requires a person unless --status is given");
            let result = cli::forget::forget_person(&pipeline, &who).await;
            pipeline.store.close().await;
            result
        }
        Command::Dlq { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::dlq::run(&store, command).await;
            store.close().await;
            result
        }
        Command::Retention { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::retention::run(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::Identity { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::identity::run(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::Profile { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::profile::run(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::Experiment { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::experiment::run(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::Segments { config, json } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::profile::print_segments(&store, json).await;
            store.close().await;
            result
        }
        Command::Metrics {
            config,
            from,
            to,
            json,
        } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let clock = rapport_core::clock::SystemClock::shared();
            let result = cli::metrics::run(&config, &store, clock, from, to, json).await;
            store.close().await;
            result
        }
        Command::Pairs { config, by, json } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::pairs::run(&config, &store, by, json).await;
            store.close().await;
            result
        }
        Command::Privacy { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::privacy::run(&store, command).await;
            store.close().await;
            result
        }
        Command::Token { config, command } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::token::run(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::Predict {
            config,
            as_of,
            json,
        } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::predict::run(&config, &store, as_of, json).await;
            store.close().await;
            result
        }
        Command::Policy { config: path } => {
            init_logging("warn");
            let config = Config::load(&path)?;
            print!(
                "{}",
                rapport_host::governance::policy::render(&config, &path)
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Apply { config, force },
        } => {
            init_logging("warn");
            cli::generations::apply_config(&config, force).await
        }
        Command::Playbook { config } => {
            init_logging("warn");
            let path = std::path::absolute(&config)?;
            let config = Config::load(&path)?;
            let now = chrono::Utc::now();
            print!("{}", rapport_host::playbook::render(&config, &path, now));
            Ok(())
        }
        Command::Explain { host, who, json } => {
            init_logging("warn");
            let pipeline = start(&host).await?;
            let result = cli::explain::run(&pipeline, &who, json).await;
            pipeline.store.close().await;
            result
        }
        Command::Export { config, file } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::backup::export(&store, &file).await;
            store.close().await;
            result
        }
        Command::Restore { config, file } => {
            init_logging("warn");
            let config = Config::load(&config)?;
            let store = rapport_store::Store::open(&config.store.database_url).await?;
            let result = cli::backup::restore(&store, &file).await;
            store.close().await;
            result
        }
        Command::Pilot {
            config,
            dev,
            command,
        } => {
            init_logging("warn");
            let pipeline = start(&HostArgs { config, dev }).await?;
            let result = cli::pilot::run(&pipeline, command).await;
            pipeline.store.close().await;
            result
        }
        Command::Plugin {
            command: cli::plugin::PluginCommand::Test(test),
        } => {
            let logs = rapport_host::conformance::logs::install("warn");
            cli::plugin::test(test, &logs).await
        }
        Command::Plugin { command } => {
            init_logging("warn");
            if let Err(failure) = cli::plugin::run(command).await {
                eprintln!("{failure}");
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn start(host: &HostArgs) -> anyhow::Result<Pipeline> {
    Pipeline::start(load(host)?).await
}

/// The config `host` names, with `--dev` applied.
fn load(host: &HostArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(&host.config)?;
    config.trust.dev |= host.dev;
    Ok(config)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
