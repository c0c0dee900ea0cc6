//! A sink built for contract 0.3 (0.2's `crm-sink` world, as 0.3 leaves it), which a host running
//! contract 0.4 must still load and ask to `forget(identities)`: it takes every profile and
//! activity, reports no consent changes, and posts each forget as the http-sink does
//! (`{"type":"forget","identities":[…]}`) to the catch-hook at config `url`.

use rapport_sdk::config::require_url;
use rapport_sdk::http::Request;
use rapport_sdk::prelude::*;
use rapport_sdk_consent_feed::{ConsentFeed, ConsentPage};
use serde_json::json;

struct SinkV03;

impl Sink for SinkV03 {
    fn describe() -> Descriptor {
        Descriptor {
            name: "contract 0.3 test sink".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: 100,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        Ok(vec![Outcome::Ok; profiles.len()])
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        Ok(vec![Outcome::Ok; activities.len()])
    }

    fn forget(identities: Vec<Identity>) -> Result<(), ConnectorError> {
        let identities: Vec<_> = identities
            .iter()
            .map(|i| {
                let kind = match i.kind {
                    IdentityKind::Email => "email",
                    IdentityKind::Phone => "phone",
                    IdentityKind::LoyaltyId => "loyalty_id",
                    IdentityKind::VendorCustomer => "vendor_customer",
                };
                json!({"kind": kind, "value": i.value})
            })
            .collect();
        let body = json!({"type": "forget", "identities": identities});
        Request::post(&require_url("url")?, &body)?
            .send()?
            .success()?;
        Ok(())
    }
}

impl ConsentFeed for SinkV03 {
    fn consent_changes(_cursor: Option<String>) -> Result<ConsentPage, ConnectorError> {
        Ok(ConsentPage {
            changes: Vec::new(),
            cursor: None,
            more: false,
        })
    }
}

rapport_sdk_consent_feed::export_sink!(SinkV03);
