//! The outbox: work owed to each sink. Rows move pending → inflight (leased) → delivered, rejected or
//! dead; a lease that expires (the process died) makes the row claimable again. A person's rows are
//! claimed in order, and none while an earlier one is in flight or waiting for a retry, so a
//! person's updates reach a sink in order. Journey messages are the exception: one waiting for its
//! time (a journey's wait, quiet hours, a frequency cap) holds up nothing else of the person's.
//! Nor does a profile update held while a source is polled ([`ProfileUpdates::Held`]): it waits
//! for the poll to end, then goes once with the person's latest figures.

use super::dialect::Backend;
use super::packed;
use super::queue::{self, Finish, Queue, Selection};
use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::model::Channel;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// What a work item asks of the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    Profile,
    Activity,
    /// The person's consents changed: send them ahead of other work.
    Consent,
    /// A journey's message to the person, sent as an activity when the contact rules allow.
    Message,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Profile => "profile",
            WorkKind::Activity => "activity",
            WorkKind::Consent => "consent",
            WorkKind::Message => "message",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "profile" => Ok(WorkKind::Profile),
            "activity" => Ok(WorkKind::Activity),
            "consent" => Ok(WorkKind::Consent),
            "message" => Ok(WorkKind::Message),
            other => Err(StoreError::Corrupt(format!("outbox kind {other:?}"))),
        }
    }
}

/// A claimed work item.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: WorkKind,
    pub profile_id: i64,
    pub event_id: Option<i64>,
    pub idempotency_key: String,
    pub attempts: i64,
    /// A message's journey and channel.
    pub message: Option<MessageRoute>,
}

/// Which journey queued a message, and the channel it contacts the person on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRoute {
    pub journey: String,
    pub channel: Channel,
    /// The journey entry it was queued for (none for messages queued before entries were kept).
    pub entry: Option<i64>,
}

/// How a work item ended this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Delivered,
    /// Try again at this time (ms since the epoch); the error is kept for the operator.
    Retry {
        at: i64,
        error: String,
        /// The vendor asked the sink to slow down (a 429 or a rate limit): this uses no attempt.
        throttled: bool,
    },
    /// The vendor refused it for good.
    Rejected(String),
    /// Retries exhausted.
    Dead(String),
    /// Not attempted, or not through a fault of the item (the sink's plugin is quarantined, the
    /// vendor refused the sink's credentials): wait until this time; uses no attempt.
    Deferred {
        at: i64,
        reason: String,
    },
    /// Not sent, for good: the person's consents do not allow this sink to receive it.
    Suppressed(String),
}

/// The outbox as a queue: items of a sink, named by id; delivered when done; a delivered item keeps
/// the error of its last failed attempt for the operator.
const OUTBOX: Queue = Queue {
    table: "outbox",
    partition: "sink_id",
    key: "id",
    alias: "o",
    done: "delivered",
    done_at: None,
    keeps_last_error: true,
};

/// The columns of an outbox row that [`outbox_row`] reads.
const ROW_COLUMNS: &str =
    "id, kind, profile_id, event_id, idempotency_key, attempts, journey, channel, entry_id";

/// An outbox row's [`ROW_COLUMNS`], as a packed read decodes them.
type RowValues = (
    i64,
    String,
    i64,
    Option<i64>,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// An outbox row read with [`ROW_COLUMNS`].
fn outbox_row(row: &sqlx::any::AnyRow) -> Result<OutboxRow, StoreError> {
    outbox_row_of((
        row.try_get("id")?,
        row.try_get("kind")?,
        row.try_get("profile_id")?,
        row.try_get("event_id")?,
        row.try_get("idempotency_key")?,
        row.try_get("attempts")?,
        row.try_get("journey")?,
        row.try_get("channel")?,
        row.try_get("entry_id")?,
    ))
}

/// The outbox row [`ROW_COLUMNS`] hold.
fn outbox_row_of(
    (id, kind, profile_id, event_id, idempotency_key, attempts, journey, channel, entry): RowValues,
) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id,
        kind: WorkKind::parse(&kind)?,
        profile_id,
        event_id,
        idempotency_key,
        attempts,
        message: message_route(journey, channel.as_deref(), entry)?,
    })
}

/// When a held profile update is due: not until [`Store::release_held_profiles`] makes it due. A
/// time that never comes rather than a status of its own, so a held item is owed like any other
/// (counted, forgotten with its person, standing in for later updates of the person); only
/// claims and the rules of who waits behind whom tell it apart.
pub const HELD: i64 = i64::MAX;

/// When the profile updates of a batch of new events go to the sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileUpdates {
    /// As soon as the sink can take them (the events came live: a webhook, an upload).
    Due,
    /// The events are one step of a poll, which may bring many more (a first backfill, a source
    /// catching up after downtime): the update of a person the sink already knows (it took their
    /// latest profile update it was sent) waits, held, until the poll ends
    /// ([`Store::release_held_profiles`]), however many of their sales the poll brings meanwhile;
    /// their activities go on being delivered, since a held update holds up nothing. Anyone else's
    /// (never sent, or refused last time) goes now, so the vendor knows them before their
    /// activities.
    Held,
}

/// Work one new event creates for every sink: an update of its person's profile, and the activity
/// it records if it is the first sighting of its vendor object.
#[derive(Debug, Clone)]
pub struct NewWork {
    pub profile_id: i64,
    pub event_id: i64,
    pub activity_key: Option<String>,
}

/// Finishes the items `ids` of `sink` as `end` says, and records each in `deliveries` with when it
/// was queued (for the sync latency).
async fn end_items(
    conn: &mut AnyConnection,
    sink: &str,
    ids: &[i64],
    end: Finish<'_>,
    now: i64,
) -> Result<(), StoreError> {
    queue::finish(conn, &OUTBOX, sink, ids, end, now).await?;
    let (outcome, detail) = match end {
        Finish::Done => ("ok", None),
        Finish::Ended { status, reason, .. } => (status, Some(reason)),
    };
    rows::query_ids(
        conn,
        "INSERT INTO deliveries (outbox_id, sink_id, kind, idempotency_key, outcome, detail,
                                 attempts, at, queued_at)
         SELECT id, sink_id, kind, idempotency_key, $1, $2, attempts, $3, created_at
         FROM outbox WHERE id IN {list}",
        &[outcome.into(), detail.into(), now.into()],
        ids,
    )
    .await?;
    Ok(())
}

/// The journey messages waiting to be sent (not in flight) that events of `orders` from
/// `source_id` queued, as `(sink, item id)`.
pub async fn waiting_messages_of_orders(
    tx: &mut Tx<'_>,
    source_id: &str,
    orders: &[&str],
) -> Result<Vec<(String, i64)>, StoreError> {
    let list: Vec<Value> = orders.iter().map(|o| (*o).into()).collect();
    rows::query_in(
        &mut tx.inner,
        "SELECT o.sink_id, o.id FROM outbox o JOIN events e ON e.id = o.event_id
         WHERE o.kind = 'message' AND o.status = 'pending'
           AND e.source_id = $1 AND e.kind = 'order' AND e.object_id IN {list}",
        &[source_id.into()],
        &list,
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("sink_id")?, r.try_get("id")?)))
    .collect()
}

/// The journey messages still waiting for each `(person, channel)` in `refused`, as
/// `(sink, outbox id)`.
pub async fn waiting_messages_on_channels(
    tx: &mut Tx<'_>,
    refused: &[(i64, Channel)],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut waiting = Vec::new();
    for (channel, people) in rows::by_channel(refused) {
        for r in rows::query_ids(
            &mut tx.inner,
            "SELECT sink_id, id FROM outbox
             WHERE kind = 'message' AND status = 'pending' AND channel = $1
               AND profile_id IN {list}",
            &[channel.as_str().into()],
            &people,
        )
        .await?
        {
            waiting.push((r.try_get("sink_id")?, r.try_get("id")?));
        }
    }
    Ok(waiting)
}

/// Ends waiting items of `sink` unsent (`suppressed`, never attempted) for `reason`.
pub async fn withdraw(
    tx: &mut Tx<'_>,
    sink: &str,
    ids: &[i64],
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let end = Finish::Ended {
        status: "suppressed",
        reason,
        attempted: false,
    };
    end_items(&mut tx.inner, sink, ids, end, now).await
}

/// The journey and channel a stored outbox row names, if it is a message.
fn message_route(
    journey: Option<String>,
    channel: Option<&str>,
    entry: Option<i64>,
) -> Result<Option<MessageRoute>, StoreError> {
    match (journey, channel) {
        (Some(journey), Some(channel)) => Ok(Some(MessageRoute {
            journey,
            channel: rows::parse_enum("outbox.channel", channel)?,
            entry,
        })),
        _ => Ok(None),
    }
}

/// A journey message to queue: the sink, person, the order that started it (if one did), its
/// idempotency key, journey, channel and entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage<'a> {
    pub sink: &'a str,
    pub profile_id: i64,
    pub event_id: Option<i64>,
    pub key: &'a str,
    pub journey: &'a str,
    pub channel: Channel,
    pub entry_id: i64,
}

/// Queues journey messages for their journeys' sinks, due `now` (one already queued under its key
/// is kept); returns the ids of the new items, by entry.
pub async fn enqueue_messages(
    tx: &mut Tx<'_>,
    messages: &[NewMessage<'_>],
    now: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let items: Vec<Vec<Value>> = messages
        .iter()
        .map(|m| {
            let mut row = work_row(
                m.sink,
                WorkKind::Message,
                m.profile_id,
                m.event_id,
                m.key,
                now,
            );
            row[9] = m.journey.into();
            row[10] = m.channel.as_str().into();
            row[11] = m.entry_id.into();
            row
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO outbox (sink_id, kind, profile_id, event_id, idempotency_key, status,
                             attempts, next_attempt_at, created_at, journey, channel, entry_id)",
        "ON CONFLICT (sink_id, idempotency_key) DO NOTHING RETURNING id, entry_id",
        &items,
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get("entry_id")?, row.try_get("id")?)))
    .collect()
}

/// Queues the work of a batch of new events for every sink; returns the number of items queued.
/// Each person gets one profile update per sink ahead of their activities, unless one is already
/// waiting unattempted: that one renders the latest snapshot when it is sent, so a second would
/// say nothing new. `updates` says when the new profile updates are due.
pub async fn enqueue(
    tx: &mut Tx<'_>,
    sinks: &[String],
    work: &[NewWork],
    updates: ProfileUpdates,
    now: i64,
) -> Result<usize, StoreError> {
    let mut people: Vec<(i64, i64)> = Vec::new();
    let mut seen = HashSet::new();
    for w in work {
        if seen.insert(w.profile_id) {
            people.push((w.profile_id, w.event_id));
        }
    }
    let profile_ids: Vec<i64> = people.iter().map(|(p, _)| *p).collect();
    let profile_keys: Vec<String> = people
        .iter()
        .map(|(profile, event)| format!("profile:{profile}:{event}"))
        .collect();
    let mut queued = 0;
    for sink in sinks {
        let (waiting, known) = match updates {
            ProfileUpdates::Due => (
                waiting_unattempted(&mut tx.inner, sink, WorkKind::Profile, &profile_ids).await?,
                HashSet::new(),
            ),
            ProfileUpdates::Held => profile_updates_of(&mut tx.inner, sink, &profile_ids).await?,
        };
        let mut items: Vec<Vec<Value>> = people
            .iter()
            .zip(&profile_keys)
            .filter(|((profile, _), _)| !waiting.contains(profile))
            .map(|((profile, event), key)| {
                let mut row = work_row(sink, WorkKind::Profile, *profile, Some(*event), key, now);
                if known.contains(profile) {
                    row[7] = HELD.into();
                }
                row
            })
            .collect();
        items.extend(work.iter().filter_map(|w| {
            Some(work_row(
                sink,
                WorkKind::Activity,
                w.profile_id,
                Some(w.event_id),
                w.activity_key.as_ref()?,
                now,
            ))
        }));
        queued += insert_work(&mut tx.inner, &items).await?;
    }
    Ok(queued)
}

/// Queues, for every sink, a consent update for each of `people` (whose consent in force changed),
/// unless one is already waiting unattempted: it renders the consents in force when it is sent.
pub async fn enqueue_consent_changes(
    tx: &mut Tx<'_>,
    sinks: &[String],
    people: &HashSet<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    let mut people: Vec<i64> = people.iter().copied().collect();
    people.sort_unstable();
    let mut queued = 0;
    for sink in sinks {
        let waiting = waiting_unattempted(&mut tx.inner, sink, WorkKind::Consent, &people).await?;
        let owed: Vec<(i64, String)> = people
            .iter()
            .filter(|profile| !waiting.contains(profile))
            .map(|profile| {
                let key = format!(
                    "consent:{profile}:{now}:{}",
                    hex::encode(rand::random::<[u8; 6]>())
                );
                (*profile, key)
            })
            .collect();
        let items: Vec<Vec<Value>> = owed
            .iter()
            .map(|(profile, key)| work_row(sink, WorkKind::Consent, *profile, None, key, now))
            .collect();
        queued += insert_work(&mut tx.inner, &items).await?;
    }
    Ok(queued)
}

/// Queues, for every sink, a profile update for each of `people` after a change that no event
/// carries (a merge or an unmerge), unless one is already waiting unattempted; `cause` makes the
/// idempotency keys unique (`merge:<id>`, `unmerge:<id>`).
pub async fn enqueue_profile_updates(
    tx: &mut Tx<'_>,
    sinks: &[String],
    people: &[i64],
    cause: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let keys: Vec<String> = people
        .iter()
        .map(|profile| format!("{cause}:profile:{profile}"))
        .collect();
    let mut queued = 0;
    for sink in sinks {
        let waiting = waiting_unattempted(&mut tx.inner, sink, WorkKind::Profile, people).await?;
        let items: Vec<Vec<Value>> = people
            .iter()
            .zip(&keys)
            .filter(|(profile, _)| !waiting.contains(profile))
            .map(|(profile, key)| work_row(sink, WorkKind::Profile, *profile, None, key, now))
            .collect();
        queued += insert_work(&mut tx.inner, &items).await?;
    }
    Ok(queued)
}

/// Which of `people` already have an item of `kind` for `sink` waiting, never attempted.
async fn waiting_unattempted(
    tx: &mut AnyConnection,
    sink: &str,
    kind: WorkKind,
    people: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    // Through the people's own items: with no statistics SQLite would walk every pending item
    // of the sink (`outbox_ready`), the whole backlog for each batch ingested.
    let outbox = Backend::of(tx).table_by_index("outbox", "outbox_person");
    rows::query_ids(
        tx,
        &format!(
            "SELECT profile_id FROM {outbox}
             WHERE sink_id = $1 AND kind = $2 AND status = 'pending' AND attempts = 0
               AND profile_id IN {{list}}"
        ),
        &[sink.into(), kind.as_str().into()],
        people,
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get("profile_id")?))
    .collect()
}

/// Of `people`, those with a profile update for `sink` waiting unattempted, and those the sink
/// took the latest profile update of that it was sent (delivered, or in flight now), in one read.
async fn profile_updates_of(
    tx: &mut AnyConnection,
    sink: &str,
    people: &[i64],
) -> Result<(HashSet<i64>, HashSet<i64>), StoreError> {
    let outbox = Backend::of(tx).table_by_index("outbox", "outbox_person");
    let rows = rows::query_ids(
        tx,
        &format!(
            "SELECT profile_id,
                    MAX(CASE WHEN status = 'pending' AND attempts = 0 THEN 1 ELSE 0 END) AS waiting,
                    MAX(CASE WHEN status IN ('delivered', 'inflight') THEN id END) AS taken,
                    MAX(CASE WHEN status IN ('rejected', 'dead', 'suppressed', 'discarded')
                             THEN id END) AS refused
             FROM {outbox}
             WHERE sink_id = $1 AND kind = 'profile' AND profile_id IN {{list}}
             GROUP BY profile_id"
        ),
        &[sink.into()],
        people,
    )
    .await?;
    let (mut waiting, mut known) = (HashSet::new(), HashSet::new());
    for row in rows {
        let profile: i64 = row.try_get("profile_id")?;
        if row.try_get::<i64, _>("waiting")? == 1 {
            waiting.insert(profile);
        }
        let taken: Option<i64> = row.try_get("taken")?;
        let refused: Option<i64> = row.try_get("refused")?;
        // `None` orders first: taken, and not refused since (or never refused).
        if taken > refused {
            known.insert(profile);
        }
    }
    Ok((waiting, known))
}

/// One new, pending outbox row, due now: sink, kind, profile, event, key, status, attempts,
/// next attempt, creation, journey, channel.
fn work_row<'a>(
    sink: &'a str,
    kind: WorkKind,
    profile: i64,
    event: Option<i64>,
    key: &'a str,
    now: i64,
) -> Vec<Value<'a>> {
    vec![
        sink.into(),
        kind.as_str().into(),
        profile.into(),
        event.into(),
        key.into(),
        "pending".into(),
        0i64.into(),
        now.into(),
        now.into(),
        None::<&str>.into(),
        None::<&str>.into(),
        None::<i64>.into(),
    ]
}

/// Inserts outbox rows (an item already queued under its key is kept as it is); returns how many
/// were new.
async fn insert_work(
    tx: &mut AnyConnection,
    items: &[Vec<Value<'_>>],
) -> Result<usize, StoreError> {
    Ok(rows::insert_values(
        tx,
        "INSERT INTO outbox (sink_id, kind, profile_id, event_id, idempotency_key, status,
                             attempts, next_attempt_at, created_at, journey, channel, entry_id)",
        "ON CONFLICT (sink_id, idempotency_key) DO NOTHING RETURNING id",
        items,
    )
    .await?
    .len())
}

impl Store {
    /// Claims up to `limit` ready work items for `sink`, consent changes first, leasing them for
    /// `lease_ms`. Each statement selects and leases at once, so concurrent claims (other workers,
    /// other hosts on PostgreSQL) never take the same item.
    pub async fn claim(
        &self,
        sink: &str,
        limit: usize,
        lease_ms: i64,
        now: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        // On PostgreSQL several hosts claim from one outbox. Their claims of one sink take turns, so
        // a claim sees what earlier claims took as in flight and never takes a person's later item
        // while another host sends an earlier one; rows locked by other writers are skipped.
        self.backend.take_claim_turn(&mut tx, sink).await?;
        queue::release_expired_leases(&mut tx, &OUTBOX, sink, now).await?;
        // Each candidate is looked up among the few items that can hold a person's later work up
        // (those in flight, `outbox_in_flight`, and those put back to wait, `outbox_put_back`),
        // one indexed probe each, whatever the planner believes of the outbox's size: a queue's
        // statistics are always out of date, and PostgreSQL, joining on estimates taken while the
        // outbox was nearly empty, compared every candidate with every item in flight instead.
        // Consent changes go first: a person's is taken whenever none of their items is in flight
        // (one in flight may carry older consents, and must land first).
        let none_in_flight = "(SELECT 1 FROM outbox i
                    WHERE i.sink_id = $1 AND i.status = 'inflight'
                      AND i.profile_id = o.profile_id
                    LIMIT 1) IS NULL";
        // They are found through `outbox_consent`: SQLite otherwise walks every pending item of the
        // sink in `outbox_ready` looking for the few consent changes (6 ms a claim with 90,000
        // items pending, most of a backfill's claims).
        let consents = self.backend.table_by_index("outbox o", "outbox_consent");
        let consent_first = format!(
            "SELECT o.id FROM {consents}
             WHERE o.sink_id = $1 AND o.kind = 'consent' AND o.status = 'pending'
               AND o.next_attempt_at <= $2 AND {none_in_flight}
             ORDER BY o.id
             LIMIT $4"
        );
        // Then a person's items in order, several in one batch when they are all ready, but none
        // while one of theirs is in flight, nor at or after one waiting to be retried. A journey
        // message waiting for its time holds up nothing: it stands apart from the person's updates;
        // nor does a held profile update, which goes when its poll ends with the latest figures.
        // An item queued is due at once, so one not yet due was put back for later
        // (`next_attempt_at > created_at`: said here too, so the planner takes `outbox_put_back`).
        let in_order = format!(
            "SELECT o.id FROM outbox o
             WHERE o.sink_id = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2
               AND {none_in_flight}
               AND (SELECT 1 FROM outbox w
                    WHERE w.sink_id = $1 AND w.status = 'pending'
                      AND w.profile_id = o.profile_id AND w.id < o.id
                      AND w.next_attempt_at > $2 AND w.next_attempt_at <> {HELD}
                      AND w.kind <> 'message' AND w.next_attempt_at > w.created_at
                    LIMIT 1) IS NULL
             ORDER BY o.id
             LIMIT $4"
        );
        // The leases return ids only and the rows are read packed after: a claim's rows handed
        // over one at a time took longer than the claim's own writes.
        let mut ids = Vec::new();
        for select in [&consent_first, &in_order] {
            if ids.len() >= limit {
                break;
            }
            let selection = Selection {
                select,
                params: &[((limit - ids.len()) as i64).into()],
                returning: "id",
            };
            for row in queue::lease(&mut tx, &OUTBOX, sink, selection, now, now + lease_ms).await? {
                ids.push(row.try_get::<i64, _>("id")?);
            }
        }
        let rows: Vec<RowValues> = packed::json_rows(
            &mut tx,
            ROW_COLUMNS,
            "FROM outbox WHERE id IN {list}",
            "",
            &[],
            &ids,
        )
        .await?;
        tx.commit().await?;
        let mut claimed = (rows.into_iter())
            .map(outbox_row_of)
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|item| item.id);
        Ok(claimed)
    }

    /// `sink`'s items a drain would take at `now`, in order, read without claiming anything (for
    /// `rapport sync --dry-run`): pending and due, or in flight on a lease that ran out, and not
    /// behind an item of the person's still in flight or waiting for a retry (a consent change
    /// is held up only by one in flight; a journey message waiting for its time, or a held profile
    /// update, holds up nothing).
    pub async fn peek_due(&self, sink: &str, now: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "WITH blocked AS (
                 SELECT profile_id,
                        MIN(CASE WHEN status = 'inflight' THEN 0 ELSE id END) AS from_id,
                        MAX(CASE WHEN status = 'inflight' THEN 1 ELSE 0 END) AS in_flight
                 FROM outbox
                 WHERE sink_id = $1
                   AND ((status = 'inflight' AND lease_until > $2)
                        OR (status = 'pending' AND next_attempt_at > $2
                            AND next_attempt_at <> {HELD} AND kind <> 'message'))
                 GROUP BY profile_id)
             SELECT {ROW_COLUMNS} FROM outbox
             WHERE sink_id = $1
               AND ((status = 'pending' AND next_attempt_at <= $2)
                    OR (status = 'inflight' AND lease_until <= $2))
               AND NOT EXISTS (
                   SELECT 1 FROM blocked b WHERE b.profile_id = outbox.profile_id
                     AND CASE WHEN outbox.kind = 'consent' THEN b.in_flight = 1
                              ELSE outbox.id > b.from_id END)
             ORDER BY id"
        ))
        .bind(sink)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Records how each claimed item ended. Items that finish the same way (delivered, the common
    /// case, or stopped for the same reason) are recorded for the whole batch at once.
    pub async fn complete(
        &self,
        sink: &str,
        results: &[(OutboxRow, Completion)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let mut finished: HashMap<Finish, Vec<i64>> = HashMap::new();
        for (item, completion) in results {
            let ended = |status, reason, attempted| Finish::Ended {
                status,
                reason,
                attempted,
            };
            let end = match completion {
                Completion::Delivered => Finish::Done,
                Completion::Suppressed(reason) => ended("suppressed", reason, false),
                Completion::Rejected(reason) => ended("rejected", reason, true),
                Completion::Dead(reason) => ended("dead", reason, true),
                Completion::Retry {
                    at,
                    error,
                    throttled,
                } => {
                    let attempted = !throttled;
                    queue::retry(&mut tx, &OUTBOX, sink, item.id, *at, error, attempted).await?;
                    continue;
                }
                Completion::Deferred { at, reason } => {
                    queue::retry(&mut tx, &OUTBOX, sink, item.id, *at, reason, false).await?;
                    continue;
                }
            };
            finished.entry(end).or_default().push(item.id);
        }
        for (end, ids) in &finished {
            end_items(&mut tx, sink, ids, *end, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes every held profile update of `sinks` due at `now`: the poll that held them ended
    /// (caught up or stopped), or a process that stopped during one starts again. Returns how many.
    pub async fn release_held_profiles(
        &self,
        sinks: &[String],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut released = 0;
        for sink in sinks {
            // Worded as `outbox_waiting`'s condition, so the update finds them through it.
            released += sqlx::query(&format!(
                "UPDATE outbox SET next_attempt_at = $2
                 WHERE sink_id = $1 AND status = 'pending' AND kind <> 'message'
                   AND next_attempt_at = {HELD}"
            ))
            .bind(sink)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(released)
    }

    /// How many items `sink` still owes: pending (whatever their due time) or in flight.
    pub async fn owed(&self, sink: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE sink_id = $1 AND status IN ('pending', 'inflight')",
        )
        .bind(sink)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Work items of `sink` not yet finished (pending or in flight), and the earliest time one of them
    /// becomes claimable. Items queued behind an earlier unfinished item of the same person do not
    /// count towards that time: they wait for the item ahead of them. Consent changes, which jump
    /// the queue, count unless one of their person's items is in flight; journey messages, which
    /// stand apart from the queue, count at their own time unless a person's update is ahead.
    /// Held profile updates are owed, but never due until released.
    pub async fn backlog(&self, sink: &str) -> Result<(i64, Option<i64>), StoreError> {
        let owed = self.owed(sink).await?;
        // A message's person's items are looked up by person: with no statistics SQLite would
        // walk every unfinished item of the sink older than the message, for each message.
        let earlier = self.backend.table_by_index("outbox e", "outbox_person");
        let next_at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(due) FROM (
                 SELECT CASE WHEN o.status = 'pending' THEN o.next_attempt_at
                             ELSE o.lease_until END AS due
                 FROM outbox o
                 JOIN (SELECT MIN(id) AS id FROM outbox
                       WHERE sink_id = $1 AND status IN ('pending', 'inflight')
                         AND kind <> 'message' AND next_attempt_at <> {HELD}
                       GROUP BY profile_id) head ON head.id = o.id
                 UNION ALL
                 SELECT CASE WHEN m.status = 'pending' THEN m.next_attempt_at
                             ELSE m.lease_until END AS due
                 FROM outbox m
                 WHERE m.sink_id = $1 AND m.kind = 'message' AND m.status IN ('pending', 'inflight')
                   AND NOT EXISTS (SELECT 1 FROM {earlier}
                                   WHERE e.sink_id = $1 AND e.profile_id = m.profile_id
                                     AND e.kind <> 'message' AND e.id < m.id
                                     AND e.status IN ('pending', 'inflight'))
                 UNION ALL
                 SELECT c.next_attempt_at AS due FROM outbox c
                 WHERE c.sink_id = $1 AND c.kind = 'consent' AND c.status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM outbox i
                                   WHERE i.sink_id = $1 AND i.profile_id = c.profile_id
                                     AND i.status = 'inflight')) AS owed"
        ))
        .bind(sink)
        .fetch_one(&self.pool)
        .await?;
        Ok((owed, next_at))
    }

    /// When each of `people`'s journey messages (to any sink) were sent since `since` (ms since the
    /// epoch), per person and channel.
    pub async fn sent_messages(
        &self,
        people: &[i64],
        since: i64,
    ) -> Result<HashMap<(i64, Channel), Vec<i64>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut sent: HashMap<(i64, Channel), Vec<i64>> = HashMap::new();
        for row in rows::query_ids(
            &mut conn,
            "SELECT o.profile_id, o.channel, d.at FROM outbox o
             JOIN deliveries d ON d.outbox_id = o.id AND d.outcome = 'ok'
             WHERE o.kind = 'message' AND d.at >= $1 AND o.profile_id IN {list}",
            &[since.into()],
            people,
        )
        .await?
        {
            let channel: String = row.try_get("channel")?;
            sent.entry((
                row.try_get("profile_id")?,
                rows::parse_enum("outbox.channel", &channel)?,
            ))
            .or_default()
            .push(row.try_get("at")?);
        }
        Ok(sent)
    }

    /// The stored source, time and JSON payload of each of the given events (read packed: a
    /// delivery batch renders hundreds).
    pub async fn event_payloads(
        &self,
        event_ids: &[i64],
    ) -> Result<HashMap<i64, (String, i64, String)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let events: Vec<(i64, String, i64, String)> = packed::json_rows(
            &mut conn,
            "id, source_id, occurred_at, payload",
            "FROM events WHERE id IN {list}",
            "",
            &[],
            event_ids,
        )
        .await?;
        Ok(events
            .into_iter()
            .map(|(id, source, at, payload)| (id, (source, at, payload)))
            .collect())
    }
}

/// Where a work item stands: waiting (`pending`), leased to a worker (`inflight`), or finished:
/// delivered, suppressed (the person's consents or the contact rules kept it back), rejected by
/// the vendor, or dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    Pending,
    Inflight,
    Delivered,
    Suppressed,
    Rejected,
    Dead,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Inflight => "inflight",
            ItemStatus::Delivered => "delivered",
            ItemStatus::Suppressed => "suppressed",
            ItemStatus::Rejected => "rejected",
            ItemStatus::Dead => "dead",
        }
    }

    /// Whether the item is finished, for good.
    pub fn finished(self) -> bool {
        !matches!(self, ItemStatus::Pending | ItemStatus::Inflight)
    }
}

/// A work item as a read-out shows it (`rapport explain`, the pilot report): the row delivery
/// claims, and where it stands.
#[derive(Debug, Clone)]
pub struct StoredItem {
    pub sink: String,
    pub row: OutboxRow,
    pub status: ItemStatus,
    /// When a pending item may next be tried.
    pub next_attempt_at: i64,
    /// Why it was not delivered (yet): the last error, or the reason it ended.
    pub last_error: Option<String>,
    pub created_at: i64,
    /// When it finished (its latest recorded outcome), if it did.
    pub finished_at: Option<i64>,
    /// The kind and vendor object id (an order's id) of the stored event it carries.
    pub event: Option<(String, String)>,
}

impl StoredItem {
    /// Whether it is a profile update held until its poll ends ([`ProfileUpdates::Held`]).
    pub fn held(&self) -> bool {
        self.status == ItemStatus::Pending && self.next_attempt_at == HELD
    }
}

/// Which items a read-out takes.
#[derive(Debug, Clone, Copy)]
pub enum ItemsOf<'a> {
    /// Every item of the person and of the profiles merged into them, for every sink.
    Person(i64),
    /// The items `sink` delivered.
    Delivered(&'a str),
}

impl Store {
    /// The work items `of` names, oldest first, with where each stands.
    pub async fn work_items(&self, of: ItemsOf<'_>) -> Result<Vec<StoredItem>, StoreError> {
        const ITEMS: &str =
            "SELECT o.id, o.sink_id, o.kind, o.profile_id, o.event_id, o.idempotency_key,
                    o.attempts, o.journey, o.channel, o.entry_id, o.status, o.next_attempt_at,
                    o.last_error, o.created_at, e.kind AS event_kind, e.object_id AS event_object,
                    (SELECT MAX(d.at) FROM deliveries d WHERE d.outbox_id = o.id) AS finished_at
             FROM outbox o LEFT JOIN events e ON e.id = o.event_id";
        let found = match of {
            ItemsOf::Person(profile) => {
                let sql = format!(
                    "{ITEMS} WHERE o.profile_id = $1
                        OR o.profile_id IN (SELECT id FROM profiles WHERE merged_into = $2)
                     ORDER BY o.id"
                );
                sqlx::query(&sql)
                    .bind(profile)
                    .bind(profile)
                    .fetch_all(&self.pool)
                    .await?
            }
            ItemsOf::Delivered(sink) => {
                let sql = format!(
                    "{ITEMS} WHERE o.sink_id = $1 AND o.status = 'delivered' ORDER BY o.id"
                );
                sqlx::query(&sql).bind(sink).fetch_all(&self.pool).await?
            }
        };
        found
            .iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let event_kind: Option<String> = row.try_get("event_kind")?;
                let event_object: Option<String> = row.try_get("event_object")?;
                Ok(StoredItem {
                    sink: row.try_get("sink_id")?,
                    row: outbox_row(row)?,
                    status: rows::parse_enum("outbox.status", &status)?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_error: row.try_get("last_error")?,
                    created_at: row.try_get("created_at")?,
                    finished_at: row.try_get("finished_at")?,
                    event: event_kind.zip(event_object),
                })
            })
            .collect()
    }
}
