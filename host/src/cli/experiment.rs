//! `rapport experiment report NAME [--json]`: how each arm of a journey's experiment is doing —
//! people, messages sent, conversions, the conversion rate with its 95% interval, the lift over
//! the baseline (the holdout, else the first variant) and the test's p-value, what the CRMs
//! reported of its messages (opened, clicked…) — and a plain sentence per arm saying whether its
//! difference is yet distinguishable from chance.

use anyhow::bail;
use clap::Subcommand;
use rapport_core::experiments::report::{p_text, ArmReport, Report};
use rapport_host::config::Config;
use rapport_host::experiments::{configured, experiment_report};
use rapport_store::Store;

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Each arm's people, messages, conversions, rate (95% interval), lift and p-value, and
    /// whether the difference is yet distinguishable from chance.
    Report {
        /// The experiment's name (`[journey.experiment] name`).
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, store: &Store, command: ExperimentCommand) -> anyhow::Result<()> {
    let ExperimentCommand::Report { name, json } = command;
    let Some(experiment) = configured(&config.journeys).find(|e| e.name == name) else {
        let known: Vec<&str> = configured(&config.journeys)
            .map(|e| e.name.as_str())
            .collect();
        match known.is_empty() {
            true => bail!("no experiment {name:?}: no [[journey]] in the config has an experiment"),
            false => bail!(
                "no experiment {name:?} in the config; its journeys have: {}",
                known.join(", ")
            ),
        }
    };
    let report = experiment_report(store, experiment).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", text(&report)),
    }
    Ok(())
}

/// The report as a table, one line per arm, then each arm's sentence.
pub(crate) fn text(report: &Report) -> String {
    let mut out = format!(
        "experiment {} (baseline: {})\n{:<16} {:>7} {:>7} {:>11} {:>7} {:>17} {:>7} {:>11}\n",
        report.experiment,
        report.baseline,
        "arm",
        "people",
        "sent",
        "conversions",
        "rate",
        "95% interval",
        "lift",
        "test"
    );
    for arm in &report.arms {
        out.push_str(&line(arm));
    }
    out.push_str("\nwhat the CRMs reported of each arm's messages (share of those sent)\n");
    for arm in &report.arms {
        out.push_str(&engagement(arm));
    }
    for sentence in report.arms.iter().filter_map(|a| a.sentence.as_deref()) {
        out.push_str(&format!("\n{sentence}"));
    }
    out.push('\n');
    out
}

fn engagement(arm: &ArmReport) -> String {
    let (counts, rates) = (&arm.engagement, &arm.engagement_rates);
    let share =
        |rate: Option<f64>| rate.map_or_else(String::new, |r| format!(" ({:.1}%)", r * 100.0));
    format!(
        "{:<16} {} delivered, {} opened{}, {} clicked{}, {} bounced{}, {} unsubscribed{}\n",
        arm.arm,
        counts.delivered,
        counts.opened,
        share(rates.open_rate),
        counts.clicked,
        share(rates.click_rate),
        counts.bounced,
        share(rates.bounce_rate),
        counts.unsubscribed,
        share(rates.unsubscribe_rate),
    )
}

fn line(arm: &ArmReport) -> String {
    let percent = |share: f64| format!("{:.1}%", share * 100.0);
    let dash = || "-".to_string();
    format!(
        "{:<16} {:>7} {:>7} {:>11} {:>7} {:>17} {:>7} {:>11}\n",
        arm.arm,
        arm.people,
        arm.sent,
        arm.conversions,
        arm.rate.map_or_else(dash, percent),
        arm.interval.map_or_else(dash, |i| format!(
            "{} – {}",
            percent(i.low),
            percent(i.high)
        )),
        arm.lift
            .map_or_else(dash, |l| format!("{:+.0}%", l * 100.0)),
        arm.p_value.map_or_else(dash, p_text),
    )
}
