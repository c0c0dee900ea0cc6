//! A shadow pilot: the real hubspot-sink in shadow mode beside the HubSpot simulator, fed a shop's
//! history and live sales through the csv-source. HubSpot receives nothing. `rapport pilot report`
//! then compares what the sink would have sent with an export of the current integration, written
//! in HubSpot's contact export columns plus order lines, in which the test planted an identity
//! conflict (one contact with Di's email and Ed's phone), an order whose total differs, a person
//! whose consent differs, a person missing and one extra; the report finds exactly those, and the
//! thank-you messages rapport would have sent. A line that cannot be read is refused by number.

use chrono::{DateTime, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{drain_all, output_text, plugin, tea_sale, upload_receipts, ShopDir, TestShop};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};
use std::time::Duration;

/// 10:00 UTC on `day` April 2026.
fn morning(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, day, 10, 0, 0).unwrap()
}

/// A sale of `total` GBP to the person named `name` (their email is the first name, lower case, at
/// example.com), who agreed to marketing or not.
fn sale(id: &str, at: DateTime<Utc>, name: &str, phone: &str, agreed: bool, total: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    let opt_in = if agreed { "yes" } else { "no" };
    tea_sale(
        id,
        at,
        &format!("C-{name}"),
        &email,
        phone,
        name,
        opt_in,
        total,
    )
}

/// The export as JSON Lines.
fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_pilot_sends_nothing_and_its_report_finds_what_was_planted() {
    let crm = HubSpotSim::start().await.unwrap();
    let dir = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .section(
            "shop",
            [("time_zone", "UTC".into()), ("region", "GB".into())],
        )
        .secrets(&[("hubspot_token", hubspot::TOKEN)])
        .csv_source("shop")
        .sink(
            "hubspot",
            &plugin("hubspot-sink"),
            [
                ("api_base", crm.base_url().into()),
                ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
            ],
        )
        .set("mode", "shadow".into())
        .journey("thanks", "hubspot", "email", "every-order")
        .set("reentry", "always".into())
        .write_in(&dir);
    let clock = ManualClock::starting_at(morning(3));
    let config = Config::load(&dir.config()).unwrap();
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();
    // Last week's sales as history (no journey), then today's live: Ana and Fay are thanked.
    let day = morning(1);
    upload_receipts(
        &pipeline,
        &clock,
        None,
        &[
            sale("A-1", day, "Ana", "+44 20 7946 0001", true, "12.50"),
            sale("B-1", day, "Bo", "", true, "8.00"),
            sale("C-1", day, "Cy", "", false, "5.00"),
            sale("D-1", day, "Di", "+44 20 7946 0004", true, "3.20"),
            sale("E-1", day, "Ed", "+44 20 7946 0005", true, "7.00"),
            sale("F-1", day, "Fay", "", true, "2.00"),
        ],
    )
    .await;
    let today = morning(3);
    upload_receipts(
        &pipeline,
        &clock,
        Some(today),
        &[
            sale("A-2", today, "Ana", "+44 20 7946 0001", true, "4.00"),
            sale("F-2", today, "Fay", "", true, "6.40"),
        ],
    )
    .await;
    drain_all(&pipeline, Duration::from_secs(60)).await;
    assert!(
        crm.seen().is_empty(),
        "a shadow sink sends the vendor nothing: {:?}",
        crm.seen().first()
    );
    pipeline.store.close().await;

    // The current integration's export: HubSpot's contact columns, and its orders.
    let contact = |id: &str, email: &str, phone: &str, first: &str, unsubscribed: &str| {
        json!({"Record ID": id, "Email": email, "Phone Number": phone, "First Name": first,
               "Last Name": "", "Marketing contact status": "Marketing contact",
               "Unsubscribed from all email": unsubscribed})
    };
    let order = |id: &str, email: &str, total: &str| json!({"type": "order", "order_id": id, "email": email, "total": total, "currency": "GBP"});
    let export = lines(&[
        contact("101", "ana@example.com", "+44 20 7946 0001", "Ana", "false"),
        contact("102", "bo@example.com", "", "Bo", "false"),
        // Cy refused marketing at the till; the old tool still mails him.
        contact("103", "cy@example.com", "", "Cy", "false"),
        // Di's email with Ed's phone: two people in rapport.
        contact("104", "di@example.com", "+44 20 7946 0005", "Di", "false"),
        // Zed is only in the old tool; Fay only in rapport.
        contact("106", "zed@example.com", "", "Zed", "true"),
        order("A-1", "ana@example.com", "12.50"),
        order("A-2", "ana@example.com", "4.00"),
        order("B-1", "bo@example.com", "8.50"),
        order("D-1", "di@example.com", "3.20"),
        order("E-1", "ed@example.com", "7.00"),
        order("F-1", "fay@example.com", "2.00"),
        order("F-2", "fay@example.com", "6.40"),
    ]);
    let file = dir.path().join("hubspot-export.jsonl");
    std::fs::write(&file, export).unwrap();
    let file = file.to_str().unwrap();
    let args = ["pilot", "report", "--sink", "hubspot", "--against", file];

    let output = dir.rapport(&[&args[..], &["--json"]].concat()).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Six people were given (Cy as his refusal alone), seven sales (not Cy's: he refused).
    assert_eq!(report["people"], 6, "{report:#}");
    assert_eq!(report["orders"], 7);
    assert_eq!(
        (
            report["export_contacts"].clone(),
            report["export_orders"].clone()
        ),
        (json!(5), json!(7))
    );
    let mut matched: Vec<i64> = (report["matched"].as_array().unwrap().iter())
        .map(|m| m["line"].as_i64().unwrap())
        .collect();
    matched.sort_unstable();
    assert_eq!(matched, [1, 2, 3], "Ana, Bo and Cy");
    let missing = report["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["emails"], json!(["fay@example.com"]));
    assert_eq!(
        report["extra"],
        json!([{"line": 5, "email": "zed@example.com", "phone": null}])
    );
    let conflicts = report["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["conflict"], "split-in-rapport");
    assert_eq!(conflicts[0]["line"], 4);
    assert_eq!(conflicts[0]["email"], "di@example.com");
    assert_eq!(conflicts[0]["phone"], "+442079460005");
    assert_ne!(conflicts[0]["by_email"], conflicts[0]["by_phone"]);
    assert_eq!(report["orders_matched"], 7);
    let totals = report["totals_differ"].as_array().unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0]["order_id"], "B-1");
    assert_eq!(totals[0]["ours"], json!({"minor": 800, "currency": "GBP"}));
    assert_eq!(
        totals[0]["theirs"],
        json!({"minor": 850, "currency": "GBP"})
    );
    assert_eq!(report["orders_missing"], json!([]));
    assert_eq!(report["orders_extra"], json!([]));
    let consents = report["consents_differ"].as_array().unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0]["email"], "cy@example.com");
    assert_eq!(
        (consents[0]["ours"].clone(), consents[0]["theirs"].clone()),
        (json!("revoked"), json!("subscribed"))
    );
    assert_eq!(report["journeys"], json!({"thanks": 2}));

    // Text for people names every finding.
    let output = dir.rapport(&args).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for finding in [
        "people: 3 matched, 1 missing from the export, 1 extra in the export, 1 identity conflicts",
        "(fay@example.com)",
        "extra: line 5: zed@example.com",
        "conflict: line 4: the export's contact di@example.com / +442079460005 is two people in rapport",
        "total differs: order B-1 (line 8",
        "rapport 8.00 GBP, the export 8.50 GBP",
        "consent differs:",
        "(cy@example.com, line 3): rapport revoked, the export subscribed",
        "journey messages rapport would have sent: thanks 2",
    ] {
        assert!(text.contains(finding), "{finding:?} in:\n{text}");
    }

    // A line that cannot be read stops the report, by number.
    let bad = dir.path().join("bad.jsonl");
    let bad_lines = lines(&[
        order("A-1", "ana@example.com", "12.50"),
        order("A-2", "ana@example.com", "4.005"),
    ]);
    std::fs::write(&bad, bad_lines + "not json\n").unwrap();
    let output = dir
        .rapport(&[
            "pilot",
            "report",
            "--sink",
            "hubspot",
            "--against",
            bad.to_str().unwrap(),
        ])
        .await;
    assert!(!output.status.success());
    let error = output_text(&output);
    assert!(
        error.contains("line 2 of the export: \"total\" is \"4.005\": GBP has 2 decimal places, this total has 3"),
        "{error}"
    );
    let output = dir
        .rapport(&["pilot", "report", "--sink", "mailchimp", "--against", file])
        .await;
    assert!(
        output_text(&output).contains("no sink \"mailchimp\" is configured (sinks: hubspot)"),
        "{}",
        output_text(&output)
    );
}
