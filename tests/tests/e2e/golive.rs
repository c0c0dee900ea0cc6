//! A calm go-live. A sink's `rollout = 0.2` sends about a fifth of 200 buyers (within four
//! standard deviations of Binomial(200, 0.2)) to the CRM, the same people after a restart on the
//! same SQLite file, only more of them as the share grows, and nobody while `enabled = false`
//! (its work waits and goes once enabled). A `[[freeze]]` in force makes the real `rapport run`
//! refuse a config edit and a new plugin version, which `--force` then applies, and `rapport
//! status` and `rapport playbook` say so; a freeze that pauses the journeys lets no one in.

use chrono::{DateTime, Days, Duration, TimeZone, Utc};
use rapport_core::clock::ManualClock;
use rapport_e2e::{
    free_port, journey_message, output_text, plugin, wait_until, ShopDir, TestShop, CSV_HEADER,
};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::delivery::ROLLOUT_RECHECK;
use rapport_host::pipeline::Pipeline;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration as Wait;

const PEOPLE: usize = 200;

/// Noon UTC on `day` March 2026.
fn noon(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
}

/// One sale of 4.00 to each of `people` buyers at `at`, receipts named after `round`.
fn sales(round: &str, people: usize, at: DateTime<Utc>) -> Vec<u8> {
    let date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = format!("{CSV_HEADER}\n");
    for n in 0..people {
        out.push_str(&format!(
            "{round}-{n},sale,,{date},High Street,in-store,C-{n},buyer{n}@example.com,,Buyer {n},yes,TEA-1,Tea,drinks,1,4.00,4.00,GBP,0.00,0.00,4.00\n"
        ));
    }
    out.into_bytes()
}

/// A shop whose CRM (an http-sink to `crm`) takes `rollout` of people, or nobody while not `enabled`.
fn shop(dir: &Path, crm: &CaptureServer, rollout: f64, enabled: bool) -> String {
    TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "UTC".into())])
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .set("rollout", rollout.into())
        .set("enabled", enabled.into())
        .text(dir)
}

/// Starts the host on `text` at `at` (a restart on the same SQLite file), uploads `round`'s sales
/// if any, delivers what is due `later`, and stops; returns what the CRM sink still owes.
async fn round(
    dir: &Path,
    text: &str,
    round: Option<&str>,
    at: DateTime<Utc>,
    later: Duration,
) -> i64 {
    let clock = ManualClock::starting_at(at);
    let pipeline = Pipeline::start_with_clock(Config::parse(text, dir).unwrap(), clock.shared())
        .await
        .unwrap();
    if let Some(name) = round {
        let headers = vec![("content-type".to_string(), "text/csv".to_string())];
        let report = (pipeline.intake)
            .receive_push("shop", headers, sales(name, PEOPLE, at))
            .await
            .unwrap();
        assert_eq!(report.rejected, 0);
    }
    clock.set(at + later);
    pipeline
        .drain(Wait::from_secs(1), Wait::from_secs(60))
        .await
        .unwrap();
    let owed = pipeline.store.owed("crm").await.unwrap();
    pipeline.store.close().await;
    owed
}

/// The emails of the people whose orders of `round` reached the CRM.
fn ordered_in(crm: &CaptureServer, round: &str) -> BTreeSet<String> {
    (crm.captured().activities.iter())
        .filter(|a| a["name"] == "Placed Order")
        .filter(|a| {
            let order = a["properties"]["order_id"].as_str().unwrap_or("");
            order.starts_with(&format!("{round}-"))
        })
        .filter_map(|a| {
            (a["identities"].as_array()?.iter())
                .find(|i| i["kind"] == "email")
                .and_then(|i| i["value"].as_str())
                .map(str::to_string)
        })
        .collect()
}

/// The emails of the people whose profile reached the CRM.
fn profiles(crm: &CaptureServer) -> BTreeSet<String> {
    (crm.captured().profiles.values())
        .filter_map(|p| {
            (p["identities"].as_array()?.iter())
                .find(|i| i["kind"] == "email")
                .and_then(|i| i["value"].as_str())
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sinks_rollout_sends_a_stable_share_that_only_grows_and_a_held_sink_sends_nothing() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let minute = Duration::minutes(1);

    let fifth = shop(dir.path(), &crm, 0.2, true);
    let owed = round(dir.path(), &fifth, Some("A"), noon(2), minute).await;
    let first = profiles(&crm);
    // Binomial(200, 0.2): mean 40, standard deviation √32 ≈ 5.7.
    assert!((18..=62).contains(&first.len()), "{} sent", first.len());
    assert_eq!(
        ordered_in(&crm, "A"),
        first,
        "orders go with their people only"
    );
    assert!(
        owed >= (PEOPLE - first.len()) as i64,
        "the others' work waits: {owed}"
    );

    // A restart on the same database: everyone buys again; the same people's orders go.
    round(dir.path(), &fifth, Some("B"), noon(9), minute).await;
    assert_eq!(
        ordered_in(&crm, "B"),
        first,
        "the share keeps its people across a restart"
    );
    assert_eq!(profiles(&crm), first);

    // Half: once the waiting work is looked at again, the fifth are joined by as many again.
    let half = shop(dir.path(), &crm, 0.5, true);
    let recheck = Duration::from_std(ROLLOUT_RECHECK).unwrap() + minute;
    round(dir.path(), &half, None, noon(10), recheck).await;
    let grown = profiles(&crm);
    assert!(
        first.is_subset(&grown),
        "growing the share only adds people"
    );
    // Binomial(200, 0.5): mean 100, standard deviation √50 ≈ 7.1.
    assert!((72..=128).contains(&grown.len()), "{} sent", grown.len());
    assert_eq!(
        ordered_in(&crm, "A").len(),
        grown.len(),
        "their waiting orders went too"
    );

    // Held: a round of sales sends nothing, and its work waits.
    let held = shop(dir.path(), &crm, 1.0, false);
    let before = crm.captured().activities.len();
    let owed = round(dir.path(), &held, Some("C"), noon(16), minute).await;
    assert_eq!(
        crm.captured().activities.len(),
        before,
        "a held sink sends nothing"
    );
    assert!(
        owed >= PEOPLE as i64,
        "its work waits in the outbox: {owed}"
    );

    // Everyone, enabled: all that waited goes.
    let everyone = shop(dir.path(), &crm, 1.0, true);
    let owed = round(dir.path(), &everyone, None, noon(17), recheck).await;
    assert_eq!(owed, 0);
    assert_eq!(profiles(&crm).len(), PEOPLE);
    for r in ["A", "B", "C"] {
        assert_eq!(ordered_in(&crm, r).len(), PEOPLE, "round {r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_freeze_that_pauses_journeys_lets_nobody_in_until_it_ends() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let day = |d: u32| noon(d).date_naive();
    let text = TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "UTC".into())])
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .channels(&["email"])
        .journey("thanks", "crm", "email", "every-order")
        .set("reentry", "always".into())
        .freeze("spring sale", day(10), day(12), true)
        .text(dir.path());
    let thanked = || {
        (crm.captured().activities.iter())
            .filter_map(journey_message)
            .count()
    };
    // The 11th, in the freeze: sales, but no thank-you once the wait is due.
    round(dir.path(), &text, Some("A"), noon(11), Duration::minutes(5)).await;
    assert_eq!(
        ordered_in(&crm, "A").len(),
        PEOPLE,
        "sales still reach the CRM"
    );
    assert_eq!(thanked(), 0, "no one enters a journey during the freeze");
    // The 13th, the freeze over: a sale is thanked, and nothing from the freeze piled up.
    round(dir.path(), &text, Some("B"), noon(13), Duration::minutes(5)).await;
    assert_eq!(
        thanked(),
        PEOPLE,
        "one thank-you each, for the sale after the freeze"
    );
}

/// A shop with a freeze around today (by the system clock, as `rapport run` reads it) whose CRM
/// runs a copy of http-sink in `plugins/` (so a test can drop a new version there).
fn frozen_shop(dir: &Path, port: u16, crm: &CaptureServer) -> TestShop {
    let today = Utc::now().date_naive();
    TestShop::new()
        .sqlite()
        .listen(port)
        .section("shop", [("time_zone", "UTC".into())])
        .csv_source("shop")
        .sink("crm", &dir.join("plugins/http-sink"), [])
        .channels(&[])
        .setting("url", crm.url().into())
        .freeze(
            "holidays",
            today - Days::new(1),
            today + Days::new(1),
            false,
        )
        .section(
            "support",
            [(
                "contacts",
                toml::Value::Array(vec![toml::Value::Table(toml::Table::from_iter([
                    ("name".to_owned(), "Ana".into()),
                    ("role".to_owned(), "shop owner".into()),
                    ("phone".to_owned(), "+44 20 7946 0000".into()),
                ]))]),
            )],
        )
}

fn copy_plugin(name: &str, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    for file in ["plugin.wasm", "rapport.toml"] {
        std::fs::copy(plugin(name).join(file), into.join(file)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_freeze_refuses_a_config_edit_and_a_new_plugin_version_until_forced() {
    let (old_crm, new_crm) = (
        CaptureServer::start().await.unwrap(),
        CaptureServer::start().await.unwrap(),
    );
    let dir = ShopDir::new("");
    copy_plugin("http-sink", &dir.path().join("plugins/http-sink"));
    let port = free_port();
    frozen_shop(dir.path(), port, &old_crm).write_in(&dir);
    let log = dir.path().join("rapport.log");
    let mut daemon = dir.spawn_daemon_logging_to(&log);
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(
        wait_until(Wait::from_secs(60), listening).await,
        "the daemon listens"
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // Status and the playbook show the freeze.
    let status = output_text(&dir.rapport(&["status"]).await);
    assert!(
        status.contains("FREEZE in force: the freeze \"holidays\""),
        "{status}"
    );
    let playbook = dir.rapport(&["playbook"]).await;
    let page = output_text(&playbook);
    assert!(playbook.status.success(), "{page}");
    let config = dir.config().display().to_string();
    for line in [
        format!("rapport plugin rollback crm --config {config}"),
        format!("rapport config apply --force --config {config}"),
        "— IN FORCE NOW".to_string(),
        "Ana, shop owner: +44 20 7946 0000".to_string(),
    ] {
        assert!(
            page.contains(&line),
            "missing {line:?} in the playbook:\n{page}"
        );
    }

    // A new plugin version is held, and says why; the live one keeps running.
    let manifest = dir.path().join("plugins/http-sink/rapport.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("version = \"0.1.0\"", "version = \"0.1.1\""),
    )
    .unwrap();
    let listed = || async { output_text(&dir.rapport(&["plugin", "list"]).await) };
    let mut plugins = String::new();
    for _ in 0..100 {
        plugins = listed().await;
        if plugins.contains("freeze") {
            break;
        }
        tokio::time::sleep(Wait::from_millis(100)).await;
    }
    assert!(
        plugins.contains("version 0.1.1 of `http-sink` refused: the freeze \"holidays\""),
        "{plugins}"
    );
    assert!(
        plugins.contains("http-sink 0.1.0"),
        "0.1.0 stays live: {plugins}"
    );
    let forced = dir.rapport(&["plugin", "reload", "crm", "--force"]).await;
    assert!(forced.status.success(), "{}", output_text(&forced));
    assert!(
        output_text(&forced).contains("crm: version 0.1.1 is live"),
        "{}",
        output_text(&forced)
    );

    // A config edit (the CRM's address) is refused; sales still go to the running config's CRM.
    frozen_shop(dir.path(), port, &new_crm).write_in(&dir);
    let refused = || read_log().contains("config change refused: the freeze \"holidays\"");
    assert!(
        wait_until(Wait::from_secs(30), refused).await,
        "{}",
        read_log()
    );
    dir.import(
        "shop",
        &String::from_utf8(sales("A", 3, Utc::now())).unwrap(),
        &[],
    )
    .await;
    let reached = |crm: &CaptureServer, n: usize| ordered_in(crm, "A").len() == n;
    assert!(wait_until(Wait::from_secs(30), || reached(&old_crm, 3)).await);
    assert!(
        ordered_in(&new_crm, "A").is_empty(),
        "the refused edit is not running"
    );

    // Applying without --force is refused, by name; with it, the edit runs.
    let unforced = dir.rapport(&["config", "apply"]).await;
    assert!(!unforced.status.success());
    assert!(
        output_text(&unforced).contains("config change refused: the freeze \"holidays\""),
        "{}",
        output_text(&unforced)
    );
    let applied = dir.rapport(&["config", "apply", "--force"]).await;
    assert!(applied.status.success(), "{}", output_text(&applied));
    let restarted = || read_log().contains("config applied on request");
    assert!(
        wait_until(Wait::from_secs(30), restarted).await,
        "{}",
        read_log()
    );
    assert!(wait_until(Wait::from_secs(60), listening).await);
    tokio::time::sleep(Wait::from_millis(500)).await;
    dir.import(
        "shop",
        &String::from_utf8(sales("B", 3, Utc::now())).unwrap(),
        &[],
    )
    .await;
    assert!(wait_until(Wait::from_secs(30), || ordered_in(&new_crm, "B").len() == 3).await);
    assert!(ordered_in(&old_crm, "B").is_empty());
    rapport_e2e::stop_gracefully(&mut daemon);
}
