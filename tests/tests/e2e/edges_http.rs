//! The HTTP surface tried as an attacker on the same machine would, against a running daemon on
//! loopback: a forged upload without the source's upload token, a forged opt-in from a source that
//! may not grant consent, admin posts without a token or for a foreign Host, the login form's
//! cookie and a cross-site form post, oversized uploads against a healthy plugin, one inbox copy
//! per body, slow clients, a non-loopback listen without TLS, and HTTPS.

use rapport_e2e::{
    admin_token, free_port, output_text, plugin, upload_token, wait_until, InProcessDaemon,
    ShopDir, TestShop,
};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A pipeline's daemon serving on loopback, stopped on drop.
struct Daemon {
    pipeline: Arc<Pipeline>,
    base: String,
    port: u16,
    daemon: InProcessDaemon,
    _dir: tempfile::TempDir,
    _crm: CaptureServer,
}

impl Daemon {
    /// Starts `shop` (a csv-source `shop` and an http-sink `crm` are added) on a free port.
    async fn start(shop: TestShop) -> Daemon {
        let crm = CaptureServer::start().await.unwrap();
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let text = shop
            .sqlite()
            .listen(port)
            .csv_source("shop")
            .http_sink("crm", &crm.url(), [])
            .text(dir.path());
        Daemon::serve(&text, dir, crm, port, "http").await
    }

    async fn serve(
        text: &str,
        dir: tempfile::TempDir,
        crm: CaptureServer,
        port: u16,
        scheme: &str,
    ) -> Daemon {
        let daemon = InProcessDaemon::start(text, dir.path()).await;
        assert!(
            wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok())
            .await,
            "the daemon listens"
        );
        Daemon {
            pipeline: daemon.pipeline.clone(),
            base: format!("{scheme}://127.0.0.1:{port}"),
            port,
            daemon,
            _dir: dir,
            _crm: crm,
        }
    }

    /// Whether sink `id` is disabled.
    fn disabled(&self, id: &str) -> bool {
        let sinks = &self.pipeline.connectors.sinks;
        let sink = sinks.iter().find(|c| c.id == id).unwrap();
        sink.generations.is_disabled()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn orders(&self) -> i64 {
        self.pipeline.store.summary().await.unwrap().orders
    }

    /// The plugin report of connector `id`, as the admin API gives it.
    async fn plugin_report(&self, id: &str) -> Value {
        let token = admin_token(&self.pipeline.store).await;
        let reports: Value = client()
            .get(self.url("/api/plugins"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["connector"] == id)
            .cloned()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.daemon.signal_stop();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One JSON Lines receipt: a sale to ana@example.com on `date`, with her email marketing choice.
fn receipt(id: &str, date: &str, opt_in: bool) -> String {
    format!(
        r#"{{"receipt_id":"{id}","date":"{date}","channel":"in-store","customer":{{"email":"ana@example.com","marketing_opt_in":{opt_in}}},"currency":"USD","lines":[{{"sku":"T-1","product":"Tea","quantity":1,"unit_price":"3.50"}}],"tax":"0.00","total":"3.50"}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_csv_upload_without_the_upload_token_is_refused_and_nothing_is_stored() {
    let daemon = Daemon::start(TestShop::new()).await;
    let store = &daemon.pipeline.store;
    let body = receipt("F1", "2026-11-02T14:31:00Z", true);
    let http = client();

    // A web page in the owner's browser: text/plain, a foreign Origin.
    let from_a_page = http
        .post(daemon.url("/webhooks/shop"))
        .header("content-type", "text/plain")
        .header("origin", "https://evil.example")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(from_a_page.status(), StatusCode::FORBIDDEN);
    // Anyone on the machine, without a token, with an admin's staff token, or with another
    // source's upload token.
    let staff = rapport_host::admin::tokens::Role::Staff;
    let staff = rapport_host::admin::tokens::create(store, &staff, "till")
        .await
        .unwrap()
        .token;
    for token in [None, Some("rapport_made-up"), Some(staff.as_str())] {
        let mut request = http.post(daemon.url("/webhooks/shop")).body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("upload token"), "{text}");
    }
    assert_eq!(daemon.orders().await, 0, "nothing was stored");
    assert!(store.kept_webhooks("shop").await.unwrap().is_empty());
    assert!(store.rejected_inputs("shop").await.unwrap().is_empty());

    // With the source's upload token, the same body is stored.
    let token = upload_token(store, "shop").await;
    let answer = http
        .post(daemon.url("/webhooks/shop"))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "{:?}", answer.text().await);
    assert_eq!(daemon.orders().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_opt_in_cannot_override_a_refusal_when_the_source_may_not_grant_consent() {
    let shop = TestShop::new()
        .source("web", &plugin("csv-source"), [])
        .server_source("web", [("grants_consent", false.into())]);
    let daemon = Daemon::start(shop).await;
    let store = &daemon.pipeline.store;
    let http = client();
    // Ana refuses marketing at the till.
    let till = upload_token(store, "shop").await;
    let refused = http
        .post(daemon.url("/webhooks/shop"))
        .bearer_auth(&till)
        .body(receipt("T1", "2026-11-02T14:31:00Z", false))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::OK);
    // A later opt-in for her arrives through the source that may not grant consent, with its
    // upload token: the sale is stored, the grant is not, and says why.
    let web = upload_token(store, "web").await;
    let forged = http
        .post(daemon.url("/webhooks/web"))
        .bearer_auth(&web)
        .body(receipt("W1", "2026-11-03T09:00:00Z", true))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    let report: Value = forged.json().await.unwrap();
    assert_eq!(
        (report["accepted"].as_i64(), report["rejected"].as_i64()),
        (Some(1), Some(1))
    );
    let why = store.rejected_inputs("web").await.unwrap();
    assert!(
        why[0].reason.contains("may not grant consent"),
        "{:?}",
        why[0]
    );
    assert_eq!(daemon.orders().await, 2);
    let identities = [rapport_core::model::Identity {
        kind: rapport_core::model::IdentityKind::Email,
        value: "ana@example.com".into(),
    }];
    assert_eq!(
        store
            .has_refused(
                &identities,
                rapport_core::model::Channel::Email,
                rapport_core::model::Purpose::Marketing
            )
            .await
            .unwrap(),
        Some(true)
    );
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        daemon._dir.path().join("rapport.db").display()
    ))
    .await
    .unwrap();
    let in_force: Vec<String> = sqlx::query_scalar(
        "SELECT c.state FROM consents c JOIN identities i ON i.profile_id = c.profile_id
         WHERE i.kind = 'email' AND i.value = 'ana@example.com'
           AND c.channel = 'email' AND c.purpose = 'marketing'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(in_force, ["revoked"], "her refusal stands");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_polled_source_that_may_not_grant_consent_has_its_grants_dropped_too() {
    // The partner's export is fetched, not pushed: the rule holds all the same.
    let exports = rapport_fakes::exports::ExportServer::start().await.unwrap();
    let url = exports.publish(
        "partner.jsonl",
        receipt("P1", "2026-11-03T09:00:00Z", true).into_bytes(),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .source(
            "partner",
            &plugin("csv-source"),
            [
                ("export_url", url.as_str().into()),
                ("format", "jsonl".into()),
            ],
        )
        .server_source("partner", [("grants_consent", false.into())])
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((report.accepted, report.rejected), (1, 1), "{report:?}");
    let why = pipeline.store.rejected_inputs("partner").await.unwrap();
    assert!(why[0].reason.contains("may not grant consent"), "{why:?}");
    let consents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_ledger")
        .fetch_one(
            &sqlx::AnyPool::connect(&pipeline.config.store.database_url)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(consents, 0, "no grant recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_post_needs_a_token_and_a_host_of_this_server() {
    let daemon = Daemon::start(TestShop::new()).await;
    let http = client();
    let disable = daemon.url("/api/plugins/crm/disable");
    let disabled = || daemon.disabled("crm");

    let without = http.post(&disable).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(without.headers().get("www-authenticate").unwrap(), "Bearer");
    let upload = upload_token(&daemon.pipeline.store, "shop").await;
    let wrong_role = http
        .post(&disable)
        .bearer_auth(&upload)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_role.status(), StatusCode::FORBIDDEN);
    let token = admin_token(&daemon.pipeline.store).await;
    // DNS rebinding: the page's own name reaches the loopback port.
    let rebound = http
        .post(&disable)
        .bearer_auth(&token)
        .header("host", format!("evil.example:{}", daemon.port))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert!(rebound.text().await.unwrap().contains("evil.example"));
    for path in ["/api/summary", "/api/backfills", "/api/plugins"] {
        let answer = http.get(daemon.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert!(!disabled(), "nothing was done");
    let health = http.get(daemon.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "/health needs no token");

    let done = http
        .post(&disable)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(disabled());
    // A revoked token is refused.
    let id = rapport_host::admin::tokens::list(&daemon.pipeline.store)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.role == "admin")
        .unwrap()
        .id;
    assert!(
        rapport_host::admin::tokens::revoke(&daemon.pipeline.store, id)
            .await
            .unwrap()
    );
    let revoked = http
        .post(daemon.url("/api/plugins/crm/enable"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert!(disabled());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_form_sets_a_strict_session_cookie_and_a_cross_site_form_post_is_refused() {
    let daemon = Daemon::start(TestShop::new()).await;
    let http = client();
    let token = admin_token(&daemon.pipeline.store).await;
    let form = http.get(daemon.url("/login")).send().await.unwrap();
    assert!(form.text().await.unwrap().contains("name=token"));

    let wrong = http
        .post(daemon.url("/login"))
        .form(&[("token", "rapport_guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let from_elsewhere = http
        .post(daemon.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);

    let origin = daemon.url("");
    let login = http
        .post(daemon.url("/login"))
        .header("origin", &origin)
        .form(&[("token", token.as_str()), ("next", "/api/plugins")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers().get("location").unwrap(), "/api/plugins");
    let set_cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains(&token), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let summary = http
        .get(daemon.url("/api/summary"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), StatusCode::OK);

    // A form on another site posting with the cookie (a browser would not even send it with
    // SameSite=Strict): refused by its Origin, by Sec-Fetch-Site, or for saying nothing.
    let disable = daemon.url("/api/plugins/crm/disable");
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("x-nothing", "said"),
    ] {
        let forged = http
            .post(&disable)
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    assert!(!daemon.disabled("crm"));
    let own_page = http
        .post(&disable)
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(own_page.status(), StatusCode::OK);
    assert!(daemon.disabled("crm"));

    // Logging out ends the session.
    let logout = http
        .post(daemon.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let after = http
        .get(daemon.url("/api/summary"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

/// A CSV export of about `bytes` bytes: the same valid sale line, many times.
fn large_csv(bytes: usize) -> Vec<u8> {
    let header = "receipt_id,kind,refund_of,date,location,channel,customer_email,customer_phone,customer_name,customer_id,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total\n";
    let mut csv = header.as_bytes().to_vec();
    let mut n = 0;
    while csv.len() < bytes {
        n += 1;
        csv.extend_from_slice(
            format!("R{n},sale,,2026-11-02T14:31:00Z,High Street,in-store,ana{n}@example.com,,Ana,C{n},yes,T-1,Tea,Drinks,1,3.50,3.50,USD,0.00,0.00,3.50\n")
                .as_bytes(),
        );
    }
    csv
}

/// What the server answers to an upload's headers (`content_length` announced, no body sent).
async fn answer_to_headers(port: u16, path: &str, token: &str, content_length: usize) -> String {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {content_length}\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn six_large_uploads_leave_the_plugin_healthy_and_the_inbox_keeps_one_copy() {
    // `shop` takes the default limit (a quarter of 32 MiB); `big` lets 40 MiB bodies reach its
    // plugin, which cannot hold 31 MB in 32 MiB.
    let shop = TestShop::new()
        .section("runtime", [("memory_limit_mib", 32.into())])
        .source("big", &plugin("csv-source"), [])
        .server_source("big", [("max_body_mib", 40.into())]);
    let daemon = Daemon::start(shop).await;
    let store = &daemon.pipeline.store;
    let http = client();
    let body = large_csv(31 << 20);
    // `shop` answers from the headers alone, before any of the body is read.
    let token = upload_token(store, "shop").await;
    for attempt in 0..6 {
        let answer = answer_to_headers(daemon.port, "/webhooks/shop", &token, body.len()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{attempt}: {answer}");
        assert!(answer.contains("larger than the 8388608 bytes"), "{answer}");
    }
    // `big` reads the body, and its plugin runs out of memory on it: the input's fault.
    let token = upload_token(store, "big").await;
    for attempt in 0..6 {
        let answer = http
            .post(daemon.url("/webhooks/big"))
            .bearer_auth(&token)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE, "{attempt}");
        let text = answer.text().await.unwrap();
        assert!(
            text.contains("exceeded its memory limit") && text.contains("webhook inbox item"),
            "{text}"
        );
    }
    for source in ["shop", "big"] {
        let report = daemon.plugin_report(source).await;
        assert_eq!(report["health"]["state"], "healthy", "{report:#}");
        assert_eq!(report["health"]["faults"], 0, "{report:#}");
    }
    // Refused before the plugin ran: nothing kept. Refused by the plugin: kept once, six attempts.
    assert!(store.kept_webhooks("shop").await.unwrap().is_empty());
    let kept = store.kept_webhooks("big").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].attempts, 6);
    assert_eq!(kept[0].body.len(), body.len());
    assert_eq!(daemon.orders().await, 0);

    // The plugin still serves a body it can hold.
    let token = upload_token(store, "big").await;
    let small = http
        .post(daemon.url("/webhooks/big"))
        .bearer_auth(&token)
        .body(large_csv(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), StatusCode::OK);
    assert!(daemon.orders().await > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_client_is_dropped_within_the_timeout() {
    let shop = TestShop::new().section(
        "server",
        [
            ("header_timeout_ms", 500.into()),
            ("body_timeout_ms", 500.into()),
        ],
    );
    let daemon = Daemon::start(shop).await;
    let token = upload_token(&daemon.pipeline.store, "shop").await;
    // Headers that never end, and a body that never comes whole.
    let partial = [
        "POST /webhooks/shop HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_string(),
        format!(
            "POST /webhooks/shop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\nreceipt_id,"
        ),
    ];
    let clients: Vec<_> = partial
        .iter()
        .cycle()
        .take(40)
        .map(|start| {
            let start = start.clone();
            let port = daemon.port;
            tokio::task::spawn_blocking(move || {
                let began = Instant::now();
                let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream.write_all(start.as_bytes()).unwrap();
                let mut answer = Vec::new();
                // Read until the server closes the connection (or answers and closes).
                let closed = stream.read_to_end(&mut answer).is_ok();
                (
                    closed,
                    began.elapsed(),
                    String::from_utf8_lossy(&answer).into_owned(),
                )
            })
        })
        .collect();
    for client in clients {
        let (closed, took, answer) = client.await.unwrap();
        assert!(
            closed,
            "the connection was dropped; answer so far: {answer}"
        );
        assert!(
            took < Duration::from_secs(3),
            "dropped after {took:?}: {answer}"
        );
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The server still serves.
    let health = client().get(daemon.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_listen_without_tls_is_refused_naming_both_options() {
    let dir = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .section(
            "server",
            [("listen", format!("0.0.0.0:{}", free_port()).into())],
        )
        .csv_source("shop")
        .write_in(&dir);
    let mut run = dir.spawn_daemon_logging_to(&dir.path().join("run.log"));
    let status = tokio::task::spawn_blocking(move || run.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    assert!(
        log.contains("is not a loopback address")
            && log.contains("tls = { cert")
            && log.contains("tls_proxy = true"),
        "{log}"
    );
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl command.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let output = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg("/CN=localhost")
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command makes the test certificate");
    assert!(output.status.success(), "{}", output_text(&output));
    (cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_listen_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let crm = CaptureServer::start().await.unwrap();
    let port = free_port();
    let tls = toml::Table::from_iter([
        ("cert".to_owned(), cert.display().to_string().into()),
        ("key".to_owned(), key.display().to_string().into()),
    ]);
    let text = TestShop::new()
        .sqlite()
        .listen(port)
        .section("server", [("tls", toml::Value::Table(tls))])
        .csv_source("shop")
        .http_sink("crm", &crm.url(), [])
        .text(dir.path());
    let daemon = Daemon::serve(&text, dir, crm, port, "https").await;
    let trusted = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let health = trusted.get(daemon.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let token = upload_token(&daemon.pipeline.store, "shop").await;
    let upload = trusted
        .post(daemon.url("/webhooks/shop"))
        .bearer_auth(token)
        .body(receipt("S1", "2026-11-02T14:31:00Z", true))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    assert_eq!(daemon.orders().await, 1);
    // Plain HTTP gets no answer from the TLS port.
    let plain = client()
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

/// Starts `rapport run` on `dir`'s config with its output captured.
fn run_capturing(dir: &ShopDir) -> std::process::Child {
    std::process::Command::new(rapport_e2e::rapport_bin())
        .args(["run", "--config"])
        .arg(dir.config())
        .env_remove("DATABASE_URL")
        .env("RAPPORT_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rapport run")
}

/// Stops `run` and returns everything it printed.
async fn stop_and_read(mut run: std::process::Child) -> String {
    assert!(rapport_e2e::stop_gracefully(&mut run), "rapport stops");
    let mut out = String::new();
    run.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_run_prints_an_admin_token_once_and_keeps_only_its_hash() {
    let port = free_port();
    let dir = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .listen(port)
        .csv_source("shop")
        .write_in(&dir);
    let summary = format!("http://127.0.0.1:{port}/api/summary");
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();

    let first = run_capturing(&dir);
    assert!(wait_until(Duration::from_secs(60), listening).await);
    let printed = stop_and_read(first).await;
    let token = printed
        .lines()
        .find(|l| l.starts_with("rapport_"))
        .unwrap_or_else(|| panic!("the first run prints the token: {printed:?}"))
        .to_string();
    for file in ["rapport.db", "rapport.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{file} holds the token's hash, not the token"
        );
    }

    let second = run_capturing(&dir);
    assert!(wait_until(Duration::from_secs(60), listening).await);
    let answer = client()
        .get(&summary)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "the printed token works");
    let printed_again = stop_and_read(second).await;
    assert!(
        !printed_again.contains("rapport_"),
        "a later run prints no token: {printed_again:?}"
    );
}
