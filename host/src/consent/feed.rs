//! Consent choices flowing back from CRMs: a sink built for contract 0.2 reports the refusals people
//! made at the vendor (an unsubscribe link, a preference centre), and the host records them in the
//! ledger like any other choice — evidence `<sink>:<change id>` — so that the change, if it changes
//! the choice in force, reaches every sink ahead of other work.
//!
//! Only refusals are taken: a grant read back from a CRM could be the echo of one the host sent. A
//! refusal about someone the host does not know is ignored, so one CRM's audience does not leak into
//! the shop's other tools. And a refusal is taken only from people who have never refused on that
//! channel before, from any side: a CRM reports people while they *are* unsubscribed, with the time
//! their record last changed (which the host's own updates move), and once the host has sent a
//! refusal a CRM may keep the person unsubscribed for good (Mailchimp does: its API cannot
//! resubscribe anyone). For those people the report may be the host's own refusal read back, and
//! taking it would loop the host's updates through the feed and override a newer opt-in given at
//! the till. The cost: someone who refused, opted in again, and then unsubscribes at a CRM that did
//! resubscribe them is not heard through the feed.

use crate::connectors::Connector;
use crate::ingest::poll::{call_plugin, read_stream, releasing, PollError, Step};
use crate::ingest::IngestReport;
use crate::ingest::{validate, Delivery};
use rapport_core::journeys::Routes;
use rapport_core::model::Identity;
use rapport_sandbox::contract::consent_feed::ConsentChange;
use rapport_sandbox::contract::pos::{ConsentState, Customer, PosEvent, PosPayload, RejectedInput};
use rapport_store::Store;

/// The cursor's stream name under the sink's id.
pub const STREAM: &str = "consent-feed";

/// Reads `sink`'s consent feed from its stored cursor until it is caught up, storing each page with
/// its cursor. Does nothing for a sink without one.
pub async fn read_consent_feed(
    store: &Store,
    sink: &Connector,
    routes: &Routes,
    on_commit: &(dyn Fn() + Send + Sync),
) -> Result<IngestReport, PollError> {
    if sink.generations.is_disabled() || !sink.plugin().has_consent_feed() {
        return Ok(IngestReport::default());
    }
    let read = read_stream(store, sink, STREAM, routes, on_commit, |cursor| {
        Box::pin(async move {
            let page =
                call_plugin(sink, STREAM, move |p| p.consent_changes(cursor.as_deref())).await?;
            let mut delivery = Delivery {
                events: Vec::new(),
                rejected: Vec::new(),
            };
            for change in page.changes {
                match change.consent.state {
                    ConsentState::Revoked if is_new(store, sink, &change).await? => {
                        delivery.events.push(customer_event(change));
                    }
                    ConsentState::Revoked => {}
                    ConsentState::Granted => delivery.rejected.push(RejectedInput {
                        locator: format!("consent change {}", change.id),
                        reason: GRANT_NOT_RECORDED.into(),
                    }),
                }
            }
            Ok(Step {
                delivery,
                cursor: page.cursor,
                more: page.more,
            })
        })
    });
    releasing(store, sink, routes, on_commit, read).await
}

/// Why a grant read from a consent feed is refused.
const GRANT_NOT_RECORDED: &str = "a consent feed reports refusals only; a grant read back from a \
                                  CRM may be the echo of one the host sent, so it is not recorded";

/// Whether the change is about someone the host knows, and is the first refusal `sink` reports for
/// them on that channel and purpose.
async fn is_new(
    store: &Store,
    sink: &Connector,
    change: &ConsentChange,
) -> Result<bool, PollError> {
    let identities: Vec<Identity> = change
        .identities
        .iter()
        .filter_map(|i| {
            sink.normalizer
                .normalize(&sink.id, validate::identity_kind(i.kind), &i.value)
        })
        .collect();
    let consent = &change.consent;
    let refused = store
        .has_refused(
            &identities,
            validate::channel(consent.channel),
            validate::purpose(consent.purpose),
        )
        .await?;
    Ok(refused == Some(false))
}

/// The change as the customer event ingest records: the person's identities and the one choice.
fn customer_event(change: ConsentChange) -> PosEvent {
    PosEvent {
        id: change.id,
        occurred_at: change.consent.at,
        payload: PosPayload::Customer(Customer {
            identities: change.identities,
            given_name: None,
            family_name: None,
            consents: vec![change.consent],
            created_at: None,
            birthday: None,
            loyalty: None,
        }),
    }
}
