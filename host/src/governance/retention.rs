//! The retention job: applies the `[retention]` periods (rules in
//! `rapport_core::governance::retention`) in the daemon every `retention.interval`, and on demand
//! with `rapport retention run`. It works in small transactions, so a large store is never locked
//! for long.

use chrono::{DateTime, Utc};
use rapport_core::governance::retention::{
    summarise, ClassReport, Mode, RecordClass, RetentionConfig, RetentionReport,
};
use rapport_store::{Store, StoreError};

/// Records retired per transaction: small enough that other writers wait only briefly.
const CHUNK: i64 = 500;

/// Applies every retention period as of `now` (or, in a dry run, counts what it would retire).
/// Each chunk is its own transaction: a run that is interrupted leaves a consistent store, and the
/// next run carries on.
pub async fn run(
    store: &Store,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<RetentionReport, StoreError> {
    let mut classes = Vec::with_capacity(RecordClass::ALL.len());
    for class in RecordClass::ALL {
        let period = config.period(class);
        let mut retired = 0;
        if let Some(cutoff) = period.cutoff(now) {
            let mut after = 0;
            loop {
                let ids = store.expired_records(class, cutoff, after, CHUNK).await?;
                let Some(&last) = ids.last() else { break };
                after = last;
                retired += match mode {
                    Mode::DryRun => ids.len() as u64,
                    Mode::Apply => {
                        let now = now.timestamp_millis();
                        let done = store
                            .retire_records(class, &ids, cutoff, now, summarise)
                            .await?;
                        tokio::task::yield_now().await;
                        done
                    }
                };
            }
        }
        classes.push(ClassReport {
            class,
            period,
            retired,
        });
    }
    Ok(RetentionReport { mode, classes })
}
