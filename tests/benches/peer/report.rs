//! The comparison as a markdown section: what the simulator held, what each run cost and
//! received, and rapport's figures as multiples of Airbyte's (kept for BENCHMARKS.md by
//! `rapport_e2e::bench::Section`).

use crate::measure::Cost;
use std::fmt::Write;
use std::time::Duration;

/// One run's line of the table: its cost and what it received per stream (orders, customers,
/// refunds), or why it did not run.
pub struct Row {
    pub name: String,
    pub outcome: Outcome,
}

/// A run's figures, or why it did not run.
pub type Outcome = Result<Measured, String>;

/// A run that ran.
pub struct Measured {
    pub cost: Cost,
    /// The CPU time the simulator spent answering the run.
    pub simulator_cpu: Option<Duration>,
    /// Distinct records received per stream (orders, customers, refunds).
    pub distinct: [usize; 3],
    /// How each stream's count reads in the table (e.g. "6,500 records, 500 distinct").
    pub shown: [String; 3],
    /// Anything else worth saying about the run (errors it reported, what it delivered).
    pub notes: Vec<String>,
}

/// The section: `intro` paragraphs, the table of `held` (what the simulator holds, per stream)
/// and `rows`, then the ratios of the run named `ours` to the run named `peer`.
pub fn section(intro: &[String], held: [usize; 3], rows: &[Row], ours: &str, peer: &str) -> String {
    let mut out = String::from("## A real peer: airbyte-source-square\n\n");
    for paragraph in intro {
        let _ = writeln!(out, "{paragraph}\n");
    }
    out += "| run | wall | CPU | peak RSS | simulator CPU | orders | customers | refunds |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    let _ = writeln!(
        out,
        "| the simulator holds | | | | | {} | {} | {} |",
        count(held[0]),
        count(held[1]),
        count(held[2])
    );
    for row in rows {
        match &row.outcome {
            Ok(m) => {
                let _ = writeln!(
                    out,
                    "| {} | {:.1} s | {:.1} s | {} MiB | {} | {} | {} | {} |",
                    row.name,
                    m.cost.wall.as_secs_f64(),
                    m.cost.cpu.as_secs_f64(),
                    m.cost.peak_rss_bytes >> 20,
                    m.simulator_cpu
                        .map_or("?".to_owned(), |t| format!("{:.1} s", t.as_secs_f64())),
                    m.shown[0],
                    m.shown[1],
                    m.shown[2]
                );
            }
            Err(_) => {
                let _ = writeln!(out, "| {} | not run | | | | | | |", row.name);
            }
        }
    }
    out.push('\n');
    for row in rows {
        match &row.outcome {
            Ok(m) => {
                for note in &m.notes {
                    let _ = writeln!(out, "- {}: {note}", row.name);
                }
            }
            Err(why) => {
                let _ = writeln!(out, "- {}: not run: {}", row.name, why.replace('\n', " "));
            }
        }
    }
    let find = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(|r| r.outcome.as_ref().ok())
    };
    if let (Some(us), Some(them)) = (find(ours), find(peer)) {
        out += &ratios(us, them, held, ours, peer);
    }
    out
}

/// rapport's figures as multiples of Airbyte's, and what each received of what was there.
fn ratios(us: &Measured, them: &Measured, held: [usize; 3], ours: &str, peer: &str) -> String {
    let times = |a: f64, b: f64| match b > 0.0 {
        true => format!("{:.2}×", a / b),
        false => "n/a".to_owned(),
    };
    let mut out = format!(
        "\n{ours} vs {peer}: wall {}, CPU {}, peak memory {}.",
        times(us.cost.wall.as_secs_f64(), them.cost.wall.as_secs_f64()),
        times(us.cost.cpu.as_secs_f64(), them.cost.cpu.as_secs_f64()),
        times(
            us.cost.peak_rss_bytes as f64,
            them.cost.peak_rss_bytes as f64
        ),
    );
    out += " Received (distinct, of what the simulator holds):";
    for (i, stream) in ["orders", "customers", "refunds"].iter().enumerate() {
        let _ = write!(
            out,
            " {stream} {} vs {} of {}{}",
            count(us.distinct[i]),
            count(them.distinct[i]),
            count(held[i]),
            if i < 2 { ";" } else { "." }
        );
    }
    let per_record = |m: &Measured| {
        let records: usize = m.distinct.iter().sum();
        match records {
            0 => "n/a".to_owned(),
            n => format!("{:.0} µs", m.cost.wall.as_secs_f64() * 1e6 / n as f64),
        }
    };
    let _ = writeln!(
        out,
        " Wall time per distinct record received: {} for {ours}, {} for {peer}.",
        per_record(us),
        per_record(them)
    );
    out
}

/// The hot path: for each size (orders, then the pull and the whole job, where both ran), the
/// whole job's wall time as a multiple of the pull's; the target is set at `target_orders`.
pub fn hot_path(target_orders: usize, sizes: &[(usize, &Outcome, &Outcome)]) -> String {
    let ran: Vec<String> = (sizes.iter())
        .filter_map(|(orders, pull, job)| {
            let pull = pull.as_ref().ok()?.cost.wall.as_secs_f64();
            let job = job.as_ref().ok()?.cost.wall.as_secs_f64();
            Some(format!(
                "{} orders {job:.1} s vs {pull:.1} s, {:.2}×",
                count(*orders),
                job / pull
            ))
        })
        .collect();
    format!(
        "\nThe whole job (pull, store, deliver) as a multiple of the pull alone, wall time (target: \
         about 1.5× on {} orders): {}.\n",
        count(target_orders),
        match ran.is_empty() {
            true => "not run".to_owned(),
            false => ran.join("; "),
        }
    )
}

/// `1234567` as `1,234,567`.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
