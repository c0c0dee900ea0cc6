//! The merge tables (`identity_merges`, `identity_merge_moves`) and the rows a merge moves: one
//! profile moved into another, with what moved recorded by row id (never PII) so that an operator can
//! undo it, and the merge log that `rapport identity show` prints.
//!
//! What a merge moves, whether the survivor takes names, and when an operator's merge or unmerge is
//! refused are `rapport_core::identity::graph`'s rules; the identity service reads a profile's
//! standing here, asks them, and calls these functions in its transaction. The absorbed profile keeps
//! its row, marked `merged_into`, so that an unmerge brings back its key.

use super::rows::{self, Value};
use super::{consents, experiments, Store, StoreError, Tx};
use rapport_core::identity::graph::{
    self, Absorption, GoingBack, Moved, Names, RecordedMerge, Standing,
};
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;

/// The table each item a merge moves lives in.
fn table(item: Moved) -> &'static str {
    match item {
        Moved::Identity => "identities",
        Moved::Event => "events",
        Moved::Ledger => "consent_ledger",
        Moved::Outbox => "outbox",
        Moved::JourneyWait => "journey_due",
    }
}

/// One merge to make: `absorbed` into `survivor`.
pub struct NewMerge<'a> {
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

/// Merges `m.absorbed` into `m.survivor` in the service's transaction and records it; returns the
/// merge's id and whether the survivor's consents in force changed state (sinks must then hear of it
/// first).
pub async fn merge(tx: &mut Tx<'_>, m: &NewMerge<'_>, now: i64) -> Result<(i64, bool), StoreError> {
    absorb(&mut tx.inner, m, now).await
}

/// [`merge`], for the ingest's identity resolution: moves what `graph::Moved` names (the survivor
/// takes the absorbed profile's names if `graph::takes_names` says so), marks the absorbed profile
/// and works both profiles' consents in force out again from their ledgers.
pub(super) async fn absorb(
    tx: &mut Transaction<'_, Any>,
    m: &NewMerge<'_>,
    now: i64,
) -> Result<(i64, bool), StoreError> {
    let survivor_names = names(tx, m.survivor).await?;
    let absorbed_names = names(tx, m.absorbed).await?;
    let took_names = graph::takes_names(&survivor_names, &absorbed_names);
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
        .bind(absorbed_names.given)
        .bind(absorbed_names.family)
        .bind(now)
        .bind(m.survivor)
        .execute(&mut **tx)
        .await?;
    }
    // A birthday or loyalty account only the absorbed profile knows is the person's too (each
    // taken whole, never mixed with the survivor's).
    sqlx::query(
        "UPDATE profiles SET
            birthday_month = CASE WHEN birthday_month IS NULL
                THEN (SELECT a.birthday_month FROM profiles a WHERE a.id = $1) ELSE birthday_month END,
            birthday_day = CASE WHEN birthday_month IS NULL
                THEN (SELECT a.birthday_day FROM profiles a WHERE a.id = $1) ELSE birthday_day END,
            birthday_year = CASE WHEN birthday_month IS NULL
                THEN (SELECT a.birthday_year FROM profiles a WHERE a.id = $1) ELSE birthday_year END,
            loyalty_account = CASE WHEN loyalty_account IS NULL
                THEN (SELECT a.loyalty_account FROM profiles a WHERE a.id = $1) ELSE loyalty_account END,
            loyalty_balance = CASE WHEN loyalty_account IS NULL
                THEN (SELECT a.loyalty_balance FROM profiles a WHERE a.id = $1) ELSE loyalty_balance END,
            loyalty_lifetime = CASE WHEN loyalty_account IS NULL
                THEN (SELECT a.loyalty_lifetime FROM profiles a WHERE a.id = $1) ELSE loyalty_lifetime END
         WHERE id = $2",
    )
    .bind(m.absorbed)
    .bind(m.survivor)
    .execute(&mut **tx)
    .await?;
    for item in Moved::ALL {
        record_moves(tx, merge_id, item, m.absorbed, m.survivor).await?;
        move_rows(tx, merge_id, item, m.absorbed, m.survivor).await?;
    }
    experiments::follow_merge(tx, merge_id, m.absorbed, m.survivor).await?;
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

/// Records, as moved by merge `merge_id`, the rows of `item` on `absorbed` (those the rule lets
/// move: see [`Moved`]).
async fn record_moves(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    item: Moved,
    absorbed: i64,
    survivor: i64,
) -> Result<(), StoreError> {
    let mut only = String::new();
    if item.only_waiting() {
        only.push_str(" AND t.status = 'pending'");
    }
    if item.unless_survivor_holds_it() {
        // The same choice: one the survivor holds for the same channel and purpose, made at the
        // same moment, to the same effect, heard from the same source.
        only.push_str(
            " AND NOT EXISTS (SELECT 1 FROM consent_ledger s
                WHERE s.profile_id = $4 AND s.channel = t.channel AND s.purpose = t.purpose
                  AND s.at = t.at AND s.state = t.state AND s.source = t.source)",
        );
    }
    let sql = format!(
        "INSERT INTO identity_merge_moves (merge_id, item, row_id)
         SELECT $1, $2, t.id FROM {} t WHERE t.profile_id = $3{only}",
        table(item)
    );
    let mut query = sqlx::query(&sql)
        .bind(merge_id)
        .bind(item.as_str())
        .bind(absorbed);
    if item.unless_survivor_holds_it() {
        query = query.bind(survivor);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Moves the rows of `item` that merge `merge_id` moved, and that are still on `from`, to `to`
/// (only those still waiting, if the rule says so: see [`Moved::only_waiting`]).
async fn move_rows(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    item: Moved,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    let waiting = match item.only_waiting() {
        true => " AND status = 'pending'",
        false => "",
    };
    sqlx::query(&format!(
        "UPDATE {} SET profile_id = $1
         WHERE id IN (SELECT row_id FROM identity_merge_moves WHERE merge_id = $2 AND item = $3)
           AND profile_id = $4{waiting}",
        table(item)
    ))
    .bind(to)
    .bind(merge_id)
    .bind(item.as_str())
    .bind(from)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn names(tx: &mut Transaction<'_, Any>, profile_id: i64) -> Result<Names, StoreError> {
    let row = sqlx::query("SELECT given_name, family_name FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))?;
    Ok(Names {
        given: row.try_get("given_name")?,
        family: row.try_get("family_name")?,
    })
}

/// A profile as an operator's merge or unmerge needs to know it: its key, whether it was forgotten,
/// and the merge in force that absorbed it, if one did.
pub async fn standing(tx: &mut Tx<'_>, profile_id: i64) -> Result<Standing, StoreError> {
    let tx = &mut tx.inner;
    let row = sqlx::query("SELECT key, merged_into FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))?;
    let key: String = row.try_get("key")?;
    let erasures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM erasures WHERE profile_key = $1")
        .bind(&key)
        .fetch_one(&mut **tx)
        .await?;
    let absorbed = match row.try_get::<Option<i64>, _>("merged_into")? {
        None => None,
        Some(into) => {
            let merge: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(id) FROM identity_merges WHERE absorbed_id = $1
                 AND unmerged_at IS NULL",
            )
            .bind(profile_id)
            .fetch_one(&mut **tx)
            .await?;
            let merge = merge.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "profile {profile_id} is merged into {into} by no merge in force"
                ))
            })?;
            let into: String = sqlx::query_scalar("SELECT key FROM profiles WHERE id = $1")
                .bind(into)
                .fetch_one(&mut **tx)
                .await?;
            Some(Absorption { merge, into })
        }
    };
    Ok(Standing {
        id: profile_id,
        key,
        forgotten: erasures > 0,
        absorbed,
    })
}

/// Merge `merge_id` as an unmerge needs to know it, if there is one.
pub async fn recorded(tx: &mut Tx<'_>, merge_id: i64) -> Result<Option<RecordedMerge>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT survivor_id, absorbed_id, took_names, unmerged_at FROM identity_merges
         WHERE id = $1",
    )
    .bind(merge_id)
    .fetch_optional(&mut *tx.inner)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(RecordedMerge {
        id: merge_id,
        survivor: row.try_get("survivor_id")?,
        absorbed: row.try_get("absorbed_id")?,
        took_names: row.try_get::<i64, _>("took_names")? != 0,
        undone: row.try_get::<Option<i64>, _>("unmerged_at")?.is_some(),
    }))
}

/// The merges still in force that any of `profiles` took part in, as survivor or absorbed.
pub async fn in_force_on(tx: &mut Tx<'_>, profiles: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut found = Vec::new();
    for column in ["survivor_id", "absorbed_id"] {
        let sql = format!(
            "SELECT id FROM identity_merges WHERE unmerged_at IS NULL AND {column} IN {{list}}"
        );
        for row in rows::query_ids(&mut tx.inner, &sql, &[], profiles).await? {
            found.push(row.try_get("id")?);
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// Records, as moved by merge `merge_id`, the rows that reached its survivor since and go back with
/// the absorbed profile.
pub async fn record_going_back(
    tx: &mut Tx<'_>,
    merge_id: i64,
    back: &GoingBack,
) -> Result<(), StoreError> {
    for (item, ids) in [
        (Moved::Event, &back.events),
        (Moved::Identity, &back.identities),
    ] {
        let moves: Vec<Vec<Value>> = ids
            .iter()
            .map(|id| vec![merge_id.into(), item.as_str().into(), (*id).into()])
            .collect();
        rows::insert_values(
            &mut tx.inner,
            "INSERT INTO identity_merge_moves (merge_id, item, row_id)",
            "ON CONFLICT (merge_id, item, row_id) DO NOTHING",
            &moves,
        )
        .await?;
    }
    Ok(())
}

/// Moves what merge `merge_id` moved, and is still on `survivor`, back to `absorbed`.
pub async fn move_back(
    tx: &mut Tx<'_>,
    merge_id: i64,
    survivor: i64,
    absorbed: i64,
) -> Result<(), StoreError> {
    for item in Moved::ALL {
        move_rows(&mut tx.inner, merge_id, item, survivor, absorbed).await?;
    }
    experiments::follow_unmerge(&mut tx.inner, merge_id, survivor, absorbed).await
}

/// Gives `absorbed` back the work still waiting on `survivor` for `events`.
pub async fn return_work(
    tx: &mut Tx<'_>,
    survivor: i64,
    absorbed: i64,
    events: &[i64],
) -> Result<(), StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "UPDATE outbox SET profile_id = $1
         WHERE profile_id = $2 AND status = 'pending' AND event_id IN {list}",
        &[absorbed.into(), survivor.into()],
        events,
    )
    .await?;
    Ok(())
}

/// Takes the names off `profile` (those a merge gave it).
pub async fn clear_names(tx: &mut Tx<'_>, profile: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE profiles SET given_name = NULL, family_name = NULL, updated_at = $1
         WHERE id = $2",
    )
    .bind(now)
    .bind(profile)
    .execute(&mut *tx.inner)
    .await?;
    Ok(())
}

/// Marks merge `merge_id` undone and its absorbed profile `absorbed` a profile of its own again.
pub async fn mark_undone(
    tx: &mut Tx<'_>,
    merge_id: i64,
    absorbed: i64,
    now: i64,
) -> Result<(), StoreError> {
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
    Ok(())
}

/// Profiles merged into `profile_id`, and into those, and so on: rows that still hold what a
/// merge left behind (names, choices heard twice).
pub async fn absorbed_by(tx: &mut Tx<'_>, profile_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut found: Vec<i64> = Vec::new();
    let mut frontier = vec![profile_id];
    while !frontier.is_empty() {
        let next: Vec<i64> = rows::query_ids(
            &mut tx.inner,
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
    /// The survivor of merge `merge_id` and when it was made, with the events and identities that
    /// reached the survivor since: candidates to go back with the absorbed profile on unmerge.
    /// `None` if there is no such merge.
    pub async fn since_merge(&self, merge_id: i64) -> Result<Option<SinceMerge>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) =
            sqlx::query("SELECT survivor_id, merged_at FROM identity_merges WHERE id = $1")
                .bind(merge_id)
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Ok(None);
        };
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
        Ok(Some(since))
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
