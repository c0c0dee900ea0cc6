//! Delivery: one worker per sink drains that sink's outbox — batches up to the sink's limit, one kind
//! of work per call, outcomes applied per item (retry after, backoff, rejected, dead-lettered). A slow
//! or failing sink only ever holds up its own worker. Journey messages go as activities, once the
//! person's consent on their channel and the shop's contact rules allow. A vendor that throttles
//! (429, rate limits) or refuses the sink's credentials (401/403) pauses the whole sink, and its work
//! waits without using attempts: neither is the items' fault.

pub mod dry_run;
pub mod minimise;
pub mod rate;
pub mod render;
mod shadow;

use crate::config::DeliveryConfig;
use crate::connectors::Connector;
use crate::preferences::Preferences;
use rapport_core::clock::SharedClock;
use rapport_core::consent::contact::Verdict;
use rapport_core::consent::gate::Admission;
use rapport_core::journeys::Messaging;
use rapport_core::model::{Channel, Payload};
use rapport_sandbox::capabilities::capture::{self, CapturedRequest, SendMode};
use rapport_sandbox::contract::wit::{ConnectorError, Outcome};
use rapport_sandbox::runtime::plugin::{Fault, PluginError};
use rapport_store::journey_entries::EntryDetail;
use rapport_store::{
    Completion, OutboxRow, ProfileSnapshot, Retirement, SnapshotDepth, Store, StoreError, WorkKind,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// Longest a worker sleeps before looking at its outbox again.
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// How long the work of a person outside a sink's rollout waits before it is looked at again.
pub const ROLLOUT_RECHECK: Duration = Duration::from_secs(10 * 60);

/// Drains one sink's outbox.
pub struct SinkWorker {
    store: Store,
    sink: Arc<Connector>,
    config: DeliveryConfig,
    messaging: Arc<Messaging>,
    wake: Arc<Notify>,
    gate: std::sync::Mutex<rate::RateGate>,
    clock: SharedClock,
    /// Makes the preference-page link every journey message carries.
    preferences: Arc<Preferences>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub claimed: usize,
    pub delivered: usize,
}

impl SinkWorker {
    pub fn new(
        store: Store,
        sink: Arc<Connector>,
        config: DeliveryConfig,
        messaging: Arc<Messaging>,
        wake: Arc<Notify>,
        clock: SharedClock,
        preferences: Arc<Preferences>,
    ) -> Self {
        let gate = std::sync::Mutex::new(rate::RateGate::new(sink.max_requests_per_second));
        SinkWorker {
            store,
            sink,
            config,
            messaging,
            wake,
            gate,
            clock,
            preferences,
        }
    }

    pub fn sink_id(&self) -> &str {
        &self.sink.id
    }

    /// Whether the sink sends at all: with `enabled = false` its work waits in the outbox.
    pub fn enabled(&self) -> bool {
        self.sink.config.enabled
    }

    /// Runs the sink's delivery lanes (`delivery.concurrency` batches in flight) until `shutdown`
    /// turns true; each lane finishes and records its batch in flight first.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let span =
            tracing::info_span!("sink", sink = %self.sink.id, plugin = self.sink.plugin().id());
        let worker = Arc::new(self);
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..worker.config.concurrency {
            let (worker, shutdown) = (worker.clone(), shutdown.clone());
            lanes.spawn(async move { worker.lane(shutdown).await }.instrument(span.clone()));
        }
        while lanes.join_next().await.is_some() {}
    }

    /// Delivers what is due now with the same lanes as [`SinkWorker::run`], each until a step
    /// claims nothing, and returns how many items they claimed: the one-shot `rapport sync`
    /// delivers as fast as the daemon.
    pub async fn deliver_due(self: Arc<Self>) -> Result<usize, StoreError> {
        let span =
            tracing::info_span!("sink", sink = %self.sink.id, plugin = self.sink.plugin().id());
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..self.config.concurrency {
            let worker = self.clone();
            let lane = async move {
                let mut claimed = 0;
                loop {
                    match worker.step().await?.claimed {
                        0 => return Ok::<_, StoreError>(claimed),
                        n => claimed += n,
                    }
                }
            };
            lanes.spawn(lane.instrument(span.clone()));
        }
        let mut claimed = 0;
        while let Some(lane) = lanes.join_next().await {
            claimed += lane.expect("a delivery lane panicked")?;
        }
        Ok(claimed)
    }

    async fn lane(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.step().await {
                // More may be waiting: let another lane look while this one goes again.
                Ok(report) if report.claimed > 0 => {
                    self.wake.notify_one();
                    continue;
                }
                Ok(_) => match self.retire_if_drained().await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "retirement check failed"),
                },
                Err(e) => tracing::error!(error = %e, "delivery step failed"),
            }
            let wait = self.next_wait().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// For a sink being retired: retires it once it owes nothing, and says whether it is retired
    /// (its worker then stops). Always false for other sinks.
    pub async fn retire_if_drained(&self) -> Result<bool, StoreError> {
        if !self.sink.retiring {
            return Ok(false);
        }
        match self.store.retire_if_drained(&self.sink.id).await? {
            Retirement::Owes => Ok(false),
            Retirement::Retired { newly } => {
                if newly {
                    tracing::info!(sink = %self.sink.id, "sink retired: it delivered everything it owed and takes no new work");
                }
                Ok(true)
            }
        }
    }

    async fn next_wait(&self) -> Duration {
        match self.store.backlog(&self.sink.id).await {
            Ok((_, Some(next_at))) => {
                let ms = (next_at - self.clock.now_ms()).clamp(5, IDLE_WAIT.as_millis() as i64);
                Duration::from_millis(ms as u64)
            }
            _ => IDLE_WAIT,
        }
    }

    /// Claims one batch, sends it, and records each item's outcome; waits first if the sink's pace
    /// requires it. The batch's profile updates go first, in one call, then its activities in
    /// another; an activity whose person's update must be retried waits behind it, unattempted. A
    /// disabled or paused sink claims nothing: its work waits in the outbox.
    pub async fn step(&self) -> Result<StepReport, StoreError> {
        if self.sink.generations.is_disabled() || !self.sink.config.enabled {
            return Ok(StepReport::default());
        }
        let paused = self.store.sink_pause(&self.sink.id).await?;
        if paused
            .as_ref()
            .is_some_and(|p| p.until > self.clock.now_ms())
        {
            return Ok(StepReport::default());
        }
        let wait = self.gate.lock().expect("rate gate").wait();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let rows = self
            .store
            .claim(
                &self.sink.id,
                self.batch_size(),
                self.config.lease_ms,
                self.clock.now_ms(),
            )
            .await?;
        if rows.is_empty() {
            return Ok(StepReport::default());
        }
        let Processed {
            results,
            pause,
            captured,
        } = self.process(rows).await?;
        self.store_captured(captured).await?;
        let results: Vec<_> = results
            .into_iter()
            .map(|(row, completion)| {
                let completion = self.dead_letter_if_exhausted(&row, completion);
                (row, completion)
            })
            .collect();
        let report = StepReport {
            claimed: results.len(),
            delivered: results
                .iter()
                .filter(|(_, c)| *c == Completion::Delivered)
                .count(),
        };
        self.store
            .complete(&self.sink.id, &results, self.clock.now_ms())
            .await?;
        match pause {
            Some(p) => {
                tracing::warn!(
                    until = p.until,
                    needs_attention = p.needs_attention,
                    "sink paused: {}",
                    p.reason
                );
                self.store
                    .pause_sink(&self.sink.id, p.until, &p.reason, p.needs_attention)
                    .await?;
                if !p.needs_attention {
                    // The vendor's rate limit holds the sink's work from now until the pause ends.
                    let now = self.clock.now_ms();
                    let held = (p.until - now).max(0);
                    self.store
                        .add_rate_limit_wait(&self.sink.id, held, now)
                        .await?;
                }
            }
            // A delivery went through: the pause (a throttle, or the credentials) is over.
            None if paused.is_some() && report.delivered > 0 => {
                self.store.resume_sink(&self.sink.id).await?;
                tracing::info!("sink resumed: the vendor takes its work again");
            }
            None => {}
        }
        tracing::debug!(
            claimed = report.claimed,
            delivered = report.delivered,
            "batch done"
        );
        Ok(report)
    }

    /// Renders claimed (or, for a dry run, peeked) rows and sends them: the profile updates first,
    /// in calls of at most the sink's batch size, then the activities; an activity whose person's
    /// update must be retried waits behind it, unattempted. Returns each row's completion, the
    /// pause of the sink the answers call for, and what a capturing plugin asked to send.
    async fn process(&self, rows: Vec<OutboxRow>) -> Result<Processed, StoreError> {
        let (sendable, mut results) = self.render(rows).await?;
        let (profiles, activities): (Vec<_>, Vec<_>) = sendable
            .into_iter()
            .partition(|(_, item)| matches!(item, Item::Profile(_)));
        // Why each person's profile update is still pending, and until when.
        let mut still_pending: HashMap<i64, (i64, String)> = HashMap::new();
        let mut pause = None;
        let mut captured = Vec::new();
        if !profiles.is_empty() {
            let (completions, stopped) =
                self.call(WorkKind::Profile, profiles, &mut captured).await;
            pause = stopped;
            for (row, completion) in completions {
                match &completion {
                    Completion::Retry { at, error, .. } => {
                        still_pending.insert(row.profile_id, (*at, error.clone()));
                    }
                    Completion::Deferred { at, reason } => {
                        still_pending.insert(row.profile_id, (*at, reason.clone()));
                    }
                    _ => {}
                }
                results.push((row, completion));
            }
        }
        let (activities, held): (Vec<_>, Vec<_>) = activities
            .into_iter()
            .partition(|(row, _)| !still_pending.contains_key(&row.profile_id));
        results.extend(held.into_iter().map(|(row, _)| {
            let (at, why) = &still_pending[&row.profile_id];
            let waiting = Completion::Deferred {
                at: *at,
                reason: format!("waiting for this person's profile update ({why})"),
            };
            (row, waiting)
        }));
        if !activities.is_empty() {
            // After a pause, the activities wait for its end unattempted, like a paused sink's work.
            match &pause {
                Some(p) => results.extend(activities.into_iter().map(|(row, _)| {
                    let waiting = Completion::Deferred {
                        at: p.until,
                        reason: p.reason.clone(),
                    };
                    (row, waiting)
                })),
                None => {
                    let (completions, stopped) = self
                        .call(WorkKind::Activity, activities, &mut captured)
                        .await;
                    pause = stopped;
                    results.extend(completions);
                }
            }
        }
        Ok(Processed {
            results,
            pause,
            captured,
        })
    }

    /// Stores the requests a shadow sink's plugin asked to send, captured now.
    async fn store_captured(&self, captured: Vec<Captured>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        for (call, requests) in captured {
            let requests: Vec<_> = requests.into_iter().map(shadow::stored).collect();
            self.store
                .record_shadow_requests(&self.sink.id, &call, &requests, now)
                .await?;
        }
        Ok(())
    }

    /// Plugin calls for items of one kind, at most the sink's batch size each, paced by the sink's
    /// rate gate; returns each item's completion, and the pause of the whole sink the answers call
    /// for, if any (the items of later calls then wait for its end, unattempted). The requests of a
    /// capturing plugin's calls are added to `captured`.
    async fn call(
        &self,
        kind: WorkKind,
        items: Vec<(OutboxRow, Item)>,
        captured: &mut Vec<Captured>,
    ) -> (Vec<(OutboxRow, Completion)>, Option<Pause>) {
        let size = self.batch_size();
        let mut results = Vec::with_capacity(items.len());
        let mut pause: Option<Pause> = None;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let (rows, batch): (Vec<OutboxRow>, Vec<Item>) = items.by_ref().take(size).unzip();
            if let Some(p) = &pause {
                results.extend(rows.into_iter().map(|row| {
                    let waiting = Completion::Deferred {
                        at: p.until,
                        reason: p.reason.clone(),
                    };
                    (row, waiting)
                }));
                continue;
            }
            self.gate.lock().expect("rate gate").sent();
            let (outcomes, stopped, requests) = self.send(kind, &rows, batch).await;
            if let Some(requests) = requests {
                captured.push(shadow::captured(kind, &rows, requests));
            }
            self.pace(&outcomes);
            pause = stopped;
            results.extend(rows.into_iter().zip(outcomes));
        }
        (results, pause)
    }

    /// How many items one call carries: the plugin's `max_batch`, within 1 to 1000.
    fn batch_size(&self) -> usize {
        self.sink.live().descriptor.max_batch.clamp(1, 1000) as usize
    }

    /// Renders rows into contract records, reading every person and event of the batch at once
    /// (totals only for people whose profile is sent). What a person's consents bar from this sink
    /// is suppressed, and rows that cannot be rendered are dead-lettered, each with why.
    async fn render(
        &self,
        rows: Vec<OutboxRow>,
    ) -> Result<(Vec<(OutboxRow, Item)>, Vec<(OutboxRow, Completion)>), StoreError> {
        let people = |wanted: &dyn Fn(WorkKind) -> bool| {
            let mut ids: Vec<i64> = rows
                .iter()
                .filter(|r| wanted(r.kind))
                .map(|r| r.profile_id)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let full = people(&|kind| kind == WorkKind::Profile);
        let basic: Vec<i64> = people(&|kind| kind != WorkKind::Profile)
            .into_iter()
            .filter(|id| full.binary_search(id).is_err())
            .collect();
        let mut snapshots = self
            .store
            .profile_snapshots(&full, SnapshotDepth::Full)
            .await?;
        snapshots.extend(
            self.store
                .profile_snapshots(&basic, SnapshotDepth::Basic)
                .await?,
        );
        let (rows, outside) = self.within_rollout(rows, &snapshots);
        let event_ids: Vec<i64> = rows
            .iter()
            .filter(|r| matches!(r.kind, WorkKind::Activity | WorkKind::Message))
            .filter_map(|r| r.event_id)
            .collect();
        let events = self.store.event_payloads(&event_ids).await?;
        let (messages, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| row.kind == WorkKind::Message);
        let (mut sendable, mut unsent) = self.judge_messages(messages, &snapshots, &events).await?;
        unsent.extend(outside);
        for row in rows {
            let snapshot = &snapshots[&row.profile_id];
            let admission = self.sink.marketing.admit(&snapshot.consents);
            let item = match (row.kind, admission) {
                (_, Admission::Withheld(why)) => Err(Completion::Suppressed(why)),
                (WorkKind::Activity, Admission::ConsentsOnly(why)) => {
                    Err(Completion::Suppressed(why))
                }
                (WorkKind::Activity, Admission::Full) => render_activity(&row, snapshot, &events)
                    .map(|mut activity| {
                        minimise::minimise_activity(&self.sink.fields, &mut activity);
                        Item::Activity(activity)
                    })
                    .map_err(Completion::Dead),
                (WorkKind::Profile, Admission::Full) => {
                    Ok(Item::Profile(render::profile(snapshot)))
                }
                (WorkKind::Profile | WorkKind::Consent, _) => {
                    Ok(Item::Profile(render::consents_only(snapshot)))
                }
                (WorkKind::Message, _) => unreachable!("messages are judged apart, above"),
            };
            match item {
                Ok(Item::Profile(mut profile)) => {
                    minimise::minimise_profile(&self.sink.fields, &mut profile);
                    sendable.push((row, Item::Profile(profile)));
                }
                Ok(activity) => sendable.push((row, activity)),
                Err(completion) => unsent.push((row, completion)),
            }
        }
        sendable.sort_by_key(|(row, _)| row.id);
        Ok((sendable, unsent))
    }

    /// Splits off the rows of people outside the sink's rollout share: their work waits, unattempted,
    /// and is looked at again after `ROLLOUT_RECHECK` (the share may have grown meanwhile).
    fn within_rollout(
        &self,
        rows: Vec<OutboxRow>,
        snapshots: &HashMap<i64, ProfileSnapshot>,
    ) -> (Vec<OutboxRow>, Vec<(OutboxRow, Completion)>) {
        let (within, outside): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| {
            snapshots
                .get(&row.profile_id)
                .is_none_or(|person| self.sink.rolled_out_to(&person.key))
        });
        let at = self.clock.now_ms() + ROLLOUT_RECHECK.as_millis() as i64;
        let reason = format!(
            "outside the sink's rollout ({})",
            rapport_core::rollout::describe(self.sink.config.rollout)
        );
        let waiting = outside
            .into_iter()
            .map(|row| {
                let reason = reason.clone();
                (row, Completion::Deferred { at, reason })
            })
            .collect();
        (within, waiting)
    }

    /// What delivery would do with `rows` if it claimed them now, without sending or recording
    /// anything: each row's rendered item, or how it would end, by the same rendering, consent
    /// gate, minimisation and contact rules as [`SinkWorker::step`] (for `rapport explain`).
    pub async fn rendered(
        &self,
        rows: Vec<OutboxRow>,
    ) -> Result<Vec<(OutboxRow, Preview)>, StoreError> {
        let (sendable, unsent) = self.render(rows).await?;
        let mut previews: Vec<(OutboxRow, Preview)> = (sendable.into_iter())
            .map(|(row, item)| match item {
                Item::Profile(profile) => (row, Preview::Profile(profile)),
                Item::Activity(activity) => (row, Preview::Activity(activity)),
            })
            .chain(
                unsent
                    .into_iter()
                    .map(|(row, end)| (row, Preview::Held(end))),
            )
            .collect();
        previews.sort_by_key(|(row, _)| row.id);
        Ok(previews)
    }

    /// Judges journey messages in order: first the person's consent on the message's channel
    /// (without it, the message is withheld), then the contact rules with the person's own quiet
    /// hours, counting the person's earlier sends on the channel (to any sink) and those approved
    /// just before. What may go now is
    /// rendered; the rest is delayed (unattempted) or dropped, with the reason.
    async fn judge_messages(
        &self,
        messages: Vec<OutboxRow>,
        snapshots: &HashMap<i64, ProfileSnapshot>,
        events: &HashMap<i64, (String, i64, String)>,
    ) -> Result<(Vec<(OutboxRow, Item)>, Vec<(OutboxRow, Completion)>), StoreError> {
        let now = self.clock.now();
        let mut approved = Vec::new();
        let mut held = Vec::new();
        let mut routes: Vec<(OutboxRow, Channel)> = Vec::new();
        for row in messages {
            let Some(channel) = row.message.as_ref().map(|m| m.channel) else {
                held.push((row, Completion::Dead("message names no journey".into())));
                continue;
            };
            let consents = &snapshots[&row.profile_id].consents;
            match self.messaging.gate(channel).admit(consents) {
                Admission::Full => routes.push((row, channel)),
                Admission::ConsentsOnly(why) | Admission::Withheld(why) => {
                    held.push((row, Completion::Suppressed(why)))
                }
            }
        }
        let lookback = routes
            .iter()
            .filter_map(|(_, channel)| self.messaging.rules.lookback(*channel))
            .max();
        let mut sent: HashMap<(i64, Channel), Vec<chrono::DateTime<chrono::Utc>>> = HashMap::new();
        if let Some(lookback) = lookback {
            let mut people: Vec<i64> = routes.iter().map(|(row, _)| row.profile_id).collect();
            people.sort_unstable();
            people.dedup();
            let since = (now - lookback).timestamp_millis();
            for (key, times) in self.store.sent_messages(&people, since).await? {
                sent.insert(
                    key,
                    times
                        .into_iter()
                        .filter_map(chrono::DateTime::from_timestamp_millis)
                        .collect(),
                );
            }
        }
        let people: Vec<i64> = routes.iter().map(|(row, _)| row.profile_id).collect();
        let own_quiet_hours = self.store.quiet_hours_of(&people).await?;
        let entry_ids: Vec<i64> = (routes.iter())
            .filter_map(|(row, _)| row.message.as_ref()?.entry)
            .collect();
        let entries = self.store.entry_details(&entry_ids).await?;
        for (row, channel) in routes {
            let history = sent.entry((row.profile_id, channel)).or_default();
            let own = own_quiet_hours.get(&row.profile_id).copied();
            match self.messaging.rules.judge(channel, now, history, own) {
                Verdict::Send => {
                    let snapshot = &snapshots[&row.profile_id];
                    let link = self.preferences.link(&snapshot.key);
                    let rendered = render_message(&row, snapshot, events, &entries, link, now);
                    match rendered {
                        Ok(mut activity) => {
                            minimise::minimise_activity(&self.sink.fields, &mut activity);
                            history.push(now);
                            approved.push((row, Item::Activity(activity)));
                        }
                        Err(why) => held.push((row, Completion::Dead(why))),
                    }
                }
                Verdict::Delay { until, reason } => held.push((
                    row,
                    Completion::Deferred {
                        at: until.timestamp_millis(),
                        reason,
                    },
                )),
                Verdict::Drop { reason } => held.push((row, Completion::Suppressed(reason))),
            }
        }
        Ok((approved, held))
    }

    /// Calls the live generation of the plugin off the async runtime (the call finishes on that
    /// generation whatever is swapped in meanwhile) and maps its answer to one completion per item,
    /// and to a pause of the whole sink when the vendor throttled or refused the credentials.
    async fn send(
        &self,
        kind: WorkKind,
        rows: &[OutboxRow],
        batch: Vec<Item>,
    ) -> (Vec<Completion>, Option<Pause>, Option<Vec<CapturedRequest>>) {
        let plugin = self.sink.plugin();
        let capturing = plugin.context().sends == SendMode::Capture;
        let count = batch.len();
        let (answer, requests) = match tokio::task::spawn_blocking(move || {
            capture::collect(|| match kind {
                WorkKind::Activity | WorkKind::Message => {
                    plugin.record_activities(&activities(batch))
                }
                WorkKind::Profile | WorkKind::Consent => plugin.upsert_profiles(&profiles(batch)),
            })
        })
        .await
        {
            Ok((answer, requests)) => (Ok(answer), capturing.then_some(requests)),
            Err(join) => (Err(join), None),
        };
        if requests.is_some() {
            if let Some(completions) = shadow::completions(&answer, count) {
                return (completions, None, requests);
            }
        }
        let now = self.clock.now_ms();
        let retry = |attempts: i64, error: String| Completion::Retry {
            at: now + self.backoff(attempts),
            error,
            throttled: false,
        };
        let whole_call = |make: &dyn Fn(&OutboxRow) -> Completion| -> Vec<Completion> {
            rows.iter().map(make).collect()
        };
        let throttled = |ms: u32| {
            let wait = throttle_wait(&self.config, ms);
            Completion::Retry {
                at: now + wait.ms,
                error: wait.reason,
                throttled: true,
            }
        };
        let completions = match answer {
            Err(join) => {
                whole_call(&|row| retry(row.attempts, format!("sink task failed: {join}")))
            }
            Ok(Err(PluginError {
                fault: Fault::Quarantined { retry_in, .. },
                ..
            })) => {
                let at = now + retry_in.as_millis() as i64;
                whole_call(&|_| Completion::Deferred {
                    at,
                    reason: "waiting: the sink's plugin is quarantined".into(),
                })
            }
            Ok(Err(fault)) => {
                tracing::warn!(error = %fault, "plugin call failed");
                whole_call(&|row| retry(row.attempts, fault.to_string()))
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(error = ?error, "sink reported an error for the whole batch");
                if let ConnectorError::Auth(m) = &error {
                    let pause = credentials_refused(&self.config, &self.sink.id, m, now);
                    let deferred = whole_call(&|_| Completion::Deferred {
                        at: pause.until,
                        reason: pause.reason.clone(),
                    });
                    return (deferred, Some(pause), requests);
                }
                whole_call(&|row| match &error {
                    ConnectorError::RateLimited(ms) => throttled(*ms),
                    ConnectorError::Invalid(reason) => Completion::Rejected(reason.clone()),
                    ConnectorError::Transient(m) => retry(row.attempts, format!("transient: {m}")),
                    ConnectorError::Auth(m) => retry(row.attempts, format!("auth: {m}")),
                    ConnectorError::Config(m) => retry(row.attempts, format!("config: {m}")),
                })
            }
            Ok(Ok(Ok(outcomes))) if outcomes.len() != count => {
                let error = format!(
                    "plugin returned {} outcomes for {count} items",
                    outcomes.len()
                );
                tracing::warn!("{error}");
                whole_call(&|row| retry(row.attempts, error.clone()))
            }
            Ok(Ok(Ok(outcomes))) => rows
                .iter()
                .zip(outcomes)
                .map(|(row, outcome)| match outcome {
                    Outcome::Ok => Completion::Delivered,
                    Outcome::RetryAfter(ms) => throttled(ms),
                    Outcome::Transient(m) => retry(row.attempts, m),
                    Outcome::Rejected(reason) => Completion::Rejected(reason),
                })
                .collect(),
        };
        let pause = completions
            .iter()
            .filter_map(|c| match c {
                Completion::Retry {
                    at,
                    error,
                    throttled: true,
                } => Some(Pause {
                    until: *at,
                    reason: error.clone(),
                    needs_attention: false,
                }),
                _ => None,
            })
            .max_by_key(|p| p.until);
        (completions, pause, requests)
    }

    /// Slows the sink when the vendor throttled any item of the batch, speeds it up when it took them.
    fn pace(&self, outcomes: &[Completion]) {
        let mut gate = self.gate.lock().expect("rate gate");
        let throttled = outcomes
            .iter()
            .filter_map(|c| match c {
                Completion::Retry {
                    throttled: true,
                    at,
                    ..
                } => Some(*at),
                _ => None,
            })
            .max();
        match throttled {
            Some(at) => gate.throttled(Some(Duration::from_millis(
                (at - self.clock.now_ms()).max(0) as u64,
            ))),
            None if outcomes.contains(&Completion::Delivered) => gate.accepted(),
            None => {}
        }
    }

    fn backoff(&self, attempts: i64) -> i64 {
        rapport_core::backoff::delay(
            attempts,
            Duration::from_millis(self.config.backoff_base_ms),
            Duration::from_millis(self.config.backoff_max_ms),
        )
        .as_millis() as i64
    }

    /// A retry that would be one attempt too many is a dead letter instead; throttling uses no
    /// attempt, so it never dead-letters anything.
    fn dead_letter_if_exhausted(&self, row: &OutboxRow, completion: Completion) -> Completion {
        match completion {
            Completion::Retry {
                error,
                throttled: false,
                ..
            } if row.attempts + 1 >= self.config.max_attempts => Completion::Dead(format!(
                "gave up after {} attempts; last error: {error}",
                row.attempts + 1
            )),
            other => other,
        }
    }
}

/// What [`SinkWorker::process`] did with a batch.
struct Processed {
    results: Vec<(OutboxRow, Completion)>,
    pause: Option<Pause>,
    /// The requests of each capturing call, with the call they came from.
    captured: Vec<Captured>,
}

/// One capturing call and the requests it made.
pub(crate) type Captured = (rapport_store::shadow::ShadowCall, Vec<CapturedRequest>);

/// A pause of the whole sink an answer calls for.
#[derive(Debug, Clone)]
pub(crate) struct Pause {
    pub(crate) until: i64,
    pub(crate) reason: String,
    /// The vendor refused the credentials: the operator must look.
    pub(crate) needs_attention: bool,
}

/// The pause of sink `sink` whose credentials the vendor refused at `now` (saying `message`),
/// deliveries and erasures alike: it needs the operator's attention, and its work is tried again
/// every `delivery.auth_retry_ms`.
pub(crate) fn credentials_refused(
    config: &DeliveryConfig,
    sink: &str,
    message: &str,
    now: i64,
) -> Pause {
    Pause {
        until: now + config.auth_retry_ms as i64,
        reason: format!(
            "needs attention: the vendor refused the sink's credentials ({message}); check the \
             secrets granted to sink `{sink}`, its work waits and is tried again every {} s",
            config.auth_retry_ms / 1000
        ),
        needs_attention: true,
    }
}

/// How long a vendor's throttling (`ms` asked for) holds a sink's work, deliveries and erasures
/// alike: at most `delivery.retry_after_cap_ms`, with the reason saying what was asked and what
/// was kept.
pub(crate) fn throttle_wait(config: &DeliveryConfig, ms: u32) -> ThrottleWait {
    let asked = i64::from(ms);
    let cap = i64::try_from(config.retry_after_cap_ms).unwrap_or(i64::MAX);
    match asked > cap {
        true => ThrottleWait {
            ms: cap,
            reason: format!(
                "throttled: the vendor asked to wait {} s, capped at {} s \
                 (delivery.retry_after_cap_ms)",
                asked / 1000,
                cap / 1000
            ),
        },
        false => ThrottleWait {
            ms: asked,
            reason: format!("throttled: the vendor asked to wait {asked} ms"),
        },
    }
}

/// The wait a vendor's throttling imposes, capped, and how to explain it.
pub(crate) struct ThrottleWait {
    pub(crate) ms: i64,
    pub(crate) reason: String,
}

/// The stored event a row points at: its id, source, time and payload.
fn stored_event<'e>(
    row: &OutboxRow,
    events: &'e HashMap<i64, (String, i64, String)>,
) -> Result<(i64, &'e str, i64, Payload), String> {
    let event_id = row.event_id.ok_or("work item has no event")?;
    let (source_id, occurred_at, payload) = events
        .get(&event_id)
        .ok_or_else(|| format!("event {event_id} is no longer stored"))?;
    let payload: Payload = serde_json::from_str(payload)
        .map_err(|e| format!("stored event {event_id} is unreadable: {e}"))?;
    Ok((event_id, source_id, *occurred_at, payload))
}

/// Renders one activity from its stored event.
fn render_activity(
    row: &OutboxRow,
    snapshot: &ProfileSnapshot,
    events: &HashMap<i64, (String, i64, String)>,
) -> Result<rapport_sandbox::contract::wit::Activity, String> {
    let (event_id, source_id, occurred_at, payload) = stored_event(row, events)?;
    render::activity(
        &row.idempotency_key,
        snapshot,
        source_id,
        occurred_at,
        &payload,
    )
    .ok_or_else(|| format!("event {event_id} records no activity"))
}

/// Renders a journey message, sent `now`: what its entry recorded (the order, category, tier or
/// suggestion that started it, and the experiment variant's properties), or, for a message queued
/// before entries were kept, the order that triggered it; with the link to the person's preference page.
fn render_message(
    row: &OutboxRow,
    snapshot: &ProfileSnapshot,
    events: &HashMap<i64, (String, i64, String)>,
    entries: &HashMap<i64, EntryDetail>,
    preferences_url: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<rapport_sandbox::contract::wit::Activity, String> {
    let route = row.message.as_ref().ok_or("message names no journey")?;
    let mut detail = match route.entry.and_then(|id| entries.get(&id)) {
        Some(entry) => {
            let mut detail = entry.detail.clone();
            if let Some(arm) = &entry.arm {
                detail.insert("variant".into(), arm.clone());
            }
            detail
        }
        None => {
            let (event_id, _, _, payload) = stored_event(row, events)?;
            let Payload::Order(order) = payload else {
                return Err(format!("event {event_id} is not an order"));
            };
            BTreeMap::from([("order_id".to_string(), order.id)])
        }
    };
    if let Some(url) = preferences_url {
        detail.insert("preferences_url".into(), url);
    }
    Ok(render::journey_message(
        &row.idempotency_key,
        snapshot,
        &route.journey,
        &detail,
        now.timestamp_millis(),
    ))
}

/// What delivery would do with one work item now ([`SinkWorker::preview`]).
#[derive(Debug)]
pub enum Preview {
    /// Send this profile, as the sink would receive it.
    Profile(rapport_sandbox::contract::wit::Profile),
    /// Send this activity (a sale, a refund, a journey message), as the sink would receive it.
    Activity(rapport_sandbox::contract::wit::Activity),
    /// Not send it now: suppressed, delayed or dead-lettered, with why.
    Held(Completion),
}

/// A rendered work item.
#[derive(Debug)]
enum Item {
    Profile(rapport_sandbox::contract::wit::Profile),
    Activity(rapport_sandbox::contract::wit::Activity),
}

fn profiles(items: Vec<Item>) -> Vec<rapport_sandbox::contract::wit::Profile> {
    items
        .into_iter()
        .filter_map(|i| match i {
            Item::Profile(p) => Some(p),
            Item::Activity(_) => None,
        })
        .collect()
}

fn activities(items: Vec<Item>) -> Vec<rapport_sandbox::contract::wit::Activity> {
    items
        .into_iter()
        .filter_map(|i| match i {
            Item::Activity(a) => Some(a),
            Item::Profile(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vendors_wait_is_kept_up_to_the_cap_and_the_reason_says_both() {
        let config = DeliveryConfig {
            retry_after_cap_ms: 3_600_000,
            ..DeliveryConfig::default()
        };
        let short = throttle_wait(&config, 2_500);
        assert_eq!(short.ms, 2_500);
        assert_eq!(short.reason, "throttled: the vendor asked to wait 2500 ms");
        // 49 days, as a Retry-After once asked.
        let long = throttle_wait(&config, 49 * 86_400 * 1000);
        assert_eq!(long.ms, 3_600_000);
        assert!(
            long.reason
                .contains("asked to wait 4233600 s, capped at 3600 s"),
            "{}",
            long.reason
        );
    }
}
