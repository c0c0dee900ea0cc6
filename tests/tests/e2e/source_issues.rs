//! Service issues a source reports (contract 0.5's `service-issues`), end to end: the test source
//! `source-v0-5` reports Ana (customer C-ANA) and her issue T-1 opened on the first read; the host
//! records it on her profile, where the staff view (`GET /api/profiles/{key}?view=staff`) shows it
//! open; on the next read the source reports it closed, and the same issue leaves the staff view.
//! A third read changes nothing.

use rapport_e2e::{admin_token, free_port, plugin, TestShop};
use rapport_fakes::server::serve;
use rapport_host::config::Config;
use rapport_host::ingest::issues::{read_issues, IssuesReport};
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row as _};

#[tokio::test(flavor = "multi_thread")]
async fn an_issue_a_source_opens_shows_to_staff_until_the_source_closes_it() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .listen(port)
        .source("shop", &plugin("source-v0-5"), [])
        .http_sink("crm", "http://127.0.0.1:9/hook", [])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let _http = serve(rapport_host::daemon::admin_router(&pipeline), port)
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let token = admin_token(&pipeline.store).await;
    let source = pipeline.connectors.sources[0].clone();
    assert!(source.plugin().has_service_issues());

    // The first poll stores Ana from the stream, then her issue.
    pipeline.poll_once(&source).await.unwrap();
    let key: String = sqlx::query(
        "SELECT p.key FROM profiles p JOIN identities i ON i.profile_id = p.id
         WHERE i.kind = 'email' AND i.value = 'ana@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    let staff = |key: String, token: String| async move {
        let response = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{port}/api/profiles/{key}?view=staff"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let view = staff(key.clone(), token.clone()).await;
    let open = view["open_issues"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{view}");
    assert_eq!(open[0]["title"], json!("grinder returned"));
    assert_eq!(open[0]["opened_at"], json!("2023-11-14T22:13:20Z"));
    assert_eq!(open[0]["opened_by"], json!("shop"));
    let stored = |pool: AnyPool| async move {
        sqlx::query("SELECT source_id, vendor_issue_id, closed_at, closed_by FROM profile_issues")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<Option<i64>, _>(2),
                    r.get::<Option<String>, _>(3),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        stored(pool.clone()).await,
        vec![("shop".into(), "T-1".into(), None, None)]
    );

    // The next read reports T-1 closed a day later: the same issue is closed, and gone from view.
    let now = chrono::Utc::now().timestamp_millis();
    let closed = read_issues(&pipeline.store, &source, now).await.unwrap();
    assert_eq!(closed.changed, 1);
    let view = staff(key.clone(), token.clone()).await;
    assert_eq!(view["open_issues"], json!([]), "{view}");
    assert_eq!(
        stored(pool.clone()).await,
        vec![(
            "shop".into(),
            "T-1".into(),
            Some(1_700_000_000_000 + 86_400_000),
            Some("shop".into())
        )]
    );

    // Caught up: nothing more changes.
    let idle = read_issues(&pipeline.store, &source, now).await.unwrap();
    assert_eq!(idle, IssuesReport::default());
    assert_eq!(stored(pool).await.len(), 1);
}
