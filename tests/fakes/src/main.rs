//! `rapport-fakes serve <vendor>`: one vendor simulator as a standalone program, so rapport (or
//! curl) can be pointed at a simulated Square, Shopify, HubSpot, Klaviyo or Mailchimp outside the
//! tests. It prints what a client needs as `name=value` lines on stdout (`base_url` first), then
//! serves on 127.0.0.1 until Ctrl-C or SIGTERM.

use clap::{Args, Parser, Subcommand};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::mailchimp::{self, MailchimpSim};
use rapport_fakes::shop::{SampleShop, Shape};
use rapport_fakes::shopify::ShopifyServer;
use rapport_fakes::square::{self, SquareServer};
use std::any::Any;
use std::collections::BTreeSet;
use std::io::Write;

#[derive(Parser)]
#[command(name = "rapport-fakes", about = "Vendor simulators on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts one simulator on a free 127.0.0.1 port, prints its base URL and credentials, and
    /// serves until Ctrl-C or SIGTERM.
    Serve {
        #[command(subcommand)]
        vendor: Vendor,
    },
}

#[derive(Subcommand)]
enum Vendor {
    /// Square's Orders, Customers, Refunds and Locations APIs, holding a sample shop (it prints
    /// how many orders, customers and refunds it holds).
    Square {
        #[command(flatten)]
        shop: ShopArgs,
        /// The access token clients must send as `Authorization: Bearer <token>`.
        #[arg(long, default_value = "rapport-fakes-square-token")]
        token: String,
    },
    /// Shopify's REST Admin orders and customers, holding a sample shop.
    Shopify {
        #[command(flatten)]
        shop: ShopArgs,
        /// The access token clients must send as `X-Shopify-Access-Token`.
        #[arg(long, default_value = "rapport-fakes-shopify-token")]
        token: String,
        /// The shop's currency, an ISO 4217 code.
        #[arg(long, default_value = "GBP", value_parser = currency_code)]
        currency: String,
    },
    /// HubSpot's contacts, custom events, subscription statuses and GDPR deletion, empty.
    Hubspot,
    /// Klaviyo's profiles, events, subscription jobs and deletion jobs, empty.
    Klaviyo {
        /// The private API key clients must send as `Authorization: Klaviyo-API-Key <key>`.
        #[arg(long, default_value = klaviyo::API_KEY)]
        key: String,
        /// A list to create (repeatable): subscription jobs naming any other list get 404.
        #[arg(long = "list")]
        lists: Vec<String>,
    },
    /// Mailchimp Marketing's audiences and e-commerce stores, empty.
    Mailchimp {
        /// An audience to create (repeatable).
        #[arg(long = "list")]
        lists: Vec<String>,
        /// An e-commerce store to create (repeatable).
        #[arg(long = "store")]
        stores: Vec<String>,
    },
}

/// The sample shop a source simulator holds.
#[derive(Args)]
struct ShopArgs {
    /// Sales in the shop's history: each is one order.
    #[arg(long)]
    orders: usize,
    /// Seed of the generated shop: the same seed and options give the same shop.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// The day of the first sale (YYYY-MM-DD, at 09:00 UTC); default 2026-10-01.
    #[arg(long, value_parser = first_day)]
    from: Option<i64>,
    /// Days the sales are spread over.
    #[arg(long, default_value_t = 28)]
    days: i64,
    /// Locations the sales are taken at in turn: 1 (High Street) or 2 (and Market Hall).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    locations: u8,
    /// Customers (default: one per three orders).
    #[arg(long)]
    customers: Option<usize>,
    /// About one sale with a known customer in this many is later partly refunded.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    refund_one_in: u32,
}

impl ShopArgs {
    fn generate(&self) -> SampleShop {
        let four_weeks = Shape::four_weeks(self.orders);
        let shape = Shape {
            start: self.from.unwrap_or(four_weeks.start),
            days: self.days,
            locations: usize::from(self.locations),
            customers: self.customers.unwrap_or(four_weeks.customers).max(1),
            refund_one_in: self.refund_one_in,
            ..four_weeks
        };
        SampleShop::generate_shaped(self.seed, &shape, 0)
    }
}

/// `YYYY-MM-DD` as 09:00 UTC that day, in seconds since the Unix epoch.
fn first_day(text: &str) -> Result<i64, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let numbers: Option<Vec<i64>> = parts.iter().map(|p| p.parse().ok()).collect();
    match numbers.as_deref() {
        Some(&[y, m, d])
            if parts[0].len() == 4 && (1..=12).contains(&m) && (1..=31).contains(&d) =>
        {
            Ok(rapport_fakes::time::days_from_civil(y, m, d) * 86_400 + 9 * 3600)
        }
        _ => Err(format!("{text:?} is not a date like 2025-12-01")),
    }
}

fn currency_code(text: &str) -> Result<String, String> {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an ISO 4217 currency code (three capital letters, e.g. GBP)"
        ))
    }
}

/// A started simulator (serving until dropped) and what a client needs to use it.
struct Started {
    simulator: Box<dyn Any>,
    lines: Vec<(&'static str, String)>,
}

async fn start(vendor: Vendor) -> std::io::Result<Started> {
    Ok(match vendor {
        Vendor::Square { shop, token } => {
            let shop = shop.generate();
            let sim = SquareServer::start(&token).await?;
            sim.load_shop(&shop);
            let locations: BTreeSet<String> = shop
                .receipts
                .iter()
                .map(|r| square::location_id(&r.location))
                .collect();
            let locations = locations.into_iter().collect::<Vec<_>>().join(",");
            let (refunds, orders): (Vec<_>, Vec<_>) =
                shop.valid_receipts().partition(|r| r.refund_of.is_some());
            Started {
                lines: vec![
                    ("base_url", sim.base_url()),
                    ("token", token),
                    ("location_ids", locations),
                    ("orders", orders.len().to_string()),
                    ("customers", shop.customers.len().to_string()),
                    ("refunds", refunds.len().to_string()),
                ],
                simulator: Box::new(sim),
            }
        }
        Vendor::Shopify {
            shop,
            token,
            currency,
        } => {
            let sim = ShopifyServer::start(&token).await?;
            sim.load_shop(&shop.generate(), &currency);
            Started {
                lines: vec![("base_url", sim.base_url()), ("token", token)],
                simulator: Box::new(sim),
            }
        }
        Vendor::Hubspot => {
            let sim = HubSpotSim::start().await?;
            Started {
                lines: vec![
                    ("base_url", sim.base_url()),
                    ("token", hubspot::TOKEN.to_owned()),
                    ("subscription_id", hubspot::SUBSCRIPTION_ID.to_string()),
                    ("event_names", hubspot::EVENT_NAMES.join(",")),
                ],
                simulator: Box::new(sim),
            }
        }
        Vendor::Klaviyo { key, lists } => {
            let sim = KlaviyoSim::start_with_key(&key).await?;
            for list in &lists {
                sim.add_list(list);
            }
            Started {
                lines: vec![
                    ("base_url", sim.base_url()),
                    ("api_key", key),
                    ("revision", klaviyo::REVISION.to_owned()),
                    ("lists", lists.join(",")),
                ],
                simulator: Box::new(sim),
            }
        }
        Vendor::Mailchimp { lists, stores } => {
            let sim = MailchimpSim::start().await?;
            for list in &lists {
                sim.add_list(list);
            }
            for store in &stores {
                sim.add_store(store);
            }
            Started {
                lines: vec![
                    ("base_url", sim.api_base()),
                    ("api_key", mailchimp::API_KEY.to_owned()),
                    ("lists", lists.join(",")),
                    ("stores", stores.join(",")),
                ],
                simulator: Box::new(sim),
            }
        }
    })
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from now on; the future resolves on either. Listening
/// starts before the address is printed, so a client that stops the simulator at once still
/// stops it cleanly.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Command::Serve { vendor } = Cli::parse().command;
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("rapport-fakes: cannot listen for Ctrl-C and SIGTERM: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let started = match start(vendor).await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("rapport-fakes: could not start the simulator on 127.0.0.1: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let text: String = started
        .lines
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("rapport-fakes: cannot print the simulator's address: {e}");
        return std::process::ExitCode::FAILURE;
    }
    drop(out);
    shutdown.await;
    drop(started.simulator);
    std::process::ExitCode::SUCCESS
}
