//! The standalone Square simulator both sides pull from: `rapport-fakes serve square` in its own
//! process, holding a year of one location's sales, its customers and refunds, generated from a
//! seed. It prints its address, token and what it holds; it is stopped (SIGTERM) when dropped.

use anyhow::{bail, Context};
use rapport_e2e::{fakes_bin, stop_gracefully};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The shop the simulator holds.
#[derive(Debug, Clone, Copy)]
pub struct ShopSize {
    pub orders: usize,
    pub customers: usize,
    /// About one sale with a known customer in this many is refunded.
    pub refund_one_in: u32,
    pub days: i64,
}

impl ShopSize {
    /// `orders` orders over a year at one location, a customer per ten orders, and a refund per
    /// forty orders (a fifth of sales are anonymous, so one in 32 of the others).
    pub fn year(orders: usize) -> ShopSize {
        ShopSize {
            orders,
            customers: (orders / 10).max(1),
            refund_one_in: 32,
            days: 365,
        }
    }
}

/// A running simulator and what it printed.
pub struct Simulator {
    child: Child,
    pub base_url: String,
    pub token: String,
    pub location_ids: String,
    /// What it holds, as it says: orders, customers, refunds.
    pub orders: usize,
    pub customers: usize,
    pub refunds: usize,
}

impl Simulator {
    /// Starts the simulator with `size`, its first sale on `first_day` (YYYY-MM-DD).
    pub fn start(size: ShopSize, first_day: &str, seed: u64) -> anyhow::Result<Simulator> {
        let mut child = Command::new(fakes_bin())
            .args(["serve", "square", "--locations", "1", "--from", first_day])
            .args(["--orders", &size.orders.to_string()])
            .args(["--customers", &size.customers.to_string()])
            .args(["--refund-one-in", &size.refund_one_in.to_string()])
            .args(["--days", &size.days.to_string()])
            .args(["--seed", &seed.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting rapport-fakes serve square")?;
        let stdout = child.stdout.take().expect("a piped stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut printed = BTreeMap::new();
        while !printed.contains_key("refunds") {
            match received.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    if let Some((name, value)) = line.split_once('=') {
                        printed.insert(name.to_owned(), value.to_owned());
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("the Square simulator never said what it holds ({e}); it printed {printed:?}");
                }
            }
        }
        let text = |name: &str| printed.get(name).cloned().unwrap_or_default();
        let count = |name: &str| text(name).parse().unwrap_or(0);
        Ok(Simulator {
            base_url: text("base_url"),
            token: text("token"),
            location_ids: text("location_ids"),
            orders: count("orders"),
            customers: count("customers"),
            refunds: count("refunds"),
            child,
        })
    }
}

impl Simulator {
    /// The CPU time (user + system) the simulator has spent so far, from `/proc`.
    pub fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf only reads a system constant.
        let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
        Some(Duration::from_millis(ticks * 1000 / per_second.max(1)))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if !stop_gracefully(&mut self.child) {
            eprintln!("the Square simulator did not stop cleanly");
        }
    }
}
