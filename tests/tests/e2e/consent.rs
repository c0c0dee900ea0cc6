//! Consent under pressure: 10,000 customers whose marketing choices change from one POS export to
//! the next, with a late export of old paper opt-ins, delivered by the http-sink plugin to two
//! email sinks and to one sink that never contacts people.
//!
//! - No email sink ever receives an activity for a person it was last told had refused, or who
//!   never agreed (the shop requires opt-in); a welcome journey due during quiet hours waits for
//!   them to end.
//! - Revocations overtake the work queued before them at every sink.
//! - The choice in force for every person follows the ledger's rule (latest wins, a revocation wins
//!   a tie, an older opt-in never overrides an unsubscribe) in the store and at every sink, and the
//!   ledger keeps every choice once, with its legal basis and evidence.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_e2e::{drain_all, plugin, upload_csv, TestShop};
use rapport_fakes::capture::{Arrival, CaptureServer, Captured};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const DAY: i64 = 24 * 3600;

/// `shop` with the http-sink `id` posting to `url` in batches of 100, marketing on the plugin's
/// channels unless set otherwise.
fn mailer(shop: TestShop, id: &str, url: &str) -> TestShop {
    shop.sink(id, &plugin("http-sink"), [("batch_size", 100.into())])
        .setting("url", url.into())
}

/// A shop with a CSV source and three http-sinks: `mail-a` marketing on its plugin's channels,
/// `mail-b` on email only and `warehouse` on none (it receives everyone's data).
fn shop(mail_a: &str, mail_b: &str, warehouse: &str) -> TestShop {
    let shop = TestShop::new()
        .sqlite()
        .section("journeys", [("max_age", ANY_AGE.into())])
        .csv_source("shop");
    mailer(mailer(shop, "mail-a", mail_a), "mail-b", mail_b)
        .channels(&["email"])
        .http_sink("warehouse", warehouse, [("batch_size", 100.into())])
}

/// One export of the shop's 10,000 customers: the `keep`-th of its sales (none of its refunds),
/// moved `days` from the original dates, receipt ids prefixed, and each customer's marketing
/// choice for the export set by `choose`.
fn export(
    base: &SampleShop,
    prefix: &str,
    days: i64,
    keep: usize,
    choose: &mut dyn FnMut() -> Option<bool>,
) -> SampleShop {
    let mut shop = base.clone().with_receipt_prefix(prefix).shifted(days * DAY);
    let mut n = 0;
    shop.receipts.retain(|r| {
        n += 1;
        r.refund_of.is_none() && n % keep == 0
    });
    for c in &mut shop.customers {
        c.marketing_opt_in = choose();
    }
    shop
}

/// The journey horizon of these shops: their sample sales are dated from October 2026, and these
/// tests are about consent and contact rules, not the horizon (`facts` tests it).
const ANY_AGE: &str = "3650d";

/// A shop of 10,000 customers and 30,000 sales, without phone numbers (people link by email).
fn ten_thousand_customers(seed: u64) -> SampleShop {
    let mut base = SampleShop::generate(seed, 30_000, 0);
    assert_eq!(base.customers.len(), 10_000);
    for c in &mut base.customers {
        c.phone = None;
    }
    base
}

/// Marketing choices drawn from a seeded generator in proportion `[opt in, refuse, no choice]`.
fn chooser(seed: u64, weights: [u32; 3]) -> impl FnMut() -> Option<bool> {
    let mut rng = StdRng::seed_from_u64(seed);
    move || {
        let n = rng.gen_range(0..weights.iter().sum::<u32>());
        if n < weights[0] {
            Some(true)
        } else if n < weights[0] + weights[1] {
            Some(false)
        } else {
            None
        }
    }
}

/// Uploads an export through the csv-source; every receipt is accepted.
async fn upload(pipeline: &Pipeline, shop: &SampleShop) {
    let report = upload_csv(pipeline, "shop", shop).await;
    assert_eq!(report.accepted, shop.receipts.len());
}

/// Every marketing choice an export states, as (customer email, ms, granted), once each.
fn choices(shop: &SampleShop) -> BTreeSet<(String, i64, bool)> {
    shop.receipts
        .iter()
        .filter_map(|r| {
            let c = &shop.customers[r.customer?];
            Some((c.email.clone(), r.at * 1000, c.marketing_opt_in?))
        })
        .collect()
}

/// The choice in force per customer by the ledger's rule, computed here independently.
fn in_force(all: &BTreeSet<(String, i64, bool)>) -> HashMap<String, (i64, bool)> {
    let mut standing: HashMap<String, (i64, bool)> = HashMap::new();
    for (email, at, granted) in all {
        let entry = standing.entry(email.clone()).or_insert((*at, *granted));
        if *at > entry.0 || (*at == entry.0 && !granted) {
            *entry = (*at, *granted);
        }
    }
    standing
}

/// A profile's email and its email marketing consent (ms, granted), as the sink received it.
fn profile_consent(profile: &Value) -> (String, Option<(i64, bool)>) {
    let email = profile["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["kind"] == "email")
        .and_then(|i| i["value"].as_str())
        .expect("profile names an email")
        .to_string();
    let consent = profile["consents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["channel"] == "email" && c["purpose"] == "marketing")
        .map(|c| {
            let at = chrono::DateTime::parse_from_rfc3339(c["at"].as_str().expect("consent time"))
                .expect("RFC 3339 consent time")
                .timestamp_millis();
            (at, c["state"] == "granted")
        });
    (email, consent)
}

/// Walks a sink's arrivals in order: every activity must find its person's last consent, as the
/// sink was told it, granted. Returns the consents the sink holds at the end, by email.
fn check_gate(sink: &str, captured: &Captured) -> HashMap<String, Option<(i64, bool)>> {
    let mut told: HashMap<String, (String, Option<(i64, bool)>)> = HashMap::new();
    for (n, arrival) in captured.arrivals.iter().enumerate() {
        match arrival {
            Arrival::Profile(p) => {
                let key = p["key"].as_str().expect("profile key").to_string();
                told.insert(key, profile_consent(p));
            }
            Arrival::Activity(a) => {
                let key = a["profile_key"].as_str().expect("activity profile key");
                let consent = told.get(key).and_then(|(_, c)| *c);
                assert!(
                    consent.is_some_and(|(_, granted)| granted),
                    "{sink}: arrival {n} is an activity of {key}, whose email marketing consent the sink last saw as {consent:?}"
                );
            }
        }
    }
    told.into_values().collect()
}

/// The email marketing consent in force per email address, as the store holds it.
async fn stored_consents(db: &sqlx::SqlitePool) -> HashMap<String, (i64, bool)> {
    sqlx::query(
        "SELECT i.value AS email, c.at, c.state FROM consents c
         JOIN identities i ON i.profile_id = c.profile_id AND i.kind = 'email'
         WHERE c.channel = 'email' AND c.purpose = 'marketing'",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>("email"),
            (r.get("at"), r.get::<String, _>("state") == "granted"),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_changing_customers_never_receive_marketing_they_refused() {
    let base = ten_thousand_customers(61);
    let first = export(&base, "A", -120, 1, &mut chooser(7, [1, 1, 1]));
    let later_sales = export(&base, "B", -85, 3, &mut || None);
    let changes = export(&base, "C", -50, 5, &mut chooser(8, [1, 2, 1]));
    let old_paper_forms = export(&base, "D", -400, 4, &mut || Some(true));

    let (mail_a, mail_b, warehouse) = (
        CaptureServer::start().await.unwrap(),
        CaptureServer::start().await.unwrap(),
        CaptureServer::start().await.unwrap(),
    );
    // A welcome message after each person's first order, to mail-a — in quiet hours that began an
    // hour ago and end in an hour (shop time, UTC).
    let now = chrono::Utc::now();
    let clock = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
    let quiet_end = now + chrono::Duration::hours(1);
    let dir = shop(&mail_a.url(), &mail_b.url(), &warehouse.url())
        .quiet_hours(&clock(now - chrono::Duration::hours(1)), &clock(quiet_end))
        .journey("welcome", "mail-a", "email", "first-order")
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    let db_path = dir.path().join("rapport.db");
    // Every sink catches up but for the welcome messages waiting out the quiet hours.
    let drain = || async {
        let owed = pipeline
            .drain(Duration::from_secs(5), Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(
            owed,
            waiting_messages(&db_path).await,
            "every sink caught up"
        );
    };

    upload(&pipeline, &first).await;
    drain().await;
    let marks: Vec<usize> = [&mail_a, &mail_b]
        .iter()
        .map(|s| s.captured().arrivals.len())
        .collect();
    // A backlog of later sales, then the changes, then the old forms, all before delivery resumes.
    upload(&pipeline, &later_sales).await;
    upload(&pipeline, &changes).await;
    upload(&pipeline, &old_paper_forms).await;
    drain().await;

    let all: BTreeSet<_> = [&first, &later_sales, &changes, &old_paper_forms]
        .iter()
        .flat_map(|shop| choices(shop))
        .collect();
    let expected = in_force(&all);
    // People who had not refused before the changes, and refused in them.
    let before_changes = in_force(&choices(&first));
    let revoked_by_changes: BTreeSet<&String> = expected
        .iter()
        .filter(|(email, (at, granted))| {
            !granted
                && *at >= (base.receipts[0].at - 50 * DAY) * 1000
                && before_changes
                    .get(*email)
                    .is_none_or(|(_, granted)| *granted)
        })
        .map(|(email, _)| email)
        .collect();
    assert!(revoked_by_changes.len() > 1000, "the changes revoke many");

    for (sink, server, mark) in [("mail-a", &mail_a, marks[0]), ("mail-b", &mail_b, marks[1])] {
        let captured = server.captured();
        let held = check_gate(sink, &captured);
        let held: HashMap<String, Option<(i64, bool)>> = held;
        for (email, want) in &expected {
            let got = held.get(email).copied().flatten();
            assert_eq!(got, Some(*want), "{sink}: consent in force for {email}");
        }
        let never_chose = base
            .customers
            .iter()
            .filter(|c| !expected.contains_key(&c.email))
            .count();
        assert!(never_chose > 0);
        assert_eq!(
            held.len(),
            expected.len(),
            "{sink} holds exactly the people who made a choice"
        );
        assert!(captured.activity_arrivals.values().all(|n| *n == 1));
        // After the pause, every revocation from the changes reached the sink before any of the
        // sales queued ahead of it.
        let tail = &captured.arrivals[mark..];
        let first_queued_sale = tail
            .iter()
            .position(|a| matches!(a, Arrival::Activity(a) if a["properties"]["order_id"].as_str().is_some_and(|id| id.starts_with('B'))))
            .expect("later sales of consenting people were delivered");
        let mut revoked_seen = BTreeSet::new();
        for arrival in &tail[..first_queued_sale] {
            if let Arrival::Profile(p) = arrival {
                let (email, consent) = profile_consent(p);
                if consent.is_some_and(|(_, granted)| !granted) {
                    revoked_seen.insert(email);
                }
            }
        }
        for email in &revoked_by_changes {
            assert!(
                revoked_seen.contains(*email),
                "{sink}: the revocation of {email} came after a sale queued before it"
            );
        }
    }

    // The sink that never contacts anyone gets every purchase, once.
    let purchases: usize = [&first, &later_sales, &changes, &old_paper_forms]
        .iter()
        .map(|shop| shop.attributed_sales().count())
        .sum();
    let captured = warehouse.captured();
    assert_eq!(captured.activity_arrivals.len(), purchases);
    assert!(captured.activity_arrivals.values().all(|n| *n == 1));

    // The store agrees, and its ledger holds every choice once, with basis and evidence.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        dir.path().join("rapport.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(stored_consents(&db).await, expected);
    let ledger = sqlx::query(
        "SELECT i.value AS email, l.at, l.state, l.legal_basis, l.evidence FROM consent_ledger l
         JOIN identities i ON i.profile_id = l.profile_id AND i.kind = 'email'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let recorded: BTreeSet<(String, i64, bool)> = ledger
        .iter()
        .map(|r| {
            let granted = r.get::<String, _>("state") == "granted";
            let basis: String = r.get("legal_basis");
            assert_eq!(basis, if granted { "consent" } else { "withdrawal" });
            let evidence: String = r.get("evidence");
            assert!(evidence.starts_with("shop:"), "{evidence}");
            (r.get("email"), r.get("at"), granted)
        })
        .collect();
    assert_eq!(recorded, all);
    assert_eq!(ledger.len(), all.len(), "each choice is recorded once");

    // Quiet hours held every welcome message: none reached a sink; those for people with consent
    // wait, unattempted, for the quiet hours to end; the rest were withheld for consent.
    for (sink, server) in [("mail-a", &mail_a), ("mail-b", &mail_b)] {
        let journeys = server
            .captured()
            .activities
            .iter()
            .filter(|a| a["name"] == "Journey: welcome")
            .count();
        assert_eq!(journeys, 0, "{sink} received a message during quiet hours");
    }
    let messages = sqlx::query(
        "SELECT status, attempts, next_attempt_at, last_error FROM outbox WHERE kind = 'message'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let end = quiet_end.timestamp() / 60 * 60_000;
    let mut waiting = 0;
    for m in &messages {
        match m.get::<String, _>("status").as_str() {
            "pending" => {
                waiting += 1;
                assert_eq!(m.get::<i64, _>("attempts"), 0);
                assert_eq!(m.get::<i64, _>("next_attempt_at"), end);
                let why: String = m.get("last_error");
                assert!(why.starts_with("quiet hours until"), "{why}");
            }
            "suppressed" => {}
            other => panic!("a welcome message is {other}"),
        }
    }
    assert!(waiting > 1000, "many welcome messages wait ({waiting})");
}

/// How many journey messages wait for their time.
async fn waiting_messages(db: &std::path::Path) -> i64 {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let waiting = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'message' AND status = 'pending'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    db.close().await;
    waiting
}

/// The CRM side of the same shop: 10,000 customers, of whom many unsubscribe at Mailchimp (the
/// consent feed of a contract 0.2 sink) between their first purchase and a later export in which
/// some opt in again at the till.
///
/// - Every CRM refusal enters the ledger once and reaches the other email sink before the sales
///   queued ahead of it; the choice in force follows the ledger's rule across both sides.
/// - Neither email sink receives marketing activity for a person whose choice in force is not a
///   grant, and each receives every later sale of those whose choice is.
/// - A thank-you journey after every order, capped at one a week, reaches each person with consent
///   exactly once.
/// - Mailchimp keeps anyone it was told to unsubscribe unsubscribed (its API cannot resubscribe):
///   reading those members back never overrides a newer opt-in given at the till, and reading the
///   feed again changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_customers_unsubscribing_at_the_crm_never_receive_marketing_anywhere() {
    use rapport_fakes::mailchimp::{self, MailchimpSim};

    let base = ten_thousand_customers(63);
    let first = export(&base, "A", -120, 3, &mut chooser(9, [1, 1, 1]));
    let later_sales = export(&base, "B", -85, 3, &mut || None);
    let changes = export(&base, "C", -50, 5, &mut chooser(10, [2, 1, 1]));

    let mailchimp = MailchimpSim::start().await.unwrap();
    mailchimp.add_list("L1");
    let mail_a = CaptureServer::start().await.unwrap();
    let shop = TestShop::new()
        .sqlite()
        .section("journeys", [("max_age", ANY_AGE.into())])
        .secrets(&[("mailchimp_key", mailchimp::API_KEY)])
        .csv_source("shop")
        .sink(
            "mailchimp",
            &plugin("mailchimp-sink"),
            [
                ("api_base", mailchimp.api_base().into()),
                ("list_id", "L1".into()),
            ],
        );
    let dir = mailer(shop, "mail-a", &mail_a.url())
        .journey("thanks", "mail-a", "email", "every-order")
        .consent_cap("email", 1, 7, None)
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    let drain = || drain_all(&pipeline, Duration::from_secs(600));
    upload(&pipeline, &first).await;
    drain().await;

    // Between the first purchases and the later exports, 40% of Mailchimp's subscribed members
    // unsubscribe there, each at their own time.
    let start = base.receipts[0].at;
    let mut rng = StdRng::seed_from_u64(11);
    let mut crm_refusals: BTreeSet<(String, i64, bool)> = BTreeSet::new();
    for c in &base.customers {
        let subscribed = mailchimp
            .member("L1", &c.email)
            .is_some_and(|m| m.status == "subscribed");
        if subscribed && rng.gen_bool(0.4) {
            let at = start - 100 * DAY + rng.gen_range(0..40 * DAY);
            mailchimp.set_status_at("L1", &c.email, "unsubscribed", at);
            crm_refusals.insert((c.email.clone(), at * 1000, false));
        }
    }
    assert!(
        crm_refusals.len() > 500,
        "many unsubscribe at the CRM: {}",
        crm_refusals.len()
    );
    let mark = mail_a.captured().arrivals.len();
    // The feed is read before the later exports' sales are delivered.
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        report.accepted,
        crm_refusals.len(),
        "each CRM refusal is taken"
    );
    upload(&pipeline, &later_sales).await;
    upload(&pipeline, &changes).await;
    drain().await;

    let pos: BTreeSet<_> = [&first, &later_sales, &changes]
        .iter()
        .flat_map(|shop| choices(shop))
        .collect();
    let all: BTreeSet<_> = pos.union(&crm_refusals).cloned().collect();
    let expected = in_force(&all);
    let regranted = crm_refusals
        .iter()
        .filter(|(email, _, _)| expected[email].1)
        .count();
    assert!(
        regranted > 50,
        "some opt in again at the till after leaving at the CRM"
    );

    // mail-a: no activity while a person's last consent was not a grant, the consent in force
    // for everyone who chose, and every CRM refusal before the sales queued ahead of it.
    let captured = mail_a.captured();
    let held = check_gate("mail-a", &captured);
    for (email, want) in &expected {
        let got = held.get(email).copied().flatten();
        assert_eq!(got, Some(*want), "mail-a: consent in force for {email}");
    }
    let tail = &captured.arrivals[mark..];
    let first_queued_sale = tail
        .iter()
        .position(|a| matches!(a, Arrival::Activity(a) if a["properties"]["order_id"].as_str().is_some_and(|id| id.starts_with('B'))))
        .expect("later sales of consenting people were delivered");
    let refused_before: BTreeSet<String> = tail[..first_queued_sale]
        .iter()
        .filter_map(|arrival| match arrival {
            Arrival::Profile(p) => Some(profile_consent(p)),
            Arrival::Activity(_) => None,
        })
        .filter(|(_, consent)| consent.is_some_and(|(_, granted)| !granted))
        .map(|(email, _)| email)
        .collect();
    // (Those who opted in again at the till were granted again before delivery resumed.)
    for (email, _, _) in crm_refusals
        .iter()
        .filter(|(email, _, _)| !expected[email].1)
    {
        assert!(
            refused_before.contains(email),
            "mail-a: the CRM refusal of {email} came after a sale queued before it"
        );
    }

    // Mailchimp: the later sales of exactly those whose choice in force is a grant, once each.
    for c in &base.customers {
        let granted = expected.get(&c.email).is_some_and(|(_, granted)| *granted);
        let want: BTreeSet<String> = [&later_sales, &changes]
            .iter()
            .flat_map(|shop| shop.attributed_sales())
            .filter(|r| granted && base.customers[r.customer.unwrap()].email == c.email)
            .map(|r| r.id.clone())
            .collect();
        let events = mailchimp
            .member("L1", &c.email)
            .map(|m| m.events)
            .unwrap_or_default();
        let got: Vec<String> = events
            .iter()
            .filter_map(|e| e["properties"]["order_id"].as_str())
            .filter(|id| !id.starts_with('A'))
            .map(str::to_owned)
            .collect();
        assert_eq!(got.len(), want.len(), "{}: each later sale once", c.email);
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            want,
            "{}",
            c.email
        );
    }

    // The store and ledger agree with the rule; each CRM refusal is in the ledger once.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        dir.path().join("rapport.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(stored_consents(&db).await, expected);
    let from_crm: BTreeSet<(String, i64, bool)> = sqlx::query(
        "SELECT i.value AS email, l.at, l.evidence FROM consent_ledger l
         JOIN identities i ON i.profile_id = l.profile_id AND i.kind = 'email'
         WHERE l.source = 'crm-unsubscribe'",
    )
    .fetch_all(&db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let evidence: String = r.get("evidence");
        assert!(evidence.starts_with("mailchimp:"), "{evidence}");
        (r.get("email"), r.get("at"), false)
    })
    .collect();
    assert_eq!(from_crm, crm_refusals);

    // The thank-you after every order, capped at one a week: everyone whose choice in force is a
    // grant got exactly one, nobody got more (the gate walk above already checked each was sent
    // with consent).
    let mut thanked: HashMap<String, usize> = HashMap::new();
    let keys: HashMap<String, String> = captured
        .arrivals
        .iter()
        .filter_map(|a| match a {
            Arrival::Profile(p) => Some((p["key"].as_str()?.to_string(), profile_consent(p).0)),
            Arrival::Activity(_) => None,
        })
        .collect();
    for a in captured
        .activities
        .iter()
        .filter(|a| a["name"] == "Journey: thanks")
    {
        let key = a["profile_key"].as_str().unwrap();
        *thanked.entry(keys[key].clone()).or_default() += 1;
    }
    for (email, (_, granted)) in &expected {
        let got = thanked.get(email).copied().unwrap_or(0);
        if *granted {
            assert_eq!(got, 1, "{email}: one thank-you within the cap");
        } else {
            assert!(got <= 1, "{email}: {got} thank-yous over a cap of one");
        }
    }
    assert!(thanked.values().all(|n| *n <= 1));

    // Everyone Mailchimp was told to unsubscribe is still unsubscribed there, now with a fresh
    // `last_changed`; reading them back changes nothing.
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((report.accepted, report.work_items), (0, 0));
}
