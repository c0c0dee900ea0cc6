//! The experiment tables (`experiment_assignments`, `attributions`) and the reads of
//! `journey_entries` that experiments and attribution make: a person's kept arm, the entries that
//! may earn a sale, the sales credited to them, what a merge does to all three, and each arm's
//! counts for the report. Which entry earns a sale, and what the counts mean, are
//! `rapport_core::experiments`' rules.

use super::engagement::tally;
use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::experiments::attribution::{Credit, Touch};
use rapport_core::experiments::report::ArmCounts;
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;

/// The arm `profile_id` is kept in for `experiment`: the one first recorded, or `arm_if_new`
/// (recorded now) if there is none.
pub async fn assignment(
    tx: &mut Tx<'_>,
    experiment: &str,
    profile_id: i64,
    arm_if_new: &str,
    now: i64,
) -> Result<String, StoreError> {
    sqlx::query(
        "INSERT INTO experiment_assignments (experiment, profile_id, arm, assigned_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (experiment, profile_id) DO NOTHING",
    )
    .bind(experiment)
    .bind(profile_id)
    .bind(arm_if_new)
    .bind(now)
    .execute(&mut *tx.inner)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT arm FROM experiment_assignments WHERE experiment = $1 AND profile_id = $2",
    )
    .bind(experiment)
    .bind(profile_id)
    .fetch_one(&mut *tx.inner)
    .await?)
}

impl Store {
    /// The arm `profile_id` is kept in for each experiment it was assigned in.
    pub async fn assignments_of(
        &self,
        profile_id: i64,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        sqlx::query("SELECT experiment, arm FROM experiment_assignments WHERE profile_id = $1")
            .bind(profile_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("experiment")?, row.try_get("arm")?)))
            .collect()
    }
}

/// The item under which a merge records the journey entries it moved.
const ENTRY_ITEM: &str = "journey-entry";

/// What merge `merge_id` of `absorbed` into `survivor` does to experiments: in each experiment
/// both were assigned, the survivor keeps the older assignment (its own on a tie); one only the
/// absorbed profile had becomes the survivor's; its journey entries (recorded as moved, so an
/// unmerge takes them back) and the sales credited to them move to the survivor.
pub(super) async fn follow_merge(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    absorbed: i64,
    survivor: i64,
) -> Result<(), StoreError> {
    const ABSORBED: &str = "(SELECT a.{column} FROM experiment_assignments a
        WHERE a.experiment = experiment_assignments.experiment AND a.profile_id = $1)";
    let of_absorbed = |column: &str| ABSORBED.replace("{column}", column);
    let statements = [
        format!(
            "UPDATE experiment_assignments SET arm = {}, assigned_at = {}
             WHERE profile_id = $2 AND assigned_at > {}",
            of_absorbed("arm"),
            of_absorbed("assigned_at"),
            of_absorbed("assigned_at")
        ),
        "DELETE FROM experiment_assignments WHERE profile_id = $1 AND experiment IN
            (SELECT s.experiment FROM experiment_assignments s WHERE s.profile_id = $2)"
            .to_string(),
        "UPDATE experiment_assignments SET profile_id = $2 WHERE profile_id = $1".to_string(),
    ];
    for sql in &statements {
        sqlx::query(sql)
            .bind(absorbed)
            .bind(survivor)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO identity_merge_moves (merge_id, item, row_id)
         SELECT $1, $2, id FROM journey_entries WHERE profile_id = $3",
    )
    .bind(merge_id)
    .bind(ENTRY_ITEM)
    .bind(absorbed)
    .execute(&mut **tx)
    .await?;
    move_entries(tx, merge_id, absorbed, survivor).await
}

/// Gives `absorbed` back the journey entries merge `merge_id` moved to `survivor`, with the sales
/// credited to them. Assignments stay: the absorbed profile's arm is its key's hash again.
pub(super) async fn follow_unmerge(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    survivor: i64,
    absorbed: i64,
) -> Result<(), StoreError> {
    move_entries(tx, merge_id, survivor, absorbed).await
}

/// Moves the journey entries merge `merge_id` moved that are on `from`, and their credited sales,
/// to `to`.
async fn move_entries(
    tx: &mut Transaction<'_, Any>,
    merge_id: i64,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    for sql in [
        "UPDATE attributions SET profile_id = $1 WHERE profile_id = $2 AND entry_id IN
            (SELECT row_id FROM identity_merge_moves WHERE merge_id = $3 AND item = $4)",
        "UPDATE journey_entries SET profile_id = $1 WHERE profile_id = $2 AND id IN
            (SELECT row_id FROM identity_merge_moves WHERE merge_id = $3 AND item = $4)",
    ] {
        sqlx::query(sql)
            .bind(to)
            .bind(from)
            .bind(merge_id)
            .bind(ENTRY_ITEM)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The entries of `people` that may earn a sale (sent, or held out; not withdrawn), entered from
/// `since` to `until` inclusive.
pub async fn touches(
    tx: &mut Tx<'_>,
    people: &[i64],
    since: i64,
    until: i64,
) -> Result<Vec<Touch>, StoreError> {
    rows::query_ids(
        &mut tx.inner,
        "SELECT id, profile_id, journey, channel, experiment, arm, entered_at FROM journey_entries
         WHERE outcome IN ('sent', 'holdout') AND entered_at >= $1 AND entered_at <= $2
           AND profile_id IN {list}",
        &[since.into(), until.into()],
        people,
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Touch {
            entry_id: r.try_get("id")?,
            profile_id: r.try_get("profile_id")?,
            journey: r.try_get("journey")?,
            channel: r.try_get("channel")?,
            experiment: r.try_get("experiment")?,
            arm: r.try_get("arm")?,
            entered_at: r.try_get("entered_at")?,
        })
    })
    .collect()
}

/// Records the credited sales; a sale already credited keeps its entry.
pub async fn record_credits(tx: &mut Tx<'_>, credits: &[Credit<'_>]) -> Result<(), StoreError> {
    let values: Vec<Vec<Value>> = (credits.iter())
        .map(|c| {
            vec![
                c.sale.event_id.into(),
                c.touch.entry_id.into(),
                c.sale.profile_id.into(),
                c.touch.journey.as_str().into(),
                c.touch.channel.as_str().into(),
                c.touch.experiment.as_deref().into(),
                c.touch.arm.as_deref().into(),
                c.sale.sold_at.into(),
            ]
        })
        .collect();
    rows::insert_values(
        &mut tx.inner,
        "INSERT INTO attributions (event_id, entry_id, profile_id, journey, channel, experiment,
                                   arm, sold_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        &values,
    )
    .await?;
    Ok(())
}

/// Takes back the credit of sales that are sales no more: every credited version of the orders
/// `orders` of source `source_id` (cancelled after they completed).
pub async fn withdraw_credits(
    tx: &mut Tx<'_>,
    source_id: &str,
    orders: &[&str],
) -> Result<(), StoreError> {
    let list: Vec<Value> = orders.iter().map(|o| Value::Text(o)).collect();
    rows::query_in(
        &mut tx.inner,
        "DELETE FROM attributions WHERE event_id IN (SELECT id FROM events
            WHERE source_id = $1 AND kind = 'order' AND object_id IN {list})",
        &[source_id.into()],
        &list,
    )
    .await?;
    Ok(())
}

impl Store {
    /// Each arm's counts in `experiment`, by arm name: the distinct people with an entry (sent or
    /// held out), the messages sent, and the distinct people with a sale credited to one of
    /// their entries. A person counts in the arm they are kept in (after a merge, the survivor's
    /// older assignment, whatever arm the absorbed profile's entries were in), so nobody counts
    /// twice; an entry without a kept assignment (an unmerged profile's) counts in its own arm.
    /// Messages count in the arm whose variant they carried.
    pub async fn experiment_counts(
        &self,
        experiment: &str,
    ) -> Result<BTreeMap<String, ArmCounts>, StoreError> {
        const KEPT_ARM: &str = "FROM journey_entries e LEFT JOIN experiment_assignments k
             ON k.experiment = e.experiment AND k.profile_id = e.profile_id";
        let mut conn = self.pool.acquire().await?;
        let mut counts: BTreeMap<String, ArmCounts> = BTreeMap::new();
        for r in sqlx::query(&format!(
            "SELECT COALESCE(k.arm, e.arm) AS arm, COUNT(DISTINCT e.profile_id) AS people {KEPT_ARM}
             WHERE e.experiment = $1 AND e.arm IS NOT NULL AND e.outcome IN ('sent', 'holdout')
             GROUP BY COALESCE(k.arm, e.arm)"
        ))
        .bind(experiment)
        .fetch_all(&mut *conn)
        .await?
        {
            counts.entry(r.try_get("arm")?).or_default().people = count(&r, "people")?;
        }
        for r in sqlx::query(
            "SELECT arm, COUNT(*) AS sent FROM journey_entries
             WHERE experiment = $1 AND arm IS NOT NULL AND outcome = 'sent' GROUP BY arm",
        )
        .bind(experiment)
        .fetch_all(&mut *conn)
        .await?
        {
            counts.entry(r.try_get("arm")?).or_default().sent = count(&r, "sent")?;
        }
        for r in sqlx::query(&format!(
            "SELECT COALESCE(k.arm, e.arm) AS arm, COUNT(DISTINCT e.profile_id) AS converted
             {KEPT_ARM} JOIN attributions a ON a.entry_id = e.id
             WHERE e.experiment = $1 AND e.arm IS NOT NULL GROUP BY COALESCE(k.arm, e.arm)"
        ))
        .bind(experiment)
        .fetch_all(&mut *conn)
        .await?
        {
            counts.entry(r.try_get("arm")?).or_default().converted = count(&r, "converted")?;
        }
        // Engagement, like messages, in the arm whose variant the message carried.
        for r in sqlx::query(
            "SELECT e.arm AS arm, m.kind AS kind, COUNT(DISTINCT m.outbox_id) AS messages
             FROM message_engagement m JOIN journey_entries e ON e.id = m.entry_id
             WHERE e.experiment = $1 AND e.arm IS NOT NULL AND m.outbox_id IS NOT NULL
             GROUP BY e.arm, m.kind",
        )
        .bind(experiment)
        .fetch_all(&mut *conn)
        .await?
        {
            tally(
                &mut counts.entry(r.try_get("arm")?).or_default().engagement,
                &r,
            )?;
        }
        Ok(counts)
    }
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(column)?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{column} count {n} is negative")))
}
