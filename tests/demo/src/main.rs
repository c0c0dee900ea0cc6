//! `rapport-demo` (what `scripts/demo` runs): the demo shop's year end to end, exiting non-zero
//! unless HubSpot and the mailer end up holding what the shop says they should. With `--serve`
//! the daemon stays up afterwards, with its dashboard and API, until Ctrl-C.

use clap::Parser;
use rapport_demo::{DemoOptions, DEFAULT_SEED};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rapport-demo",
    about = "A simulated coffee shop's year on Square, its customers in HubSpot, through rapport"
)]
struct Args {
    /// Directory holding the `square-source/`, `hubspot-sink/` and `http-sink/` plugin packages.
    #[arg(long, default_value = "target/plugins")]
    plugins: PathBuf,
    /// Working directory for the config, secrets and database (recreated).
    #[arg(long, default_value = "rapport-demo")]
    dir: PathBuf,
    /// Seed of the shop's year.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Keep the daemon running after the demo: print the dashboard's URL and an admin token, and
    /// serve until Ctrl-C.
    #[arg(long)]
    serve: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let outcome = rapport_demo::run(DemoOptions {
        plugins: args.plugins,
        dir: args.dir,
        seed: args.seed,
    })
    .await?;
    let served = outcome.served;
    if !outcome.problems.is_empty() {
        served.shutdown().await?;
        anyhow::bail!(
            "the demo did not complete cleanly: {}",
            outcome.problems.join("; ")
        );
    }
    if args.serve {
        let token = served.admin_token().await?;
        println!();
        println!("Dashboard: {}/", served.base_url);
        println!("Admin token (log in with it at {}/login, or send it as Authorization: Bearer): {token}", served.base_url);
        println!("Serving until Ctrl-C.");
        tokio::signal::ctrl_c().await?;
        println!("Stopping.");
    }
    served.shutdown().await
}
