//! Experiments and attribution as workflows: in the ingest transaction, the new completed sales
//! are credited to the journey entry that earned them (last touch, within the journey's window)
//! and the cancelled ones lose their credit; `rapport experiment report` counts each arm in the
//! store and words the result with `rapport_core::experiments::report`.

use rapport_core::experiments::attribution::{entry_span, last_touch, Sale};
use rapport_core::experiments::report::{report, Report};
use rapport_core::experiments::Experiment;
use rapport_core::journeys::Journey;
use rapport_store::{experiments, Store, StoreError, Tx};
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;

/// Credits each of `sales` (orders that became completed sales in this transaction) to the latest
/// entry of its person whose journey's window holds it, and takes the credit back from the orders
/// of `source_id` named in `cancelled` (completed before, cancelled now).
pub async fn attribute(
    tx: &mut Tx<'_>,
    journeys: &[Journey],
    sales: &[Sale],
    source_id: &str,
    cancelled: &[&str],
) -> Result<(), StoreError> {
    experiments::withdraw_credits(tx, source_id, cancelled).await?;
    let windows: HashMap<&str, i64> = (journeys.iter())
        .map(|j| (j.name.as_str(), i64::from(j.window_days) * DAY_MS))
        .collect();
    let widest = windows.values().copied().max().unwrap_or(0);
    let Some((since, until)) = entry_span(sales, widest).filter(|_| widest > 0) else {
        return Ok(());
    };
    let mut people: Vec<i64> = sales.iter().map(|s| s.profile_id).collect();
    people.sort_unstable();
    people.dedup();
    let touches = experiments::touches(tx, &people, since, until).await?;
    let credits = last_touch(sales, &touches, &windows);
    experiments::record_credits(tx, &credits).await
}

/// The experiments the journeys carry, in their order.
pub fn configured(journeys: &[Journey]) -> impl Iterator<Item = &Experiment> {
    journeys.iter().filter_map(|j| j.experiment.as_ref())
}

/// The report of `experiment` from what the store holds now.
pub async fn experiment_report(
    store: &Store,
    experiment: &Experiment,
) -> Result<Report, StoreError> {
    let counts = store.experiment_counts(&experiment.name).await?;
    Ok(report(experiment, &counts))
}
