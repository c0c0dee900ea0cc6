//! The `rapport-fakes` program as a developer runs it: `serve <vendor>` prints the simulator's
//! address and credentials, serves the generated shop over real HTTP until SIGTERM, and refuses
//! bad arguments with an error that names them.

use rapport_e2e::{fakes_bin, stop_gracefully};
use rapport_fakes::shop::SampleShop;
use rapport_fakes::shopify::shopify_id;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `rapport-fakes serve …` and the `name=value` lines it printed.
struct Served {
    child: Child,
    printed: BTreeMap<String, String>,
}

impl Served {
    /// Starts `rapport-fakes serve <args>` and reads its lines until every one of `names` has
    /// been printed (at most 30 s).
    fn start(args: &[&str], names: &[&str]) -> Served {
        let mut child = Command::new(fakes_bin())
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rapport-fakes");
        let stdout = child.stdout.take().expect("rapport-fakes stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines
                    .send(line.expect("read rapport-fakes stdout"))
                    .is_err()
                {
                    return;
                }
            }
        });
        let mut printed = BTreeMap::new();
        while let Some(missing) = names.iter().find(|n| !printed.contains_key(**n)) {
            let line = received
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| {
                    let _ = child.kill();
                    panic!("`rapport-fakes serve {args:?}` never printed `{missing}=` ({e}); it printed {printed:?}")
                });
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("line {line:?} is not `name=value`"));
            printed.insert(name.to_owned(), value.to_owned());
        }
        Served { child, printed }
    }

    fn get(&self, name: &str) -> &str {
        &self.printed[name]
    }

    /// Stops the simulator with SIGTERM, as a developer's Ctrl-C or a service manager would; it
    /// must exit cleanly.
    fn stop(mut self) {
        assert!(
            stop_gracefully(&mut self.child),
            "rapport-fakes did not exit cleanly on SIGTERM"
        );
    }
}

/// The answer to `request` as (status, JSON body).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the simulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text}"));
    (status, body)
}

#[tokio::test]
async fn square_serves_the_seeded_shop_orders_to_the_printed_token() {
    let served = Served::start(
        &["square", "--orders", "25", "--seed", "7"],
        &[
            "base_url",
            "token",
            "location_ids",
            "orders",
            "customers",
            "refunds",
        ],
    );
    assert_eq!(served.get("orders"), "25");
    let base = served.get("base_url");
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "base_url {base} is not on loopback"
    );
    let locations: Vec<&str> = served.get("location_ids").split(',').collect();
    let search = json!({"location_ids": locations, "limit": 1000});
    let http = reqwest::Client::new();
    let url = format!("{base}/v2/orders/search");

    let (status, refused) =
        answer(http.post(&url).bearer_auth("not-the-token").json(&search)).await;
    assert_eq!(status, 401, "a wrong token is refused: {refused}");

    let (status, body) = answer(
        http.post(&url)
            .bearer_auth(served.get("token"))
            .json(&search),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let served_ids: BTreeSet<&str> = body["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("no orders in {body}"))
        .iter()
        .map(|o| o["id"].as_str().expect("order id"))
        .collect();
    let shop = SampleShop::generate(7, 25, 0);
    let sales: BTreeSet<&str> = shop
        .valid_receipts()
        .filter(|r| r.refund_of.is_none())
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(sales.len(), 25, "the seeded shop has one sale per order");
    assert_eq!(
        served_ids, sales,
        "Square serves exactly the seeded shop's sales"
    );
    served.stop();
}

#[tokio::test]
async fn shopify_serves_the_shop_in_the_requested_currency() {
    let served = Served::start(
        &["shopify", "--orders", "12", "--currency", "JPY"],
        &["base_url", "token"],
    );
    let (status, body) = answer(
        reqwest::Client::new()
            .get(format!(
                "{}/orders.json?status=any&limit=250",
                served.get("base_url")
            ))
            .header("X-Shopify-Access-Token", served.get("token")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let orders = body["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("no orders in {body}"));
    let ids: BTreeSet<u64> = orders
        .iter()
        .map(|o| o["id"].as_u64().expect("order id"))
        .collect();
    let expected: BTreeSet<u64> = SampleShop::generate(2026, 12, 0)
        .valid_receipts()
        .filter(|r| r.refund_of.is_none())
        .map(|r| shopify_id(&r.id))
        .collect();
    assert_eq!(ids, expected, "the default seed's 12 sales");
    for order in orders {
        assert_eq!(order["currency"], "JPY", "{order}");
    }
    served.stop();
}

#[tokio::test]
async fn sink_simulators_answer_the_printed_credentials() {
    let http = reqwest::Client::new();

    let hubspot = Served::start(&["hubspot"], &["base_url", "token"]);
    let (status, body) = answer(
        http.get(format!(
            "{}/crm/v3/objects/contacts",
            hubspot.get("base_url")
        ))
        .bearer_auth(hubspot.get("token")),
    )
    .await;
    assert_eq!(
        (status, &body),
        (200, &json!({"results": []})),
        "HubSpot starts empty"
    );
    hubspot.stop();

    let klaviyo = Served::start(
        &["klaviyo", "--key", "pk_cli", "--list", "L1", "--list", "L2"],
        &["base_url", "api_key", "revision", "lists"],
    );
    assert_eq!(klaviyo.get("api_key"), "pk_cli");
    assert_eq!(klaviyo.get("lists"), "L1,L2");
    let accounts = format!("{}/api/accounts", klaviyo.get("base_url"));
    let request = |key: &str| {
        http.get(&accounts)
            .header("Authorization", format!("Klaviyo-API-Key {key}"))
            .header("revision", klaviyo.get("revision"))
    };
    let (status, body) = answer(request(rapport_fakes::klaviyo::API_KEY)).await;
    assert_eq!(status, 401, "only the key given is accepted: {body}");
    let (status, body) = answer(request("pk_cli")).await;
    assert_eq!(status, 200, "{body}");
    klaviyo.stop();

    let mailchimp = Served::start(
        &["mailchimp", "--list", "aud1", "--store", "shop1"],
        &["base_url", "api_key", "lists", "stores"],
    );
    let (status, body) = answer(
        http.get(format!(
            "{}/lists/aud1/members?count=10",
            mailchimp.get("base_url")
        ))
        .basic_auth("anystring", Some(mailchimp.get("api_key"))),
    )
    .await;
    assert_eq!(status, 200, "the audience given exists: {body}");
    assert_eq!(body["total_items"], 0, "and is empty: {body}");
    mailchimp.stop();
}

#[test]
fn bad_arguments_are_refused_naming_what_was_wrong() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&["serve", "square"], &["--orders"]),
        (
            &["serve", "square", "--orders", "many"],
            &["--orders", "many"],
        ),
        (
            &["serve", "shopify", "--orders", "3", "--currency", "pounds"],
            &["--currency", "pounds", "ISO 4217"],
        ),
        (&["serve", "zendesk"], &["zendesk"]),
        (&["serve"], &["square", "hubspot"]),
    ];
    for (args, named) in cases {
        let output = Command::new(fakes_bin())
            .args(args)
            .output()
            .expect("run rapport-fakes");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "`rapport-fakes {args:?}` is a usage error: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "`rapport-fakes {args:?}` printed no address: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        for name in named {
            assert!(
                stderr.contains(name),
                "the error for `rapport-fakes {args:?}` names {name}: {stderr}"
            );
        }
    }
}
