//! Swapping CRM vendor mid-stream, HubSpot → Klaviyo: the shop keeps selling, work HubSpot was
//! already owed is still delivered to it, Klaviyo is first sent every person the shop knows (its
//! backfill, shown by `rapport swap` as a progress bar) and then every later activity, and once
//! HubSpot has been sent what it was owed it is retired and hears nothing more.

use rapport_e2e::{
    drain_all, free_port, output_text, plugin, stop_gracefully, upload_csv, wait_until, ShopDir,
    TestShop,
};
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::server::serve;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::collections::BTreeSet;
use std::time::Duration;

const DAY: i64 = 24 * 3600;

/// The shop: its store, and the csv-source (its sinks are the caller's to add).
fn shop() -> TestShop {
    TestShop::new().sqlite().csv_source("shop")
}

/// [`shop`] as it swaps vendors: a secrets file holding both vendors' credentials, and the soft
/// opt-in the sample shop relies on for buyers who never chose.
fn swapping_shop() -> TestShop {
    shop()
        .secrets(&[
            ("hubspot_token", hubspot::TOKEN),
            ("klaviyo_key", klaviyo::API_KEY),
        ])
        .marketing_without_choice("send")
}

/// `shop` with the hubspot-sink in front of `crm`, retiring if `retire`.
fn hubspot_sink(shop: TestShop, crm: &HubSpotSim, retire: bool) -> TestShop {
    shop.sink(
        "hubspot",
        &plugin("hubspot-sink"),
        [
            ("api_base", crm.base_url().into()),
            ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
        ],
    )
    .set("retire", retire.into())
}

/// `shop` with the klaviyo-sink in front of `crm`, on list `LIST1`.
fn klaviyo_sink(shop: TestShop, crm: &KlaviyoSim) -> TestShop {
    shop.sink(
        "klaviyo",
        &plugin("klaviyo-sink"),
        [
            ("api_base", crm.base_url().into()),
            ("list_id", "LIST1".into()),
        ],
    )
}

/// The old vendor (HubSpot), the new one (Klaviyo, with list `LIST1`), and a shop directory.
async fn vendors() -> (HubSpotSim, KlaviyoSim, ShopDir) {
    let old = HubSpotSim::start().await.unwrap();
    let new = KlaviyoSim::start().await.unwrap();
    new.add_list("LIST1");
    (old, new, ShopDir::new(""))
}

/// Order ids of the attributed sales of `shop` whose buyer did not refuse marketing.
fn consented_sales(shop: &SampleShop) -> BTreeSet<String> {
    shop.attributed_sales()
        .filter(|r| !shop.buyer_opted_out(r))
        .map(|r| r.id.clone())
        .collect()
}

/// Order ids of the sales HubSpot holds a placed-order event for.
fn hubspot_order_ids(crm: &HubSpotSim) -> BTreeSet<String> {
    crm.events()
        .iter()
        .filter(|e| e["properties"].get("refund_id").is_none())
        .filter_map(|e| e["properties"].get("order_id")?.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hubspot_to_klaviyo_mid_stream_backfills_klaviyo_and_retires_hubspot_after_its_drain() {
    let shop = SampleShop::generate(71, 240, 0);
    let before_swap = shop.clone().with_receipt_prefix("B").shifted(5 * DAY);
    let after_swap = shop.clone().with_receipt_prefix("C").shifted(10 * DAY);
    let after_retirement = shop.clone().with_receipt_prefix("D").shifted(15 * DAY);
    let (old, new, dir) = vendors().await;

    // The shop runs on HubSpot; a later batch of sales is queued for it when the host stops.
    hubspot_sink(swapping_shop(), &old, false).write_in(&dir);
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    upload_csv(&pipeline, "shop", &shop).await;
    drain_all(&pipeline, Duration::from_secs(120)).await;
    upload_csv(&pipeline, "shop", &before_swap).await;
    pipeline.store.close().await;
    drop(pipeline);

    // The operator adds Klaviyo and marks HubSpot for retirement.
    klaviyo_sink(hubspot_sink(swapping_shop(), &old, true), &new).write_in(&dir);
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    // The people the shop knows: every customer named on a receipt.
    let known: Vec<&rapport_fakes::shop::Customer> = shop
        .valid_receipts()
        .filter_map(|r| r.customer)
        .collect::<BTreeSet<usize>>()
        .into_iter()
        .map(|c| &shop.customers[c])
        .collect();
    let profiles = pipeline.store.summary().await.unwrap().profiles;
    assert_eq!(profiles, known.len() as i64);
    let backfills = pipeline.store.backfills().await.unwrap();
    let klaviyo_backfill = backfills.iter().find(|b| b.sink == "klaviyo").unwrap();
    assert_eq!(
        (klaviyo_backfill.profiles, klaviyo_backfill.owed),
        (profiles, profiles)
    );
    let hubspot_backfill = backfills.iter().find(|b| b.sink == "hubspot").unwrap();
    assert_eq!(hubspot_backfill.profiles, 0, "HubSpot joined an empty shop");
    let shown = dir.rapport(&["swap"]).await;
    let text = output_text(&shown);
    assert!(shown.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "klaviyo          backfill [{}]   0%  0 of {profiles} profiles",
            "-".repeat(30)
        )),
        "{text}"
    );
    assert!(text.contains("hubspot          retiring: "), "{text}");

    // The shop keeps selling; then everything due is delivered.
    upload_csv(&pipeline, "shop", &after_swap).await;
    drain_all(&pipeline, Duration::from_secs(120)).await;

    // Klaviyo: every person, refusals as refusals only, and every activity after the swap.
    for c in &known {
        let p = new
            .profile_by_email(&c.email)
            .unwrap_or_else(|| panic!("{} was not backfilled", c.email));
        let refused = c.marketing_opt_in == Some(false);
        assert_eq!(p.first_name.is_some(), !refused, "{}", c.email);
        let consent = p.email_marketing.map(|m| m.consent);
        if refused {
            assert_eq!(consent.as_deref(), Some("UNSUBSCRIBED"), "{}", c.email);
        }
    }
    let sales_at_klaviyo = || -> Vec<String> {
        new.events()
            .iter()
            .filter(|e| e.metric == "Placed Order")
            .filter_map(|e| e.properties.get("order_id")?.as_str().map(str::to_owned))
            .collect()
    };
    let at_klaviyo: BTreeSet<String> = sales_at_klaviyo().into_iter().collect();
    assert_eq!(at_klaviyo, consented_sales(&after_swap));

    // HubSpot: what it was owed before the swap, nothing after; then it is retired.
    let expected: BTreeSet<String> = consented_sales(&shop)
        .union(&consented_sales(&before_swap))
        .cloned()
        .collect();
    assert_eq!(hubspot_order_ids(&old), expected);
    assert!(pipeline
        .store
        .retired_at("hubspot")
        .await
        .unwrap()
        .is_some());
    let shown = dir.rapport(&["swap"]).await;
    let text = output_text(&shown);
    assert!(
        text.contains(&format!(
            "klaviyo          backfill [{}] 100%  {profiles} of {profiles} profiles",
            "#".repeat(30)
        )),
        "{text}"
    );
    assert!(text.contains("hubspot          retired at "), "{text}");

    // Sales after the retirement, and a restart with HubSpot still listed: HubSpot hears nothing.
    let requests = old.seen().len();
    upload_csv(&pipeline, "shop", &after_retirement).await;
    drain_all(&pipeline, Duration::from_secs(120)).await;
    pipeline.store.close().await;
    drop(pipeline);
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    drain_all(&pipeline, Duration::from_secs(120)).await;
    assert_eq!(
        old.seen().len(),
        requests,
        "HubSpot received nothing after its drain"
    );
    assert_eq!(
        sales_at_klaviyo().len(),
        consented_sales(&after_swap).len() + consented_sales(&after_retirement).len()
    );
    let backfills = pipeline.store.backfills().await.unwrap();
    assert_eq!(
        backfills
            .iter()
            .find(|b| b.sink == "klaviyo")
            .unwrap()
            .profiles,
        profiles,
        "a restart starts no second backfill"
    );

    // The admin API shows the same progress.
    let admin = serve(rapport_host::daemon::admin_router(&pipeline), 0)
        .await
        .unwrap();
    let url = format!("{}/api/backfills", admin.base_url());
    let token = rapport_e2e::admin_token(&pipeline.store).await;
    let shown: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let klaviyo = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["sink"] == "klaviyo")
        .unwrap();
    assert_eq!(
        (klaviyo["profiles"].as_i64(), klaviyo["owed"].as_i64()),
        (Some(profiles), Some(0)),
        "{shown}"
    );
}

/// Posts `shop`'s CSV export to the running daemon's webhook for the source `shop`, with `token`.
async fn post_export(port: u16, token: &str, shop: &SampleShop) {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/shop"))
        .bearer_auth(token)
        .body(shop.to_csv())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_running_daemon_swaps_when_its_config_is_edited_and_refuses_a_bad_edit() {
    let shop = SampleShop::generate(72, 150, 0);
    let later = shop.clone().with_receipt_prefix("L").shifted(5 * DAY);
    let (old, new, dir) = vendors().await;
    let port = free_port();
    let common = swapping_shop().listen(port);
    hubspot_sink(common.clone(), &old, false).write_in(&dir);
    let log = dir.path().join("rapport.log");
    let token = dir.token("admin", None).await;
    let mut daemon = dir.spawn_daemon_logging_to(&log);
    let known = shop
        .valid_receipts()
        .filter_map(|r| r.customer)
        .collect::<BTreeSet<usize>>();
    let health = format!("http://127.0.0.1:{port}/health");
    assert!(
        wait_until(Duration::from_secs(60), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok())
        .await,
        "the daemon listens"
    );
    post_export(port, &token, &shop).await;
    assert!(
        wait_until(Duration::from_secs(120), || old.contact_count()
            == known.len())
        .await,
        "HubSpot holds the shop's customers"
    );

    // A bad edit (Klaviyo instead of HubSpot, and a sink without a plugin) is refused, and the log
    // says so and why; the daemon carries on with the configuration it runs: a sale after the
    // edit still reaches HubSpot, and Klaviyo, which only the refused edit names, hears nothing.
    // The broken sink is literal TOML: the builder writes no sink without a plugin.
    let edit = klaviyo_sink(common.clone(), &new).text(dir.path());
    std::fs::write(dir.config(), edit + "[[sink]]\nid = \"broken\"\n").unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(30), || read_log()
            .contains("config change refused"))
        .await,
        "the daemon logs that it refused the edit; its log:\n{}",
        read_log()
    );
    assert!(
        read_log().contains("missing field `plugin`"),
        "the refusal says what was wrong; the log:\n{}",
        read_log()
    );
    assert!(reqwest::get(&health).await.unwrap().status().is_success());
    let mut after_bad_edit = shop.clone().with_receipt_prefix("E").shifted(2 * DAY);
    let sale = consented_sales(&after_bad_edit)
        .into_iter()
        .next()
        .expect("the shop has a consented sale");
    after_bad_edit.receipts.retain(|r| r.id == sale);
    post_export(port, &token, &after_bad_edit).await;
    assert!(
        wait_until(Duration::from_secs(60), || hubspot_order_ids(&old)
            .contains(&sale))
        .await,
        "sale {sale}, made after the refused edit, reaches HubSpot"
    );
    assert!(
        new.exchanges().is_empty(),
        "Klaviyo, named only by the refused edit, heard nothing: {:?}",
        new.exchanges()
    );

    // The swap: Klaviyo added, HubSpot retiring, written while the daemon runs.
    klaviyo_sink(hubspot_sink(common.clone(), &old, true), &new).write_in(&dir);
    assert!(
        wait_until(Duration::from_secs(120), || new.profiles().len()
            == known.len())
        .await,
        "Klaviyo was backfilled with every known person"
    );
    let backfills = format!("http://127.0.0.1:{port}/api/backfills");
    let mut owed = None;
    for _ in 0..600 {
        let shown: serde_json::Value = reqwest::Client::new()
            .get(&backfills)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        owed = shown
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["sink"] == "klaviyo")
            .and_then(|b| b["owed"].as_i64());
        if owed == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(owed, Some(0), "the backfill finished");
    let hubspot_requests = old.seen().len();
    post_export(port, &token, &later).await;
    let want = consented_sales(&later);
    assert!(
        wait_until(Duration::from_secs(120), || {
            new.events()
                .iter()
                .filter(|e| e.metric == "Placed Order")
                .filter_map(|e| e.properties.get("order_id")?.as_str().map(str::to_owned))
                .collect::<BTreeSet<String>>()
                == want
        })
        .await,
        "Klaviyo receives every sale after the swap"
    );
    assert!(stop_gracefully(&mut daemon), "rapport stopped cleanly");
    assert_eq!(
        old.seen().len(),
        hubspot_requests,
        "HubSpot heard nothing after its drain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retire_is_refused_on_sources_and_on_the_last_sink() {
    let crm = HubSpotSim::start().await.unwrap();
    let dir = hubspot_sink(shop(), &crm, true).write();
    let err = Config::load(&dir.config()).unwrap_err().to_string();
    assert!(err.contains("keep at least one sink taking work"), "{err}");
}
