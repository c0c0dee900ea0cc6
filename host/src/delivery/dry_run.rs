//! One sink's part of `rapport sync --dry-run`: the items a drain would take now, read without
//! claiming them, rendered and judged by the worker's own code (consent gate, minimisation,
//! journey message rules) and handed to the plugin, whose requests are captured (the dry run
//! loads every sink in capture mode). Nothing is recorded: no completion, no stored request, no
//! pause, and so no journey message counts as sent for the contact rules.

use super::{Processed, SinkWorker};
use rapport_store::{Completion, SnapshotDepth, StoreError, WorkKind};
use serde::Serialize;

/// What a real sync would do with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sent to the vendor.
    Send,
    /// Held back by rapport's rules for now or for good: consent, a frequency cap, quiet hours, a
    /// paused sink, a retry.
    Withheld,
    /// Refused by rapport: it cannot be rendered (dead-lettered).
    RefusedByRapport,
    /// Refused by the plugin, with its reason.
    RefusedByPlugin,
}

/// One item and what would become of it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemPreview {
    pub outbox_id: i64,
    /// `profile`, `activity`, `consent` or `message`.
    pub kind: &'static str,
    /// The person's profile key.
    pub person: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

/// A request the plugin would make.
#[derive(Debug, Clone, Serialize)]
pub struct RequestPreview {
    pub method: String,
    pub url: String,
    pub body: String,
}

/// What a real sync would do for one sink.
#[derive(Debug, Clone, Serialize)]
pub struct SinkPreview {
    pub sink: String,
    /// Items a real sync would send.
    pub send: usize,
    /// People whose record at the vendor would be created or updated (profile and consent items).
    pub changed: usize,
    pub withheld: usize,
    pub refused_by_rapport: usize,
    pub refused_by_plugin: usize,
    /// The requests the plugin would make for the items it is sent.
    pub requests: Vec<RequestPreview>,
    pub items: Vec<ItemPreview>,
}

impl SinkWorker {
    /// What a drain of this sink would do now, recording nothing. A disabled or paused sink's due
    /// items are all withheld, with why.
    pub async fn preview(&self) -> Result<SinkPreview, StoreError> {
        let now = self.clock.now_ms();
        let rows = self.store.peek_due(&self.sink.id, now).await?;
        let kinds: Vec<(i64, WorkKind, i64)> = (rows.iter())
            .map(|row| (row.id, row.kind, row.profile_id))
            .collect();
        let mut people: Vec<i64> = kinds.iter().map(|(_, _, person)| *person).collect();
        people.sort_unstable();
        people.dedup();
        let keys = self
            .store
            .profile_snapshots(&people, SnapshotDepth::Basic)
            .await?;
        let held = match self.store.sink_pause(&self.sink.id).await? {
            _ if self.sink.generations.is_disabled() => {
                Some("the sink's plugin is disabled".into())
            }
            _ if !self.sink.config.enabled => Some("the sink is held (enabled = false)".into()),
            Some(pause) if pause.until > now => {
                Some(format!("the sink is paused: {}", pause.reason))
            }
            _ => None,
        };
        let (results, captured) = match held {
            Some(why) => {
                let waiting = |row| (row, Completion::Suppressed(why.clone()));
                (rows.into_iter().map(waiting).collect(), Vec::new())
            }
            None => {
                let Processed {
                    results, captured, ..
                } = self.process(rows).await?;
                (results, captured)
            }
        };
        let mut items: Vec<ItemPreview> = results
            .into_iter()
            .map(|(row, completion)| {
                let (verdict, reason) = verdict(completion);
                ItemPreview {
                    outbox_id: row.id,
                    kind: row.kind.as_str(),
                    person: keys
                        .get(&row.profile_id)
                        .map_or_else(|| row.profile_id.to_string(), |s| s.key.clone()),
                    verdict,
                    reason,
                }
            })
            .collect();
        items.sort_by_key(|item| item.outbox_id);
        let count = |wanted: Verdict| items.iter().filter(|i| i.verdict == wanted).count();
        let mut changed: Vec<&str> = (items.iter())
            .filter(|i| i.verdict == Verdict::Send && matches!(i.kind, "profile" | "consent"))
            .map(|i| i.person.as_str())
            .collect();
        changed.sort_unstable();
        changed.dedup();
        Ok(SinkPreview {
            sink: self.sink.id.clone(),
            send: count(Verdict::Send),
            changed: changed.len(),
            withheld: count(Verdict::Withheld),
            refused_by_rapport: count(Verdict::RefusedByRapport),
            refused_by_plugin: count(Verdict::RefusedByPlugin),
            requests: (captured.into_iter())
                .flat_map(|(_, requests)| requests)
                .map(|r| RequestPreview {
                    method: r.method,
                    url: r.url,
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                })
                .collect(),
            items,
        })
    }
}

/// What a completion means to an operator, and why.
fn verdict(completion: Completion) -> (Verdict, Option<String>) {
    match completion {
        Completion::Delivered => (Verdict::Send, None),
        Completion::Suppressed(why) => (Verdict::Withheld, Some(why)),
        Completion::Deferred { at, reason } => {
            let until = chrono::DateTime::from_timestamp_millis(at)
                .map_or_else(|| at.to_string(), |t| t.to_rfc3339());
            (Verdict::Withheld, Some(format!("{reason} (until {until})")))
        }
        Completion::Retry { error, .. } => (
            Verdict::Withheld,
            Some(format!("would be retried: {error}")),
        ),
        Completion::Rejected(why) => (Verdict::RefusedByPlugin, Some(why)),
        Completion::Dead(why) => (Verdict::RefusedByRapport, Some(why)),
    }
}
