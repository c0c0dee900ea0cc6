//! The demo shop (`scripts/demo`): a simulated shop end to end on the embedded SQLite default. The
//! Square simulator holds a few weeks of sales, refunds and customers; rapport polls them, then new
//! sales arrive as signed Square webhooks (one replayed, one forged), and everything reaches the
//! HubSpot simulator through the real plugins. The summary says what was read, stored, refused and
//! delivered, and checks it against what HubSpot now holds.
//!
//! It lives outside the production dependency graph: the `rapport` binary links no simulator.

use anyhow::{bail, Context};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::shop::{Receipt, SampleShop};
use rapport_fakes::square::{self, SquareServer};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_store::Summary;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SQUARE_TOKEN: &str = "square-demo-token";
const SIGNATURE_KEY: &str = "square-demo-signature-key";
const NOTIFICATION_URL: &str = "https://coffee.example.com/hooks/square";
const PLUGINS: [&str; 2] = ["square-source", "hubspot-sink"];

/// Sales in the demo shop's history when none is asked for.
pub const DEFAULT_SALES: usize = 300;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory holding the `square-source/` and `hubspot-sink/` plugin packages.
    pub plugins: PathBuf,
    /// Working directory for the config, secrets and database (recreated).
    pub dir: PathBuf,
    /// Sales in the shop's history (polled); a fifth as many more arrive by webhook.
    pub sales: usize,
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

/// What the demo left behind: the shop it simulated, the CRM simulator (still serving) and how the
/// host answered the webhooks, so a caller can check HubSpot's state against the shop for itself.
pub struct DemoOutcome {
    /// The shop's history, polled from Square.
    pub history: SampleShop,
    /// The sales that arrived later as webhooks, each by one of `history`'s customers.
    pub fresh_sales: Vec<Receipt>,
    pub crm: HubSpotSim,
    pub answers: WebhookAnswers,
    /// What did not complete cleanly, in words; empty when everything did.
    pub problems: Vec<String>,
}

/// Runs the demo and prints its summary.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let plugins = locate_plugins(&options.plugins)?.canonicalize()?;
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir)
            .with_context(|| format!("clearing {}", options.dir.display()))?;
    }
    std::fs::create_dir_all(&options.dir)?;

    let history = SampleShop::generate(2026, options.sales, 0);
    let fresh = SampleShop::generate(2027, (options.sales / 5).max(1), 0).with_receipt_prefix("N");
    let fresh_sales = made_by_existing_customers(&history, &fresh);
    let square = SquareServer::start(SQUARE_TOKEN).await?;
    square.load_shop(&history);
    let crm = HubSpotSim::start().await?;

    write_secrets(&options.dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config_path = options.dir.join("rapport.toml");
    std::fs::write(&config_path, demo_config(&plugins, &square, &crm, port))?;
    let pipeline = Arc::new(Pipeline::start(Config::load(&config_path)?).await?);

    println!("rapport demo — a coffee shop on Square, its customers in HubSpot");
    println!(
        "  Square simulator:  {} ({} sales and refunds over four weeks, {} customers)",
        square.base_url(),
        history.valid_receipts().count(),
        history.customers.len()
    );
    println!("  HubSpot simulator: {}", crm.base_url());
    println!(
        "  store:             {}",
        options.dir.join("rapport.db").display()
    );
    println!();

    // The history, by polling.
    let first = pipeline
        .sync_once(Duration::from_secs(5), Duration::from_secs(120))
        .await?;
    let polled = pipeline.store.summary().await?;
    println!("Polling Square");
    println!(
        "  events stored:     {} orders, {} refunds, {} customer records",
        polled.orders, polled.refunds, polled.customer_updates
    );
    println!("  profiles made:     {}", polled.profiles);
    print_sinks(&polled);

    // New sales, by webhook, while the daemon runs.
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    wait_for_port(port).await?;
    let endpoint = format!("http://127.0.0.1:{port}/webhooks/square");
    let answers = send_webhooks(&square, &fresh, &fresh_sales, &endpoint).await?;
    let drained = wait_for_drain(&pipeline, Duration::from_secs(120)).await?;
    stop.send(true).ok();
    daemon.await??;

    let summary = pipeline.store.summary().await?;
    println!();
    println!("New sales arriving as Square webhooks");
    println!(
        "  {} signed deliveries stored ({} orders), {} replay acknowledged as a duplicate, {} forged delivery refused with 401",
        answers.stored, summary.orders - polled.orders, answers.duplicates, answers.refused
    );
    print_sinks(&summary);

    // Every sale with a known customer and every refund, except those of customers who opted out.
    // The fresh sales' buyers are the shop's customers, so their choices are the history's.
    let marketable = |r: &&Receipt| !history.buyer_opted_out(r);
    let expected_events = history.attributed_sales().filter(marketable).count()
        + history
            .valid_receipts()
            .filter(|r| r.refund_of.is_some() && marketable(r))
            .count()
        + fresh_sales.iter().filter(marketable).count();
    println!();
    println!("HubSpot now holds");
    println!("  contacts:          {}", crm.contact_count());
    println!(
        "  timeline events:   {} (expected {expected_events}: every sale with a known customer, every refund, but none of those who opted out)",
        crm.event_count()
    );
    println!(
        "  opt-outs recorded: {}",
        history
            .customers
            .iter()
            .filter(|c| crm
                .subscription_status(&c.email, hubspot::SUBSCRIPTION_ID)
                .is_some_and(|s| s.status == "UNSUBSCRIBED"))
            .count()
    );
    for e in &first.poll_errors {
        println!("  poll error: {e}");
    }
    println!();
    println!(
        "Config, secrets and database kept in {}",
        options.dir.display()
    );
    pipeline.store.close().await;
    let mut problems: Vec<String> = first
        .poll_errors
        .iter()
        .map(|e| format!("poll error: {e}"))
        .collect();
    if !drained {
        problems.push("the sinks still owed work after two minutes".into());
    }
    if crm.contact_count() != history.customers.len() {
        problems.push(format!(
            "HubSpot holds {} contacts, not the shop's {} customers",
            crm.contact_count(),
            history.customers.len()
        ));
    }
    if crm.event_count() != expected_events {
        problems.push(format!(
            "HubSpot holds {} timeline events, not {expected_events}",
            crm.event_count()
        ));
    }
    if answers.refused != 1 || answers.duplicates != 1 {
        problems.push(format!(
            "{} forged deliveries refused and {} replays acknowledged as duplicates, not one each",
            answers.refused, answers.duplicates
        ));
    }
    Ok(DemoOutcome {
        history,
        fresh_sales,
        crm,
        answers,
        problems,
    })
}

/// How the host answered the demo's webhooks.
#[derive(Debug, Default)]
pub struct WebhookAnswers {
    /// Signed deliveries answered 200.
    pub stored: usize,
    /// Replays acknowledged as duplicates.
    pub duplicates: usize,
    /// Forged deliveries refused with 401.
    pub refused: usize,
}

/// The fresh shop's attributed sales, each made by one of `history`'s customers (the shop's
/// existing ones, whom Square knows).
fn made_by_existing_customers(history: &SampleShop, fresh: &SampleShop) -> Vec<Receipt> {
    fresh
        .attributed_sales()
        .map(|sale| Receipt {
            customer: sale.customer.map(|c| c % history.customers.len()),
            ..sale.clone()
        })
        .collect()
}

/// Adds the fresh sales to Square and announces each with a signed `order.created`; replays the
/// first and forges one more.
async fn send_webhooks(
    square: &SquareServer,
    fresh: &SampleShop,
    sales: &[Receipt],
    endpoint: &str,
) -> anyhow::Result<WebhookAnswers> {
    let mut answers = WebhookAnswers::default();
    let mut first = None;
    for (n, sale) in sales.iter().enumerate() {
        square.put_order(square::square_order(fresh, sale));
        let note = square.order_notification("order.created", &sale.id, &format!("demo-evt-{n}"));
        let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
        let (status, answer) = square::deliver(endpoint, &headers, &body).await?;
        if status != 200 {
            bail!("webhook for {} answered {status}: {answer}", sale.id);
        }
        answers.stored += 1;
        first.get_or_insert((headers, body));
    }
    if let Some((headers, body)) = first {
        let (status, answer) = square::deliver(endpoint, &headers, &body).await?;
        if status == 200 && answer.contains("\"duplicates\":1") {
            answers.duplicates += 1;
        }
        let mut forged = headers.clone();
        for (name, value) in &mut forged {
            if name == square::SIGNATURE_HEADER {
                *value = square::sign("not-the-key", NOTIFICATION_URL, &body);
            }
        }
        if square::deliver(endpoint, &forged, &body).await?.0 == 401 {
            answers.refused += 1;
        }
    }
    Ok(answers)
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

/// Waits until no sink owes anything; false if `limit` passed first.
async fn wait_for_drain(pipeline: &Pipeline, limit: Duration) -> anyhow::Result<bool> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if pipeline
            .store
            .summary()
            .await?
            .sinks
            .iter()
            .all(|s| s.waiting == 0)
        {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

fn print_sinks(summary: &Summary) {
    for s in &summary.sinks {
        println!(
            "  delivered to {}:    {} contact updates, {} timeline events, {} consent changes ({} withheld for consent, {} rejected, {} dead, {} waiting)",
            s.sink,
            s.profiles_delivered,
            s.activities_delivered,
            s.consents_delivered,
            s.withheld,
            s.rejected,
            s.dead,
            s.waiting
        );
    }
}

/// The demo's vendor credentials, in an owner-only secrets file as an operator would keep them.
fn write_secrets(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("secrets.toml");
    std::fs::write(
        &path,
        format!(
            "square_token = \"{SQUARE_TOKEN}\"\nsquare_signature_key = \"{SIGNATURE_KEY}\"\nhubspot_token = \"{}\"\n",
            hubspot::TOKEN
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn demo_config(plugins: &Path, square: &SquareServer, crm: &HubSpotSim, port: u16) -> String {
    format!(
        r#"# Written by the demo shop (scripts/demo).
[store]
database_url = "sqlite://rapport.db"

[runtime]
memory_limit_mib = 64
call_timeout_ms = 10000
cache_dir = "cache"

[server]
listen = "127.0.0.1:{port}"

# Square signs its webhooks and square-source checks the signature, so they need no upload token.
[server.sources.square]
vendor_signed = true

# The demo's vendors are simulators on this machine: allow loopback, and nothing else private.
[network]
allow_private = ["127.0.0.1/32"]

# Vendor credentials live in an owner-only file, never in this config.
[secrets]
file = "secrets.toml"

# The demo's plugins are local builds, not signed packages: development mode loads them, marked
# DEV-UNSIGNED. A shop configures `[trust] store` instead and installs signed packages.
[trust]
dev = true

[[source]]
id = "square"
plugin = "{source}"
poll_interval_secs = 3600
secrets = ["square_token", "square_signature_key"]   # granted to this source only
[source.config]
api_base = "{square_api}"
location_ids = "{high_street},{market_hall}"
notification_url = "{NOTIFICATION_URL}"

# Square records only refusals. The shop relies on the soft opt-in for its buyers (they may be
# emailed about similar products until they refuse, and were offered the refusal at the till), so
# customers who never chose are sent; those who refused reach HubSpot as their opt-out alone,
# without their purchases.
[consent]
marketing_without_choice = "send"

[[sink]]
id = "hubspot"
plugin = "{sink}"
channels = ["email"]
secrets = ["hubspot_token"]
[sink.config]
api_base = "{hubspot_api}"
subscription_id = {subscription}
"#,
        source = plugins.join("square-source").display(),
        sink = plugins.join("hubspot-sink").display(),
        square_api = square.base_url(),
        hubspot_api = crm.base_url(),
        high_street = square::location_id("High Street"),
        market_hall = square::location_id("Market Hall"),
        subscription = hubspot::SUBSCRIPTION_ID,
    )
}
