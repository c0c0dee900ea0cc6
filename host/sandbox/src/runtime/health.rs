//! Plugin health: consecutive faulty calls (traps, deadlines, memory or stack exhaustion, refused
//! egress) move a plugin from healthy to degraded to quarantined. A quarantined plugin is not called;
//! after a rest it is probed with `check`, and a passing probe makes it healthy again. Work waiting for
//! a quarantined plugin stays where it is.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Thresholds, from the operator's config.
#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    pub degrade_after: u32,
    pub quarantine_after: u32,
    pub probe_interval: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            degrade_after: 3,
            quarantine_after: 6,
            probe_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Degraded,
    Quarantined,
}

/// A reading of a plugin's health, for the CLI and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub state: HealthState,
    pub consecutive_faults: u32,
    pub calls: u64,
    pub faults: u64,
    /// Faults by kind: "trap", "deadline", "memory", "stack-overflow", "egress-denied", …
    pub faults_by_kind: BTreeMap<&'static str, u64>,
    pub last_fault: Option<String>,
}

/// The health of one plugin generation.
#[derive(Debug)]
pub struct Health {
    policy: HealthPolicy,
    report: HealthReport,
    quarantined_at: Option<Instant>,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Quarantined and resting: try again after this long.
    Wait(Duration),
    /// Quarantined and rested: probe before calling.
    Probe,
}

impl Health {
    pub fn new(policy: HealthPolicy) -> Self {
        Health {
            policy,
            report: HealthReport {
                state: HealthState::Healthy,
                consecutive_faults: 0,
                calls: 0,
                faults: 0,
                faults_by_kind: BTreeMap::new(),
                last_fault: None,
            },
            quarantined_at: None,
        }
    }

    pub fn report(&self) -> HealthReport {
        self.report.clone()
    }

    pub fn admission(&self) -> Admission {
        match self.quarantined_at {
            None => Admission::Go,
            Some(at) => match self.policy.probe_interval.checked_sub(at.elapsed()) {
                Some(rest) if !rest.is_zero() => Admission::Wait(rest),
                _ => Admission::Probe,
            },
        }
    }

    pub fn record_success(&mut self) {
        self.report.calls += 1;
        self.report.consecutive_faults = 0;
        if self.quarantined_at.is_none() {
            self.report.state = HealthState::Healthy;
        }
    }

    pub fn record_fault(&mut self, kind: &'static str, message: String) {
        let r = &mut self.report;
        r.calls += 1;
        r.faults += 1;
        r.consecutive_faults += 1;
        *r.faults_by_kind.entry(kind).or_default() += 1;
        r.last_fault = Some(message);
        if r.consecutive_faults >= self.policy.quarantine_after {
            if self.quarantined_at.is_none() {
                tracing::error!(faults = r.consecutive_faults, "plugin quarantined");
            }
            r.state = HealthState::Quarantined;
            self.quarantined_at = Some(Instant::now());
        } else if r.consecutive_faults >= self.policy.degrade_after {
            r.state = HealthState::Degraded;
        }
    }

    /// Applies a probe's result: back to healthy, or another rest in quarantine.
    pub fn record_probe(&mut self, passed: bool, detail: String) {
        if passed {
            tracing::info!("plugin passed its probe and leaves quarantine");
            self.quarantined_at = None;
            self.report.state = HealthState::Healthy;
            self.report.consecutive_faults = 0;
        } else {
            self.report.last_fault = Some(format!("probe failed: {detail}"));
            self.quarantined_at = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(probe_ms: u64) -> HealthPolicy {
        HealthPolicy {
            degrade_after: 2,
            quarantine_after: 4,
            probe_interval: Duration::from_millis(probe_ms),
        }
    }

    #[test]
    fn faults_degrade_then_quarantine_and_successes_reset() {
        let mut h = Health::new(policy(60_000));
        h.record_fault("trap", "t".into());
        assert_eq!(h.report().state, HealthState::Healthy);
        h.record_fault("trap", "t".into());
        assert_eq!(h.report().state, HealthState::Degraded);
        h.record_success();
        assert_eq!(h.report().state, HealthState::Healthy);
        for _ in 0..4 {
            h.record_fault("deadline", "d".into());
        }
        assert_eq!(h.report().state, HealthState::Quarantined);
        assert!(matches!(h.admission(), Admission::Wait(_)));
        assert_eq!(h.report().faults_by_kind["deadline"], 4);
    }

    #[test]
    fn a_rested_plugin_is_probed_and_a_passing_probe_heals_it() {
        let mut h = Health::new(policy(0));
        for _ in 0..4 {
            h.record_fault("trap", "t".into());
        }
        assert_eq!(h.admission(), Admission::Probe);
        h.record_probe(false, "still broken".into());
        assert_eq!(h.report().state, HealthState::Quarantined);
        h.record_probe(true, String::new());
        assert_eq!(h.report().state, HealthState::Healthy);
        assert_eq!(h.admission(), Admission::Go);
    }
}
