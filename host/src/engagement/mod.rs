//! Message engagement: what became of the journey messages sinks were given (delivered, opened,
//! clicked, bounced, unsubscribed). Sinks built for contract 0.5 report it (`feed` reads them and
//! ties each event to the message the host sent); [`per_journey`] counts it per journey,
//! experiment arm and channel for the business metrics and the experiment report.

pub mod feed;

use chrono::{DateTime, Utc};
pub use rapport_store::engagement::{EngagementCounts, EngagementKey};
use rapport_store::{Store, StoreError};
use std::collections::BTreeMap;

/// Engagement per (journey, arm, channel) with the events that occurred in `[from, to)`: for
/// each, the distinct messages delivered, opened, clicked, bounced and unsubscribed from.
pub async fn per_journey(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<EngagementKey, EngagementCounts>, StoreError> {
    store
        .engagement_counts(from.timestamp_millis(), to.timestamp_millis())
        .await
}
