//! `rapport experiment report`'s content, from each arm's counts: its conversion rate with a 95%
//! interval, its lift over the baseline and the test of the difference, and a plain sentence a
//! marketer can act on. Kept pure so the wording and the choice of baseline are tested on known
//! numbers.
//!
//! The baseline is the holdout. An experiment without one (holdout share 0) compares each variant
//! with its first variant, the one a shop usually lists as its current message.

use super::stats::{self, Interval, ALPHA};
use super::{Experiment, HOLDOUT};
use crate::metrics::engagement::{EngagementCounts, EngagementRates};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the store counted for one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmCounts {
    /// Distinct people with an entry in the arm (sent, or held out).
    pub people: u64,
    /// Messages sent (entries with outcome `sent`; 0 for the holdout).
    pub sent: u64,
    /// Distinct people with a completed sale attributed to one of their entries in the arm.
    pub converted: u64,
    /// What the CRMs reported of the arm's messages.
    pub engagement: EngagementCounts,
}

/// One arm's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmReport {
    pub arm: String,
    pub people: u64,
    pub sent: u64,
    pub conversions: u64,
    /// Conversions per person, 0 to 1; `None` without people.
    pub rate: Option<f64>,
    /// The rate's 95% Wilson interval.
    pub interval: Option<Interval>,
    /// Over the baseline's rate ((rate − baseline) / baseline); `None` for the baseline itself,
    /// or when either has no people or the baseline converted nobody.
    pub lift: Option<f64>,
    /// The two-sided pooled two-proportion test against the baseline.
    pub p_value: Option<f64>,
    /// Whether the difference from the baseline is yet distinguishable from chance; `None` for
    /// the baseline.
    pub sentence: Option<String>,
    /// What the CRMs reported of the arm's messages (sinks built for contract 0.5 report it).
    pub engagement: EngagementCounts,
    /// Those counts over the messages sent.
    pub engagement_rates: EngagementRates,
}

/// The report of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub experiment: String,
    /// The arm the others are compared with: the holdout, else the first variant.
    pub baseline: String,
    /// The baseline first, then the variants in their configured order, then arms recorded under
    /// names the configuration no longer has.
    pub arms: Vec<ArmReport>,
}

/// The report of `experiment` from each arm's counts, by arm name (arms nobody entered count 0).
pub fn report(experiment: &Experiment, counts: &BTreeMap<String, ArmCounts>) -> Report {
    let has_holdout = experiment.holdout > 0.0 || counts.contains_key(HOLDOUT);
    let mut names: Vec<&str> = Vec::new();
    if has_holdout {
        names.push(HOLDOUT);
    }
    names.extend(experiment.variants.iter().map(|v| v.name.as_str()));
    let recorded_only: Vec<&str> = (counts.keys())
        .map(String::as_str)
        .filter(|name| !names.contains(name))
        .collect();
    names.extend(recorded_only);
    let baseline_name = names[0];
    let baseline = counts.get(baseline_name).copied().unwrap_or_default();
    let baseline_label = match has_holdout {
        true => "the holdout".to_string(),
        false => format!("{baseline_name} (the first variant: this experiment has no holdout)"),
    };
    let arms = (names.iter())
        .map(|&name| {
            let arm = counts.get(name).copied().unwrap_or_default();
            let rate = stats::rate(arm.converted, arm.people);
            let (lift, p_value, sentence) = match name == baseline_name {
                true => (None, None, None),
                false => {
                    let baseline_rate = stats::rate(baseline.converted, baseline.people);
                    let lift = rate.zip(baseline_rate).and_then(|(r, b)| stats::lift(r, b));
                    let p = stats::two_proportion_p(
                        arm.converted,
                        arm.people,
                        baseline.converted,
                        baseline.people,
                    );
                    let sentence = compare(name, rate, &baseline_label, baseline_rate, lift, p);
                    (lift, p, Some(sentence))
                }
            };
            ArmReport {
                arm: name.to_string(),
                people: arm.people,
                sent: arm.sent,
                conversions: arm.converted,
                rate,
                interval: stats::wilson(arm.converted, arm.people),
                lift,
                p_value,
                sentence,
                engagement: arm.engagement,
                engagement_rates: arm.engagement.rates(arm.sent),
            }
        })
        .collect();
    Report {
        experiment: experiment.name.clone(),
        baseline: baseline_name.to_string(),
        arms,
    }
}

/// The plain sentence comparing arm `name` with the baseline.
fn compare(
    name: &str,
    rate: Option<f64>,
    baseline_label: &str,
    baseline_rate: Option<f64>,
    lift: Option<f64>,
    p: Option<f64>,
) -> String {
    let (Some(rate), Some(baseline_rate), Some(p)) = (rate, baseline_rate, p) else {
        let empty = match rate {
            None => format!("{name} has nobody in it yet"),
            Some(_) => format!("{baseline_label} has nobody in it yet"),
        };
        return format!("{empty}, so there is nothing to compare; keep the experiment running.");
    };
    let lift = match lift {
        Some(lift) => format!("{:+.0}% lift", lift * 100.0),
        None => format!("no lift defined: {baseline_label} converted nobody"),
    };
    let verdict = match p < ALPHA {
        true => format!("with {} this difference is unlikely to be chance.", p_text(p)),
        false => format!(
            "this difference is not yet distinguishable from chance ({}); keep the experiment running.",
            p_text(p)
        ),
    };
    format!(
        "{name} converts {} vs {} for {baseline_label} ({lift}); {verdict}",
        percent(rate),
        percent(baseline_rate)
    )
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `p = 0.030`, or `p < 0.001` below what three decimals show.
pub fn p_text(p: f64) -> String {
    match p < 0.001 {
        true => "p < 0.001".to_string(),
        false => format!("p = {p:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Variant;
    use super::*;

    fn experiment(holdout: f64, variants: &[&str]) -> Experiment {
        Experiment {
            name: "subject".into(),
            holdout,
            variants: (variants.iter())
                .map(|name| Variant {
                    name: name.to_string(),
                    weight: 1,
                    properties: BTreeMap::new(),
                    wait_minutes: None,
                })
                .collect(),
        }
    }

    fn counts(arms: &[(&str, u64, u64, u64)]) -> BTreeMap<String, ArmCounts> {
        (arms.iter())
            .map(|&(name, people, sent, converted)| {
                (
                    name.to_string(),
                    ArmCounts {
                        people,
                        sent,
                        converted,
                        ..ArmCounts::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_variant_is_compared_with_the_holdout() {
        let report = report(
            &experiment(0.5, &["A"]),
            &counts(&[("holdout", 100, 0, 8), ("A", 100, 110, 12)]),
        );
        assert_eq!(report.baseline, "holdout");
        let [holdout, a] = &report.arms[..] else {
            panic!("{report:?}")
        };
        assert_eq!(
            (holdout.arm.as_str(), holdout.lift, holdout.p_value),
            ("holdout", None, None)
        );
        assert_eq!(holdout.sentence, None);
        assert_eq!((a.people, a.sent, a.conversions), (100, 110, 12));
        // 12/100 vs 8/100: lift (0.12 − 0.08) / 0.08 = +50%; p = 0.346 (see stats' tests).
        assert!((a.lift.unwrap() - 0.5).abs() < 1e-9);
        assert!((a.p_value.unwrap() - 0.345779).abs() < 1e-5);
        assert_eq!(
            a.sentence.as_deref(),
            Some(
                "A converts 12.0% vs 8.0% for the holdout (+50% lift); this difference is not \
                 yet distinguishable from chance (p = 0.346); keep the experiment running."
            )
        );
    }

    #[test]
    fn a_clear_difference_is_called_unlikely_to_be_chance() {
        // 30/200 vs 15/200: lift (0.15 − 0.075) / 0.075 = +100%; p = 0.0176 (see stats' tests).
        let report = report(
            &experiment(0.1, &["A"]),
            &counts(&[("holdout", 200, 0, 15), ("A", 200, 200, 30)]),
        );
        assert_eq!(
            report.arms[1].sentence.as_deref(),
            Some(
                "A converts 15.0% vs 7.5% for the holdout (+100% lift); with p = 0.018 this \
                 difference is unlikely to be chance."
            )
        );
    }

    #[test]
    fn without_a_holdout_the_variants_are_compared_with_the_first() {
        let report = report(
            &experiment(0.0, &["A", "B"]),
            &counts(&[("A", 100, 100, 8), ("B", 100, 100, 12)]),
        );
        assert_eq!(report.baseline, "A");
        let names: Vec<&str> = report.arms.iter().map(|a| a.arm.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert!(report.arms[1]
            .sentence
            .as_deref()
            .unwrap()
            .starts_with("B converts 12.0% vs 8.0% for A (the first variant: this experiment has no holdout) (+50% lift)"));
    }

    #[test]
    fn empty_arms_zero_rates_and_arms_no_longer_configured() {
        // Nobody yet: every arm is listed with zero people and nothing to compare.
        let empty = report(&experiment(0.2, &["A"]), &BTreeMap::new());
        assert_eq!(empty.arms.len(), 2);
        assert_eq!(empty.arms[1].rate, None);
        assert_eq!(empty.arms[1].interval, None);
        assert_eq!(
            empty.arms[1].sentence.as_deref(),
            Some("A has nobody in it yet, so there is nothing to compare; keep the experiment running.")
        );
        // The holdout converted nobody: no lift, but the test still runs.
        // Pooled 5/100 = 0.05; se = √(0.05 × 0.95 × 2/50) = 0.04358899; z = 0.1 / 0.04358899
        // = 2.29415734; p = 2 × (1 − Φ(2.294157)) = 2 × 0.01089077 = 0.02178.
        let report = report(
            &experiment(0.5, &["A"]),
            &counts(&[("holdout", 50, 0, 0), ("A", 50, 50, 5), ("old", 3, 3, 0)]),
        );
        let a = &report.arms[1];
        assert_eq!(a.lift, None);
        assert!((a.p_value.unwrap() - 0.02178).abs() < 1e-4, "{a:?}");
        assert_eq!(
            a.sentence.as_deref(),
            Some(
                "A converts 10.0% vs 0.0% for the holdout (no lift defined: the holdout \
                 converted nobody); with p = 0.022 this difference is unlikely to be chance."
            )
        );
        // A variant renamed since keeps its recorded arm in the report, compared like the rest.
        assert_eq!(report.arms[2].arm, "old");
        assert_eq!(report.arms[2].rate, Some(0.0));
        assert_eq!(p_text(0.0004), "p < 0.001");
    }
}
