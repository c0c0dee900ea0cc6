//! rapport's domain, pure: the clock every time-based rule reads, the model (events, people, money, consent), identity normalisation and
//! merge planning, consent rules (ledger, marketing gate, contact rules), sales facts (current
//! versions, what counts as a sale, refund buyers, the journey horizon), journey rules, governance
//! rules (fields a sink may receive, retention periods), profile facts, RFM segments and loyalty
//! tiers (`profile`), product pairs (association rules over baskets: `pairs`), staff cues and the
//! receipt footer (`cues`), business metrics (repeat purchases, lifetime value, attachment:
//! `metrics`), retry backoff and idempotency keys, and the operations figures (SLOs,
//! error budgets, latency percentiles: `operations`), and the verdicts of the go-live check
//! (`readiness`), backups' header and schedule (`backup`), and the pilot report's comparison of rapport with a vendor's export (`pilot`).
//!
//! No SQL, no wasmtime, no I/O: every rule here is tested with plain values. The store persists
//! what these types describe; the host's services call these rules between reads and writes.

pub mod backoff;
pub mod backup;
pub mod clock;
pub mod conformance;
pub mod consent;
pub mod cues;
pub mod experiments;
pub mod freeze;
pub mod governance;
pub mod identity;
pub mod journeys;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod operations;
pub mod pairs;
pub mod pilot;
pub mod predictions;
pub mod profile;
pub mod readiness;
pub mod rollout;
pub mod sales;
