//! Experiments on journeys: a journey may carry variants (properties passed to the CRM, such as a
//! subject line or an offer, or a different wait), with weights, and a holdout share whose members
//! are recorded as "would have received" and sent nothing. Assignment is a hash of the experiment
//! and the person's profile key, so it is stable across restarts and needs no stored state to be
//! decided; the store keeps the first assignment so a merge can keep the survivor's older one.

pub mod attribution;
pub mod report;
pub mod stats;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The arm name holdout members are recorded under.
pub const HOLDOUT: &str = "holdout";

/// `[journey.experiment]`: the variants a journey's messages are split between, and the holdout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The name reports use (`rapport experiment report NAME`); unique across journeys.
    pub name: String,
    /// The share of people held out (sent nothing), from 0 up to (not including) 1.
    #[serde(default)]
    pub holdout: f64,
    /// At least one variant.
    pub variants: Vec<Variant>,
}

/// One variant of a journey's message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Its share of the people not held out, relative to the other variants' weights.
    #[serde(default = "one")]
    pub weight: u32,
    /// Passed to the CRM with the message (subject line, offer...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// A wait of its own, instead of the journey's.
    pub wait_minutes: Option<u32>,
}

fn one() -> u32 {
    1
}

/// Where an experiment puts a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Holdout,
    /// The index of a variant in [`Experiment::variants`].
    Variant(usize),
}

impl Experiment {
    /// Checks the shares and names, saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(format!(
                "experiment name {name:?} must be non-empty printable text"
            ));
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(format!(
                "experiment {name:?}: holdout {} must be a share from 0 up to (not including) 1",
                self.holdout
            ));
        }
        if self.variants.is_empty() {
            return Err(format!("experiment {name:?} needs at least one variant"));
        }
        let mut seen = std::collections::HashSet::new();
        for variant in &self.variants {
            if variant.name.trim().is_empty() || variant.name == HOLDOUT {
                return Err(format!(
                    "experiment {name:?}: variant name {:?} must be non-empty and not {HOLDOUT:?}",
                    variant.name
                ));
            }
            if !seen.insert(variant.name.as_str()) {
                return Err(format!(
                    "experiment {name:?}: variant {:?} is named twice",
                    variant.name
                ));
            }
            if variant.weight == 0 {
                return Err(format!(
                    "experiment {name:?}: variant {:?} needs a weight of at least 1",
                    variant.name
                ));
            }
        }
        Ok(())
    }

    /// The arm of the person whose profile key is `person`: a point in [0, 1) hashed from the
    /// experiment's name and the key falls in the holdout share first, then in each variant's
    /// share of the rest, by weight.
    pub fn assign(&self, person: &str) -> Arm {
        let point = unit_hash(&self.name, person);
        if point < self.holdout {
            return Arm::Holdout;
        }
        let rest = (point - self.holdout) / (1.0 - self.holdout);
        let total: u64 = self.variants.iter().map(|v| u64::from(v.weight)).sum();
        let mut upper = 0u64;
        for (index, variant) in self.variants.iter().enumerate() {
            upper += u64::from(variant.weight);
            if rest < upper as f64 / total as f64 {
                return Arm::Variant(index);
            }
        }
        Arm::Variant(self.variants.len() - 1)
    }

    /// The name an arm is recorded under.
    pub fn arm_name(&self, arm: Arm) -> &str {
        match arm {
            Arm::Holdout => HOLDOUT,
            Arm::Variant(index) => &self.variants[index].name,
        }
    }

    /// The arm recorded under `name`, if this experiment still has it.
    pub fn arm_named(&self, name: &str) -> Option<Arm> {
        if name == HOLDOUT {
            return Some(Arm::Holdout);
        }
        self.variants
            .iter()
            .position(|v| v.name == name)
            .map(Arm::Variant)
    }
}

/// A uniform point in [0, 1) from the first 8 bytes of sha256(experiment \n person).
pub(crate) fn unit_hash(experiment: &str, person: &str) -> f64 {
    let digest = Sha256::digest(format!("{experiment}\n{person}").as_bytes());
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(holdout: f64, weights: &[u32]) -> Experiment {
        Experiment {
            name: "subject-line".into(),
            holdout,
            variants: weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| Variant {
                    name: format!("v{i}"),
                    weight,
                    properties: BTreeMap::new(),
                    wait_minutes: None,
                })
                .collect(),
        }
    }

    #[test]
    fn assignment_is_stable_and_splits_people_by_the_configured_shares() {
        let experiment = experiment(0.2, &[1, 3]);
        let people: Vec<String> = (0..20_000).map(|i| format!("p-{i:08x}")).collect();
        let mut counts = [0usize; 3];
        for person in &people {
            let arm = experiment.assign(person);
            assert_eq!(
                arm,
                experiment.assign(person),
                "the same person, the same arm"
            );
            counts[match arm {
                Arm::Holdout => 0,
                Arm::Variant(i) => i + 1,
            }] += 1;
        }
        // Expected shares 0.2, 0.8 × 1/4 = 0.2, 0.8 × 3/4 = 0.6; with n = 20,000 a share's
        // standard error is at most 0.0035, so 0.015 is more than four of them.
        let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / 20_000.0).collect();
        for (share, expected) in shares.iter().zip([0.2, 0.2, 0.6]) {
            assert!((share - expected).abs() < 0.015, "{shares:?}");
        }
    }

    #[test]
    fn a_bad_share_or_variant_is_refused_with_its_reason() {
        assert!(experiment(1.0, &[1])
            .validate()
            .unwrap_err()
            .contains("holdout 1"));
        assert!(experiment(0.1, &[])
            .validate()
            .unwrap_err()
            .contains("at least one variant"));
        assert!(experiment(0.1, &[0])
            .validate()
            .unwrap_err()
            .contains("weight"));
        assert_eq!(experiment(0.0, &[1, 1]).validate(), Ok(()));
    }
}
