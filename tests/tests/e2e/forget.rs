//! The right to be forgotten end to end: a sample shop synced to HubSpot and Klaviyo simulators
//! through the real plugins, then `rapport forget` for one customer. Afterwards no table (every
//! table and column, found from the schema) and no simulator holds the person's email, phone or
//! name, the erasure log holds no PII, and the rest of the shop is untouched. Also: a sink that is
//! down is retried until it confirms, bad input changes nothing, and forgetting twice is harmless.

use rapport_core::identity::Normalizer;
use rapport_e2e::{
    free_port, output_text, plugin, stop_gracefully, wait_until, PostgresDatabase, ShopDir,
    TestShop,
};
use rapport_fakes::faults::Fault;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::records::any_holds_all;
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::governance::forget::{forget, Forgotten};
use rapport_host::pipeline::Pipeline;
use sqlx::Connection;
use std::time::Duration;

/// The HubSpot and Klaviyo simulators the shop syncs to.
struct Sinks {
    hubspot: HubSpotSim,
    klaviyo: KlaviyoSim,
}

impl Sinks {
    async fn start() -> Sinks {
        let klaviyo = KlaviyoSim::start().await.unwrap();
        klaviyo.add_list("LIST1");
        Sinks {
            hubspot: HubSpotSim::start().await.unwrap(),
            klaviyo,
        }
    }

    /// Whether either simulator keeps a record holding any of the person's PII.
    fn hold(&self, person: &Person) -> bool {
        person
            .pii()
            .iter()
            .any(|texts| self.hubspot.holds(texts) || self.klaviyo.holds(texts))
    }
}

/// A shop with a CSV source and both sinks (the store is the caller's to add).
fn shop(sinks: &Sinks) -> TestShop {
    TestShop::new()
        .secrets(&[
            ("hubspot_token", hubspot::TOKEN),
            ("klaviyo_key", klaviyo::API_KEY),
        ])
        .region("GB")
        .marketing_without_choice("send")
        .section(
            "delivery",
            [
                ("backoff_base_ms", 50.into()),
                ("backoff_max_ms", 200.into()),
            ],
        )
        .listen(free_port())
        .csv_source("shop")
        .sink(
            "hubspot",
            &plugin("hubspot-sink"),
            [
                ("api_base", sinks.hubspot.base_url().into()),
                ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
            ],
        )
        .sink(
            "klaviyo",
            &plugin("klaviyo-sink"),
            [
                ("api_base", sinks.klaviyo.base_url().into()),
                ("list_id", "LIST1".into()),
            ],
        )
}

/// A customer of the sample shop, and how their PII is written.
#[derive(Debug, Clone)]
struct Person {
    email: String,
    /// As the POS wrote it, and in E.164 as the host keeps it.
    phone: (String, String),
    given_name: String,
    family_name: String,
}

impl Person {
    /// Each piece of PII, as the texts that together reveal it: the email, the phone either way,
    /// and the name (the given and family names in one record).
    fn pii(&self) -> Vec<Vec<&str>> {
        vec![
            vec![self.email.as_str()],
            vec![self.phone.0.as_str()],
            vec![self.phone.1.as_str()],
            vec![self.given_name.as_str(), self.family_name.as_str()],
        ]
    }

    fn held_by(&self, record: &str) -> bool {
        self.pii()
            .iter()
            .any(|texts| any_holds_all(std::iter::once(record.to_string()), texts))
    }
}

/// The `n`-th customer with a phone and a purchase whose PII no line of the export about anyone
/// else contains (another Ana Silva, say), so finding it anywhere means finding them.
fn person(shop: &SampleShop, n: usize) -> Person {
    let export = shop.to_csv();
    shop.customers
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            c.phone.is_some() && shop.attributed_sales().any(|r| r.customer == Some(*i))
        })
        .map(|(_, c)| {
            let (given, family) = c.name.split_once(' ').expect("first and last name");
            let phone = c.phone.clone().expect("a phone");
            Person {
                email: c.email.clone(),
                phone: (phone.clone(), phone.replace(' ', "")),
                given_name: given.to_string(),
                family_name: family.to_string(),
            }
        })
        .filter(|p| {
            let others = export
                .lines()
                .filter(|line| !line.contains(&p.email))
                .map(str::to_string);
            !p.pii()
                .iter()
                .any(|texts| any_holds_all(others.clone(), texts))
        })
        .nth(n)
        .expect("enough distinct customers in the sample shop")
}

/// Every row of every table in the database at `url`, as `(table, the row's values joined)`; the
/// tables and columns are read from the schema.
async fn every_row(url: &str) -> Vec<(String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let postgres = url.starts_with("postgres");
    let tables: Vec<String> = sqlx::query_scalar(if postgres {
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    })
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut rows = Vec::new();
    // The migration ledger holds no data (and its checksums are not text).
    for table in tables.into_iter().filter(|t| t != "_sqlx_migrations") {
        let columns: Vec<String> = if postgres {
            sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name = $1",
            )
            .bind(&table)
            .fetch_all(&mut conn)
            .await
        } else {
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut conn)
                .await
        }
        .unwrap();
        let values: Vec<String> = columns
            .iter()
            .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
            .collect();
        let select = format!("SELECT {} FROM \"{table}\"", values.join(" || ' | ' || "));
        let texts: Vec<String> = sqlx::query_scalar(&select)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.extend(texts.into_iter().map(|text| (table.clone(), text)));
    }
    conn.close().await.unwrap();
    rows.sort();
    rows
}

/// The rows of the store that hold any of `person`'s PII, as `table: row`.
fn rows_holding(rows: &[(String, String)], person: &Person) -> Vec<String> {
    rows.iter()
        .filter(|(_, text)| person.held_by(text))
        .map(|(table, text)| format!("{table}: {text}"))
        .collect()
}

/// The rows of the tables that hold data about people and work (not which plugin generation each
/// connector last loaded, which every start of the host records).
fn data_rows(rows: &[(String, String)]) -> Vec<(String, String)> {
    rows.iter()
        .filter(|(t, _)| t != "sources" && t != "sinks")
        .cloned()
        .collect()
}

fn count(rows: &[(String, String)], table: &str) -> usize {
    rows.iter().filter(|(t, _)| t == table).count()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A shop on SQLite with the sample imported through the binary and synced to both sinks.
async fn synced_shop(sinks: &Sinks, sample: &SampleShop) -> ShopDir {
    let shop = shop(sinks).sqlite().write();
    shop.import("shop", &sample.to_csv(), &["--dev"]).await;
    let sync = shop.rapport(&["sync", "--dev"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
    shop
}

/// Uploads a file the CSV source refuses as a whole (no receipt columns), which the store keeps
/// verbatim in its webhook inbox.
async fn upload_refused(shop: &ShopDir, body: &str) {
    let import = shop.try_import("shop", body, &["--dev"]).await;
    assert!(!import.status.success(), "{}", output_text(&import));
}

#[tokio::test(flavor = "multi_thread")]
async fn forget_leaves_no_pii_in_any_table_or_sink_and_is_harmless_twice() {
    let sinks = Sinks::start().await;
    let sample = SampleShop::generate(21, 90, 0);
    let (ana, other) = (person(&sample, 0), person(&sample, 1));
    let shop = synced_shop(&sinks, &sample).await;
    upload_refused(
        &shop,
        &format!(
            "name,phone\n{} {},{}\n",
            ana.given_name, ana.family_name, ana.phone.0
        ),
    )
    .await;
    upload_refused(&shop, &format!("email\n{}\n", other.email)).await;
    let url = shop.database_url();

    // Before: the store and both sinks hold both people, so the checks below can fail.
    let before = every_row(&url).await;
    for p in [&ana, &other] {
        assert!(!rows_holding(&before, p).is_empty(), "{p:?}");
        assert!(sinks.hold(p), "{p:?}");
    }
    assert!(before
        .iter()
        .any(|(t, row)| t == "webhook_inbox" && row.contains(&ana.phone.0)));

    let typed = format!(" {} ", ana.email.to_uppercase());
    let forgot = shop.rapport(&["forget", "--dev", &typed]).await;
    let text = output_text(&forgot);
    assert!(forgot.status.success(), "{text}");
    assert!(text.contains("sink hubspot: confirmed"), "{text}");
    assert!(text.contains("sink klaviyo: confirmed"), "{text}");
    assert!(text.contains("the erasure is complete"), "{text}");
    assert!(
        !text.to_lowercase().contains(&ana.email),
        "the erasure is logged without the identifier: {text}"
    );

    let after = every_row(&url).await;
    assert_eq!(rows_holding(&after, &ana), Vec::<String>::new());
    assert!(!sinks.hold(&ana), "a sink still holds {ana:?}");
    assert_eq!(sinks.hubspot.gdpr_deleted(), vec![ana.email.clone()]);
    assert!(!sinks.klaviyo.deletions().is_empty());
    // Everyone else is untouched, and the shop's figures still count the person's sales.
    assert!(!rows_holding(&after, &other).is_empty());
    assert!(sinks.hold(&other));
    assert!(after
        .iter()
        .any(|(t, row)| t == "webhook_inbox" && row.contains(&other.email)));
    assert_eq!(count(&after, "events"), count(&before, "events"));
    assert_eq!(count(&after, "profiles"), count(&before, "profiles"));
    // The erasure log: one erasure, confirmed by both sinks, the kept identifiers gone.
    assert_eq!(count(&after, "erasures"), 1);
    assert_eq!(count(&after, "erasure_identities"), 0);
    let parts: Vec<&String> = after
        .iter()
        .filter(|(t, _)| t == "erasure_sinks")
        .map(|(_, row)| row)
        .collect();
    assert_eq!(parts.len(), 2);
    assert!(
        parts.iter().all(|row| row.contains("confirmed")),
        "{parts:?}"
    );

    // Bad input and a second forget change nothing, and say why.
    let deleted = sinks.hubspot.gdpr_deleted().len();
    for (input, why) in [
        (ana.email.as_str(), "nobody is known by"),
        ("nobody@example.com", "nobody is known by"),
        ("not a person", "cannot name a person"),
        ("test@test.com", "cannot name a person"),
    ] {
        let refused = shop.rapport(&["forget", "--dev", input]).await;
        let text = output_text(&refused);
        assert!(!refused.status.success(), "{text}");
        assert!(text.contains(why) && text.contains(input), "{text}");
    }
    let key = stdout(&forgot)
        .split_whitespace()
        .find(|w| w.starts_with("p-"))
        .expect("the profile key in the output")
        .to_string();
    let again = shop.rapport(&["forget", "--dev", &key]).await;
    let text = output_text(&again);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("already forgotten"), "{text}");
    assert_eq!(data_rows(&every_row(&url).await), data_rows(&after));
    assert_eq!(sinks.hubspot.gdpr_deleted().len(), deleted);

    let status = shop.rapport(&["forget", "--status"]).await;
    let text = output_text(&status);
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains(&format!("erasure 1 of profile {key}")),
        "{text}"
    );
    assert!(text.contains("sink hubspot: confirmed"), "{text}");
    assert!(!ana.held_by(&text), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_is_down_is_retried_until_it_confirms() {
    let sinks = Sinks::start().await;
    let sample = SampleShop::generate(22, 90, 0);
    let (ana, ben) = (person(&sample, 0), person(&sample, 1));
    let shop = synced_shop(&sinks, &sample).await;
    let url = shop.database_url();
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
    };

    // HubSpot is down for the forget and for `rapport sync`'s first retry; the second succeeds.
    sinks.hubspot.faults().fail_next(2, unavailable.clone());
    let forgot = shop.rapport(&["forget", "--dev", &ana.email]).await;
    let text = output_text(&forgot);
    assert!(forgot.status.success(), "{text}");
    assert!(text.contains("sink klaviyo: confirmed"), "{text}");
    assert!(text.contains("sink hubspot: pending ("), "{text}");
    assert!(text.contains("retries them until they confirm"), "{text}");
    let waiting = every_row(&url).await;
    // Until HubSpot confirms, the identifiers are kept for it in erasure_identities only.
    let holding: Vec<String> = rows_holding(&waiting, &ana);
    assert!(!holding.is_empty());
    assert!(
        holding
            .iter()
            .all(|row| row.starts_with("erasure_identities: ")),
        "{holding:?}"
    );
    assert!(sinks.hubspot.holds(&[&ana.email]));
    let status = output_text(&shop.rapport(&["forget", "--status"]).await);
    assert!(
        status.contains("sink hubspot: pending after 1 attempt(s)"),
        "{status}"
    );
    assert!(status.contains("last error"), "{status}");
    assert!(!ana.held_by(&status), "{status}");

    let sync = shop.rapport(&["sync", "--dev"]).await;
    let text = output_text(&sync);
    assert!(sync.status.success(), "{text}");
    assert!(text.contains("0 sink erasures pending"), "{text}");
    assert_eq!(sinks.hubspot.faults().pending(), 0);
    assert!(!sinks.hold(&ana));
    assert_eq!(
        rows_holding(&every_row(&url).await, &ana),
        Vec::<String>::new()
    );

    // The daemon retries too: HubSpot refuses Ben's erasure three times, then takes it.
    sinks.hubspot.faults().fail_next(3, unavailable);
    let forgot = shop.rapport(&["forget", "--dev", &ben.phone.0]).await;
    let text = output_text(&forgot);
    assert!(text.contains("sink hubspot: pending ("), "{text}");
    let mut daemon = shop.spawn_daemon();
    let confirmed = wait_until(Duration::from_secs(30), || !sinks.hold(&ben)).await;
    // The daemon records the confirmation (and drops the kept identifiers) right after the call.
    let mut clean = false;
    for _ in 0..100 {
        clean = rows_holding(&every_row(&url).await, &ben).is_empty();
        if clean {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stop_gracefully(&mut daemon));
    assert!(confirmed, "HubSpot still holds {ben:?}");
    assert!(clean, "the store still holds {ben:?}");
    assert_eq!(
        sinks.hubspot.gdpr_deleted(),
        vec![ana.email.clone(), ben.email.clone()]
    );
}

/// The store's part on PostgreSQL: the scrub and the erasure log leave no table holding the
/// person's PII there either.
#[tokio::test(flavor = "multi_thread")]
async fn forget_on_postgres_leaves_no_pii_in_any_table() {
    let database = PostgresDatabase::create().await;
    let sinks = Sinks::start().await;
    let sample = SampleShop::generate(23, 60, 0);
    let ana = person(&sample, 0);
    let dir = tempfile::tempdir().unwrap();
    let text = shop(&sinks).database(&database.url()).text(dir.path());
    let config = Config::parse(&text, dir.path()).unwrap();
    let pipeline = Pipeline::start(config).await.unwrap();
    pipeline
        .intake
        .receive_push("shop", vec![], sample.to_csv().into_bytes())
        .await
        .unwrap();
    let owed = pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(owed, 0);
    assert!(!rows_holding(&every_row(&database.url()).await, &ana).is_empty());
    assert!(sinks.hold(&ana));

    let normalizer = Normalizer::new(pipeline.config.shop.region, &pipeline.config.identity);
    let sink_ids = pipeline.connectors.sink_ids();
    let forgotten = forget(&pipeline.store, &normalizer, &ana.phone.0, &sink_ids)
        .await
        .unwrap();
    assert!(matches!(forgotten, Forgotten::Now(_)), "{forgotten:?}");
    let pending = pipeline
        .drain_erasures(Duration::from_secs(5), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(pending, 0);
    pipeline.store.close().await;

    let rows = every_row(&database.url()).await;
    assert_eq!(rows_holding(&rows, &ana), Vec::<String>::new());
    assert_eq!(count(&rows, "erasures"), 1);
    assert_eq!(count(&rows, "erasure_identities"), 0);
    assert!(!sinks.hold(&ana));
}

/// A one-line CSV export: sale `id` of a $5.00 latte at `date` by `email`, opted in to marketing.
fn sale_by(id: &str, date: &str, email: &str) -> Vec<u8> {
    format!(
        "receipt_id,kind,date,customer_email,marketing_opt_in,product,quantity,unit_price,currency,total\n\
         {id},sale,{date},{email},yes,Latte,1,5.00,USD,5.00\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_person_is_not_brought_back_by_an_old_record_only_by_a_fresh_consent() {
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new().sqlite().csv_source("shop").text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let email = "zoe.forgotten@example.com";
    let upload = |body: Vec<u8>| pipeline.intake.receive_push("shop", vec![], body);
    let known = |pipeline: &Pipeline| {
        let refs = [rapport_store::PersonRef::Identity(
            rapport_core::model::Identity {
                kind: rapport_core::model::IdentityKind::Email,
                value: email.into(),
            },
        )];
        let store = pipeline.store.clone();
        async move { store.find_profiles(&refs).await.unwrap().len() }
    };
    upload(sale_by("R1", "2026-10-01T09:00:00Z", email))
        .await
        .unwrap();
    assert_eq!(known(&pipeline).await, 1);

    let normalizer = Normalizer::new(pipeline.config.shop.region, &pipeline.config.identity);
    let forgotten = forget(&pipeline.store, &normalizer, email, &[])
        .await
        .unwrap();
    assert!(matches!(forgotten, Forgotten::Now(_)), "{forgotten:?}");
    assert_eq!(known(&pipeline).await, 0);

    // An older export read again (her opt-in was given before she was forgotten): the sale is
    // kept, and she is not.
    let report = upload(sale_by("R0", "2026-09-20T09:00:00Z", email))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        known(&pipeline).await,
        0,
        "an old record does not re-create her"
    );
    let pool = sqlx::AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let profile: Option<i64> =
        sqlx::query_scalar("SELECT profile_id FROM events WHERE source_event_id LIKE '%R0%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(profile, None);
    // Nothing stored holds her address in the clear: the digest list is one-way.
    let digests: Vec<String> = sqlx::query_scalar("SELECT digest FROM forgotten_identities")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(digests.len(), 1);
    assert!(!digests[0].contains("zoe"), "{digests:?}");

    // She comes back and opts in again after being forgotten: a new profile.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    upload(sale_by("R2", &tomorrow, email)).await.unwrap();
    assert_eq!(
        known(&pipeline).await,
        1,
        "a fresh consent starts a new profile"
    );
}
