//! The sink checks, on two test people and two orders of theirs: `check` answers; every item gets
//! its outcome; activities sent twice carry the same idempotency keys to the vendor; 401, 403, 429
//! with and without `Retry-After`, 503 and a malformed answer, each given to every request by the
//! suite's loopback server, map to the right outcome; `forget` can be asked twice.

use super::vendor::{LoopbackVendor, Mode};
use super::Probe;
use crate::check::{describe, Line};
use rapport_core::conformance::{judge_fault, keys_not_kept, Reading, VendorFault};
use rapport_core::readiness::Verdict;
use rapport_sandbox::contract::wit::{
    Activity, Channel, ConnectorError, Consent, ConsentState, Identity, IdentityKind, Money,
    Outcome, Profile, ProfileTrait, Property, Purpose, TraitValue,
};
use rapport_sandbox::runtime::plugin::PluginError;

/// 2026-10-01T09:30:00Z, when the test people agreed to marketing email.
const CONSENTED: i64 = 1_790_847_000_000;
/// A day later, when they ordered.
const ORDERED: i64 = CONSENTED + 86_400_000;
/// The test people: profile key, email, phone, given name.
const PEOPLE: [(&str, &str, &str, &str); 2] = [
    (
        "conformance-ada",
        "ada.conformance@example.com",
        "+14155550142",
        "Ada",
    ),
    (
        "conformance-bo",
        "bo.conformance@example.com",
        "+447700900417",
        "Bo",
    ),
];

/// The phone numbers the sink is given, for the log check.
pub fn phones() -> Vec<String> {
    PEOPLE.iter().map(|p| p.2.to_string()).collect()
}

fn identities(email: &str, phone: &str) -> Vec<Identity> {
    vec![
        Identity {
            kind: IdentityKind::Email,
            value: email.into(),
        },
        Identity {
            kind: IdentityKind::Phone,
            value: phone.into(),
        },
    ]
}

fn profiles() -> Vec<Profile> {
    PEOPLE
        .iter()
        .map(|(key, email, phone, name)| Profile {
            key: (*key).into(),
            identities: identities(email, phone),
            given_name: Some((*name).into()),
            family_name: Some("Conformance".into()),
            consents: vec![Consent {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                state: ConsentState::Granted,
                at: CONSENTED,
                source: "pos-checkbox".into(),
            }],
            traits: vec![ProfileTrait {
                name: "orders_count".into(),
                value: TraitValue::Integer(1),
            }],
        })
        .collect()
}

/// One placed order per test person, keyed by this run (so a vendor that keeps keys from an
/// earlier run cannot make a sink look right).
fn activities(run: &str) -> Vec<Activity> {
    PEOPLE
        .iter()
        .enumerate()
        .map(|(i, (key, email, phone, _))| Activity {
            idempotency_key: format!("conformance-{run}-order-{i}"),
            profile_key: (*key).into(),
            identities: identities(email, phone),
            name: "Placed Order".into(),
            occurred_at: ORDERED,
            value: Some(Money {
                minor: 1250 + i as i64,
                currency: "USD".into(),
            }),
            properties: vec![Property {
                name: "order_id".into(),
                value: TraitValue::Text(format!("conformance-{run}-{i}")),
            }],
        })
        .collect()
}

type Answer = Result<Result<Vec<Outcome>, ConnectorError>, PluginError>;

async fn upsert(probe: &Probe) -> Answer {
    probe
        .call("upsert-profiles", |p| p.upsert_profiles(&profiles()))
        .await
}

async fn record(probe: &Probe, activities: Vec<Activity>) -> Answer {
    probe
        .call("record-activities", move |p| {
            p.record_activities(&activities)
        })
        .await
}

/// An answer in words.
fn shown(answer: &Answer) -> String {
    match answer {
        Ok(Ok(outcomes)) => format!("{outcomes:?}"),
        Ok(Err(e)) => describe(e),
        Err(fault) => fault.to_string(),
    }
}

/// The answer as one reading per item (the call's error once), or the plugin's fault.
fn readings(answer: &Answer) -> Result<Vec<Reading>, String> {
    match answer {
        Err(fault) => Err(fault.to_string()),
        Ok(Err(e)) => Ok(vec![match e {
            ConnectorError::Auth(_) => Reading::Auth,
            ConnectorError::Config(_) => Reading::Config,
            ConnectorError::RateLimited(ms) => Reading::Wait(*ms),
            ConnectorError::Transient(_) => Reading::Transient,
            ConnectorError::Invalid(_) => Reading::Rejected,
        }]),
        Ok(Ok(outcomes)) => Ok(outcomes
            .iter()
            .map(|o| match o {
                Outcome::Ok => Reading::Ok,
                Outcome::RetryAfter(ms) => Reading::Wait(*ms),
                Outcome::Transient(_) => Reading::Transient,
                Outcome::Rejected(_) => Reading::Rejected,
            })
            .collect()),
    }
}

/// Every sink check, through `vendor`.
pub async fn checks(probe: &Probe, vendor: &LoopbackVendor) -> Vec<Line> {
    let run = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let activities = activities(&run);
    let keys: Vec<String> = activities
        .iter()
        .map(|a| a.idempotency_key.clone())
        .collect();
    let mut lines = vec![match probe.call("check", |p| p.check()).await {
        Ok(Ok(())) => Line::new("check", Verdict::Ok, "answered ok"),
        Ok(Err(e)) => Line::new("check", Verdict::Fail, format!("answered {}", describe(&e))),
        Err(fault) => Line::new("check", Verdict::Fail, fault.to_string()),
    }];

    let upserted = upsert(probe).await;
    vendor.take_requests();
    let recorded = record(probe, activities.clone()).await;
    let first = vendor.take_requests().join("\n");
    lines.push(per_item_line(&upserted, &recorded));

    let again = record(probe, activities.clone()).await;
    let second = vendor.take_requests().join("\n");
    let missing = keys_not_kept(&keys, &first, &second);
    lines.push(match (missing.is_empty(), &again) {
        (_, Err(_) | Ok(Err(_))) => Line::new(
            "idempotency keys",
            Verdict::Fail,
            format!("recording the same activities again answered {}", shown(&again)),
        ),
        (true, _) => Line::new(
            "idempotency keys",
            Verdict::Ok,
            "the same activities sent twice carried their idempotency keys to the vendor both times",
        ),
        (false, _) => Line::new(
            "idempotency keys",
            Verdict::Fail,
            format!(
                "the vendor was not given idempotency key(s) {} on both sends of the same \
                 activities: a retry could record them twice",
                missing.join(", ")
            ),
        ),
    });

    for fault in VendorFault::ALL {
        vendor.set_mode(Mode::Fault(fault));
        let answers = [
            ("upsert", upsert(probe).await),
            ("record", record(probe, activities.clone()).await),
        ];
        let mut problems = Vec::new();
        for (call, answer) in &answers {
            if let Err(e) = readings(answer).and_then(|r| judge_fault(fault, &r)) {
                problems.push(format!("{call}: {e}"));
            }
        }
        let detail = answers
            .iter()
            .map(|(call, answer)| format!("{call}: {}", shown(answer)))
            .collect::<Vec<_>>()
            .join("; ");
        lines.push(match problems.is_empty() {
            true => Line::new(fault.check_name(), Verdict::Ok, detail),
            false => Line::new(fault.check_name(), Verdict::Fail, problems.join("; ")),
        });
    }
    vendor.set_mode(Mode::Vendor);

    lines.push(forget_line(probe).await);
    lines
}

/// Every item of both calls got an outcome, and against the vendor each is ok.
fn per_item_line(upserted: &Answer, recorded: &Answer) -> Line {
    let mut problems = Vec::new();
    for (call, answer, items) in [
        ("upsert-profiles", upserted, PEOPLE.len()),
        ("record-activities", recorded, PEOPLE.len()),
    ] {
        match answer {
            Ok(Ok(outcomes)) if outcomes.len() != items => problems.push(format!(
                "{call}: {} outcome(s) for {items} item(s)",
                outcomes.len()
            )),
            Ok(Ok(outcomes)) if outcomes.iter().all(|o| *o == Outcome::Ok) => {}
            other => problems.push(format!("{call}: {}", shown(other))),
        }
    }
    match problems.is_empty() {
        true => Line::new(
            "per-item outcomes",
            Verdict::Ok,
            format!(
                "{n} profiles and {n} activities, each answered ok",
                n = PEOPLE.len()
            ),
        ),
        false => Line::new("per-item outcomes", Verdict::Fail, problems.join("; ")),
    }
}

/// Forgetting the same person twice succeeds both times.
async fn forget_line(probe: &Probe) -> Line {
    let (key, email, phone, _) = PEOPLE[0];
    let mut answers = Vec::new();
    for _ in 0..2 {
        let ids = identities(email, phone);
        answers.push(
            probe
                .call("forget", move |p| p.forget_person(key, &ids))
                .await,
        );
    }
    let shown: Vec<String> = (answers.iter().enumerate())
        .map(|(i, a)| match a {
            Ok(Ok(())) => format!("{}: ok", i + 1),
            Ok(Err(e)) => format!("{}: {}", i + 1, describe(e)),
            Err(fault) => format!("{}: {fault}", i + 1),
        })
        .collect();
    match answers.iter().all(|a| matches!(a, Ok(Ok(())))) {
        true => Line::new(
            "forget idempotent",
            Verdict::Ok,
            "the same person forgotten twice: ok both times",
        ),
        false => Line::new(
            "forget idempotent",
            Verdict::Fail,
            format!("the same person forgotten twice: {}", shown.join(", ")),
        ),
    }
}
