//! Forgetting reaches every record a sink holds about a person, at each vendor simulator, through
//! the real plugins built for contract 0.4 (which are handed the profile key with the
//! identities): HubSpot erases the contact by email and the contacts its search finds by our key
//! property or the phone; Klaviyo runs deletion jobs by email and phone and by the id of each
//! profile whose `external_id` is the key (the only identifier left when the sink may not receive
//! identities); Mailchimp deletes the member of every email address. A sink built for contract
//! 0.3 is still asked to `forget(identities)`. A vendor refusing the credentials during an
//! erasure pauses the sink and marks it as needing attention without using an attempt; the
//! erasure stays pending and completes once the vendor takes the credentials again.

use rapport_e2e::{output_text, plugin, ShopDir, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::faults::Fault;
use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::mailchimp::{self, MailchimpSim};
use rapport_host::config::Config;
use rapport_host::governance::erasure::Attempt;
use rapport_host::governance::forget::{forget, Forgotten};
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};
use std::time::Duration;

/// Ana bought with her email and phone; Ben with his phone alone; Cy with his email.
const ANA_EMAIL: &str = "ana.lima@example.com";
const ANA_PHONE: &str = "+442079460123";
const BEN_PHONE: &str = "+442079460456";
const CY_EMAIL: &str = "cy.okafor@example.com";

/// The shop's export: one sale each by Ana, Ben and Cy (phones written the local way, in a range
/// kept for drama).
fn export() -> String {
    let header = "receipt_id,kind,date,customer_email,customer_phone,customer_name,\
                  marketing_opt_in,product,quantity,unit_price,currency,total";
    let sale = |id: &str, email: &str, phone: &str, name: &str| {
        format!("{id},sale,2026-11-02T09:00:00Z,{email},{phone},{name},yes,Latte,1,5.00,USD,5.00")
    };
    [
        header.to_string(),
        sale("R1", ANA_EMAIL, "020 7946 0123", "Ana Lima"),
        sale("R2", "", "020 7946 0456", "Ben Okafor"),
        sale("R3", CY_EMAIL, "", "Cy Okafor"),
    ]
    .join("\n")
        + "\n"
}

/// A shop on SQLite in the UK with the csv source `shop` and the sinks `sinks` adds.
fn shop(sinks: impl FnOnce(TestShop) -> TestShop) -> ShopDir {
    let shop = TestShop::new()
        .sqlite()
        .region("GB")
        .marketing_without_choice("send")
        .section(
            "delivery",
            [
                ("backoff_base_ms", 50.into()),
                ("backoff_max_ms", 200.into()),
                ("auth_retry_ms", 1000.into()),
            ],
        )
        .csv_source("shop");
    sinks(shop).write()
}

/// Imports `csv` through the binary and syncs it to the sinks.
async fn import_and_sync(shop: &ShopDir, csv: &str) {
    shop.import("shop", csv, &["--dev"]).await;
    let sync = shop.rapport(&["sync", "--dev"]).await;
    assert!(sync.status.success(), "{}", output_text(&sync));
}

/// `rapport forget <who>`, which must confirm at every sink.
async fn forget_confirmed(shop: &ShopDir, who: &str) {
    let forgot = shop.rapport(&["forget", "--dev", who]).await;
    let text = output_text(&forgot);
    assert!(forgot.status.success(), "{text}");
    assert!(text.contains("the erasure is complete"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hubspot_erases_every_contact_the_email_the_key_or_the_phone_names() {
    let sim = HubSpotSim::start().await.unwrap();
    let shop = shop(|shop| {
        shop.secrets(&[("hubspot_token", hubspot::TOKEN)]).sink(
            "hubspot",
            &plugin("hubspot-sink"),
            [("api_base", sim.base_url().into())],
        )
    });
    import_and_sync(&shop, &export()).await;

    // What HubSpot received: Ana's and Cy's contacts (Ben has no email, which HubSpot keys by).
    let delivered = sim.contact(ANA_EMAIL).expect("Ana is a contact");
    assert_eq!(delivered.properties["phone"], ANA_PHONE);
    let key = delivered.properties["rapport_profile_key"].clone();
    assert!(key.starts_with("p-"), "{key}");
    assert!(sim.contact(CY_EMAIL).is_some());
    assert_eq!(sim.contact_count(), 2);
    // Then, at HubSpot: someone gives Ana's contact her work address and clears its phone, so
    // only our key names it; another integration creates a contact from her phone alone, and one
    // from Ben's.
    sim.edit_contact(
        &delivered.id,
        &[("email", "ana@work.example"), ("phone", "")],
    );
    let by_phone = sim.create_contact(&[("phone", ANA_PHONE), ("firstname", "Ana")]);
    let bens = sim.create_contact(&[("phone", BEN_PHONE), ("firstname", "Ben")]);
    let seen = sim.seen().len();

    forget_confirmed(&shop, ANA_EMAIL).await;
    let requests: Vec<(String, Option<Value>)> = sim.seen()[seen..]
        .iter()
        .map(|e| (e.path.clone(), e.request.clone()))
        .collect();
    let search = json!({
        "filterGroups": [
            {"filters": [{"propertyName": "rapport_profile_key", "operator": "EQ", "value": key}]},
            {"filters": [{"propertyName": "phone", "operator": "EQ", "value": ANA_PHONE}]},
        ],
        "properties": ["email"],
        "limit": 100,
    });
    let delete = "/crm/v3/objects/contacts/gdpr-delete";
    assert_eq!(
        requests,
        vec![
            ("/crm/v3/objects/contacts/search".into(), Some(search)),
            (
                delete.into(),
                Some(json!({"objectId": ANA_EMAIL, "idProperty": "email"}))
            ),
            (delete.into(), Some(json!({"objectId": delivered.id}))),
            (delete.into(), Some(json!({"objectId": by_phone}))),
        ]
    );
    for texts in [
        [ANA_EMAIL],
        [ANA_PHONE],
        [key.as_str()],
        ["ana@work.example"],
    ] {
        assert!(!sim.holds(&texts), "HubSpot still holds {texts:?}");
    }
    assert!(sim.contact(CY_EMAIL).is_some(), "Cy is untouched");

    // Ben, known by his phone alone: the contact made from it goes.
    forget_confirmed(&shop, "020 7946 0456").await;
    assert!(!sim.holds(&[BEN_PHONE]));
    assert_eq!(
        sim.gdpr_deleted(),
        vec![ANA_EMAIL.to_string(), delivered.id, by_phone, bens]
    );
    let left: Vec<String> = sim
        .contacts()
        .iter()
        .map(|c| c.properties["email"].clone())
        .collect();
    assert_eq!(left, vec![CY_EMAIL.to_string()]);
}

/// A Klaviyo sink `id` on `sim` with the list `LIST1` (which the simulator must know).
fn klaviyo_sink(shop: TestShop, id: &str, sim: &KlaviyoSim) -> TestShop {
    shop.sink(
        id,
        &plugin("klaviyo-sink"),
        [
            ("api_base", sim.base_url().into()),
            ("list_id", "LIST1".into()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn klaviyo_deletes_by_email_by_phone_and_by_the_profiles_the_key_names() {
    let full = KlaviyoSim::start().await.unwrap();
    // A second account whose sink may receive no identity: it knows people by our key alone.
    let keyed = KlaviyoSim::start().await.unwrap();
    for sim in [&full, &keyed] {
        sim.add_list("LIST1");
    }
    let shop = shop(|shop| {
        let shop = shop.secrets(&[("klaviyo_key", klaviyo::API_KEY)]);
        klaviyo_sink(klaviyo_sink(shop, "klaviyo", &full), "names_only", &keyed)
            .fields(&["given_name"])
    });
    import_and_sync(&shop, &export()).await;

    // What the sinks received: everyone, as external ids; the second account without identities.
    let key_of = |sim: &KlaviyoSim, name: &str| {
        let profiles = sim.profiles();
        let found = profiles
            .iter()
            .find(|p| p.first_name.as_deref() == Some(name));
        found.and_then(|p| p.external_id.clone()).expect("imported")
    };
    let ana = full.profile_by_email(ANA_EMAIL).expect("Ana was imported");
    assert_eq!(ana.phone_number.as_deref(), Some(ANA_PHONE));
    let ben = key_of(&full, "Ben");
    assert_eq!(full.profiles().len(), 3);
    let ana_key = ana.external_id.clone().expect("Ana's key");
    assert_eq!(key_of(&keyed, "Ana"), ana_key);
    assert_eq!(key_of(&keyed, "Ben"), ben);
    assert!(keyed
        .profiles()
        .iter()
        .all(|p| p.email.is_none() && p.phone_number.is_none()));
    let (seen_full, seen_keyed) = (full.exchanges().len(), keyed.exchanges().len());

    forget_confirmed(&shop, ANA_EMAIL).await;
    forget_confirmed(&shop, "020 7946 0456").await;

    // The full account: a lookup by key for each, then one job per email and phone (which cover
    // the profile the key found).
    let lookup = |key: &str| {
        format!("filter=equals%28external_id%2C%22{key}%22%29&fields[profile]=email,phone_number&page[size]=100")
    };
    let full_requests: Vec<_> = full.exchanges()[seen_full..].to_vec();
    let said: Vec<(&str, Option<&str>, Option<&Value>)> = full_requests
        .iter()
        .map(|e| (e.path.as_str(), e.query.as_deref(), e.request.as_ref()))
        .collect();
    let job = |profile: Value| {
        json!({"data": {"type": "data-privacy-deletion-job",
                        "attributes": {"profile": {"data": profile}}}})
    };
    let (ana_lookup, ben_lookup) = (lookup(&ana_key), lookup(&ben));
    let by_email = job(json!({"type": "profile", "attributes": {"email": ANA_EMAIL}}));
    let by_phone = |phone| job(json!({"type": "profile", "attributes": {"phone_number": phone}}));
    let (ana_phone, ben_phone) = (by_phone(ANA_PHONE), by_phone(BEN_PHONE));
    let jobs = "/api/data-privacy-deletion-jobs";
    assert_eq!(
        said,
        vec![
            ("/api/profiles", Some(ana_lookup.as_str()), None),
            (jobs, None, Some(&by_email)),
            (jobs, None, Some(&ana_phone)),
            ("/api/profiles", Some(ben_lookup.as_str()), None),
            (jobs, None, Some(&ben_phone)),
        ]
    );
    // The account that knows people by key alone: the profile each lookup found, by id.
    let keyed_requests: Vec<_> = keyed.exchanges()[seen_keyed..].to_vec();
    let ids: Vec<&Value> = keyed_requests
        .iter()
        .filter(|e| e.path == jobs)
        .map(|e| &e.request.as_ref().unwrap()["data"]["attributes"]["profile"]["data"]["id"])
        .collect();
    assert_eq!(keyed_requests.len(), 4, "{keyed_requests:#?}");
    assert_eq!(ids.len(), 2);
    for exchange in full_requests.iter().chain(&keyed_requests) {
        crate::klaviyo::assert_exchange_matches_spec(exchange);
    }

    for (sim, texts) in [
        (&full, vec![ANA_EMAIL, ANA_PHONE, &ana_key, BEN_PHONE, &ben]),
        (&keyed, vec![ana_key.as_str(), &ben]),
    ] {
        for text in texts {
            assert!(!sim.holds(&[text]), "Klaviyo still holds {text}");
        }
        let left: Vec<Option<String>> = sim
            .profiles()
            .iter()
            .map(|p| p.first_name.clone())
            .collect();
        assert_eq!(left, vec![Some("Cy".to_string())]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mailchimp_deletes_the_member_of_every_email_address() {
    const LIST: &str = "a1b2c3d4e5";
    let sim = MailchimpSim::start().await.unwrap();
    sim.add_list(LIST);
    let shop = shop(|shop| {
        shop.secrets(&[("mailchimp_key", mailchimp::API_KEY)]).sink(
            "mailchimp",
            &plugin("mailchimp-sink"),
            [
                ("api_base", sim.api_base().into()),
                ("list_id", LIST.into()),
            ],
        )
    });
    // Ana also bought with her work address: her phone links it to her.
    let work = "ana@work.example";
    let csv = format!(
        "{}R4,sale,2026-11-03T09:00:00Z,{work},020 7946 0123,Ana Lima,yes,Latte,1,5.00,USD,5.00\n",
        export()
    );
    import_and_sync(&shop, &csv).await;
    // What Mailchimp received: a member per person with an email (Ben has none), Ana's phone as a
    // merge field; she also subscribed at Mailchimp with whichever address it did not get.
    let ana = sim
        .member(LIST, ANA_EMAIL)
        .or_else(|| sim.member(LIST, work))
        .expect("Ana is a member");
    assert_eq!(ana.merge_fields["PHONE"], ANA_PHONE);
    for email in [ANA_EMAIL, work] {
        if sim.member(LIST, email).is_none() {
            sim.add_member(LIST, email, "subscribed", 1_790_000_000);
        }
    }
    assert!(sim.member(LIST, CY_EMAIL).is_some());
    assert_eq!(sim.member_count(LIST), 3);
    let seen = sim.seen().len();

    forget_confirmed(&shop, ANA_EMAIL).await;
    forget_confirmed(&shop, "020 7946 0456").await;
    let mut deleted = sim.deleted();
    deleted.sort();
    let mut hashes = vec![
        mailchimp::subscriber_hash(ANA_EMAIL),
        mailchimp::subscriber_hash(work),
    ];
    hashes.sort();
    assert_eq!(deleted, hashes);
    let requests: Vec<String> = sim.seen()[seen..].iter().map(|r| r.path.clone()).collect();
    let mut expected: Vec<String> = hashes
        .iter()
        .map(|h| format!("/3.0/lists/{LIST}/members/{h}/actions/delete-permanent"))
        .collect();
    let mut sorted = requests.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "Ben, known by phone alone, costs no request"
    );
    for email in [ANA_EMAIL, work] {
        assert!(
            sim.member(LIST, email).is_none(),
            "{email} is still a member"
        );
    }
    assert_eq!(sim.member_count(LIST), 1, "Cy stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_built_for_contract_0_3_is_still_asked_to_forget_the_identities() {
    let hook = CaptureServer::start().await.unwrap();
    let shop = shop(|shop| {
        shop.sink("old", &plugin("sink-v0-3"), [("url", hook.url().into())])
            .channels(&[])
    });
    import_and_sync(&shop, &export()).await;
    forget_confirmed(&shop, ANA_EMAIL).await;
    assert_eq!(
        hook.captured().forgets,
        vec![json!({"type": "forget", "identities": [
            {"kind": "email", "value": ANA_EMAIL},
            {"kind": "phone", "value": ANA_PHONE},
        ]})]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_pause_the_erasure_and_mark_the_sink_until_they_are_taken() {
    sqlx::any::install_default_drivers();
    let sim = HubSpotSim::start().await.unwrap();
    // Refused credentials are tried again after five seconds, long enough to look at the pause.
    let shop = shop(|shop| {
        shop.secrets(&[("hubspot_token", hubspot::TOKEN)])
            .section("delivery", [("auth_retry_ms", 5000.into())])
            .sink(
                "hubspot",
                &plugin("hubspot-sink"),
                [("api_base", sim.base_url().into())],
            )
    });
    let pipeline = Pipeline::start(Config::load(&shop.config()).unwrap())
        .await
        .unwrap();
    pipeline
        .intake
        .receive_push("shop", vec![], export().into_bytes())
        .await
        .unwrap();
    pipeline
        .drain(Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(sim.contact(ANA_EMAIL).is_some());
    let normalizer = rapport_core::identity::Normalizer::new(
        pipeline.config.shop.region,
        &pipeline.config.identity,
    );
    let sinks = pipeline.connectors.sink_ids();
    let Forgotten::Now(report) = forget(&pipeline.store, &normalizer, ANA_EMAIL, &sinks)
        .await
        .unwrap()
    else {
        panic!("Ana is forgotten now");
    };
    let part = |pipeline: &Pipeline| {
        let store = pipeline.store.clone();
        async move {
            let log = store.erasures(Some(report.erasure_id), 1).await.unwrap();
            log[0].sinks[0].clone()
        }
    };

    // HubSpot refuses the token: the erasure waits unattempted, the sink is paused and marked.
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 401,
            retry_after: None,
        },
    );
    let worker = pipeline.erasure_worker();
    let attempts = worker.step(None).await.unwrap();
    let [(sink, Attempt::Pending { reason, .. })] = attempts.as_slice() else {
        panic!("one pending attempt: {attempts:?}");
    };
    assert_eq!(sink, "hubspot");
    assert!(
        reason.contains("refused the sink's credentials"),
        "{reason}"
    );
    // Paused, the sink is not asked again until the pause ends, not even to forget Cy.
    let asked = sim.seen().len();
    let Forgotten::Now(cy) = forget(&pipeline.store, &normalizer, CY_EMAIL, &sinks)
        .await
        .unwrap()
    else {
        panic!("Cy is forgotten now");
    };
    let attempts = worker.step(Some(cy.erasure_id)).await.unwrap();
    let [(_, Attempt::Pending { reason, .. })] = attempts.as_slice() else {
        panic!("one pending attempt: {attempts:?}");
    };
    assert!(reason.contains("needs attention"), "{reason}");
    worker.step(None).await.unwrap();
    assert_eq!(sim.seen().len(), asked);
    assert!(sim.contact(ANA_EMAIL).is_some() && sim.contact(CY_EMAIL).is_some());

    let waiting = part(&pipeline).await;
    assert_eq!(waiting.status, rapport_store::ErasureStatus::Pending);
    assert_eq!(waiting.attempts, 0, "the refusal used no attempt");
    let pause = pipeline.store.sink_pause("hubspot").await.unwrap();
    assert!(pause.is_some_and(|p| p.needs_attention));
    let status = output_text(&shop.rapport(&["status", "--dev"]).await);
    assert!(
        status.contains("sink hubspot NEEDS ATTENTION, paused until"),
        "{status}"
    );
    assert!(status.contains("HTTP 401"), "{status}");

    // The vendor takes the token again: the erasure completes and the mark goes.
    let pending = pipeline
        .drain_erasures(Duration::from_secs(10), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(pending, 0);
    for texts in [[ANA_EMAIL], [ANA_PHONE], [CY_EMAIL]] {
        assert!(!sim.holds(&texts), "HubSpot still holds {texts:?}");
    }
    assert_eq!(part(&pipeline).await.attempts, 1);
    assert_eq!(pipeline.store.sink_pause("hubspot").await.unwrap(), None);
    let status = output_text(&shop.rapport(&["status", "--dev"]).await);
    assert!(!status.contains("NEEDS ATTENTION"), "{status}");

    // Throttled for 49 days: Ben's erasure waits the capped hour, unattempted, and says so.
    let Forgotten::Now(ben) = forget(&pipeline.store, &normalizer, "020 7946 0456", &sinks)
        .await
        .unwrap()
    else {
        panic!("Ben is forgotten now");
    };
    sim.faults().fail_next(
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(49 * 24 * 3600),
        },
    );
    let before = rapport_store::now_ms();
    worker.step(Some(ben.erasure_id)).await.unwrap();
    let log = pipeline
        .store
        .erasures(Some(ben.erasure_id), 1)
        .await
        .unwrap();
    let throttled = &log[0].sinks[0];
    let hour = 3_600_000;
    assert_eq!(throttled.attempts, 0, "throttling used no attempt");
    assert!(
        throttled.next_attempt_at >= before + hour
            && throttled.next_attempt_at <= rapport_store::now_ms() + hour,
        "{throttled:?}"
    );
    let reason = throttled.last_error.clone().unwrap_or_default();
    assert!(reason.contains("capped at 3600 s"), "{reason}");
    let pause = pipeline.store.sink_pause("hubspot").await.unwrap();
    assert!(pause.is_some_and(|p| !p.needs_attention && p.until >= before + hour));
    pipeline.store.close().await;
}
