//! Progressive go-live: a feature (a journey, a sink) turned on for a stable share of people first.
//! Who is in is decided by a hash of the feature and the person's profile key, so the same people
//! stay in across restarts, and growing the share only ever adds people.

use crate::experiments::unit_hash;

/// Whether the person whose profile key is `person` is among the `share` (0 to 1) of people that
/// `feature` is rolled out to.
pub fn includes(feature: &str, share: f64, person: &str) -> bool {
    share >= 1.0 || unit_hash(feature, person) < share
}

/// Checks a configured share; the error names `what` it belongs to.
pub fn check_share(what: &str, share: f64) -> Result<(), String> {
    match (0.0..=1.0).contains(&share) {
        true => Ok(()),
        false => Err(format!(
            "{what}: rollout must be a share from 0 to 1, not {share}"
        )),
    }
}

/// "20% of people", for reasons and reports.
pub fn describe(share: f64) -> String {
    format!("{:.0}% of people", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_holds_about_that_share_and_growing_it_only_adds_people() {
        let people: Vec<String> = (0..10_000).map(|n| format!("p-{n}")).collect();
        let at = |share: f64| -> Vec<&String> {
            people
                .iter()
                .filter(|p| includes("sink rollout crm", share, p))
                .collect()
        };
        let (fifth, half) = (at(0.2), at(0.5));
        // Binomial(10 000, 0.2): sd 40; four of them either side.
        assert!((1840..=2160).contains(&fifth.len()), "{}", fifth.len());
        assert!(fifth.iter().all(|p| half.contains(p)));
        assert_eq!(at(1.0).len(), people.len());
        assert!(at(0.0).is_empty());
    }

    #[test]
    fn features_choose_their_people_independently() {
        let people: Vec<String> = (0..2_000).map(|n| format!("p-{n}")).collect();
        let both = people
            .iter()
            .filter(|p| includes("a", 0.5, p) && includes("b", 0.5, p))
            .count();
        // Independent halves overlap on about a quarter (sd ~19).
        assert!((420..=580).contains(&both), "{both}");
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused_by_name() {
        assert!(check_share("[[sink]] \"crm\"", 0.25).is_ok());
        let e = check_share("[[sink]] \"crm\"", 1.5).unwrap_err();
        assert!(e.contains("[[sink]] \"crm\"") && e.contains("1.5"), "{e}");
        assert!(check_share("x", -0.1).is_err());
    }
}
