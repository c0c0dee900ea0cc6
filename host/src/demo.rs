//! `rapport demo`: a sample shop end to end on the embedded SQLite default — a generated POS export
//! served on loopback, polled by the csv-source plugin, delivered by the http-sink plugin to a local
//! catch-hook — followed by a readable summary and a second run that shows nothing is sent twice.

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::store::Summary;
use anyhow::{bail, Context};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::exports::ExportServer;
use rapport_fakes::shop::SampleShop;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory holding `csv-source/` and `http-sink/` plugin packages.
    pub plugins: PathBuf,
    /// Working directory for the config and database (recreated).
    pub dir: PathBuf,
    pub sales: usize,
}

/// Finds the plugin packages, building them with `scripts/build-plugins` when run from a checkout.
pub fn locate_plugins(requested: &Path) -> anyhow::Result<PathBuf> {
    let ready = |dir: &Path| {
        ["csv-source", "http-sink"]
            .iter()
            .all(|p| dir.join(p).join("plugin.wasm").exists())
    };
    if ready(requested) {
        return Ok(requested.to_path_buf());
    }
    let script = Path::new("scripts/build-plugins");
    if script.exists() {
        println!("Building plugins (scripts/build-plugins)…");
        let status = std::process::Command::new("bash")
            .arg(script)
            .status()
            .context("running scripts/build-plugins")?;
        if !status.success() {
            bail!("scripts/build-plugins failed ({status})");
        }
        if ready(requested) {
            return Ok(requested.to_path_buf());
        }
    }
    bail!(
        "plugins not found in {}: build them with scripts/build-plugins or pass --plugins DIR",
        requested.display()
    )
}

/// Runs the demo and prints its summary.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let plugins = locate_plugins(&options.plugins)?;
    let plugins = plugins.canonicalize()?;
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir)
            .with_context(|| format!("clearing {}", options.dir.display()))?;
    }
    std::fs::create_dir_all(&options.dir)?;

    let shop = SampleShop::generate(2026, options.sales, 37);
    let export = shop.to_csv();
    let export_rows = export.lines().count() - 1;
    let exports = ExportServer::start().await?;
    let export_url = exports.publish("sales.csv", export);
    let crm = CaptureServer::start().await?;

    let config_path = options.dir.join("rapport.toml");
    std::fs::write(&config_path, demo_config(&plugins, &export_url, &crm.url()))?;
    let config = Config::load(&config_path)?;
    let pipeline = Pipeline::start(config).await?;

    println!("rapport demo — a coffee shop's POS export into a CRM catch-hook");
    println!(
        "  export: {export_url} ({} receipts, {} customers)",
        shop.receipts.len(),
        shop.customers.len()
    );
    println!("  sink:   {}", crm.url());
    println!("  store:  {}", options.dir.join("rapport.db").display());
    println!();

    let first = pipeline
        .sync_once(Duration::from_secs(5), Duration::from_secs(120))
        .await?;
    let summary = pipeline.store.summary().await?;
    let rejected = pipeline.store.rejected_inputs("pos-export").await?;
    let captured = crm.captured();

    println!("First sync");
    println!("  export rows read:    {export_rows}");
    println!(
        "  events stored:       {} ({} sales, {} refunds; {} anonymous)",
        summary.orders + summary.refunds + summary.customer_updates,
        summary.orders,
        summary.refunds,
        summary.anonymous_events
    );
    println!("  rows rejected:       {}", rejected.len());
    for r in rejected.iter().take(8) {
        println!("    {}: {}", r.locator, r.reason);
    }
    if rejected.len() > 8 {
        println!(
            "    … and {} more (all kept in the store)",
            rejected.len() - 8
        );
    }
    println!("  profiles made:       {}", summary.profiles);
    print_sinks(&summary);
    println!(
        "  CRM now holds:       {} contacts, {} activities",
        captured.profiles.len(),
        captured.activities.len()
    );
    for e in &first.poll_errors {
        println!("  error: {e}");
    }

    let second = pipeline
        .sync_once(Duration::from_secs(5), Duration::from_secs(60))
        .await?;
    let after = crm.captured();
    println!();
    println!("Second sync of the same export");
    println!("  new events:          {}", second.ingested.accepted);
    println!(
        "  new CRM activities:  {}",
        after.activities.len() - captured.activities.len()
    );
    let repeated = after.activity_arrivals.values().filter(|&&n| n > 1).count();
    println!("  activities received twice: {repeated}");
    println!();
    println!("Config and database kept in {}", options.dir.display());
    pipeline.store.close().await;
    if !first.poll_errors.is_empty() || repeated > 0 || first.still_waiting > 0 {
        bail!("the demo did not complete cleanly (see above)");
    }
    Ok(())
}

fn print_sinks(summary: &Summary) {
    for s in &summary.sinks {
        println!(
            "  deliveries to {}: {} profiles, {} activities, {} rejected, {} dead, {} waiting",
            s.sink, s.profiles_delivered, s.activities_delivered, s.rejected, s.dead, s.waiting
        );
    }
}

fn demo_config(plugins: &Path, export_url: &str, hook_url: &str) -> String {
    format!(
        r#"# Written by `rapport demo`.
[store]
database_url = "sqlite://rapport.db"

[runtime]
memory_limit_mib = 64
call_timeout_ms = 10000
cache_dir = "cache"

[server]
listen = "127.0.0.1:0"

# The demo's vendors run on this machine: allow loopback, and nothing else private.
[network]
allow_private = ["127.0.0.1/32"]
# The demo's plugins are local builds, not signed packages: development mode loads them, marked
# DEV-UNSIGNED. A shop configures `[trust] store` instead and installs signed packages.
[trust]
dev = true

[[source]]
id = "pos-export"
plugin = "{csv}"
poll_interval_secs = 60
[source.config]
export_url = "{export_url}"
batch_size = 100

[[sink]]
id = "crm-hook"
plugin = "{sink}"
[sink.config]
url = "{hook_url}"
batch_size = 50
"#,
        csv = plugins.join("csv-source").display(),
        sink = plugins.join("http-sink").display(),
    )
}
