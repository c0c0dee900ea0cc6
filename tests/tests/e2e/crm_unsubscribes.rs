//! Consent flowing back from a CRM: people who unsubscribe at Mailchimp — a sink built for contract
//! 0.2, which reports them through its consent feed — are recorded in the host's ledger, and their
//! refusal reaches Klaviyo (a sink built for 0.1, unchanged) before the sales queued ahead of it.
//! Nobody the shop does not know crosses from one CRM to the other, a bounce is not a refusal, and
//! the host's own updates to Mailchimp, read back, change nothing.

use rapport_e2e::{drain_all, plugin, upload_csv, TestShop};
use rapport_fakes::klaviyo::{self, KlaviyoSim};
use rapport_fakes::mailchimp::{self, subscriber_hash, MailchimpSim};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use sqlx::Row;
use std::collections::BTreeSet;
use std::time::Duration;

const LIST: &str = "L1";
const STRANGER: &str = "stranger@example.net";

/// Events Klaviyo holds for `email`, by order id.
fn klaviyo_orders(klaviyo: &KlaviyoSim, email: &str) -> BTreeSet<String> {
    let Some(profile) = klaviyo.profile_by_email(email) else {
        return BTreeSet::new();
    };
    klaviyo
        .events()
        .into_iter()
        .filter(|e| e.profile_id == profile.id)
        .filter_map(|e| e.properties.get("order_id")?.as_str().map(str::to_owned))
        .collect()
}

fn klaviyo_email_consent(klaviyo: &KlaviyoSim, email: &str) -> Option<String> {
    klaviyo
        .profile_by_email(email)?
        .email_marketing
        .map(|m| m.consent)
}

#[tokio::test(flavor = "multi_thread")]
async fn unsubscribes_at_mailchimp_reach_klaviyo_ahead_of_later_sales_and_never_echo() {
    let mut shop = SampleShop::generate(57, 150, 0);
    for c in &mut shop.customers {
        c.phone = None;
        c.marketing_opt_in = Some(true);
    }
    let mailchimp = MailchimpSim::start().await.unwrap();
    mailchimp.add_list(LIST);
    let klaviyo = KlaviyoSim::start().await.unwrap();
    klaviyo.add_list("LIST1");
    let dir = TestShop::new()
        .sqlite()
        .secrets(&[
            ("mailchimp_key", mailchimp::API_KEY),
            ("klaviyo_key", klaviyo::API_KEY),
        ])
        .csv_source("shop")
        .sink(
            "mailchimp",
            &plugin("mailchimp-sink"),
            [
                ("api_base", mailchimp.api_base().into()),
                ("list_id", LIST.into()),
            ],
        )
        .sink(
            "klaviyo",
            &plugin("klaviyo-sink"),
            [
                ("api_base", klaviyo.base_url().into()),
                ("list_id", "LIST1".into()),
            ],
        )
        .write();
    let pipeline = Pipeline::start(Config::load(&dir.config()).unwrap())
        .await
        .unwrap();
    upload_csv(&pipeline, "shop", &shop).await;
    drain_all(&pipeline, Duration::from_secs(120)).await;
    let buyers: Vec<String> = {
        let mut seen = BTreeSet::new();
        shop.attributed_sales()
            .map(|r| shop.customers[r.customer.unwrap()].email.clone())
            .filter(|email| seen.insert(email.clone()))
            .collect()
    };
    assert!(buyers.len() >= 12, "enough buyers to split");
    for email in &buyers {
        assert_eq!(mailchimp.member(LIST, email).unwrap().status, "subscribed");
        assert_eq!(
            klaviyo_email_consent(&klaviyo, email).as_deref(),
            Some("SUBSCRIBED")
        );
    }

    // An hour ago, five buyers unsubscribed at Mailchimp, a sixth's address bounced, and someone
    // the shop never sold to unsubscribed from a list they joined at Mailchimp.
    let an_hour_ago = rapport_fakes::time::now_unix() - 3600;
    let (leaving, staying) = buyers.split_at(5);
    for email in leaving {
        mailchimp.set_status_at(LIST, email, "unsubscribed", an_hour_ago);
    }
    let bounced = &staying[0];
    mailchimp.set_status(LIST, bounced, "cleaned");
    mailchimp.add_member(
        LIST,
        STRANGER,
        "unsubscribed",
        rapport_fakes::time::now_unix(),
    );
    let before: Vec<BTreeSet<String>> = leaving
        .iter()
        .map(|email| klaviyo_orders(&klaviyo, email))
        .collect();

    // A day of later sales is queued before the feed is read; none of it may carry marketing for
    // the people who left.
    let mut later = shop.clone().with_receipt_prefix("L").shifted(24 * 3600);
    for c in &mut later.customers {
        c.marketing_opt_in = None;
    }
    upload_csv(&pipeline, "shop", &later).await;
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        report.accepted,
        leaving.len(),
        "one refusal per person who left"
    );
    drain_all(&pipeline, Duration::from_secs(120)).await;

    for (email, before) in leaving.iter().zip(&before) {
        assert_eq!(
            klaviyo_email_consent(&klaviyo, email).as_deref(),
            Some("UNSUBSCRIBED"),
            "{email}"
        );
        assert_eq!(
            &klaviyo_orders(&klaviyo, email),
            before,
            "{email}: no later sale reached Klaviyo"
        );
        assert_eq!(
            mailchimp.member(LIST, email).unwrap().status,
            "unsubscribed"
        );
    }
    for email in staying {
        assert_eq!(
            klaviyo_email_consent(&klaviyo, email).as_deref(),
            Some("SUBSCRIBED"),
            "{email}: a bounce is not a refusal"
        );
        let later_orders = klaviyo_orders(&klaviyo, email)
            .into_iter()
            .filter(|id| id.starts_with('L'))
            .count();
        let expected = later
            .attributed_sales()
            .filter(|r| &later.customers[r.customer.unwrap()].email == email)
            .count();
        assert_eq!(later_orders, expected, "{email}: later sales delivered");
    }
    assert!(
        klaviyo.profile_by_email(STRANGER).is_none(),
        "Mailchimp's own audience does not leak into Klaviyo"
    );

    // The ledger holds each refusal once, as a withdrawal proved by Mailchimp's record, without
    // the address or its hash.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("rapport.db").display()
    ))
    .await
    .unwrap();
    let rows = sqlx::query(
        "SELECT i.value AS email, l.state, l.legal_basis, l.evidence FROM consent_ledger l
         JOIN identities i ON i.profile_id = l.profile_id AND i.kind = 'email'
         WHERE l.source = 'crm-unsubscribe'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let refused: BTreeSet<String> = rows.iter().map(|r| r.get("email")).collect();
    assert_eq!(refused, leaving.iter().cloned().collect());
    assert_eq!(rows.len(), leaving.len());
    for row in &rows {
        let email: String = row.get("email");
        let evidence: String = row.get("evidence");
        assert_eq!(row.get::<String, _>("state"), "revoked");
        assert_eq!(row.get::<String, _>("legal_basis"), "withdrawal");
        assert!(evidence.starts_with("mailchimp:"), "{evidence}");
        assert!(
            !evidence.contains(&email) && !evidence.contains(&subscriber_hash(&email)),
            "{evidence}"
        );
    }
    let strangers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE value = $1")
        .bind(STRANGER)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        strangers, 0,
        "the host keeps nothing of people it does not know"
    );

    // The host told Mailchimp too, which moved those members' `last_changed` to now: reading the
    // feed again finds the same refusals under new times and does nothing with them.
    for email in leaving {
        let member = mailchimp.member(LIST, email).unwrap();
        assert!(
            member.last_changed > an_hour_ago,
            "{email} was updated since"
        );
    }
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((report.accepted, report.work_items), (0, 0));
    drain_all(&pipeline, Duration::from_secs(120)).await;
}
