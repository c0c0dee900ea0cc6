//! A real peer on the same work, printed (not asserted): `cargo bench -p rapport-e2e --bench peer`.
//!
//! Airbyte's Square connector (`airbyte-source-square` from PyPI, on the Airbyte CDK) and
//! rapport's square-source pull the same shop from the standalone Square simulator
//! (`rapport-fakes serve square`) over plain HTTP on loopback: a year of one location's orders,
//! its customers and refunds. Each side runs as its own process and is measured by the kernel:
//! wall time, CPU time and peak memory; and what it received is counted per stream (Airbyte's
//! RECORD messages, rapport's stored events), since completeness is part of the result. rapport
//! runs twice: the pull alone (`rapport sync` with the source and no sink), and the whole job
//! (the same with the http-sink delivering to a loopback CRM); and both again on 20,000 orders,
//! the size at which the hot path's target (the whole job within about 1.5× its pull) is set.
//!
//! `RAPPORT_BENCH_ORDERS` sets the order count (default 100,000; a customer per ten orders, a
//! refund per forty). The section is printed, and kept for BENCHMARKS.md when `scripts/bench`
//! runs it. If the connector cannot be installed (no PyPI, a failed
//! install), the section says why and rapport's side still runs.
//!
//! Needs the release `rapport` and `rapport-fakes` binaries and the plugins:
//! `cargo build --release -p rapport-host --bin rapport -p rapport-fakes --bin rapport-fakes`,
//! `scripts/build-plugins`.

#[path = "peer/airbyte.rs"]
mod airbyte;
#[path = "peer/measure.rs"]
mod measure;
#[path = "peer/ours.rs"]
mod ours;
#[path = "peer/report.rs"]
mod report;
#[path = "peer/simulator.rs"]
mod simulator;

use rapport_e2e::bench::Section;
use rapport_e2e::target_dir;
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::time::civil_from_days;
use report::{count, Measured, Row};
use simulator::{ShopSize, Simulator};
use std::path::Path;

const SEED: u64 = 2026;
const AIRBYTE: &str = "Airbyte `read`";
const PULL: &str = "rapport pull (`sync`, no sink)";
const JOB: &str = "rapport whole job (`sync` + http-sink)";
/// The orders of the job the hot path's target names (the whole job within about 1.5× its pull).
const HOT_PATH_ORDERS: usize = 20_000;

fn main() {
    let orders: usize = std::env::var("RAPPORT_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let size = ShopSize::year(orders);
    // The year ends a few days ago, so every refund (three days after its sale) is in the past.
    let today = rapport_fakes::time::now_unix().div_euclid(86_400);
    let (y, m, d) = civil_from_days(today - size.days - 5);
    let first_day = format!("{y:04}-{m:02}-{d:02}");
    let sim = Simulator::start(size, &first_day, SEED).expect("the Square simulator starts");
    let held = [sim.orders, sim.customers, sim.refunds];
    let work = tempfile::tempdir().expect("a scratch directory");
    let dir = |name: &str| {
        let path = work.path().join(name);
        std::fs::create_dir_all(&path).expect("a run directory");
        path
    };

    let (versions, airbyte) = run_airbyte(&dir("airbyte"), &sim, &first_day);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let pull = runtime.block_on(run_rapport(&dir("pull"), &sim, false));
    let job = runtime.block_on(run_rapport(&dir("job"), &sim, true));
    drop(sim);
    // The hot path's own size too, on a simulator of its own.
    let small = (orders != HOT_PATH_ORDERS).then(|| {
        let size = ShopSize::year(HOT_PATH_ORDERS);
        let sim = Simulator::start(size, &first_day, SEED).expect("the Square simulator starts");
        let pull = runtime.block_on(run_rapport(&dir("small-pull"), &sim, false));
        let job = runtime.block_on(run_rapport(&dir("small-job"), &sim, true));
        (pull, job)
    });
    let sizes: Vec<_> = (small.iter())
        .map(|(pull, job)| (HOT_PATH_ORDERS, pull, job))
        .chain([(orders, &pull, &job)])
        .collect();
    let hot_path = report::hot_path(HOT_PATH_ORDERS, &sizes);

    let intro = [
        format!(
            "Both pull the same shop from the standalone Square simulator (`rapport-fakes serve square`, \
             seed {SEED}) over plain HTTP on loopback: {} orders over {} days from {first_day} at one \
             location, {} customers, {} refunds. Each side is its own process, measured by the kernel \
             (`wait4`: wall, user + system CPU, peak RSS); the simulator's own CPU time answering \
             each run is shown apart (it is inside each side's wall time, never its CPU time).",
            count(held[0]),
            size.days,
            count(held[1]),
            count(held[2])
        ),
        format!(
            "Airbyte: {versions}; the connector is installed with `--no-deps` (its pinned CDK fails on \
             Python 3.11) and its `manifest.yaml` is run by the CDK's `source-declarative-manifest` with \
             `url_base` pointed at the simulator; orders and refunds incremental (first sync, from \
             {first_day}), customers full refresh. Counted from its RECORD messages (records, and \
             distinct ids where they differ). Its orders stream asks per location per 30-day window with \
             `limit` 500 and no cursor, and puts `filter` and `sort` beside `query` where Square does \
             not read them, so each window is answered with the newest 500 orders."
        ),
        format!(
            "rapport: the release `rapport sync` with the square-source plugin (`page_limit` {}), a \
             fresh SQLite store per run; counted from the events stored (events, and distinct objects \
             where they differ). The whole job adds the http-sink delivering to a loopback CRM \
             (rapport_fakes' capture server) in the bench process.",
            ours::PAGE_LIMIT
        ),
    ];
    let rows = [
        Row {
            name: AIRBYTE.into(),
            outcome: airbyte,
        },
        Row {
            name: PULL.into(),
            outcome: pull,
        },
        Row {
            name: JOB.into(),
            outcome: job,
        },
    ];
    let section = report::section(&intro, held, &rows, PULL, AIRBYTE);
    Section::whole("peer", section + &hot_path);
}

/// Installs (or reuses) the connector under the target directory and runs its `read`: the
/// versions used (or why none), and the run's outcome.
fn run_airbyte(dir: &Path, sim: &Simulator, first_day: &str) -> (String, Result<Measured, String>) {
    let venv = target_dir().join("bench-peer-venv");
    eprintln!(
        "peer: installing airbyte-source-square into {} (reused if present)",
        venv.display()
    );
    let install = match airbyte::install(&venv) {
        Ok(install) => install,
        Err(why) => {
            let why = format!("airbyte-source-square could not be installed: {why}");
            eprintln!("peer: {why}");
            return ("not installed".into(), Err(why));
        }
    };
    eprintln!("peer: running {} against the simulator", install.versions);
    let before = sim.cpu();
    let outcome = install.read(dir, sim, first_day).map(|(cost, received)| {
        let mut notes: Vec<String> = received
            .errors
            .iter()
            .map(|e| format!("reported: {e}"))
            .collect();
        if !cost.succeeded {
            notes.push(format!("exited with an error: {}", cost.stderr_tail));
        }
        let distinct = airbyte::STREAMS.map(|s| received.distinct(s));
        let shown = airbyte::STREAMS.map(|s| {
            let records = received.records.get(s).copied().unwrap_or(0);
            shown(records, received.distinct(s), "records")
        });
        Measured {
            cost,
            simulator_cpu: sim.cpu().zip(before).map(|(after, before)| after - before),
            distinct,
            shown,
            notes,
        }
    });
    (install.versions, outcome)
}

/// Runs `rapport sync` in `dir`, delivering to a loopback CRM when `deliver`.
async fn run_rapport(dir: &Path, sim: &Simulator, deliver: bool) -> Result<Measured, String> {
    let crm = match deliver {
        true => Some(
            CaptureServer::start()
                .await
                .map_err(|e| format!("the loopback CRM: {e}"))?,
        ),
        false => None,
    };
    eprintln!(
        "peer: rapport sync{}",
        if deliver { " with the http-sink" } else { "" }
    );
    let before = sim.cpu();
    let (cost, stored) = ours::sync(dir, sim, crm.as_ref().map(CaptureServer::url).as_deref())
        .await
        .map_err(|e| format!("{e:#}"))?;
    let kinds = ["order", "customer", "refund"];
    let distinct = kinds.map(|k| stored.get(k).map_or(0, |&(_, objects)| objects));
    let shown = kinds.map(|k| {
        let (events, objects) = stored.get(k).copied().unwrap_or((0, 0));
        shown(events, objects, "events")
    });
    let mut notes = Vec::new();
    if !cost.succeeded {
        notes.push(format!("exited with an error: {}", cost.stderr_tail));
    }
    if let Some(crm) = crm {
        let captured = crm.captured();
        notes.push(format!(
            "delivered to the loopback CRM: {} profiles ({} profile items) and {} activities ({} distinct), in {} requests",
            count(captured.profiles.len()),
            count(captured.profile_items),
            count(captured.activities.len()),
            count(captured.activity_arrivals.len()),
            count(captured.requests)
        ));
    }
    Ok(Measured {
        cost,
        simulator_cpu: sim.cpu().zip(before).map(|(after, before)| after - before),
        distinct,
        shown,
        notes,
    })
}

/// `n` received, and how many were distinct when that differs: "6,500 records, 500 distinct".
fn shown(n: usize, distinct: usize, unit: &str) -> String {
    match n == distinct {
        true => count(n),
        false => format!("{} {unit}, {} distinct", count(n), count(distinct)),
    }
}
