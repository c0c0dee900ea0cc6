//! The erasure worker: tells each sink to forget a forgotten person until the sink confirms: by
//! the profile key the sink was sent and the identities it may receive (contract 0.4's
//! `forget-person`), or by the identities alone (`forget`, older sinks). A failure is retried with
//! backoff, never given up: the erasure stays pending, visible in `rapport forget --status`, until
//! every sink has said yes. A vendor that throttles or refuses the credentials pauses the whole
//! sink as it does for deliveries (the same store pause, marked as needing attention for
//! credentials), without using attempts; a paused sink's erasures wait for the pause to end, and
//! a confirmation ends it. Logs name the erasure, sink and plugin, never the identifiers.

use crate::config::DeliveryConfig;
use crate::connectors::Connector;
use crate::delivery::{credentials_refused, render, throttle_wait, Pause};
use rapport_core::backoff;
use rapport_sandbox::contract::wit::ConnectorError;
use rapport_sandbox::runtime::plugin::{Fault, PluginError};
use rapport_store::{now_ms, ErasureItem, SinkPause, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Longest the worker sleeps before looking for due items again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What stands in for an identifier in a kept error message.
const BLANK: &str = "[erased]";

/// Asks every configured sink to forget the people erased locally.
pub struct ErasureWorker {
    store: Store,
    sinks: Vec<Arc<Connector>>,
    config: DeliveryConfig,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Confirmed,
    /// Retried at this time (ms since the epoch), for this reason (free of the identifiers).
    Pending {
        at: i64,
        reason: String,
    },
}

impl ErasureWorker {
    pub fn new(store: Store, sinks: Vec<Arc<Connector>>, config: DeliveryConfig) -> Self {
        ErasureWorker {
            store,
            sinks,
            config,
        }
    }

    pub fn sink_ids(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.id.clone()).collect()
    }

    /// Tries every due item once, only erasure `only`'s if given; returns each attempt's sink and
    /// outcome. A disabled sink's items wait; a paused sink's wait for the pause to end.
    pub async fn step(&self, only: Option<i64>) -> Result<Vec<(String, Attempt)>, StoreError> {
        let mut attempts = Vec::new();
        for sink in self.sinks.iter().filter(|s| !s.generations.is_disabled()) {
            let items = self
                .store
                .claim_erasures(&sink.id, only, self.config.lease_ms)
                .await?;
            if items.is_empty() {
                continue;
            }
            let mut paused = self.store.sink_pause(&sink.id).await?;
            for item in items {
                // At WARN, so its fields go with the warnings the daemon logs by default.
                let span = tracing::warn_span!("erasure", erasure = item.erasure_id, sink = %sink.id,
                    plugin = sink.plugin().id(), generation = sink.live().number());
                let attempt = match paused.as_ref().filter(|p| p.until > now_ms()) {
                    Some(pause) => self.wait_for(pause, &item).instrument(span).await?,
                    None => {
                        self.attempt(sink, &item, &mut paused)
                            .instrument(span)
                            .await?
                    }
                };
                attempts.push((sink.id.clone(), attempt));
            }
        }
        Ok(attempts)
    }

    /// Runs until `shutdown` turns true, trying items as they fall due.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let sinks = self.sink_ids();
        while !*shutdown.borrow() {
            if let Err(e) = self.step(None).await {
                tracing::error!(error = %e, "erasure step failed");
            }
            let wait = match self.store.erasure_backlog(&sinks).await {
                Ok((_, Some(next_at))) => Duration::from_millis(
                    (next_at - now_ms()).clamp(5, IDLE_WAIT.as_millis() as i64) as u64,
                ),
                _ => IDLE_WAIT,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Leaves `item` unattempted until `pause` ends.
    async fn wait_for(&self, pause: &SinkPause, item: &ErasureItem) -> Result<Attempt, StoreError> {
        self.store
            .retry_erasure(
                item.erasure_id,
                &item.sink,
                pause.until,
                &pause.reason,
                false,
            )
            .await?;
        Ok(Attempt::Pending {
            at: pause.until,
            reason: pause.reason.clone(),
        })
    }

    /// Asks the sink to forget the person by their profile key and the identifiers it may
    /// receive, and records the outcome; `paused` is the sink's pause, which the outcome may end
    /// (a confirmation) or start (throttled, credentials refused).
    async fn attempt(
        &self,
        sink: &Connector,
        item: &ErasureItem,
        paused: &mut Option<SinkPause>,
    ) -> Result<Attempt, StoreError> {
        let mut identities: Vec<_> = item.identities.iter().map(render::identity).collect();
        crate::delivery::minimise::minimise_identities(&sink.fields, &mut identities);
        let plugin = sink.plugin();
        let key = item.profile_key.clone();
        let answer =
            tokio::task::spawn_blocking(move || plugin.forget_person(&key, &identities)).await;
        let now = now_ms();
        let backoff = || {
            now + backoff::delay(
                item.attempts,
                Duration::from_millis(self.config.backoff_base_ms),
                Duration::from_millis(self.config.backoff_max_ms),
            )
            .as_millis() as i64
        };
        let mut pause = None;
        let (at, reason) = match answer {
            Ok(Ok(Ok(()))) => {
                let complete = self
                    .store
                    .confirm_erasure(item.erasure_id, &sink.id)
                    .await?;
                tracing::info!(complete, "sink confirmed the erasure");
                if paused.take().is_some() {
                    self.store.resume_sink(&sink.id).await?;
                    tracing::info!("sink resumed: the vendor takes its work again");
                }
                return Ok(Attempt::Confirmed);
            }
            Ok(Ok(Err(ConnectorError::RateLimited(ms)))) => {
                let wait = throttle_wait(&self.config, ms);
                pause = Some(Pause {
                    until: now + wait.ms,
                    reason: wait.reason.clone(),
                    needs_attention: false,
                });
                (now + wait.ms, wait.reason)
            }
            Ok(Ok(Err(ConnectorError::Auth(m)))) => {
                let refused = credentials_refused(&self.config, &sink.id, &m, now);
                let retry = (refused.until, refused.reason.clone());
                pause = Some(refused);
                retry
            }
            Ok(Ok(Err(error))) => (backoff(), describe(&error)),
            Ok(Err(PluginError {
                fault: Fault::Quarantined { retry_in, .. },
                ..
            })) => (
                now + retry_in.as_millis() as i64,
                "the sink's plugin is quarantined".to_string(),
            ),
            Ok(Err(fault)) => (backoff(), fault.to_string()),
            Err(join) => (backoff(), format!("sink task failed: {join}")),
        };
        let reason = blank_out(&reason, item.identities.iter().map(|i| i.value.as_str()));
        tracing::warn!(reason = %reason, retry_in_ms = at - now, "sink has not confirmed the erasure");
        self.store
            .retry_erasure(item.erasure_id, &sink.id, at, &reason, pause.is_none())
            .await?;
        if let Some(p) = pause {
            let p_reason = blank_out(&p.reason, item.identities.iter().map(|i| i.value.as_str()));
            tracing::warn!(
                until = p.until,
                needs_attention = p.needs_attention,
                "sink paused: {p_reason}"
            );
            self.store
                .pause_sink(&sink.id, p.until, &p_reason, p.needs_attention)
                .await?;
            *paused = Some(SinkPause {
                sink: sink.id.clone(),
                until: p.until,
                reason: p_reason,
                needs_attention: p.needs_attention,
                since: now,
            });
        }
        Ok(Attempt::Pending { at, reason })
    }
}

fn describe(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Config(m) => format!("config: {m}"),
        ConnectorError::Auth(m) => format!("auth: {m}"),
        ConnectorError::RateLimited(ms) => format!("rate limited for {ms} ms"),
        ConnectorError::Transient(m) => format!("transient: {m}"),
        ConnectorError::Invalid(m) => format!("refused: {m}"),
    }
}

/// `text` with every occurrence of each of `values` (ASCII case ignored) replaced by [`BLANK`]: a
/// vendor's error may quote the identifier it was sent.
fn blank_out<'a>(text: &str, values: impl Iterator<Item = &'a str>) -> String {
    let mut text = text.to_string();
    for value in values.filter(|v| !v.is_empty()) {
        let needle = value.to_ascii_lowercase();
        while let Some(at) = text.to_ascii_lowercase().find(&needle) {
            text.replace_range(at..at + needle.len(), BLANK);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::blank_out;

    #[test]
    fn identifiers_are_blanked_out_of_errors_whatever_their_case() {
        assert_eq!(
            blank_out(
                "contact Ana@Example.com (+442079460012) not found; ana@example.com",
                ["ana@example.com", "+442079460012"].into_iter()
            ),
            "contact [erased] ([erased]) not found; [erased]"
        );
        assert_eq!(blank_out("timeout", [""].into_iter()), "timeout");
    }
}
