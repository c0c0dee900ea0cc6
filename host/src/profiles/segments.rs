//! The shop's buyers per RFM segment, and what each segment is worth: how many people, their net
//! spend together and on average (in the shop's main currency: the one most buyers spend in).

use super::view::scored_buyers;
use rapport_core::profile::rfm::Segment;
use rapport_store::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// One segment's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentLine {
    pub segment: Segment,
    pub people: usize,
    pub net_spend_minor: i64,
    /// Net spend per person, rounded down; 0 for an empty segment.
    pub average_minor: i64,
}

/// Every segment, best first (empty ones included), in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub currency: Option<String>,
    pub buyers: usize,
    pub segments: Vec<SegmentLine>,
}

/// Scores every buyer and sums each segment.
pub async fn segments(store: &Store) -> Result<Segments, StoreError> {
    let buyers = scored_buyers(store).await?;
    let mut currencies: BTreeMap<&str, usize> = BTreeMap::new();
    for (buyer, _) in &buyers {
        if let Some(c) = &buyer.currency {
            *currencies.entry(c.as_str()).or_default() += 1;
        }
    }
    let currency = (currencies.iter().rev())
        .max_by_key(|(_, n)| **n)
        .map(|(c, _)| c.to_string());
    let mut lines: Vec<SegmentLine> = Segment::ALL
        .iter()
        .map(|segment| SegmentLine {
            segment: *segment,
            people: 0,
            net_spend_minor: 0,
            average_minor: 0,
        })
        .collect();
    for (buyer, score) in &buyers {
        let line = (lines.iter_mut())
            .find(|l| l.segment == score.segment())
            .expect("every segment has a line");
        line.people += 1;
        if buyer.currency == currency {
            line.net_spend_minor += buyer.net_spend_minor;
        }
    }
    for line in &mut lines {
        if line.people > 0 {
            line.average_minor = line.net_spend_minor.div_euclid(line.people as i64);
        }
    }
    Ok(Segments {
        currency,
        buyers: buyers.len(),
        segments: lines,
    })
}
