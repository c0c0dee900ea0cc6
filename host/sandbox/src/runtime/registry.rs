//! The generations of one connector's plugin. The live generation sits behind a lock held only to
//! clone its `Arc`, so a swap is atomic: calls in flight finish on the generation they started on,
//! new calls take the new one. The last few generations are kept for rollback. A new generation is
//! on probation for its first calls and is swapped back automatically if it faults clearly more than
//! the one it replaced. A disabled connector keeps its generations but takes no work.

use super::health::{HealthReport, HealthState};
use super::plugin::Plugin;
use crate::contract::wit::Descriptor;
use crate::packages::Provenance;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

/// Faults a generation on probation must have made before it can be judged clearly worse.
pub const PROBATION_MIN_FAULTS: u64 = 5;

/// One loaded generation of a connector's plugin.
pub struct Generation {
    pub plugin: Arc<Plugin>,
    pub descriptor: Descriptor,
    /// Who signed it, or that it is an unsigned development build.
    pub provenance: Provenance,
    /// The manifest's version.
    pub version: String,
    pub loaded_at: DateTime<Utc>,
}

impl Generation {
    pub fn number(&self) -> u64 {
        self.plugin.generation()
    }

    fn summary(&self, live: bool) -> KeptGeneration {
        KeptGeneration {
            generation: self.number(),
            version: self.version.clone(),
            digest: self.plugin.digest().to_string(),
            loaded_at: self.loaded_at,
            live,
            health: self.plugin.health().state,
        }
    }
}

/// How many generations to keep and how long a new one is on probation.
#[derive(Debug, Clone, Copy)]
pub struct RegistryPolicy {
    /// Generations kept, the live one included (at least 2).
    pub keep: usize,
    /// Calls a new generation makes on probation.
    pub probation_calls: u64,
}

/// A kept generation, for operators.
#[derive(Debug, Clone, Serialize)]
pub struct KeptGeneration {
    pub generation: u64,
    pub version: String,
    pub digest: String,
    pub loaded_at: DateTime<Utc>,
    pub live: bool,
    pub health: HealthState,
}

/// A swap back to an earlier generation, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    pub from: u64,
    pub to: u64,
    pub automatic: bool,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A version that was refused before it took traffic, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The number it would have had, if it got that far.
    pub generation: Option<u64>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The registry's state, for operators.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryReport {
    pub disabled: bool,
    /// The generation the live one replaced, while the live one is on probation.
    pub probation_against: Option<u64>,
    /// Newest first.
    pub kept: Vec<KeptGeneration>,
    pub last_rollback: Option<Rollback>,
    pub last_refusal: Option<Refusal>,
}

/// Why a rollback could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error("no generation older than the live generation {live} is kept")]
    NothingOlder { live: u64 },
    #[error("generation {wanted} is not kept (kept: {kept:?})")]
    NotKept { wanted: u64, kept: Vec<u64> },
    #[error("generation {0} is already live")]
    AlreadyLive(u64),
}

/// What a probation check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough calls yet.
    Pending,
    /// Served its probation calls without being clearly worse.
    Passed,
    /// Clearly worse than the generation it replaced: roll back, for this reason.
    Failed(String),
}

/// Judges a generation on probation (`new`) against the one it replaced (`old`). Clearly worse means
/// quarantined, or at least `PROBATION_MIN_FAULTS` faults on at least half of its calls and a higher
/// fault rate than the old generation's over its life.
pub fn verdict(new: &HealthReport, old: &HealthReport, probation_calls: u64) -> Verdict {
    let rate = |r: &HealthReport| {
        if r.calls == 0 {
            0.0
        } else {
            r.faults as f64 / r.calls as f64
        }
    };
    let last = new.last_fault.as_deref().unwrap_or("no detail");
    if new.state == HealthState::Quarantined {
        return Verdict::Failed(format!(
            "it was quarantined after {} consecutive faults (last: {last})",
            new.consecutive_faults
        ));
    }
    if new.faults >= PROBATION_MIN_FAULTS && 2 * new.faults >= new.calls && rate(new) > rate(old) {
        return Verdict::Failed(format!(
            "{} of its first {} calls faulted, against {} of {} for the generation it replaced (last: {last})",
            new.faults, new.calls, old.faults, old.calls
        ));
    }
    if new.calls >= probation_calls {
        Verdict::Passed
    } else {
        Verdict::Pending
    }
}

struct Slots {
    live: Arc<Generation>,
    /// Kept generations other than the live one, oldest first.
    kept: Vec<Arc<Generation>>,
    /// The generation the live one replaced, while the live one is on probation.
    probation: Option<Arc<Generation>>,
    disabled: bool,
    last_rollback: Option<Rollback>,
    last_refusal: Option<Refusal>,
}

/// The generations of one connector's plugin.
pub struct Generations {
    connector: String,
    policy: RegistryPolicy,
    next: AtomicU64,
    slots: RwLock<Slots>,
}

impl Generations {
    pub fn new(connector: &str, first: Generation, policy: RegistryPolicy) -> Self {
        Generations {
            connector: connector.to_string(),
            policy,
            next: AtomicU64::new(first.number() + 1),
            slots: RwLock::new(Slots {
                live: Arc::new(first),
                kept: Vec::new(),
                probation: None,
                disabled: false,
                last_rollback: None,
                last_refusal: None,
            }),
        }
    }

    /// A fresh generation number; numbers only grow, a refused version's is not reused.
    pub fn next_number(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Slots> {
        self.slots.write().expect("generations lock")
    }

    /// The generation new calls go to. While it is on probation this also judges it, and swaps back
    /// first if it is clearly worse than the generation it replaced.
    pub fn live(&self) -> Arc<Generation> {
        let (live, previous) = {
            let slots = self.slots.read().expect("generations lock");
            (slots.live.clone(), slots.probation.clone())
        };
        let Some(previous) = previous else {
            return live;
        };
        match verdict(
            &live.plugin.health(),
            &previous.plugin.health(),
            self.policy.probation_calls,
        ) {
            Verdict::Pending => live,
            Verdict::Passed => {
                let mut slots = self.write();
                if Arc::ptr_eq(&slots.live, &live) {
                    slots.probation = None;
                    tracing::info!(connector = %self.connector, generation = live.number(),
                        "generation passed its probation");
                }
                slots.live.clone()
            }
            Verdict::Failed(reason) => {
                let mut slots = self.write();
                if Arc::ptr_eq(&slots.live, &live) {
                    let reason = format!("generation {} rolled back: {reason}", live.number());
                    tracing::error!(connector = %self.connector, from = live.number(),
                        to = previous.number(), "{reason}");
                    slots.kept.retain(|g| !Arc::ptr_eq(g, &previous));
                    slots.live = previous.clone();
                    slots.probation = None;
                    slots.last_rollback = Some(Rollback {
                        from: live.number(),
                        to: previous.number(),
                        automatic: true,
                        reason,
                        at: Utc::now(),
                    });
                }
                slots.live.clone()
            }
        }
    }

    /// Makes `new` live, on probation against the generation it replaces; the oldest kept
    /// generations beyond the policy's count are dropped (calls still running on them finish).
    /// Returns the number of the generation it replaced.
    pub fn promote(&self, new: Generation) -> u64 {
        let new = Arc::new(new);
        let mut slots = self.write();
        let old = std::mem::replace(&mut slots.live, new);
        let replaced = old.number();
        slots.kept.push(old.clone());
        slots.probation = Some(old);
        let excess = (slots.kept.len() + 1).saturating_sub(self.policy.keep);
        slots.kept.drain(..excess);
        replaced
    }

    /// Swaps back to kept generation `to`, or to the newest kept one older than the live one.
    /// The generation it leaves stays kept, so it can be swapped to again. Returns (from, to).
    pub fn rollback(&self, to: Option<u64>, reason: &str) -> Result<(u64, u64), RollbackError> {
        let mut slots = self.write();
        let live = slots.live.number();
        let index = match to {
            Some(wanted) if wanted == live => return Err(RollbackError::AlreadyLive(wanted)),
            Some(wanted) => slots
                .kept
                .iter()
                .position(|g| g.number() == wanted)
                .ok_or_else(|| RollbackError::NotKept {
                    wanted,
                    kept: slots.kept.iter().map(|g| g.number()).collect(),
                })?,
            None => slots
                .kept
                .iter()
                .enumerate()
                .filter(|(_, g)| g.number() < live)
                .max_by_key(|(_, g)| g.number())
                .map(|(i, _)| i)
                .ok_or(RollbackError::NothingOlder { live })?,
        };
        let target = slots.kept.remove(index);
        let to = target.number();
        let old = std::mem::replace(&mut slots.live, target);
        slots.kept.push(old);
        slots.kept.sort_by_key(|g| g.number());
        slots.probation = None;
        slots.last_rollback = Some(Rollback {
            from: live,
            to,
            automatic: false,
            reason: reason.to_string(),
            at: Utc::now(),
        });
        tracing::warn!(connector = %self.connector, from = live, to, "{reason}");
        Ok((live, to))
    }

    /// Records that a new version was refused before taking traffic.
    pub fn refused(&self, generation: Option<u64>, reason: String) {
        self.write().last_refusal = Some(Refusal {
            generation,
            reason,
            at: Utc::now(),
        });
    }

    pub fn is_disabled(&self) -> bool {
        self.slots.read().expect("generations lock").disabled
    }

    /// Disables or enables the connector; returns whether that changed anything.
    pub fn set_disabled(&self, disabled: bool) -> bool {
        let mut slots = self.write();
        let changed = slots.disabled != disabled;
        slots.disabled = disabled;
        changed
    }

    pub fn report(&self) -> RegistryReport {
        let slots = self.slots.read().expect("generations lock");
        let mut kept = vec![slots.live.summary(true)];
        kept.extend(slots.kept.iter().map(|g| g.summary(false)));
        kept.sort_by_key(|g| std::cmp::Reverse(g.generation));
        RegistryReport {
            disabled: slots.disabled,
            probation_against: slots.probation.as_ref().map(|g| g.number()),
            kept,
            last_rollback: slots.last_rollback.clone(),
            last_refusal: slots.last_refusal.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn health(calls: u64, faults: u64, state: HealthState) -> HealthReport {
        HealthReport {
            state,
            consecutive_faults: faults as u32,
            calls,
            faults,
            faults_by_kind: BTreeMap::new(),
            last_fault: (faults > 0).then(|| "trapped: boom".to_string()),
        }
    }

    #[test]
    fn a_generation_faulting_on_most_calls_fails_its_probation() {
        let old = health(1000, 3, HealthState::Healthy);
        assert_eq!(
            verdict(&health(4, 4, HealthState::Degraded), &old, 50),
            Verdict::Pending
        );
        let Verdict::Failed(reason) = verdict(&health(6, 5, HealthState::Degraded), &old, 50)
        else {
            panic!("five faults in six calls must fail");
        };
        assert!(
            reason.contains("5 of its first 6 calls faulted"),
            "{reason}"
        );
        assert!(reason.contains("trapped: boom"), "{reason}");
    }

    #[test]
    fn quarantine_fails_probation_at_once() {
        let old = health(10, 0, HealthState::Healthy);
        let verdict = verdict(&health(2, 2, HealthState::Quarantined), &old, 50);
        assert!(
            matches!(&verdict, Verdict::Failed(r) if r.contains("quarantined")),
            "{verdict:?}"
        );
    }

    #[test]
    fn faults_no_worse_than_the_old_generation_pass() {
        // The vendor's trouble, not the version's: both fault at the same rate.
        let old = health(100, 60, HealthState::Degraded);
        assert_eq!(
            verdict(&health(50, 30, HealthState::Degraded), &old, 50),
            Verdict::Passed
        );
        assert_eq!(
            verdict(
                &health(50, 4, HealthState::Healthy),
                &health(9, 0, HealthState::Healthy),
                50
            ),
            Verdict::Passed
        );
        assert_eq!(
            verdict(&health(49, 0, HealthState::Healthy), &old, 50),
            Verdict::Pending
        );
    }
}
