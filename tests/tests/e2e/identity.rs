//! The identity graph end to end, through the `rapport` binary, the csv-source plugin and the
//! http-sink plugin posting to a catch-hook: a sale that names two people's identities merges their
//! profiles (recorded with its reason and evidence, no PII in the log), a second customer id of the
//! same shop never merges, `rapport identity show` prints the person, and unmerging restores both
//! profiles (identities, orders, consents, plus a sale that arrived since) and both reach the sink
//! again. Refusals: a merge another was built on, one already undone, an unknown one. On SQLite and
//! PostgreSQL. And a merge moves the absorbed person's pending work but never work in flight.

use rapport_e2e::{csv_export, output_text, PostgresDatabase, ShopDir, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_store::Store;
use serde_json::Value;
use sqlx::Connection;

const ANA: &str = "ana@example.com";
const BOB_PHONE: &str = "020 7946 0123";
const BOB_E164: &str = "+442079460123";

/// One single-line sale: receipt, day of November 2026, customer id, email, phone, name, opt-in.
fn sale(id: &str, day: u32, customer: [&str; 5]) -> String {
    let [customer_id, email, phone, name, opt_in] = customer;
    format!(
        "{id},sale,,2026-11-{day:02}T10:00:00Z,Main St,in-store,{customer_id},{email},{phone},{name},{opt_in},T-1,Tea,drinks,1,3.00,3.00,GBP,0.00,0.00,3.00"
    )
}

/// The shop: its store at `store`, the csv-source `shop` (in Britain) and the http-sink `hook`.
fn shop(store: &str, hook: &str) -> ShopDir {
    TestShop::new()
        .database(store)
        .region("GB")
        .csv_source("shop")
        .http_sink("hook", hook, [])
        .write()
}

/// Runs `rapport <args>` and returns its stdout; panics with its output if it failed.
async fn ok(dir: &ShopDir, args: &[&str]) -> String {
    let out = dir.rapport(args).await;
    assert!(out.status.success(), "{args:?}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `rapport <args>`, which must fail, and returns its stderr.
async fn refused(dir: &ShopDir, args: &[&str]) -> String {
    let out = dir.rapport(args).await;
    assert!(!out.status.success(), "{args:?}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Uploads `sales` through the csv source, without delivering.
async fn upload(dir: &ShopDir, name: &str, sales: &[String]) {
    let file = dir.path().join(name);
    std::fs::write(&file, csv_export(sales)).unwrap();
    let out = ok(dir, &["import", "--source", "shop", file.to_str().unwrap()]).await;
    assert!(
        out.contains(&format!("accepted {} events", sales.len())),
        "{out}"
    );
}

/// Uploads `sales` and delivers everything due.
async fn import(dir: &ShopDir, name: &str, sales: &[String]) {
    upload(dir, name, sales).await;
    ok(dir, &["sync"]).await;
}

/// The profile key `rapport identity show` prints first.
fn key_of(shown: &str) -> String {
    shown
        .split_whitespace()
        .nth(1)
        .expect("show names the profile")
        .to_string()
}

/// The identity values the sink holds for profile `key`.
fn sink_identities(hook: &CaptureServer, key: &str) -> Vec<String> {
    let profiles = hook.captured().profiles;
    let profile: &Value = profiles
        .get(key)
        .unwrap_or_else(|| panic!("the sink never received profile {key}"));
    let mut values: Vec<String> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap().to_string())
        .collect();
    values.sort();
    values
}

/// The text of every row of the merge log's tables.
async fn merge_log(url: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(id AS TEXT) || ' ' || CAST(survivor_id AS TEXT) || ' '
                || CAST(absorbed_id AS TEXT) || ' ' || reason || ' ' || evidence
         FROM identity_merges ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.extend(
        sqlx::query_scalar::<_, String>(
            "SELECT CAST(merge_id AS TEXT) || ' ' || item || ' ' || CAST(row_id AS TEXT)
             FROM identity_merge_moves",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap(),
    );
    conn.close().await.unwrap();
    rows
}

async fn merge_and_unmerge_round_trip(store: &str, url: &str) {
    let hook = CaptureServer::start().await.unwrap();
    let dir = shop(store, &hook.url());

    // Ana (shop customer C1, email, opted in) and a phone-only buyer who opted out.
    import(
        &dir,
        "first.csv",
        &[
            sale("R1", 1, ["C1", ANA, "", "Ana Silva", "yes"]),
            sale("R2", 2, ["", "", BOB_PHONE, "Bob Jones", "no"]),
        ],
    )
    .await;
    let ana = key_of(&ok(&dir, &["identity", "show", ANA]).await);
    let bob = key_of(&ok(&dir, &["identity", "show", BOB_PHONE]).await);
    assert_ne!(ana, bob);

    // A sale naming Ana's email and that phone merges them, into Ana's older profile. Another
    // shop customer id with Ana's email never merges: one id per source per profile.
    import(
        &dir,
        "second.csv",
        &[
            sale("R3", 3, ["", ANA, BOB_PHONE, "", ""]),
            sale("R4", 4, ["C3", ANA, "", "Ana Other", ""]),
        ],
    )
    .await;
    let shown = ok(&dir, &["identity", "show", BOB_PHONE]).await;
    assert_eq!(key_of(&shown), ana, "{shown}");
    for expected in [
        format!("email {ANA}"),
        format!("phone {BOB_E164}"),
        "vendor_customer shop:C1".to_string(),
        "name: Ana Silva".to_string(),
        "orders: 3, refunds: 0".to_string(),
        // Bob's later refusal wins over Ana's earlier opt-in: the ledger's rule.
        "email marketing: revoked".to_string(),
        format!("merge 1: {bob} into {ana}, by phone (shop:sale:R3)"),
    ] {
        assert!(
            shown.contains(&expected),
            "missing {expected:?} in\n{shown}"
        );
    }
    let other = ok(&dir, &["identity", "show", "shop:C3"]).await;
    assert_ne!(key_of(&other), ana, "{other}");
    assert!(!other.contains(ANA), "{other}");
    let absorbed = ok(&dir, &["identity", "show", &bob]).await;
    assert!(
        absorbed.contains(&format!("merged into {ana} by merge 1")),
        "{absorbed}"
    );
    assert_eq!(
        sink_identities(&hook, &ana),
        [BOB_E164, ANA, "shop:C1"].map(String::from)
    );
    let log = merge_log(url).await;
    assert!(
        log.iter().any(|row| row.contains("phone shop:sale:R3")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|row| row.contains("ana@") || row.contains("7946") || row.contains("Silva")),
        "the merge log holds PII: {log:?}"
    );

    // A phone-only sale after the merge lands on the merged profile.
    import(
        &dir,
        "third.csv",
        &[sale("R5", 5, ["", "", BOB_PHONE, "", ""])],
    )
    .await;

    // The operator merges Ana and the other shop customer on top; merge 1 must wait for it.
    let merged = ok(
        &dir,
        &[
            "identity",
            "merge",
            ANA,
            "shop:C3",
            "--reason",
            "same person, checked at the till",
        ],
    )
    .await;
    assert!(merged.contains("merge 2:"), "{merged}");
    let shown = ok(&dir, &["identity", "show", "shop:C3"]).await;
    assert!(
        shown.contains("by operator: same person, checked at the till (operator)"),
        "{shown}"
    );
    let later = refused(&dir, &["identity", "unmerge", "1"]).await;
    assert!(later.contains("undo merge 2 first"), "{later}");
    ok(&dir, &["identity", "unmerge", "2"]).await;
    ok(&dir, &["identity", "unmerge", "1"]).await;

    // Both people are back as they were, the later phone-only sale with the phone's owner.
    let ana_shown = ok(&dir, &["identity", "show", ANA]).await;
    let bob_shown = ok(&dir, &["identity", "show", BOB_PHONE]).await;
    assert_eq!(key_of(&ana_shown), ana);
    assert_eq!(key_of(&bob_shown), bob);
    for (shown, present, absent) in [
        (
            &ana_shown,
            vec![
                "orders: 2, refunds: 0",
                "email marketing: granted",
                "name: Ana Silva",
            ],
            vec![BOB_E164],
        ),
        (
            &bob_shown,
            vec![
                "orders: 2, refunds: 0",
                "email marketing: revoked",
                "name: Bob Jones",
                BOB_E164,
            ],
            vec![ANA],
        ),
    ] {
        for text in present {
            assert!(shown.contains(text), "missing {text:?} in\n{shown}");
        }
        for text in absent {
            assert!(!shown.contains(text), "unexpected {text:?} in\n{shown}");
        }
        assert!(shown.contains("undone"), "{shown}");
    }

    // Both keys reach the sink again, each with its own identities.
    ok(&dir, &["sync"]).await;
    assert_eq!(
        sink_identities(&hook, &ana),
        [ANA, "shop:C1"].map(String::from)
    );
    assert_eq!(sink_identities(&hook, &bob), [BOB_E164].map(String::from));

    // Refusals change nothing.
    let again = refused(&dir, &["identity", "unmerge", "1"]).await;
    assert!(again.contains("merge 1 was already undone"), "{again}");
    let unknown = refused(&dir, &["identity", "unmerge", "99"]).await;
    assert!(unknown.contains("there is no merge 99"), "{unknown}");
    let nobody = refused(&dir, &["identity", "show", "nobody@example.com"]).await;
    assert!(nobody.contains("nobody is known by"), "{nobody}");
}

/// The profile each of the outbox items `ids` belongs to, in order.
async fn owners(url: &str, ids: &[i64]) -> Vec<i64> {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut owners = Vec::new();
    for id in ids {
        owners.push(
            sqlx::query_scalar("SELECT profile_id FROM outbox WHERE id = $1")
                .bind(*id)
                .fetch_one(&mut conn)
                .await
                .unwrap(),
        );
    }
    conn.close().await.unwrap();
    owners
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_moves_pending_work_and_leaves_work_in_flight_with_its_worker() {
    sqlx::any::install_default_drivers();
    let hook = CaptureServer::start().await.unwrap();
    let dir = shop("sqlite://rapport.db", &hook.url());
    let url = dir.database_url();
    upload(
        &dir,
        "first.csv",
        &[
            sale("R1", 1, ["C1", ANA, "", "Ana Silva", "yes"]),
            sale("R2", 2, ["", "", BOB_PHONE, "Bob Jones", "no"]),
        ],
    )
    .await;
    // A worker holds every item queued so far; then Bob buys again and a sale merges him into Ana.
    let store = Store::open(&url).await.unwrap();
    let in_flight = store
        .claim("hook", 100, 600_000, rapport_store::now_ms())
        .await
        .unwrap();
    assert!(!in_flight.is_empty());
    let ids: Vec<i64> = in_flight.iter().map(|item| item.id).collect();
    let before = owners(&url, &ids).await;
    upload(
        &dir,
        "second.csv",
        &[sale("R2B", 2, ["", "", BOB_PHONE, "", ""])],
    )
    .await;
    let bob = key_of(&ok(&dir, &["identity", "show", BOB_PHONE]).await);
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let bob_id: i64 = sqlx::query_scalar("SELECT id FROM profiles WHERE key = $1")
        .bind(&bob)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let bob_pending: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE profile_id = $1 AND status = 'pending' ORDER BY id",
    )
    .bind(bob_id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!bob_pending.is_empty());
    upload(
        &dir,
        "third.csv",
        &[sale("R3", 3, ["", ANA, BOB_PHONE, "", ""])],
    )
    .await;
    let ana = key_of(&ok(&dir, &["identity", "show", ANA]).await);
    let ana_id: i64 = sqlx::query_scalar("SELECT id FROM profiles WHERE key = $1")
        .bind(&ana)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let moved: Vec<i64> = sqlx::query_scalar(
        "SELECT row_id FROM identity_merge_moves WHERE merge_id = 1 AND item = 'outbox'
         ORDER BY row_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!(
        owners(&url, &ids).await,
        before,
        "work in flight was reassigned"
    );
    assert!(before.contains(&bob_id));
    assert_eq!(moved, bob_pending);
    assert!(owners(&url, &bob_pending)
        .await
        .iter()
        .all(|p| *p == ana_id));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn merges_are_recorded_shown_and_undone_on_sqlite() {
    let url_dir = tempfile::tempdir().unwrap();
    let db = url_dir.path().join("rapport.db");
    let url = format!("sqlite://{}", db.display());
    merge_and_unmerge_round_trip(&url, &url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn merges_are_recorded_shown_and_undone_on_postgres() {
    let database = PostgresDatabase::create().await;
    merge_and_unmerge_round_trip(&database.url(), &database.url()).await;
}
