//! What the preference page keeps apart from the consent ledger: the shop's key that signs the
//! page's links (`preference_key`, one row) and the quiet hours each person set
//! (`person_quiet_hours`). The choices themselves go to the ledger (`consents`) and a "forget me"
//! to `privacy_requests`.

use super::rows;
use super::{Store, StoreError, Tx};
use rapport_core::consent::contact::QuietHours;
use sqlx::Row;
use std::collections::HashMap;

impl Store {
    /// The shop's link-signing key: the stored one, or else `candidate`, stored now. Of several
    /// hosts asking at once, the first to write wins and all read its key.
    pub async fn preference_key(&self, candidate: &str, now: i64) -> Result<String, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO preference_key (id, secret, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(candidate)
        .bind(now)
        .execute(&mut *tx.inner)
        .await?;
        let key = sqlx::query_scalar("SELECT secret FROM preference_key WHERE id = 1")
            .fetch_one(&mut *tx.inner)
            .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The quiet hours each of `people` set, for those who set some: a person's latest wish, from
    /// their own profile or one merged into it (so a merge carries them over and an unmerge gives
    /// them back without moving a row).
    pub async fn quiet_hours_of(
        &self,
        people: &[i64],
    ) -> Result<HashMap<i64, QuietHours>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut found = HashMap::new();
        for row in rows::query_ids(
            &mut conn,
            "SELECT COALESCE(p.merged_into, p.id) AS owner, q.start_minute, q.end_minute
             FROM person_quiet_hours q JOIN profiles p ON p.id = q.profile_id
             WHERE COALESCE(p.merged_into, p.id) IN {list}
             ORDER BY q.updated_at, q.profile_id",
            &[],
            people,
        )
        .await?
        {
            let profile: i64 = row.try_get("owner")?;
            let (start, end): (i64, i64) =
                (row.try_get("start_minute")?, row.try_get("end_minute")?);
            let hours = u32::try_from(start)
                .ok()
                .zip(u32::try_from(end).ok())
                .and_then(|(start, end)| QuietHours::from_minutes(start, end))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "person_quiet_hours of profile {profile}: minutes {start} to {end}"
                    ))
                })?;
            found.insert(profile, hours);
        }
        Ok(found)
    }
}

/// Sets (or, with `None`, clears) the quiet hours of `profile_id`.
pub async fn set_quiet_hours(
    tx: &mut Tx<'_>,
    profile_id: i64,
    hours: Option<QuietHours>,
    now: i64,
) -> Result<(), StoreError> {
    match hours {
        Some(hours) => {
            let (start, end) = hours.minutes();
            sqlx::query(
                "INSERT INTO person_quiet_hours (profile_id, start_minute, end_minute, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (profile_id) DO UPDATE SET start_minute = excluded.start_minute,
                     end_minute = excluded.end_minute, updated_at = excluded.updated_at",
            )
            .bind(profile_id)
            .bind(i64::from(start))
            .bind(i64::from(end))
            .bind(now)
            .execute(&mut *tx.inner)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM person_quiet_hours WHERE profile_id = $1")
                .bind(profile_id)
                .execute(&mut *tx.inner)
                .await?;
        }
    }
    Ok(())
}
