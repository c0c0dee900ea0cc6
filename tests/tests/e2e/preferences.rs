//! The preference page end to end: a pipeline on a SQLite file, on a `ManualClock`, serves
//! `/preferences/{token}` over real HTTP on loopback; a sample shop's export comes in through the
//! csv-source plugin and reaches the HubSpot simulator (or a catch-hook) through the real plugins.
//!
//! - A link made by `Preferences::link` shows the person's channels as the ledger has them.
//! - Turning email off on the page lands in the ledger with the source `preferences-page` and
//!   reaches HubSpot as an unsubscribe before the person's sales queued earlier.
//! - A form without the page's hidden field is refused and changes nothing.
//! - A tampered, random or expired link gets one and the same 404 page, naming nobody.
//! - "Forget me" waits for the operator: nothing is forgotten until the request is confirmed.
//! - Quiet hours a person sets hold their journey messages back; other people's go. After a merge
//!   the person's latest wish holds, and an unmerge gives each their own; they go when she is
//!   forgotten. Turning email off withdraws the thank-you they were holding, at once.

use chrono::{Duration as Span, Utc};
use chrono_tz::America::New_York;
use rapport_core::clock::ManualClock;
use rapport_core::identity::Normalizer;
use rapport_core::model::{Identity, IdentityKind};
use rapport_e2e::{free_port, plugin, upload_csv, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::server::{serve, Running};
use rapport_fakes::shop::{Customer, SampleShop};
use rapport_host::config::Config;
use rapport_host::governance::forget;
use rapport_host::identity::graph;
use rapport_host::pipeline::Pipeline;
use rapport_store::{privacy_requests, PersonRef};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// A running shop: its pipeline on a manual clock, its HTTP routes, a pool onto its database.
struct Shop {
    pipeline: Pipeline,
    clock: ManualClock,
    _http: Running,
    pool: AnyPool,
    _dir: tempfile::TempDir,
}

/// Starts `shop` (with a SQLite file, the shop in New York, journeys reaching back ten years and
/// `server.public_url` on the loopback port it serves) on a manual clock set to now.
async fn start(shop: TestShop) -> Shop {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let text = shop
        .sqlite()
        .section("shop", [("time_zone", "America/New_York".into())])
        .section("journeys", [("max_age", "3650d".into())])
        .section(
            "server",
            [
                ("listen", format!("127.0.0.1:{port}").into()),
                ("public_url", format!("http://127.0.0.1:{port}").into()),
            ],
        )
        .text(dir.path());
    let config = Config::parse(&text, dir.path()).unwrap();
    let clock = ManualClock::starting_at(Utc::now());
    let pipeline = Pipeline::start_with_clock(config, clock.shared())
        .await
        .unwrap();
    let http = serve(rapport_host::daemon::admin_router(&pipeline), port)
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    Shop {
        pipeline,
        clock,
        _http: http,
        pool,
        _dir: dir,
    }
}

impl Shop {
    /// `server.public_url`.
    fn public_url(&self) -> String {
        self.pipeline.config.server.public_url.clone().unwrap()
    }

    /// The profile key of the person whose email is `email`.
    async fn key_of(&self, email: &str) -> String {
        let email = Identity {
            kind: IdentityKind::Email,
            value: email.to_lowercase(),
        };
        let found = self
            .pipeline
            .store
            .find_profiles(&[PersonRef::Identity(email)])
            .await
            .unwrap();
        found.first().expect("the person is held").key.clone()
    }

    /// The link to the preference page of the person whose email is `email`.
    async fn link(&self, email: &str) -> String {
        let key = self.key_of(email).await;
        self.pipeline
            .preferences
            .link(&key)
            .expect("public_url is set")
    }

    /// The newest ledger entry of `email`'s person on `channel`: (state, source).
    async fn latest_choice(&self, email: &str, channel: &str) -> (String, String) {
        let row = sqlx::query(
            "SELECT l.state, l.source FROM consent_ledger l
             JOIN identities i ON i.profile_id = l.profile_id AND i.kind = 'email'
             WHERE i.value = $1 AND l.channel = $2 AND l.purpose = 'marketing'
             ORDER BY l.id DESC LIMIT 1",
        )
        .bind(email.to_lowercase())
        .bind(channel)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (row.get("state"), row.get("source"))
    }

    async fn drain(&self) {
        self.pipeline
            .drain(Duration::from_secs(5), Duration::from_secs(120))
            .await
            .unwrap();
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The hidden field of the page's forms.
fn guard(page: &str) -> String {
    let start = page
        .find("name=guard value=\"")
        .expect("the form's hidden field")
        + 18;
    page[start..][..page[start..].find('"').unwrap()].to_string()
}

/// A buyer of `shop` who opted in to marketing, with an email address.
fn opted_in_buyer(shop: &SampleShop) -> Customer {
    let buyer = shop
        .attributed_sales()
        .filter_map(|r| r.customer)
        .find(|c| shop.customers[*c].marketing_opt_in == Some(true))
        .expect("the sample has an opted-in buyer");
    shop.customers[buyer].clone()
}

/// `shop` a day later under new receipt ids, with no consent on the rows: more sales of the same
/// people.
fn a_day_later(shop: &SampleShop) -> SampleShop {
    let mut later = shop.clone().with_receipt_prefix("L").shifted(24 * 3600);
    for c in &mut later.customers {
        c.marketing_opt_in = None;
    }
    later
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_the_page_reaches_every_tool_first_and_bad_links_name_nobody() {
    let sim = HubSpotSim::start().await.unwrap();
    let shop = start(
        TestShop::new()
            .secrets(&[("hubspot_token", hubspot::TOKEN)])
            .csv_source("shop")
            .sink(
                "hubspot",
                &plugin("hubspot-sink"),
                [
                    ("api_base", sim.base_url().into()),
                    ("subscription_id", hubspot::SUBSCRIPTION_ID.into()),
                ],
            ),
    )
    .await;
    let sample = SampleShop::generate(71, 60, 0);
    upload_csv(&shop.pipeline, "shop", &sample).await;
    shop.drain().await;
    let ana = opted_in_buyer(&sample);
    let status = || sim.subscription_status(&ana.email, hubspot::SUBSCRIPTION_ID);
    assert_eq!(status().unwrap().status, "SUBSCRIBED");

    // The page shows her channels as the ledger has them, and nothing that identifies her.
    let link = shop.link(&ana.email).await;
    assert!(
        link.starts_with(&format!("{}/preferences/", shop.public_url())),
        "{link}"
    );
    let (code, page) = get(&link).await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("name=email value=granted checked"), "{page}");
    assert!(!page.contains("name=email value=revoked checked"), "{page}");
    assert!(!page.to_lowercase().contains(&ana.email.to_lowercase()));
    assert!(!page.contains(&ana.name));

    // The next day's sales are queued for HubSpot before she changes anything.
    let later = a_day_later(&sample);
    upload_csv(&shop.pipeline, "shop", &later).await;
    let later_orders: Vec<String> = later.attributed_sales().map(|r| r.id.clone()).collect();
    let her_later_orders: Vec<String> = later
        .attributed_sales()
        .filter(|r| later.customers[r.customer.unwrap()].email == ana.email)
        .map(|r| r.id.clone())
        .collect();
    assert!(!her_later_orders.is_empty());

    // A form without the page's hidden field (what another site could post) changes nothing.
    let (code, refused) = post(&link, &[("action", "save"), ("email", "revoked")]).await;
    assert_eq!(code, 403, "{refused}");
    let wrong = [("guard", "AAAA"), ("action", "save"), ("email", "revoked")];
    assert_eq!(post(&link, &wrong).await.0, 403);
    assert_eq!(
        shop.latest_choice(&ana.email, "email").await.0,
        "granted",
        "a refused form records nothing"
    );

    // She turns email off on the page.
    let form = [
        ("guard", guard(&page)),
        ("action", "save".into()),
        ("email", "revoked".into()),
        ("quiet_start", String::new()),
        ("quiet_end", String::new()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, saved) = post(&link, &form).await;
    assert_eq!(code, 200, "{saved}");
    assert!(
        saved.contains("Saved. Every tool the shop uses will be told within minutes."),
        "{saved}"
    );
    assert!(
        saved.contains("name=email value=revoked checked"),
        "{saved}"
    );
    assert_eq!(
        shop.latest_choice(&ana.email, "email").await,
        ("revoked".to_string(), "preferences-page".to_string())
    );

    // HubSpot hears of it before the sales that were queued ahead of it (hers, now marketing she
    // refused, do not go at all).
    let seen_before = sim.seen().len();
    shop.drain().await;
    let seen = sim.seen();
    let position =
        |found: &dyn Fn(&hubspot::Exchange) -> bool| seen[seen_before..].iter().position(found);
    let unsubscribed = position(&|e| {
        e.path
            .starts_with("/communication-preferences/v4/statuses/")
            && e.request.as_ref().is_some_and(|r| {
                r["statusState"] == "UNSUBSCRIBED"
                    && r["legalBasisExplanation"]
                        .as_str()
                        .is_some_and(|t| t.contains("preferences-page"))
            })
    })
    .expect("HubSpot was told of the unsubscribe");
    let carries = |e: &hubspot::Exchange, orders: &[String]| {
        e.path == "/events/v3/send"
            && e.request.as_ref().is_some_and(|r| {
                let text = r.to_string();
                orders.iter().any(|order| text.contains(order.as_str()))
            })
    };
    let first_sale =
        position(&|e| carries(e, &later_orders)).expect("the later sales reached HubSpot");
    assert!(unsubscribed < first_sale, "{unsubscribed} < {first_sale}");
    assert!(
        !seen.iter().any(|e| carries(e, &her_later_orders)),
        "her sales, queued while she was opted in, go no more as marketing"
    );
    assert_eq!(status().unwrap().status, "UNSUBSCRIBED");

    // A tampered, a random and (below) an expired link get the same page, naming nobody.
    let (base, token) = link.rsplit_once('/').unwrap();
    let last = token.chars().last().unwrap();
    let tampered = format!(
        "{base}/{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let random = format!("{base}/cC0xMjM0NTY3ODkw.bm90LWEtc2lnbmF0dXJl");
    let (code, not_valid) = get(&tampered).await;
    assert_eq!(code, 404);
    assert!(
        not_valid.contains("This link is not valid (any more)."),
        "{not_valid}"
    );
    assert_eq!(get(&random).await, (404, not_valid.clone()));
    assert_eq!(
        get(&format!("{base}/nonsense")).await,
        (404, not_valid.clone())
    );
    let key = shop.key_of(&ana.email).await;
    assert!(!not_valid.contains(&key) && !not_valid.contains("@"));
    let form = [("guard", guard(&page)), ("email", "granted".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&tampered, &form).await, (404, not_valid.clone()));

    // "Forget me" is a request the operator confirms: until then nothing changes.
    let form = [("guard", guard(&page)), ("action", "forget".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, asked) = post(&link, &form).await;
    assert_eq!(code, 200, "{asked}");
    assert!(
        asked.contains("Someone at the shop will confirm it"),
        "{asked}"
    );
    assert!(asked.contains("You have asked to be forgotten"), "{asked}");
    assert_eq!(
        post(&link, &form).await.0,
        200,
        "asking twice is one request"
    );
    let requests = shop.pipeline.store.privacy_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(
        (request.source_id.as_str(), request.request_id.as_str()),
        ("preferences-page", key.as_str())
    );
    assert_eq!((request.confirmed_at, request.handled_at), (None, None));
    assert!(shop
        .pipeline
        .handle_privacy_requests()
        .await
        .unwrap()
        .is_empty());
    shop.drain().await;
    assert!(sim.gdpr_deleted().is_empty(), "nothing is forgotten yet");
    assert_eq!(get(&link).await.0, 200, "she is still held");

    // Confirmed (as `rapport privacy confirm` does), she is forgotten and her link opens nothing.
    let mut tx = shop.pipeline.store.begin().await.unwrap();
    assert!(privacy_requests::confirm(&mut tx, request.id, 1)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let handled = shop.pipeline.handle_privacy_requests().await.unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert!(
        handled[0].outcome.starts_with("forgot 1 person"),
        "{handled:?}"
    );
    assert_eq!(get(&link).await, (404, not_valid.clone()));

    // Another person's link, once its days are up, gets the same page.
    let other = sample
        .attributed_sales()
        .map(|r| &sample.customers[r.customer.unwrap()])
        .find(|c| c.email != ana.email)
        .unwrap();
    let other_link = shop.link(&other.email).await;
    assert_eq!(get(&other_link).await.0, 200);
    shop.clock.advance(Span::days(61));
    assert_eq!(get(&other_link).await, (404, not_valid));
    shop.pipeline.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_own_quiet_hours_hold_their_journey_messages() {
    let crm = CaptureServer::start().await.unwrap();
    let shop = start(
        TestShop::new()
            .csv_source("shop")
            .sink("crm", &plugin("http-sink"), [("url", crm.url().into())])
            .journey("thanks", "crm", "email", "every-order"),
    )
    .await;
    let sample = SampleShop::generate(73, 60, 0);
    upload_csv(&shop.pipeline, "shop", &sample).await;
    shop.drain().await;
    let ana = opted_in_buyer(&sample);

    // She asks for no messages from two hours ago to two hours from now (New York time).
    let now = Utc::now();
    let clock = |offset: i64| {
        (now + Span::hours(offset))
            .with_timezone(&New_York)
            .format("%H:%M")
            .to_string()
    };
    let link = shop.link(&ana.email).await;
    let (_, page) = get(&link).await;
    let form = [
        ("guard", guard(&page)),
        ("action", "save".into()),
        ("quiet_start", clock(-2)),
        ("quiet_end", clock(2)),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, saved) = post(&link, &form).await;
    assert_eq!(code, 200, "{saved}");
    assert!(
        saved.contains(&format!("value=\"{}\"", clock(-2))),
        "{saved}"
    );
    let bad = [
        ("guard", guard(&page)),
        ("action", "save".into()),
        ("quiet_start", "21:00".into()),
        ("quiet_end", String::new()),
    ];
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, refused) = post(&link, &bad).await;
    assert_eq!(code, 400);
    assert!(
        refused.contains("give both the start and the end"),
        "{refused}"
    );

    // The next day's sales: her thank-you waits for the end of her quiet hours; others' go.
    let later = a_day_later(&sample);
    upload_csv(&shop.pipeline, "shop", &later).await;
    shop.drain().await;
    let key = shop.key_of(&ana.email).await;
    let rows = sqlx::query(
        "SELECT o.status, o.last_error, p.key FROM outbox o
         JOIN profiles p ON p.id = o.profile_id JOIN events e ON e.id = o.event_id
         WHERE o.kind = 'message' AND e.object_id LIKE 'L%'",
    )
    .fetch_all(&shop.pool)
    .await
    .unwrap();
    let (hers, others): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| r.get::<String, _>("key") == key);
    assert!(!hers.is_empty());
    for row in hers {
        assert_eq!(row.get::<String, _>("status"), "pending");
        let why: String = row.get("last_error");
        assert!(
            why.starts_with("the person's own quiet hours until"),
            "{why}"
        );
    }
    assert!(
        others
            .iter()
            .any(|r| r.get::<String, _>("status") == "delivered"),
        "other people's thank-yous went"
    );

    // Another buyer asks for quiet nights a minute later; merged with her, the person's latest
    // wish (his) holds on the surviving profile, and the unmerge gives each their own again.
    let other: String = sqlx::query_scalar(
        "SELECT value FROM identities WHERE kind = 'email' AND value <> $1 ORDER BY id LIMIT 1",
    )
    .bind(ana.email.to_lowercase())
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    shop.clock.advance(Span::minutes(1));
    let other_link = shop.link(&other).await;
    let (_, other_page) = get(&other_link).await;
    let nights = [
        ("guard", guard(&other_page)),
        ("action", "save".into()),
        ("quiet_start", "22:00".to_string()),
        ("quiet_end", "06:00".to_string()),
    ];
    let nights: Vec<(&str, &str)> = nights.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&other_link, &nights).await.0, 200);
    let store = &shop.pipeline.store;
    let id_of = |key: String| async move {
        let found = store
            .find_profiles(&[PersonRef::ProfileKey(key)])
            .await
            .unwrap();
        found[0].id
    };
    let other_key = shop.key_of(&other).await;
    let (hers_id, other_id) = (id_of(key.clone()).await, id_of(other_key.clone()).await);
    let quiet_of = |id: i64| async move { store.quiet_hours_of(&[id]).await.unwrap().remove(&id) };
    let her_hours = quiet_of(hers_id).await.expect("hers are stored");
    let his_hours = quiet_of(other_id).await.expect("his are stored");
    assert_ne!(her_hours, his_hours);
    let config = &shop.pipeline.config;
    let normalizer = Normalizer::new(config.shop.region, &config.identity);
    let sinks = ["crm".to_string()];
    let zone = config.shop.time_zone;
    let merged = graph::merge(
        store,
        &normalizer,
        &other,
        &ana.email,
        "same person",
        &sinks,
        zone,
    )
    .await
    .unwrap();
    let survivor = match merged.survivor_key == key {
        true => hers_id,
        false => other_id,
    };
    assert_eq!(quiet_of(survivor).await, Some(his_hours), "the latest wish");
    graph::unmerge(store, &normalizer, merged.merge_id, &sinks, zone)
        .await
        .unwrap();
    assert_eq!(quiet_of(hers_id).await, Some(her_hours));
    assert_eq!(quiet_of(other_id).await, Some(his_hours));

    // Turning email off withdraws her thank-you still held by her quiet hours, at once: it is
    // ended unsent, and its journey entry no longer counts as sent.
    let form = [
        ("guard", guard(&page)),
        ("action", "save".into()),
        ("email", "revoked".into()),
        ("quiet_start", clock(-2)),
        ("quiet_end", clock(2)),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&link, &form).await.0, 200);
    let withdrawn = sqlx::query(
        "SELECT o.status, d.detail, j.outcome FROM outbox o
         JOIN journey_entries j ON j.id = o.entry_id JOIN events e ON e.id = o.event_id
         JOIN deliveries d ON d.outbox_id = o.id
         WHERE o.kind = 'message' AND o.profile_id = $1 AND e.object_id LIKE 'L%'",
    )
    .bind(hers_id)
    .fetch_all(&shop.pool)
    .await
    .unwrap();
    assert!(!withdrawn.is_empty());
    for row in &withdrawn {
        let why: String = row.get("detail");
        assert_eq!(row.get::<String, _>("status"), "suppressed", "{why}");
        assert!(why.contains("revoked marketing consent"), "{why}");
        assert_eq!(row.get::<String, _>("outcome"), "withdrawn");
    }

    // Forgetting her drops her quiet hours with the rest.
    forget::forget(store, &normalizer, &ana.email, &sinks)
        .await
        .unwrap();
    assert_eq!(quiet_of(hers_id).await, None);
    shop.pipeline.store.close().await;
}
