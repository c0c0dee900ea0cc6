//! `rapport explain`: a shop (csv-source, an http-sink marketing by email that may receive only the
//! email, first name and order count, a thank-you journey, at most one email a week, delayed past
//! the cap) whose people differ — Ana agreed to marketing, Bo refused it, Cy was thanked yesterday
//! and buys again, Di was two records at the till that the operator merged. Explain states the
//! consent in force with its ledger record, the fields held back, the cap holding Cy's second
//! thank-you, Bo's refusal keeping his purchase back, the merge; then a real delivery sends
//! exactly what explain said it would, and explain lists it as received. The binary's `--json`
//! prints the same person.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{output_text, tea_sale, upload_receipts, ShopDir, TestShop};
use rapport_fakes::capture::{Arrival, CaptureServer};
use rapport_host::config::Config;
use rapport_host::explain::{explain, Explanation, SinkExplained, Verdict};
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration as Wait;

/// 10:00 UTC on `day` March 2026.
fn morning(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
}

/// A receipt of one 4.00 tea at `at`.
fn sale(
    id: &str,
    at: DateTime<Utc>,
    customer: &str,
    email: &str,
    phone: &str,
    name: &str,
    opt_in: &str,
) -> String {
    tea_sale(id, at, customer, email, phone, name, opt_in, "4.00")
}

fn crm(e: &Explanation) -> &SinkExplained {
    e.sinks
        .iter()
        .find(|s| s.sink == "crm")
        .expect("the crm sink")
}

/// The idempotency keys of the activities and messages explain says `crm` would send now.
fn would_send(e: &Explanation) -> BTreeSet<String> {
    (crm(e).would_receive.iter())
        .filter(|o| {
            matches!(o.verdict, Verdict::Send { .. })
                && o.item.kind != "profile"
                && o.item.kind != "consent"
        })
        .map(|o| o.item.key.clone())
        .collect()
}

/// Whether explain says `crm` would send the person a profile (an update or their consents).
fn sends_profile(e: &Explanation) -> bool {
    (crm(e).would_receive.iter()).any(|o| {
        matches!(o.verdict, Verdict::Send { .. })
            && (o.item.kind == "profile" || o.item.kind == "consent")
    })
}

/// The fields a profile as the http-sink posted it carries, by their config names.
fn posted_fields(profile: &Value) -> Vec<String> {
    let mut fields: Vec<String> = (profile["identities"].as_array().unwrap().iter())
        .map(|i| i["kind"].as_str().unwrap().to_string())
        .collect();
    fields.dedup();
    for name in ["given_name", "family_name"] {
        if !profile[name].is_null() {
            fields.push(name.to_string());
        }
    }
    fields.extend(profile["traits"].as_object().unwrap().keys().cloned());
    if !profile["consents"].as_array().unwrap().is_empty() {
        fields.push("consents".into());
    }
    fields
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_says_what_each_sink_got_and_would_get_and_a_real_delivery_agrees() {
    let capture = CaptureServer::start().await.unwrap();
    let dir = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .section(
            "shop",
            [("time_zone", "UTC".into()), ("region", "GB".into())],
        )
        .csv_source("shop")
        .http_sink("crm", &capture.url(), [])
        .channels(&["email"])
        .fields(&["email", "given_name", "orders_count"])
        .journey("thanks", "crm", "email", "every-order")
        .set("reentry", "always".into())
        .consent_cap("email", 1, 7, Some("delay"))
        .write_in(&dir);
    let clock = ManualClock::starting_at(morning(2));
    let config = Config::load(&dir.config()).unwrap();
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();

    // Yesterday Cy bought and was thanked.
    let cy = |id, at| sale(id, at, "C-3", "cy@example.com", "", "Cy Hale", "yes");
    upload_receipts(
        &pipeline,
        &clock,
        Some(morning(2)),
        &[cy("C-1", morning(2))],
    )
    .await;
    rapport_e2e::drain_all(&pipeline, Wait::from_secs(60)).await;
    let thanked_before = capture.captured().activities.len();

    // Today: Ana (agreed), Bo (refused), Cy again, Di twice (online with her email, at the till
    // with only her phone).
    let today = morning(3);
    upload_receipts(
        &pipeline,
        &clock,
        Some(today),
        &[
            sale(
                "A-1",
                today,
                "C-1",
                "ana@example.com",
                "+44 20 7946 0001",
                "Ana Lima",
                "yes",
            ),
            sale("B-1", today, "C-2", "bo@example.com", "", "Bo Ray", "no"),
            cy("C-2", today),
            sale("D-1", today, "C-4", "di@example.com", "", "Di Moss", "yes"),
            sale("D-2", today, "C-5", "", "+44 20 7946 0555", "", ""),
        ],
    )
    .await;
    let normalizer = rapport_core::identity::Normalizer::new(
        pipeline.config.shop.region,
        &pipeline.config.identity,
    );
    let merged = rapport_host::identity::graph::merge(
        &pipeline.store,
        &normalizer,
        "di@example.com",
        "+44 20 7946 0555",
        "same person at the till",
        &["crm".to_string()],
        chrono_tz::UTC,
    )
    .await
    .unwrap();

    let [ana, bo, cy, di] = {
        let mut all = Vec::new();
        for who in [
            "ana@example.com",
            "bo@example.com",
            "cy@example.com",
            "di@example.com",
        ] {
            all.push(explain(&pipeline, who).await.unwrap());
        }
        <[Explanation; 4]>::try_from(all).unwrap()
    };

    // Ana agreed: the consent in force with its ledger record; the sink gets everything its
    // fields name, and not her phone, last name or totals.
    assert_eq!(ana.consents.len(), 1, "{:?}", ana.consents);
    let consent = &ana.consents[0];
    assert_eq!(
        (
            consent.channel.as_str(),
            consent.purpose.as_str(),
            consent.state.as_str()
        ),
        ("email", "marketing", "granted")
    );
    assert_eq!(consent.at, Some(today));
    assert!(
        consent
            .evidence
            .as_deref()
            .is_some_and(|e| e.starts_with("shop:")),
        "{consent:?}"
    );
    assert_eq!(consent.legal_basis.as_deref(), Some("consent"));
    let sink = crm(&ana);
    assert_eq!(sink.admission, "full");
    for held in ["phone", "family_name", "net_spent", "products", "location"] {
        assert!(
            sink.held_back.iter().any(|f| f == held),
            "{held} in {:?}",
            sink.held_back
        );
    }
    assert!(!sink
        .held_back
        .iter()
        .any(|f| f == "email" || f == "given_name"));
    let ana_carries = Verdict::Send {
        name: None,
        carries: vec![
            "email".into(),
            "given_name".into(),
            "orders_count".into(),
            "consents".into(),
        ],
    };
    let (updates, rest): (Vec<_>, Vec<_>) = (sink.would_receive.iter())
        .partition(|o| o.item.kind == "profile" || o.item.kind == "consent");
    // A profile update carries what the fields allow; a consent update, who she is and her choice.
    let consent_update = Verdict::Send {
        name: None,
        carries: vec!["email".into(), "consents".into()],
    };
    for update in &updates {
        let want = match update.item.kind {
            "profile" => &ana_carries,
            _ => &consent_update,
        };
        assert_eq!(&update.verdict, want, "{update:?}");
    }
    assert!(
        updates.iter().any(|o| o.item.kind == "profile"),
        "{updates:?}"
    );
    let whats: Vec<(&str, &Verdict)> = rest
        .iter()
        .map(|o| (o.item.what.as_str(), &o.verdict))
        .collect();
    assert_eq!(whats.len(), 2, "{whats:?}");
    assert_eq!(whats[0].0, "order A-1");
    assert!(matches!(whats[0].1, Verdict::Send { name: Some(n), .. } if n == "Placed Order"));
    assert_eq!(whats[1].0, "Journey: thanks");
    assert!(matches!(whats[1].1, Verdict::Send { name: Some(n), .. } if n == "Journey: thanks"));
    let thanks = &ana.journeys[0];
    assert!(thanks.eligible && thanks.consented && thanks.in_rollout);
    assert_eq!(thanks.entries.len(), 1);
    assert_eq!(thanks.entries[0].outcome, "sent");

    // Bo refused: his consents only, his purchase kept back, the journey not for him.
    let sink = crm(&bo);
    assert_eq!(bo.consents[0].state, "revoked");
    assert_eq!(sink.admission, "consents-only");
    let consents_only = Verdict::Send {
        name: None,
        carries: vec!["email".into(), "consents".into()],
    };
    let (updates, rest): (Vec<_>, Vec<_>) = (sink.would_receive.iter())
        .partition(|o| o.item.kind == "profile" || o.item.kind == "consent");
    assert!(
        !updates.is_empty() && updates.iter().all(|o| o.verdict == consents_only),
        "{updates:?}"
    );
    let kept_back: Vec<(&str, &Verdict)> = rest
        .iter()
        .map(|o| (o.item.what.as_str(), &o.verdict))
        .collect();
    assert_eq!(
        kept_back,
        [(
            "order B-1",
            &Verdict::Suppress {
                reason: "marketing consent on email was revoked".into()
            }
        )],
        "the purchase kept back, and no message"
    );
    let thanks = &bo.journeys[0];
    assert!(!thanks.eligible && !thanks.consented);
    assert!(
        thanks.entries.is_empty(),
        "nobody thanks a person who refused"
    );

    // Cy: yesterday's thank-you received; today's held by the cap until a week after it.
    let sink = crm(&cy);
    let received: BTreeSet<(&str, &str)> = (sink.received.iter())
        .map(|f| (f.item.what.as_str(), f.outcome.as_str()))
        .collect();
    for item in ["profile update", "order C-1", "Journey: thanks"] {
        assert!(
            received.contains(&(item, "delivered")),
            "{item} in {received:?}"
        );
    }
    assert!(
        received.iter().all(|(_, outcome)| *outcome == "delivered"),
        "{received:?}"
    );
    let message = sink
        .would_receive
        .iter()
        .find(|o| o.item.kind == "message")
        .expect("today's thank-you");
    match &message.verdict {
        Verdict::Delay { until, reason } => {
            assert_eq!(*until, Some(morning(2) + Duration::days(7)));
            assert!(
                reason.contains("frequency cap: at most 1 email messages in 7 days"),
                "{reason}"
            );
        }
        other => panic!("Cy's second thank-you: {other:?}"),
    }
    assert!(matches!(cy.journeys[0].contact_now, Verdict::Delay { .. }));

    // Di: one person now, by the operator's merge.
    assert_eq!(di.merges.len(), 1);
    let merge = &di.merges[0];
    assert_eq!(
        (merge.survivor.as_str(), merge.absorbed.as_str()),
        (merged.survivor_key.as_str(), merged.absorbed_key.as_str())
    );
    assert_eq!(merge.reason, "operator: same person at the till");
    let kinds: BTreeSet<&str> = di
        .person
        .identities
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(
        kinds.contains("email") && kinds.contains("phone"),
        "{kinds:?}"
    );

    // A real delivery sends exactly what explain said would go now, and nothing it held.
    let everyone = [&ana, &bo, &cy, &di];
    let promised: BTreeSet<String> = everyone.iter().flat_map(|e| would_send(e)).collect();
    let profiles: BTreeSet<&str> = (everyone.iter())
        .filter(|e| sends_profile(e))
        .map(|e| e.person.key.as_str())
        .collect();
    let owed = pipeline
        .drain(Wait::from_secs(1), Wait::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 1, "only Cy's thank-you waits for the cap");
    let captured = capture.captured();
    let sent: BTreeSet<String> = (captured.activities[thanked_before..].iter())
        .map(|a| a["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, promised);
    let mut sent_profiles = BTreeSet::new();
    let mut seen_activities = 0;
    for arrival in &captured.arrivals {
        match arrival {
            Arrival::Activity(_) => seen_activities += 1,
            Arrival::Profile(p) if seen_activities >= thanked_before => {
                sent_profiles.insert(p["key"].as_str().unwrap());
            }
            Arrival::Profile(_) => {}
        }
    }
    assert!(
        profiles.is_subset(&sent_profiles),
        "{profiles:?} ⊆ {sent_profiles:?}"
    );
    let ana_posted = &captured.profiles[&ana.person.key];
    assert_eq!(
        posted_fields(ana_posted),
        ["email", "given_name", "orders_count", "consents"]
    );
    assert!(
        captured.profiles[&bo.person.key]["given_name"].is_null(),
        "Bo's consents only"
    );

    // Explain now lists it as received, and owes Ana nothing.
    let after = explain(&pipeline, "ana@example.com").await.unwrap();
    assert!(crm(&after).would_receive.is_empty());
    let delivered: BTreeSet<String> = (crm(&after).received.iter())
        .filter(|f| {
            f.outcome.as_str() == "delivered" && !["profile", "consent"].contains(&f.item.kind)
        })
        .map(|f| f.item.key.clone())
        .collect();
    assert_eq!(delivered, would_send(&ana));
    pipeline.store.close().await;

    // The command line: `--json` for tools, text for people.
    let output = dir.rapport(&["explain", "cy@example.com", "--json"]).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["person"]["key"], cy.person.key.as_str());
    assert_eq!(json["sinks"][0]["sink"], "crm");
    let output = dir.rapport(&["explain", "bo@example.com"]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("receives their consents only (marketing consent on email was revoked)"),
        "{text}"
    );
    assert!(text.contains("order B-1: suppressed"), "{text}");
    assert!(
        text.contains(": marketing consent on email was revoked"),
        "{text}"
    );
    let output = dir.rapport(&["explain", "nobody@example.com"]).await;
    assert!(!output.status.success());
    assert!(
        output_text(&output).contains("nobody is known by \"nobody@example.com\""),
        "{}",
        output_text(&output)
    );
}
