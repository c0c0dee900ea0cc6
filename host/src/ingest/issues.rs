//! Service issues a source reports (contract 0.5's `service-issues`): read page by page from a
//! cursor stored after each page, and recorded on the profile of the customer each names, keyed
//! by the source and the vendor's issue id — the same issues staff open and close through
//! `POST /api/profiles/{key}/issues`. An issue reported closed closes that issue; one about a
//! customer the host does not know is skipped (and read again never, as the cursor moves on).

use super::poll::{call_plugin, PollError};
use crate::connectors::Connector;
use crate::lookup;
use rapport_core::model::IdentityKind;
use rapport_store::profile_issues::SourceIssue;
use rapport_store::{cursors, PersonRef, Store};

/// The cursor's stream name under the source's id.
pub const STREAM: &str = "service-issues";

/// What one read of a source's issues did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssuesReport {
    /// Issues opened or closed on a profile.
    pub changed: usize,
    /// Issues about nobody the host knows.
    pub unknown: usize,
    /// Issues without an id or a title.
    pub rejected: usize,
}

/// Reads `source`'s service issues from its stored cursor until it is caught up, at `now` (ms).
/// Does nothing for a source without the export.
pub async fn read_issues(
    store: &Store,
    source: &Connector,
    now: i64,
) -> Result<IssuesReport, PollError> {
    let mut report = IssuesReport::default();
    if source.generations.is_disabled() || !source.plugin().has_service_issues() {
        return Ok(report);
    }
    loop {
        let plugin = source.plugin();
        let span = tracing::info_span!("service-issues", source = %source.id,
            plugin = %plugin.id(), generation = plugin.generation());
        let cursor = store.cursor(&source.id, STREAM).await?;
        let page = call_plugin(source, STREAM, move |p| p.issue_changes(cursor.as_deref())).await?;
        for issue in &page.issues {
            if issue.id.trim().is_empty() || issue.title.trim().is_empty() {
                tracing::warn!(parent: &span, issue = %issue.id, "service issue without an id or a title");
                report.rejected += 1;
                continue;
            }
            let customer = (source.normalizer).normalize(
                &source.id,
                IdentityKind::VendorCustomer,
                &issue.customer,
            );
            let refs: Vec<PersonRef> = customer.into_iter().map(PersonRef::Identity).collect();
            let profile = match lookup::one_of(store, &refs, &issue.id).await {
                Ok(found) => found.id,
                Err(lookup::LookupError::Store(e)) => return Err(e.into()),
                Err(_) => {
                    tracing::info!(parent: &span, issue = %issue.id, "service issue about nobody the host knows");
                    report.unknown += 1;
                    continue;
                }
            };
            let recorded = SourceIssue {
                vendor_issue_id: &issue.id,
                title: issue.title.trim(),
                opened_at: issue.opened_at,
                closed_at: issue.closed_at,
            };
            if store
                .record_source_issue(profile, &source.id, &recorded)
                .await?
            {
                report.changed += 1;
            }
        }
        if let Some(cursor) = &page.cursor {
            let mut tx = store.begin().await?;
            cursors::save(&mut tx, &source.id, STREAM, cursor, now).await?;
            tx.commit().await?;
        }
        tracing::info!(parent: &span, changed = report.changed, unknown = report.unknown,
            "service issues stored");
        if !page.more {
            return Ok(report);
        }
    }
}
