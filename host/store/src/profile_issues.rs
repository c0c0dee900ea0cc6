//! Table `profile_issues`: service issues a person raised (a wrong order, a repair, a complaint),
//! opened and closed by staff or reported by a source (keyed then by the source and the vendor's
//! issue id), shown on the person's profile while open.

use super::{Store, StoreError, Tx};
use serde::Serialize;
use sqlx::Row;

/// An issue as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub id: i64,
    pub profile_id: i64,
    pub title: String,
    pub opened_at: i64,
    pub opened_by: String,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

/// A service issue as a source reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIssue<'a> {
    /// The vendor's id of the issue.
    pub vendor_issue_id: &'a str,
    pub title: &'a str,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

impl Store {
    /// Opens an issue on a profile; returns its id.
    pub async fn open_issue(
        &self,
        profile_id: i64,
        title: &str,
        by: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO profile_issues (profile_id, title, opened_at, opened_by)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(profile_id)
        .bind(title)
        .bind(now)
        .bind(by)
        .fetch_one(&self.writer)
        .await?)
    }

    /// Closes issue `issue_id` if it is open and one of `profile_id`'s (see [`Store::issues_of`]);
    /// returns whether it did.
    pub async fn close_issue(
        &self,
        profile_id: i64,
        issue_id: i64,
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let issues = self.issues_of(profile_id).await?;
        if !issues
            .iter()
            .any(|i| i.id == issue_id && i.closed_at.is_none())
        {
            return Ok(false);
        }
        let closed = sqlx::query(
            "UPDATE profile_issues SET closed_at = $1, closed_by = $2
             WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(issue_id)
        .execute(&self.writer)
        .await?;
        Ok(closed.rows_affected() == 1)
    }

    /// Records issue `vendor_issue_id` of `source_id` on a profile as the source reports it now:
    /// opened (once, however often it is reported) and, with `closed_at`, closed. Returns whether
    /// anything changed.
    pub async fn record_source_issue(
        &self,
        profile_id: i64,
        source_id: &str,
        issue: &SourceIssue<'_>,
    ) -> Result<bool, StoreError> {
        let opened = sqlx::query(
            "INSERT INTO profile_issues
                 (profile_id, title, opened_at, opened_by, source_id, vendor_issue_id)
             VALUES ($1, $2, $3, $4, $4, $5)
             ON CONFLICT (source_id, vendor_issue_id) DO NOTHING",
        )
        .bind(profile_id)
        .bind(issue.title)
        .bind(issue.opened_at)
        .bind(source_id)
        .bind(issue.vendor_issue_id)
        .execute(&self.writer)
        .await?;
        let Some(closed_at) = issue.closed_at else {
            return Ok(opened.rows_affected() == 1);
        };
        let closed = sqlx::query(
            "UPDATE profile_issues SET closed_at = $1, closed_by = $2
             WHERE source_id = $2 AND vendor_issue_id = $3 AND closed_at IS NULL",
        )
        .bind(closed_at)
        .bind(source_id)
        .bind(issue.vendor_issue_id)
        .execute(&self.writer)
        .await?;
        Ok(opened.rows_affected() + closed.rows_affected() > 0)
    }

    /// The issues of a profile and of the profiles merged into it (at any depth), open ones
    /// first, oldest first.
    pub async fn issues_of(&self, profile_id: i64) -> Result<Vec<Issue>, StoreError> {
        let found = sqlx::query(
            "WITH RECURSIVE family (id) AS (
                 SELECT CAST($1 AS BIGINT)
                 UNION SELECT p.id FROM profiles p JOIN family f ON p.merged_into = f.id
             )
             SELECT * FROM profile_issues WHERE profile_id IN (SELECT id FROM family)
             ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, opened_at, id",
        )
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(read).collect()
    }
}

fn read(row: &sqlx::any::AnyRow) -> Result<Issue, StoreError> {
    Ok(Issue {
        id: row.try_get("id")?,
        profile_id: row.try_get("profile_id")?,
        title: row.try_get("title")?,
        opened_at: row.try_get("opened_at")?,
        opened_by: row.try_get("opened_by")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get("closed_by")?,
    })
}

/// Deletes a forgotten person's issues (their titles are free text and may name them).
pub async fn delete_of(tx: &mut Tx<'_>, profile_id: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM profile_issues WHERE profile_id = $1")
            .bind(profile_id)
            .execute(&mut *tx.inner)
            .await?
            .rows_affected(),
    )
}
