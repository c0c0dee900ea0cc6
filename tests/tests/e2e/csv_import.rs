//! A POS export of more than a thousand sales, uploaded through the csv-source plugin and delivered by
//! the http-sink plugin to a catch-hook on loopback, with the `rapport` binary and a SQLite file.

use rapport_e2e::{output_text, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn property<'a>(activity: &'a Value, name: &str) -> &'a Value {
    &activity["properties"][name]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_valid_sale_is_delivered_once_and_bad_rows_are_listed() {
    let shop = SampleShop::generate(11, 1200, 40);
    assert!(
        shop.valid_receipts()
            .filter(|r| r.refund_of.is_none())
            .count()
            >= 1000
    );
    let crm = CaptureServer::start().await.unwrap();
    let dir = TestShop::new()
        .sqlite()
        .csv_source("shop")
        .http_sink("hook", &crm.url(), [("batch_size", 100.into())])
        .write();
    let export = dir.path().join("export.csv");
    std::fs::write(&export, shop.to_csv()).unwrap();
    let export = export.to_str().unwrap().to_string();

    let import = dir.rapport(&["import", "--source", "shop", &export]).await;
    assert!(import.status.success(), "{}", output_text(&import));
    let stdout = String::from_utf8_lossy(&import.stdout);
    let valid = shop.valid_receipts().count();
    assert!(
        stdout.contains(&format!("accepted {valid} events, 0 duplicates")),
        "{}",
        output_text(&import)
    );
    for line in shop.malformed_lines() {
        assert!(
            stdout.contains(&format!("line {line}:")),
            "line {line} not reported:\n{stdout}"
        );
    }

    let sync = dir.rapport(&["sync"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
    let captured = crm.captured();

    // Every attributed sale arrived exactly once, with its money intact.
    let expected_sales: BTreeMap<&str, i64> = shop
        .attributed_sales()
        .map(|r| (r.id.as_str(), r.total_cents))
        .collect();
    let mut seen_sales = BTreeMap::new();
    let mut seen_refunds = BTreeSet::new();
    for a in &captured.activities {
        let order = property(a, "order_id").as_str().unwrap().to_string();
        match a["name"].as_str().unwrap() {
            "Placed Order" => {
                assert_eq!(a["value"]["currency"], "GBP");
                assert!(seen_sales
                    .insert(order, a["value"]["amount_minor"].as_i64().unwrap())
                    .is_none());
            }
            "Refunded Order" => {
                assert!(seen_refunds.insert(property(a, "refund_id").as_str().unwrap().to_string()));
            }
            other => panic!("unexpected activity {other}"),
        }
    }
    let seen: BTreeMap<&str, i64> = seen_sales.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(seen, expected_sales);
    let expected_refunds: BTreeSet<String> = shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_some())
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(seen_refunds, expected_refunds);
    assert!(captured.activity_arrivals.values().all(|&n| n == 1));

    // One contact per customer who bought something, carrying their email.
    let buyers: BTreeSet<&str> = shop
        .valid_receipts()
        .filter_map(|r| r.customer.map(|c| shop.customers[c].email.as_str()))
        .collect();
    let contacts: BTreeSet<&str> = captured
        .profiles
        .values()
        .map(|p| {
            p["identities"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["kind"] == "email")
                .and_then(|i| i["value"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(contacts, buyers);

    // The same file again: all duplicates, nothing new at the CRM.
    let requests_before = crm.captured().requests;
    let again = dir.rapport(&["import", "--source", "shop", &export]).await;
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains(&format!("accepted 0 events, {valid} duplicates")),
        "{}",
        output_text(&again)
    );
    let sync = dir.rapport(&["sync"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
    assert_eq!(crm.captured().requests, requests_before);

    // The operator's view names each plugin's provenance and health.
    let status = dir.rapport(&["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{}", output_text(&status));
    assert!(
        text.contains("source shop: plugin csv-source generation 1 (DEV-UNSIGNED"),
        "{text}"
    );
    assert!(text.contains("sink hook: plugin http-sink"), "{text}");
    assert!(text.contains("Healthy, 0 faults"), "{text}");
}
