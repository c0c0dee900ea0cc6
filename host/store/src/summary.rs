//! Read-only figures about what the store holds, for the CLI summary, the admin API and tests.

use super::{now_ms, Store, StoreError};
use sqlx::Row;

/// Per-sink delivery figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SinkFigures {
    pub sink: String,
    /// Lifetime figures: they include delivered items the retention job has since deleted.
    pub profiles_delivered: i64,
    pub activities_delivered: i64,
    /// Consent changes sent ahead of other work.
    pub consents_delivered: i64,
    /// Journey messages sent.
    pub messages_delivered: i64,
    /// Journey messages waiting for their time (the journey's wait, quiet hours, a frequency cap).
    pub messages_delayed: i64,
    /// Journey messages dropped by a frequency cap.
    pub messages_dropped: i64,
    /// Items not sent because the person's consents bar this sink from them.
    pub withheld: i64,
    pub rejected: i64,
    pub dead: i64,
    pub waiting: i64,
    /// The sink is paused (throttled, or its credentials refused: `needs_attention`).
    pub pause: Option<super::SinkPause>,
}

/// What the store holds, in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Orders, each once (its current version), whatever their state.
    pub orders: i64,
    /// The same orders by their current state.
    pub orders_by_state: OrderStates,
    /// Refunds, each once.
    pub refunds: i64,
    pub customer_updates: i64,
    pub anonymous_events: i64,
    pub rejected_inputs: i64,
    /// People: profiles not merged into another.
    pub profiles: i64,
    pub sinks: Vec<SinkFigures>,
}

/// How many orders are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OrderStates {
    pub open: i64,
    pub completed: i64,
    pub canceled: i64,
}

impl Store {
    /// Each count walks an index of its own on a connection of its own, so they run side by
    /// side; what they found is put together after.
    pub async fn summary(&self) -> Result<Summary, StoreError> {
        let count = |sql: &'static str| async move {
            Ok::<i64, StoreError>(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
        };
        let rows = |sql: String, bind: Option<i64>| async move {
            let query = sqlx::query(&sql);
            let query = match bind {
                Some(value) => query.bind(value),
                None => query,
            };
            Ok::<_, StoreError>(query.fetch_all(&self.pool).await?)
        };
        // Journey messages alone, through their own index: grouped by a sink column any index
        // could order, the planner walked every item of the outbox instead (1.9 s at 1M items).
        let messages = format!(
            "SELECT sink_id,
                    SUM(CASE WHEN status = 'pending' AND next_attempt_at > $1 THEN 1 ELSE 0 END)
                        AS delayed,
                    SUM(CASE WHEN status = 'suppressed' AND last_error LIKE 'frequency cap%'
                             THEN 1 ELSE 0 END) AS dropped
             FROM outbox WHERE kind = 'message' GROUP BY {}",
            self.backend.not_by_index("sink_id")
        );
        let (
            states,
            customer_updates,
            anonymous_events,
            rejected_inputs,
            profiles,
            outbox,
            retired,
            messages,
            pauses,
        ) = tokio::try_join!(
            rows(
                "SELECT kind, state, COUNT(*) AS n FROM events WHERE superseded = 0
                 GROUP BY kind, state"
                    .to_owned(),
                None
            ),
            count("SELECT COUNT(*) FROM events WHERE kind = 'customer'"),
            count("SELECT COUNT(*) FROM events WHERE profile_id IS NULL"),
            count("SELECT COUNT(*) FROM rejected_inputs"),
            count("SELECT COUNT(*) FROM profiles WHERE merged_into IS NULL"),
            // Grouped by sink and status, which `outbox_person` is ordered by, with the kinds
            // counted alongside: grouped by kind too, every item was sorted (0.84 s of CPU at
            // 1.5M items in the `sqlite3` shell; 0.22 s this way).
            rows(
                "SELECT sink_id, status, COUNT(*) AS n,
                        SUM(CASE WHEN kind = 'profile' THEN 1 ELSE 0 END) AS profiles,
                        SUM(CASE WHEN kind = 'consent' THEN 1 ELSE 0 END) AS consents,
                        SUM(CASE WHEN kind = 'message' THEN 1 ELSE 0 END) AS messages
                 FROM outbox GROUP BY sink_id, status ORDER BY sink_id"
                    .to_owned(),
                None
            ),
            self.retired_work(),
            rows(messages, Some(now_ms())),
            self.sink_pauses(),
        )?;
        let mut summary = Summary {
            customer_updates,
            anonymous_events,
            rejected_inputs,
            profiles,
            ..Summary::default()
        };
        for row in states {
            let n: i64 = row.try_get("n")?;
            let state: Option<String> = row.try_get("state")?;
            match (row.try_get::<String, _>("kind")?.as_str(), state.as_deref()) {
                ("order", state) => {
                    summary.orders += n;
                    let by_state = &mut summary.orders_by_state;
                    match state {
                        Some("open") => by_state.open += n,
                        Some("completed") => by_state.completed += n,
                        Some("canceled") => by_state.canceled += n,
                        other => {
                            return Err(StoreError::Corrupt(format!(
                                "events.state has unknown value {other:?}"
                            )))
                        }
                    }
                }
                ("refund", _) => summary.refunds += n,
                _ => {}
            }
        }
        for row in outbox {
            let sink: String = row.try_get("sink_id")?;
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            if summary.sinks.last().is_none_or(|s| s.sink != sink) {
                summary.sinks.push(SinkFigures {
                    sink: sink.clone(),
                    ..SinkFigures::default()
                });
            }
            let figures = summary.sinks.last_mut().expect("pushed above");
            match status.as_str() {
                "delivered" => {
                    let profiles: i64 = row.try_get("profiles")?;
                    let consents: i64 = row.try_get("consents")?;
                    let messages: i64 = row.try_get("messages")?;
                    figures.profiles_delivered += profiles;
                    figures.consents_delivered += consents;
                    figures.messages_delivered += messages;
                    figures.activities_delivered += n - profiles - consents - messages;
                }
                "suppressed" => figures.withheld += n,
                "rejected" => figures.rejected += n,
                "dead" => figures.dead += n,
                _ => figures.waiting += n,
            }
        }
        for (sink, kind, finished) in retired {
            let figures = match summary.sinks.iter().position(|s| s.sink == sink) {
                Some(at) => &mut summary.sinks[at],
                None => {
                    summary.sinks.push(SinkFigures {
                        sink,
                        ..SinkFigures::default()
                    });
                    summary.sinks.last_mut().expect("pushed above")
                }
            };
            match kind.as_str() {
                "profile" => figures.profiles_delivered += finished,
                "consent" => figures.consents_delivered += finished,
                "message" => figures.messages_delivered += finished,
                "withheld" => figures.withheld += finished,
                _ => figures.activities_delivered += finished,
            }
        }
        for row in messages {
            let sink: String = row.try_get("sink_id")?;
            if let Some(figures) = summary.sinks.iter_mut().find(|s| s.sink == sink) {
                figures.messages_delayed = row.try_get("delayed")?;
                figures.messages_dropped = row.try_get("dropped")?;
                figures.withheld -= figures.messages_dropped;
            }
        }
        for pause in pauses {
            match summary.sinks.iter_mut().find(|s| s.sink == pause.sink) {
                Some(figures) => figures.pause = Some(pause),
                None => summary.sinks.push(SinkFigures {
                    sink: pause.sink.clone(),
                    pause: Some(pause),
                    ..SinkFigures::default()
                }),
            }
        }
        summary.sinks.sort_by(|a, b| a.sink.cmp(&b.sink));
        Ok(summary)
    }
}

impl Store {
    /// The latest errors of `sink`'s unfinished or failed work items, newest first.
    pub async fn recent_errors(&self, sink: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT last_error FROM outbox WHERE sink_id = $1 AND last_error IS NOT NULL
             ORDER BY id DESC LIMIT $2",
        )
        .bind(sink)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
