//! What a capturing call (a shadow sink, a dry run) means for its items. No vendor answered — the
//! plugin got the host's synthetic response — so retries, throttling and pauses make no sense: the
//! plugin's own rejections stand (a real finding: e.g. HubSpot refuses a contact without email),
//! and everything else it said, whole-call errors included (they come from reading the synthetic
//! answer), counts as delivered. A plugin fault (a trap, a deadline, quarantine) is the plugin's,
//! not the vendor's, and is handled as for a live sink.

use super::Captured;
use rapport_sandbox::capabilities::capture::CapturedRequest;
use rapport_sandbox::contract::wit::{ConnectorError, Outcome};
use rapport_sandbox::runtime::plugin::PluginError;
use rapport_store::shadow::{NewShadowRequest, ShadowCall};
use rapport_store::{Completion, OutboxRow, WorkKind};

/// A plugin call's answer, as the delivery worker gets it off the blocking pool.
pub(super) type Answer =
    Result<Result<Result<Vec<Outcome>, ConnectorError>, PluginError>, tokio::task::JoinError>;

/// The completions of a capturing call of `count` items, or `None` when the plugin faulted (or
/// answered a wrong number of outcomes): the live handling applies.
pub(super) fn completions(answer: &Answer, count: usize) -> Option<Vec<Completion>> {
    match answer {
        Ok(Ok(Ok(outcomes))) if outcomes.len() == count => Some(
            outcomes
                .iter()
                .map(|outcome| match outcome {
                    Outcome::Rejected(reason) => Completion::Rejected(reason.clone()),
                    Outcome::Ok | Outcome::RetryAfter(_) | Outcome::Transient(_) => {
                        Completion::Delivered
                    }
                })
                .collect(),
        ),
        Ok(Ok(Err(error))) => {
            tracing::info!(error = ?error, "a capturing call's whole-batch error counts as delivered: no vendor answered");
            Some(vec![Completion::Delivered; count])
        }
        _ => None,
    }
}

/// The call `rows` of `kind` made, with its requests: the item and person when it carried one,
/// and every person it concerned.
pub(super) fn captured(
    kind: WorkKind,
    rows: &[OutboxRow],
    requests: Vec<CapturedRequest>,
) -> Captured {
    let mut people: Vec<i64> = rows.iter().map(|row| row.profile_id).collect();
    people.sort_unstable();
    people.dedup();
    let one = (rows.len() == 1).then(|| &rows[0]);
    let call = ShadowCall {
        kind,
        items: rows.len(),
        outbox_id: one.map(|row| row.id),
        profile_id: one.map(|row| row.profile_id),
        people,
    };
    (call, requests)
}

/// A captured request as the store keeps it (the body as text).
pub(super) fn stored(request: CapturedRequest) -> NewShadowRequest {
    NewShadowRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: String::from_utf8_lossy(&request.body).into_owned(),
    }
}
