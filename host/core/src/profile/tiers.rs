//! Loyalty tiers, as the shop defines them in config: a tier is reached when every threshold it
//! names is met (lifetime spend, loyalty points ever earned); a person's tier is the last reached
//! in the shop's list, which runs from the lowest tier to the highest.

use serde::{Deserialize, Serialize};

/// One tier and what reaching it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    /// Net lifetime spend, in minor units of the shop's currency.
    #[serde(default)]
    pub min_spend_minor: Option<i64>,
    /// Loyalty points ever earned.
    #[serde(default)]
    pub min_lifetime_points: Option<i64>,
}

impl Tier {
    fn reached(&self, spend_minor: i64, lifetime_points: i64) -> bool {
        self.min_spend_minor.is_none_or(|min| spend_minor >= min)
            && self
                .min_lifetime_points
                .is_none_or(|min| lifetime_points >= min)
    }
}

/// Why a list of tiers cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("loyalty tier #{0} has no name")]
    Unnamed(usize),
    #[error(
        "loyalty tier {0:?} names no threshold: give min_spend_minor, min_lifetime_points or both"
    )]
    NoThreshold(String),
    #[error("loyalty tier {0:?} appears twice")]
    Duplicate(String),
}

/// Checks a shop's tiers.
pub fn check(tiers: &[Tier]) -> Result<(), TierError> {
    for (i, tier) in tiers.iter().enumerate() {
        if tier.name.trim().is_empty() {
            return Err(TierError::Unnamed(i + 1));
        }
        if tier.min_spend_minor.is_none() && tier.min_lifetime_points.is_none() {
            return Err(TierError::NoThreshold(tier.name.clone()));
        }
        if tiers[..i].iter().any(|t| t.name == tier.name) {
            return Err(TierError::Duplicate(tier.name.clone()));
        }
    }
    Ok(())
}

/// The person's tier: the last in `tiers` they reached, if any.
pub fn tier_of(tiers: &[Tier], spend_minor: i64, lifetime_points: i64) -> Option<&Tier> {
    tiers
        .iter()
        .rev()
        .find(|t| t.reached(spend_minor, lifetime_points))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &str, spend: Option<i64>, points: Option<i64>) -> Tier {
        Tier {
            name: name.into(),
            min_spend_minor: spend,
            min_lifetime_points: points,
        }
    }

    #[test]
    fn the_highest_tier_whose_every_threshold_is_met() {
        let tiers = [
            tier("bronze", Some(0), None),
            tier("silver", Some(10_000), None),
            tier("gold", Some(50_000), Some(500)),
        ];
        let name = |spend, points| tier_of(&tiers, spend, points).map(|t| t.name.as_str());
        assert_eq!(name(-100, 0), None);
        assert_eq!(name(0, 0), Some("bronze"));
        assert_eq!(name(60_000, 100), Some("silver"));
        assert_eq!(name(60_000, 500), Some("gold"));
    }

    #[test]
    fn a_tier_without_a_threshold_or_a_name_is_refused() {
        assert_eq!(
            check(&[tier("vip", None, None)]),
            Err(TierError::NoThreshold("vip".into()))
        );
        assert_eq!(
            check(&[tier(" ", Some(1), None)]),
            Err(TierError::Unnamed(1))
        );
        assert!(check(&[tier("a", Some(1), None), tier("a", Some(2), None)]).is_err());
    }
}
