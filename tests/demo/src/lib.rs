//! The demo shop (`scripts/demo`): a coffee shop's year end to end on the embedded SQLite default.
//! The Square simulator holds a year of sales, refunds, customers, a cancelled order and one
//! person under two customer records; rapport polls it, fits its predictions, then new sales
//! arrive as signed Square webhooks (one replayed, one forged) while Square merges the person's
//! two records. Everything reaches the HubSpot simulator through the real plugins, and the
//! journeys' messages the shop's mailer. The summary says what was read, stored, refused,
//! delivered and worked out, and checks it against what HubSpot and the mailer now hold.
//!
//! [`run`] leaves the daemon serving (HTTP API, dashboard, webhooks) so `--serve` and the tests
//! can use it; [`Served::shutdown`] stops it.
//!
//! It lives outside the production dependency graph: the `rapport` binary links no simulator.

mod config;
mod live;
mod report;

pub use config::{THANKS, WIN_BACK};
pub use live::WebhookAnswers;

use anyhow::{bail, Context};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::hubspot::HubSpotSim;
use rapport_fakes::square::SquareServer;
use rapport_fakes::year::YearShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_host::predictions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const PLUGINS: [&str; 3] = ["square-source", "hubspot-sink", "http-sink"];

/// The seed of the demo shop's year when none is asked for.
pub const DEFAULT_SEED: u64 = 2026;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory holding the `square-source/`, `hubspot-sink/` and `http-sink/` plugin packages.
    pub plugins: PathBuf,
    /// Working directory for the config, secrets and database (recreated).
    pub dir: PathBuf,
    /// Seed of the shop's year (the same seed on the same day makes the same year).
    pub seed: u64,
}

/// Finds the plugin packages, building them with `scripts/build-plugins` when run from a checkout.
pub fn locate_plugins(requested: &Path) -> anyhow::Result<PathBuf> {
    let ready = |dir: &Path| {
        PLUGINS
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

/// What the demo left behind: the year it simulated, the CRM and mailer (still serving), how the
/// host answered the webhooks, and the daemon, still running, so a caller can check what HubSpot,
/// the mailer and rapport's own API hold against the year for itself.
pub struct DemoOutcome {
    pub year: YearShop,
    pub crm: HubSpotSim,
    /// The shop's mailer, where journey messages go.
    pub mailer: CaptureServer,
    pub answers: WebhookAnswers,
    /// What did not complete cleanly, in words; empty when everything did.
    pub problems: Vec<String>,
    pub served: Served,
}

/// The daemon the demo left running, and the Square simulator it polls.
pub struct Served {
    pub pipeline: Arc<Pipeline>,
    /// `http://127.0.0.1:PORT`: the webhooks, the API and the dashboard.
    pub base_url: String,
    stop: watch::Sender<bool>,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    _square: SquareServer,
}

impl Served {
    /// A new admin token for the HTTP API and the dashboard's login, as `rapport token create
    /// --role admin` makes one (only its hash is stored).
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let role = rapport_host::admin::tokens::Role::Admin;
        let issued = rapport_host::admin::tokens::create(&self.pipeline.store, &role, "demo")
            .await
            .context("making an admin token")?;
        Ok(issued.token)
    }

    /// Stops the daemon, finishing the work in flight, and closes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.send(true).ok();
        self.daemon.await??;
        self.pipeline.store.close().await;
        Ok(())
    }
}

/// Runs the demo and prints its summary; the daemon keeps running in the outcome.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let plugins = locate_plugins(&options.plugins)?.canonicalize()?;
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir)
            .with_context(|| format!("clearing {}", options.dir.display()))?;
    }
    std::fs::create_dir_all(&options.dir)?;

    let year = YearShop::generate(options.seed, rapport_fakes::time::now_unix());
    let square = SquareServer::start(config::SQUARE_TOKEN).await?;
    year.load(&square);
    let crm = HubSpotSim::start().await?;
    let mailer = CaptureServer::start().await?;

    config::write_secrets(&options.dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config_path = options.dir.join("rapport.toml");
    std::fs::write(
        &config_path,
        config::demo_config(&config::Endpoints {
            plugins: &plugins,
            square: &square,
            crm: &crm,
            mailer_url: &mailer.url(),
            port,
        }),
    )?;
    let pipeline = Arc::new(Pipeline::start(Config::load(&config_path)?).await?);
    report::header(&year, &square, &crm, &mailer, &options.dir);

    // The history, by polling: the stream's first sync fills profiles and starts no journey.
    let first = pipeline
        .sync_once(Duration::from_secs(5), Duration::from_secs(120))
        .await?;
    let polled = pipeline.store.summary().await?;
    report::polled(&polled);

    // The daemon's first refit, then its planning of the journeys from the fit.
    let now = pipeline.clock.now();
    let zone = pipeline.config.shop.time_zone;
    let refit =
        predictions::refit(&pipeline.store, zone, predictions::today(now, zone), now).await?;
    pipeline.replan_journeys().await?;
    report::fit(&refit);

    // New sales, by webhook, while the daemon runs.
    let (stop, shutdown) = watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    wait_for_port(port).await?;
    let base_url = format!("http://127.0.0.1:{port}");
    let answers = live::send(&square, &year, &format!("{base_url}/webhooks/square")).await?;
    let settled = settle(&pipeline, Duration::from_secs(120)).await?;
    let summary = pipeline.store.summary().await?;
    report::live(&answers, &polled, &summary);

    let facts = report::facts(&pipeline).await?;
    report::shop(&facts, &refit);
    let people = facts.segments.buyers;
    let mut problems: Vec<String> = (first.poll_errors.iter())
        .map(|e| format!("poll error: {e}"))
        .collect();
    if !settled {
        problems.push("the sinks still owed work after two minutes".into());
    }
    problems.extend(report::checks(
        &year, &crm, &mailer, &answers, &summary, people,
    ));
    println!();
    println!(
        "Config, secrets and database kept in {}",
        options.dir.display()
    );
    Ok(DemoOutcome {
        year,
        crm,
        mailer,
        answers,
        problems,
        served: Served {
            pipeline,
            base_url,
            stop,
            daemon,
            _square: square,
        },
    })
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the webhook server did not start on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until every journey wait due by now has been let in and no sink owes anything; false if
/// `limit` passed first.
async fn settle(pipeline: &Pipeline, limit: Duration) -> anyhow::Result<bool> {
    let started = Instant::now();
    while started.elapsed() < limit {
        pipeline.run_journeys().await?;
        let due = (pipeline.store.next_journey_due().await?)
            .is_some_and(|at| at <= pipeline.clock.now_ms());
        let owed = (pipeline.store.summary().await?.sinks.iter()).any(|s| s.waiting > 0);
        if !due && !owed {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}
