//! What the host does with contract 0.3's facts about people, end to end through the real host and
//! the 0.3 test guest `source-v0-3` (see its module doc for what it reports): a birthday and
//! loyalty points on the profile a sink receives (the year only where the shop keeps it, each only
//! where the sink's fields allow it), a vendor's merge linking the ids it replaced to the survivor,
//! and privacy requests carried out once each: a data request answered as a JSON file, a redact
//! request naming nobody the shop knows, a shop redact acknowledged.

use rapport_e2e::{plugin, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_store::privacy_requests::RequestRecord;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use std::time::Duration;

struct Shop {
    pipeline: Pipeline,
    pool: AnyPool,
    crm: CaptureServer,
    dir: tempfile::TempDir,
}

/// A shop with the 0.3 source "facts" and an http-sink "crm", changed by `shop`.
async fn start(shop: impl FnOnce(TestShop) -> TestShop) -> Shop {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = shop(
        TestShop::new()
            .sqlite()
            .source("facts", &plugin("source-v0-3"), [])
            .http_sink("crm", &crm.url(), []),
    )
    .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    Shop {
        pipeline,
        pool,
        crm,
        dir,
    }
}

impl Shop {
    /// Polls, carries out the privacy requests, delivers everything due.
    async fn sync(&self) {
        let report = self
            .pipeline
            .sync_once(Duration::from_secs(5), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(report.poll_errors.is_empty(), "{report:?}");
        assert_eq!(report.still_waiting, 0, "{report:?}");
    }

    /// The profile the sink holds for Jane (the one with her email).
    fn jane_at_crm(&self) -> Value {
        let captured = self.crm.captured();
        let janes: Vec<&Value> = (captured.profiles.values())
            .filter(|p| p.to_string().contains("jane@example.com"))
            .collect();
        assert_eq!(janes.len(), 1, "{:?}", captured.profiles);
        janes[0].clone()
    }

    async fn profile_of(&self, kind: &str, value: &str) -> Option<String> {
        sqlx::query(
            "SELECT p.key FROM identities i JOIN profiles p ON p.id = i.profile_id
             WHERE i.kind = $1 AND i.value = $2",
        )
        .bind(kind)
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .unwrap()
        .map(|row| row.get("key"))
    }
}

fn request<'a>(records: &'a [RequestRecord], id: &str) -> &'a RequestRecord {
    records
        .iter()
        .find(|r| r.request_id == id)
        .unwrap_or_else(|| panic!("request {id} in {records:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_birthday_and_loyalty_points_reach_the_sink_on_the_profile() {
    let shop = start(|shop| shop).await;
    shop.sync().await;
    let jane = shop.jane_at_crm();
    // Month and day only: the shop does not keep the year (1992) by default. The loyalty change
    // came after the sale: 120 points then, 80 now, 450 ever earned.
    let traits = &jane["traits"];
    assert_eq!(traits["birthday"], "--02-29", "{jane}");
    assert_eq!(traits["loyalty_points"], 80, "{jane}");
    assert_eq!(traits["loyalty_lifetime_points"], 450, "{jane}");
    // The store holds no year either.
    let year: Option<i64> = sqlx::query_scalar(
        "SELECT p.birthday_year FROM profiles p JOIN identities i ON i.profile_id = p.id
         WHERE i.kind = 'email' AND i.value = 'jane@example.com'",
    )
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    assert_eq!(year, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_that_keeps_the_year_sends_it_and_a_sink_not_allowed_birthdays_gets_none() {
    let mailer = CaptureServer::start().await.unwrap();
    let mailer_url = mailer.url();
    let shop = start(|shop| {
        shop.section("privacy", [("keep_birth_year", true.into())])
            .http_sink("mailer", &mailer_url, [])
            .fields(&["email", "loyalty_points"])
    })
    .await;
    shop.sync().await;
    assert_eq!(shop.jane_at_crm()["traits"]["birthday"], "1992-02-29");
    let captured = mailer.captured();
    let janes: Vec<&Value> = (captured.profiles.values())
        .filter(|p| p.to_string().contains("jane@example.com"))
        .collect();
    assert_eq!(janes.len(), 1, "{:?}", captured.profiles);
    // Its fields name the loyalty points and no birthday, lifetime points or totals.
    assert_eq!(
        janes[0]["traits"],
        json!({"loyalty_points": 80}),
        "{}",
        janes[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_merge_links_the_replaced_ids_to_the_survivor() {
    let shop = start(|shop| shop).await;
    shop.sync().await;
    let jane = shop
        .profile_of("email", "jane@example.com")
        .await
        .expect("Jane has a profile");
    for old in ["facts:C-OLD-1", "facts:C-OLD-2", "facts:C-NEW"] {
        assert_eq!(
            shop.profile_of("vendor_customer", old).await.as_deref(),
            Some(jane.as_str()),
            "{old} names Jane"
        );
    }
    // A deletion at the vendor of someone the shop never knew creates nobody.
    assert_eq!(
        shop.profile_of("vendor_customer", "facts:C-GONE").await,
        None
    );
    let people: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM profiles")
        .fetch_one(&shop.pool)
        .await
        .unwrap();
    assert_eq!(people, 1, "only Jane");
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_requests_are_carried_out_once_each() {
    let shop = start(|shop| shop).await;
    shop.sync().await;
    let records = shop.pipeline.store.privacy_requests().await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records.iter().all(|r| r.handled_at.is_some()),
        "{records:?}"
    );

    // The data request about Jane is answered in a file under the config's directory.
    let answered = request(&records, "PR-1");
    let file = shop
        .dir
        .path()
        .join("data-requests")
        .join("facts-PR-1.json");
    assert_eq!(
        answered.outcome.as_deref(),
        Some(
            format!(
                "answered: what rapport holds on 1 person written to {}",
                file.display()
            )
            .as_str()
        )
    );
    let answer: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(answer["request"]["id"], "PR-1");
    assert_eq!(answer["request"]["source"], "facts");
    let people = answer["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{answer}");
    let jane = &people[0];
    assert_eq!(jane["given_name"], "Jane");
    assert_eq!(
        jane["birthday"],
        json!({"month": 2, "day": 29, "year": null})
    );
    assert_eq!(
        jane["loyalty"],
        json!({"id": "LA-1", "balance": 80, "lifetime": 450})
    );
    assert_eq!(jane["orders_count"], 1);
    assert_eq!(jane["net_spent"], json!({"minor": 972, "currency": "USD"}));
    let identities: Vec<String> = (jane["identities"].as_array().unwrap().iter())
        .map(|i| {
            format!(
                "{}:{}",
                i["kind"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "email:jane@example.com",
        "vendor_customer:facts:C-NEW",
        "vendor_customer:facts:C-OLD-1",
        "vendor_customer:facts:C-OLD-2",
    ] {
        assert!(identities.contains(&expected.to_string()), "{identities:?}");
    }
    // Her events: the customer, the order, the merge, the data request, the loyalty change.
    let kinds: Vec<&str> = (jane["events"].as_array().unwrap().iter())
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "customer",
            "order",
            "customers_merged",
            "privacy_request",
            "loyalty_changed"
        ]
    );

    // The redact request names someone the shop never held: nothing to forget, said so.
    assert_eq!(
        request(&records, "PR-2").outcome.as_deref(),
        Some("nobody held: no stored person has the identities the request names")
    );
    assert!(shop.profile_of("email", "jane@example.com").await.is_some());

    // A shop redact by webhook, delivered twice: recorded and acknowledged once.
    for _ in 0..2 {
        shop.pipeline
            .intake
            .receive_push("facts", Vec::new(), b"PR-3".to_vec())
            .await
            .unwrap();
    }
    let handled = shop.pipeline.handle_privacy_requests().await.unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(handled[0].request_id, "PR-3");
    assert!(
        handled[0].outcome.starts_with("acknowledged: "),
        "{handled:?}"
    );
    assert!(shop
        .pipeline
        .handle_privacy_requests()
        .await
        .unwrap()
        .is_empty());
    // The answered file stays as it was written; nothing else was written.
    let files = std::fs::read_dir(shop.dir.path().join("data-requests"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
}
