//! Merges in the identity graph: one profile moved into another in a transaction, with what moved
//! recorded by row id (never PII) so that an operator can undo it, and the merge log that
//! `rapport identity show` prints.
//!
//! A merge moves the absorbed profile's identities, events, consent choices (the ledger; the choices
//! in force are then worked out again by the ledger's rule) and pending work items; items in flight
//! stay with the worker that holds them. The survivor keeps its names unless it had none. The
//! absorbed profile keeps its row, marked `merged_into`, so that an unmerge brings back its key.

use super::rows::{self, Value};
use super::{consents, now_ms, outbox, Store, StoreError};
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;

/// What a merge moves: the item name in `identity_merge_moves`, and its table.
const MOVED: [(&str, &str); 4] = [
    ("identity", "identities"),
    ("event", "events"),
    ("ledger", "consent_ledger"),
    ("outbox", "outbox"),
];

/// One merge to make: `absorbed` into `survivor`.
pub(super) struct NewMerge<'a> {
    pub survivor: i64,
    pub absorbed: i64,
    /// The identity kind that linked them, or `operator: <note>`.
    pub reason: &'a str,
    /// `<source>:<source event id>`, or `operator`.
    pub evidence: &'a str,
}

/// A merge as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub id: i64,
    pub survivor_key: String,
    pub absorbed_key: String,
    pub reason: String,
    pub evidence: String,
    pub merged_at: i64,
    pub unmerged_at: Option<i64>,
    /// How many rows of each item (identity, event, ledger, outbox) it moved.
    pub moved: BTreeMap<String, i64>,
}

/// The two profiles of an operator's merge or unmerge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPair {
    pub merge_id: i64,
    pub survivor_key: String,
    pub absorbed_key: String,
}

/// Why a merge or unmerge was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("there is no merge {0} (`rapport identity show` lists a profile's merges)")]
    Unknown(i64),
    #[error("merge {0} was already undone")]
    AlreadyUndone(i64),
    #[error(
        "merge {later} was made after merge {id} on the same profiles: undo merge {later} first \
         (merges are undone newest first)"
    )]
    Later { id: i64, later: i64 },
    #[error("profile {0} was forgotten (`rapport forget`); it cannot be merged or unmerged")]
    Erased(String),
    #[error(
        "profile {key} was merged into profile {into} (merge {merge}); name {into}, or undo merge \
         {merge} first"
    )]
    Absorbed {
        key: String,
        into: String,
        merge: i64,
    },
    #[error("both name profile {0}: there is nothing to merge")]
    Same(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MergeError {
    fn from(e: sqlx::Error) -> Self {
        MergeError::Store(e.into())
    }
}

/// Merges `m.absorbed` into `m.survivor` and records it; returns the merge's id and whether the
/// survivor's consents in force changed state (sinks must then hear of it first).
pub(super) async fn absorb(
    tx: &mut Transaction<'_, Any>,
    m: &NewMerge<'_>,
    now: i64,
) -> Result<(i64, bool), StoreError> {
    let survivor_names = names(tx, m.survivor).await?;
    let absorbed_names = names(tx, m.absorbed).await?;
    let took_names = survivor_names == (None, None) && absorbed_names != (None, None);
    let merge_id: i64 = sqlx::query_scalar(
        "INSERT INTO identity_merges (survivor_id, absorbed_id, reason, evidence, took_names,
                                      merged_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(m.survivor)
    .bind(m.absorbed)
    .bind(m.reason)
    .bind(m.evidence)
    .bind(i64::from(took_names))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    if took_names {
        sqlx::query(
            "UPDATE profiles SET given_name = $1, family_name = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(absorbed_names.0)
        .bind(absorbed_names.1)
        .bind(now)
        .bind(m.survivor)
        .execute(&mut **tx)
        .await?;
    }
    for (item, table) in MOVED {
        // A choice the survivor already holds (the same one heard through both) stays where it is.
        let only = match item {
            "ledger" => {
                " AND NOT EXISTS (SELECT 1 FROM consent_ledger s
                    WHERE s.profile_id = $4 AND s.channel = t.channel AND s.purpose = t.purpose
                      AND s.at = t.at AND s.state = t.state AND s.source = t.source)"
            }
            "outbox" => " AND t.status = 'pending'",
            _ => "",
        };
        let sql = format!(
            "INSERT INTO identity_merge_moves (merge_id, item, row_id)
             SELECT $1, $2, t.id FROM {table} t WHERE t.profile_id = $3{only}"
        );
        let mut query = sqlx::query(&sql).bind(merge_id).bind(item).bind(m.absorbed);
        if item == "ledger" {
            query = query.bind(m.survivor);
        }
        query.execute(&mut **tx).await?;
        move_rows(tx, merge_id, item, table, m.absorbed, m.survivor).await?;
    }
    sqlx::query("UPDATE profiles SET merged_into = $1, updated_at = $2 WHERE id = $3")
        .bind(m.survivor)
        .bind(now)
        .bind(m.absorbed)
        .execute(&mut **tx)
        .await?;
    consents::recompute(tx, m.absorbed).await?;
    let changed = consents::recompute(tx, m.survivor).await?;
    tracing::info!(
        merge = merge_id,
        survivor = m.survivor,
        absorbed = m.absorbed,
        reason = m.reason,
        evidence = m.evidence,
        "profiles merged"
    );
    Ok((merge_id, changed))
}

/// Moves the rows of `item` that merge `merge_id` moved, and that are still on `from`, to `to`.
/// Work items move only while pending: one in flight stays with its worker.
async fn move_rows(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    item: &str,
    table: &str,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    let pending = if item == "outbox" {
        " AND status = 'pending'"
    } else {
        ""
    };
    sqlx::query(&format!(
        "UPDATE {table} SET profile_id = $1
         WHERE id IN (SELECT row_id FROM identity_merge_moves WHERE merge_id = $2 AND item = $3)
           AND profile_id = $4{pending}"
    ))
    .bind(to)
    .bind(merge_id)
    .bind(item)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn names(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let row = sqlx::query("SELECT given_name, family_name FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))?;
    Ok((row.try_get("given_name")?, row.try_get("family_name")?))
}

/// A profile as a merge or an unmerge needs to know it.
struct Standing {
    key: String,
    merged_into: Option<i64>,
}

async fn standing(tx: &mut Transaction<'_, Any>, profile_id: i64) -> Result<Standing, MergeError> {
    let row = sqlx::query("SELECT key, merged_into FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))?;
    let key: String = row.try_get("key")?;
    let erased: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM erasures WHERE profile_key = $1")
        .bind(&key)
        .fetch_one(&mut **tx)
        .await?;
    if erased > 0 {
        return Err(MergeError::Erased(key));
    }
    Ok(Standing {
        key,
        merged_into: row.try_get("merged_into")?,
    })
}

/// The key of a profile.
async fn key_of(tx: &mut Transaction<'_, Any>, profile_id: i64) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT key FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_one(&mut **tx)
        .await?)
}

/// Profiles merged into `profile_id`, and into those, and so on: rows that still hold what a
/// merge left behind (names, choices heard twice).
pub(super) async fn absorbed_by(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut found: Vec<i64> = Vec::new();
    let mut frontier = vec![profile_id];
    while !frontier.is_empty() {
        let next: Vec<i64> = rows::query_ids(
            tx,
            "SELECT id FROM profiles WHERE merged_into IN {list}",
            &[],
            &frontier,
        )
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
        frontier = next.into_iter().filter(|id| !found.contains(id)).collect();
        found.extend(&frontier);
    }
    Ok(found)
}

impl Store {
    /// Merges two profiles on the operator's word: the younger into the older, whatever the merge
    /// rule says, recorded with reason `operator: <note>`; then queues the survivor's profile (and,
    /// if its consents changed, its consents) for every sink.
    pub async fn merge_profiles(
        &self,
        a: i64,
        b: i64,
        note: &str,
        sinks: &[String],
    ) -> Result<MergedPair, MergeError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let (survivor, absorbed) = (a.min(b), a.max(b));
        let (s, x) = (
            standing(&mut tx.inner, survivor).await?,
            standing(&mut tx.inner, absorbed).await?,
        );
        if a == b {
            return Err(MergeError::Same(s.key));
        }
        for (profile, state) in [(survivor, &s), (absorbed, &x)] {
            if let Some(into) = state.merged_into {
                let merge: i64 = sqlx::query_scalar(
                    "SELECT MAX(id) FROM identity_merges WHERE absorbed_id = $1
                     AND unmerged_at IS NULL",
                )
                .bind(profile)
                .fetch_one(&mut *tx.inner)
                .await?;
                return Err(MergeError::Absorbed {
                    key: state.key.clone(),
                    into: key_of(&mut tx.inner, into).await?,
                    merge,
                });
            }
        }
        let reason = format!("operator: {}", note.trim());
        let (merge_id, consent_changed) = absorb(
            &mut tx.inner,
            &NewMerge {
                survivor,
                absorbed,
                reason: reason.trim_end_matches([' ', ':']),
                evidence: "operator",
            },
            now,
        )
        .await?;
        if consent_changed {
            outbox::enqueue_consent_changes(
                &mut tx,
                sinks,
                &std::collections::HashSet::from([survivor]),
                now,
            )
            .await?;
        }
        outbox::enqueue_profile_updates(
            &mut tx,
            sinks,
            &[survivor],
            &format!("merge:{merge_id}"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(MergedPair {
            merge_id,
            survivor_key: s.key,
            absorbed_key: x.key,
        })
    }

    /// Undoes merge `merge_id`: what it moved and is still on the survivor goes back to the absorbed
    /// profile, together with `arrived_since` (events and identities that reached the survivor after
    /// the merge but belong to the absorbed profile), the survivor gives back names it took, both
    /// profiles' consents in force are worked out again, and both are queued for every sink.
    /// Refused, changing nothing, for an unknown merge, one already undone, one a later merge built
    /// on, or a forgotten profile.
    pub async fn unmerge(
        &self,
        merge_id: i64,
        arrived_since: &ArrivedSince,
        sinks: &[String],
    ) -> Result<MergedPair, MergeError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT survivor_id, absorbed_id, took_names, unmerged_at FROM identity_merges
             WHERE id = $1",
        )
        .bind(merge_id)
        .fetch_optional(&mut *tx.inner)
        .await?
        .ok_or(MergeError::Unknown(merge_id))?;
        let survivor: i64 = row.try_get("survivor_id")?;
        let absorbed: i64 = row.try_get("absorbed_id")?;
        if row.try_get::<Option<i64>, _>("unmerged_at")?.is_some() {
            return Err(MergeError::AlreadyUndone(merge_id));
        }
        let later: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM identity_merges
             WHERE id > $1 AND unmerged_at IS NULL
               AND (survivor_id IN ($2, $3) OR absorbed_id IN ($4, $5))",
        )
        .bind(merge_id)
        .bind(survivor)
        .bind(absorbed)
        .bind(survivor)
        .bind(absorbed)
        .fetch_one(&mut *tx.inner)
        .await?;
        if let Some(later) = later {
            return Err(MergeError::Later {
                id: merge_id,
                later,
            });
        }
        let s = standing(&mut tx.inner, survivor).await?;
        let x = standing(&mut tx.inner, absorbed).await?;
        for (item, ids) in [
            ("event", &arrived_since.events),
            ("identity", &arrived_since.identities),
        ] {
            let moves: Vec<Vec<Value>> = ids
                .iter()
                .map(|id| vec![merge_id.into(), item.into(), (*id).into()])
                .collect();
            rows::insert_values(
                &mut tx.inner,
                "INSERT INTO identity_merge_moves (merge_id, item, row_id)",
                "ON CONFLICT (merge_id, item, row_id) DO NOTHING",
                &moves,
            )
            .await?;
        }
        for (item, table) in MOVED {
            move_rows(&mut tx.inner, merge_id, item, table, survivor, absorbed).await?;
        }
        // Work still waiting for the events that go back is the absorbed profile's again.
        rows::query_ids(
            &mut tx.inner,
            "UPDATE outbox SET profile_id = $1
             WHERE profile_id = $2 AND status = 'pending' AND event_id IN {list}",
            &[absorbed.into(), survivor.into()],
            &arrived_since.events,
        )
        .await?;
        if row.try_get::<i64, _>("took_names")? != 0 {
            sqlx::query(
                "UPDATE profiles SET given_name = NULL, family_name = NULL, updated_at = $1
                 WHERE id = $2",
            )
            .bind(now)
            .bind(survivor)
            .execute(&mut *tx.inner)
            .await?;
        }
        sqlx::query("UPDATE profiles SET merged_into = NULL, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(absorbed)
            .execute(&mut *tx.inner)
            .await?;
        sqlx::query("UPDATE identity_merges SET unmerged_at = $1 WHERE id = $2")
            .bind(now)
            .bind(merge_id)
            .execute(&mut *tx.inner)
            .await?;
        let mut changed = std::collections::HashSet::new();
        for profile in [survivor, absorbed] {
            if consents::recompute(&mut tx.inner, profile).await? {
                changed.insert(profile);
            }
        }
        outbox::enqueue_consent_changes(&mut tx, sinks, &changed, now).await?;
        outbox::enqueue_profile_updates(
            &mut tx,
            sinks,
            &[survivor, absorbed],
            &format!("unmerge:{merge_id}"),
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(merge = merge_id, survivor, absorbed, "merge undone");
        Ok(MergedPair {
            merge_id,
            survivor_key: s.key,
            absorbed_key: x.key,
        })
    }

    /// The survivor of merge `merge_id` and when it was made, with the events and identities that
    /// reached the survivor since: candidates to go back with the absorbed profile on unmerge.
    pub async fn since_merge(&self, merge_id: i64) -> Result<SinceMerge, MergeError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query("SELECT survivor_id, merged_at FROM identity_merges WHERE id = $1")
            .bind(merge_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(MergeError::Unknown(merge_id))?;
        let survivor: i64 = row.try_get("survivor_id")?;
        let merged_at: i64 = row.try_get("merged_at")?;
        let mut since = SinceMerge::default();
        for r in sqlx::query(
            "SELECT i.id, i.kind, i.value, i.created_at, m.row_id FROM identities i
             LEFT JOIN identity_merge_moves m
               ON m.merge_id = $1 AND m.item = 'identity' AND m.row_id = i.id
             WHERE i.profile_id = $2",
        )
        .bind(merge_id)
        .bind(survivor)
        .fetch_all(&mut *conn)
        .await?
        {
            let identity = rows::identity(&r)?;
            if r.try_get::<Option<i64>, _>("row_id")?.is_some() {
                since.absorbed_identities.push(identity);
            } else if r.try_get::<i64, _>("created_at")? >= merged_at {
                since.identities.push((r.try_get("id")?, identity));
            } else {
                since.survivor_identities.push(identity);
            }
        }
        for r in sqlx::query(
            "SELECT e.id, e.source_id, e.payload FROM events e
             WHERE e.profile_id = $1 AND e.ingested_at >= $2
               AND NOT EXISTS (SELECT 1 FROM identity_merge_moves m
                               WHERE m.merge_id = $3 AND m.item = 'event' AND m.row_id = e.id)",
        )
        .bind(survivor)
        .bind(merged_at)
        .bind(merge_id)
        .fetch_all(&mut *conn)
        .await?
        {
            since.events.push((
                r.try_get("id")?,
                r.try_get("source_id")?,
                r.try_get("payload")?,
            ));
        }
        Ok(since)
    }

    /// The merges `profile_id` took part in, as survivor or absorbed, oldest first.
    pub async fn merge_history(&self, profile_id: i64) -> Result<Vec<MergeRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut records: Vec<MergeRecord> = Vec::new();
        for r in sqlx::query(
            "SELECT m.id, s.key AS survivor_key, a.key AS absorbed_key, m.reason, m.evidence,
                    m.merged_at, m.unmerged_at
             FROM identity_merges m
             JOIN profiles s ON s.id = m.survivor_id JOIN profiles a ON a.id = m.absorbed_id
             WHERE m.survivor_id = $1 OR m.absorbed_id = $2 ORDER BY m.id",
        )
        .bind(profile_id)
        .bind(profile_id)
        .fetch_all(&mut *conn)
        .await?
        {
            records.push(MergeRecord {
                id: r.try_get("id")?,
                survivor_key: r.try_get("survivor_key")?,
                absorbed_key: r.try_get("absorbed_key")?,
                reason: r.try_get("reason")?,
                evidence: r.try_get("evidence")?,
                merged_at: r.try_get("merged_at")?,
                unmerged_at: r.try_get("unmerged_at")?,
                moved: BTreeMap::new(),
            });
        }
        let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
        for r in rows::query_ids(
            &mut conn,
            "SELECT merge_id, item, COUNT(*) AS n FROM identity_merge_moves
             WHERE merge_id IN {list} GROUP BY merge_id, item",
            &[],
            &ids,
        )
        .await?
        {
            let merge_id: i64 = r.try_get("merge_id")?;
            if let Some(record) = records.iter_mut().find(|m| m.id == merge_id) {
                record.moved.insert(r.try_get("item")?, r.try_get("n")?);
            }
        }
        Ok(records)
    }
}

/// What reached a merge's survivor since the merge, to sort out on unmerge.
#[derive(Debug, Clone, Default)]
pub struct SinceMerge {
    /// The identities the merge moved (the absorbed profile's, at merge time).
    pub absorbed_identities: Vec<rapport_core::model::Identity>,
    /// The survivor's own identities, linked before the merge.
    pub survivor_identities: Vec<rapport_core::model::Identity>,
    /// Events stored on the survivor since: `(id, source, payload JSON)`.
    pub events: Vec<(i64, String, String)>,
    /// Identities linked to the survivor since: `(row id, identity)`.
    pub identities: Vec<(i64, rapport_core::model::Identity)>,
}

/// Rows that reached a merge's survivor since the merge and go back with the absorbed profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArrivedSince {
    pub events: Vec<i64>,
    pub identities: Vec<i64>,
}
