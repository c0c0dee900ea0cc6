//! RFM: each buyer scored 1–5 on recency (days since the last visit), frequency (visits) and
//! monetary value (net spend), relative to the shop's other buyers, and the named segment the
//! scores map to.
//!
//! A score is the buyer's quintile by mid-rank: with `below` buyers worse and `tied` equal (the
//! buyer included) among `n`, the position is `(below + tied / 2) / n` and the score
//! `1 + floor(5 × position)`, at most 5. Ties share a score, and a shop whose buyers are all alike
//! scores them all 3, never all 1.
//!
//! Segments, from R and FM = (F + M) / 2 rounded up:
//!
//! | R \ FM | 1–2 | 3 | 4–5 |
//! |---|---|---|---|
//! | 4–5 | promising | loyal | champions |
//! | 3 | needs attention | loyal | loyal |
//! | 2 | hibernating | at risk | at risk |
//! | 1 | lost | hibernating | at risk |

use serde::Serialize;
use std::fmt;

/// What RFM scores a buyer on. Better is higher for every field: a later last visit, more visits,
/// more spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    /// The last visit, as any increasing measure of time (e.g. milliseconds since the epoch).
    pub last_visit: i64,
    pub visits: i64,
    pub spend_minor: i64,
}

/// A buyer's three scores, each 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RfmScore {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

/// The named segments, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Champions,
    Loyal,
    Promising,
    NeedsAttention,
    AtRisk,
    Hibernating,
    Lost,
}

impl Segment {
    pub const ALL: [Segment; 7] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::Promising,
        Segment::NeedsAttention,
        Segment::AtRisk,
        Segment::Hibernating,
        Segment::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::Promising => "promising",
            Segment::NeedsAttention => "needs attention",
            Segment::AtRisk => "at risk",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RfmScore {
    /// The segment these scores map to (the table in the module's documentation).
    pub fn segment(self) -> Segment {
        let fm = (self.frequency + self.monetary).div_ceil(2);
        match (self.recency, fm) {
            (4..=5, 4..=5) => Segment::Champions,
            (4..=5, 3) | (3, 3..=5) => Segment::Loyal,
            (4..=5, _) => Segment::Promising,
            (3, _) => Segment::NeedsAttention,
            (2, 3..=5) | (1, 4..=5) => Segment::AtRisk,
            (2, _) | (1, 3) => Segment::Hibernating,
            _ => Segment::Lost,
        }
    }
}

/// Scores every buyer against all of them; the result is in the order of `buyers`.
pub fn score(buyers: &[RfmInput]) -> Vec<RfmScore> {
    let recency = quintiles(buyers.iter().map(|b| b.last_visit).collect());
    let frequency = quintiles(buyers.iter().map(|b| b.visits).collect());
    let monetary = quintiles(buyers.iter().map(|b| b.spend_minor).collect());
    (0..buyers.len())
        .map(|i| RfmScore {
            recency: recency[i],
            frequency: frequency[i],
            monetary: monetary[i],
        })
        .collect()
}

/// Each value's mid-rank quintile among all of them (1 to 5).
fn quintiles(values: Vec<i64>) -> Vec<u8> {
    let n = values.len();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x < v);
            let tied = sorted.partition_point(|x| x <= v) - below;
            // 1 + floor(5 × (below + tied/2) / n), in integers: 1 + floor(5 × (2·below + tied) / 2n).
            let score = 1 + (5 * (2 * below + tied)) / (2 * n);
            score.min(5) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(r: u8, f: u8, m: u8) -> RfmScore {
        RfmScore {
            recency: r,
            frequency: f,
            monetary: m,
        }
    }

    #[test]
    fn five_distinct_values_take_one_score_each_and_ties_share() {
        assert_eq!(quintiles(vec![50, 10, 40, 20, 30]), [5, 1, 4, 2, 3]);
        assert_eq!(quintiles(vec![7, 7, 7]), [3, 3, 3]);
        // Ten values: positions 0.05, 0.15, … 0.95 → 1,1,2,2,3,3,4,4,5,5.
        assert_eq!(
            quintiles((1..=10).collect()),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        // 1,1,1,9: the three ones sit at (0 + 3/2)/4 = 0.375 → 2; the nine at 3.5/4 → 5.
        assert_eq!(quintiles(vec![1, 1, 1, 9]), [2, 2, 2, 5]);
    }

    #[test]
    fn the_segment_table() {
        let grid: Vec<Vec<&str>> = (1..=5)
            .rev()
            .map(|r| {
                (1..=5)
                    .map(|fm| scores(r, fm, fm).segment().as_str())
                    .collect()
            })
            .collect();
        let expected = [
            ["promising", "promising", "loyal", "champions", "champions"],
            ["promising", "promising", "loyal", "champions", "champions"],
            [
                "needs attention",
                "needs attention",
                "loyal",
                "loyal",
                "loyal",
            ],
            [
                "hibernating",
                "hibernating",
                "at risk",
                "at risk",
                "at risk",
            ],
            ["lost", "lost", "hibernating", "at risk", "at risk"],
        ];
        assert_eq!(grid, expected);
        // FM rounds up: F 4 and M 3 is FM 4.
        assert_eq!(scores(5, 4, 3).segment(), Segment::Champions);
        assert_eq!(scores(1, 1, 2).segment(), Segment::Lost);
    }

    #[test]
    fn a_recent_frequent_big_spender_is_a_champion_and_the_opposite_is_lost() {
        let buyers: Vec<RfmInput> = (0..10)
            .map(|i| RfmInput {
                last_visit: i * 1000,
                visits: i + 1,
                spend_minor: (i + 1) * 500,
            })
            .collect();
        let scored = score(&buyers);
        assert_eq!(scored[9], scores(5, 5, 5));
        assert_eq!(scored[9].segment(), Segment::Champions);
        assert_eq!(scored[0], scores(1, 1, 1));
        assert_eq!(scored[0].segment(), Segment::Lost);
    }
}
