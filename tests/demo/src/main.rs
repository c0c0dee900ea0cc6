//! `rapport-demo` (what `scripts/demo` runs): the demo shop end to end, exiting non-zero unless
//! HubSpot ends up holding what the shop says it should.

use clap::Parser;
use rapport_demo::{DemoOptions, DEFAULT_SALES};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rapport-demo",
    about = "A simulated coffee shop on Square, its customers in HubSpot, through rapport"
)]
struct Args {
    /// Directory holding the `square-source/` and `hubspot-sink/` plugin packages.
    #[arg(long, default_value = "target/plugins")]
    plugins: PathBuf,
    /// Working directory for the config, secrets and database (recreated).
    #[arg(long, default_value = "rapport-demo")]
    dir: PathBuf,
    /// Sales in the shop's history.
    #[arg(long, default_value_t = DEFAULT_SALES)]
    sales: usize,
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
        sales: args.sales,
    })
    .await?;
    if !outcome.problems.is_empty() {
        anyhow::bail!(
            "the demo did not complete cleanly: {}",
            outcome.problems.join("; ")
        );
    }
    Ok(())
}
