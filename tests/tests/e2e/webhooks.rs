//! Webhooks through the host's HTTP endpoint with the real Square source: a signed delivery is stored
//! before it is acknowledged, a replay stores nothing new, a bad signature gets 401 and nothing is
//! kept, and a malformed delivery gets 400 and is kept for inspection.

use rapport_e2e::{free_port, plugin, InProcessDaemon, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_fakes::shop::SampleShop;
use rapport_fakes::square::{self, SquareServer};
use std::time::Duration;

const TOKEN: &str = "square-test-token";
const SIGNATURE_KEY: &str = "square-signature-key";
const NOTIFICATION_URL: &str = "https://shop.example.com/hooks/square";

#[tokio::test(flavor = "multi_thread")]
async fn signed_webhooks_are_stored_once_and_bad_ones_are_refused_or_kept() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    let shop = SampleShop::generate(8, 20, 0);
    square.load_shop(&shop);
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let locations = format!(
        "{},{}",
        square::location_id("High Street"),
        square::location_id("Market Hall")
    );
    let text = TestShop::new()
        .sqlite()
        .listen(port)
        .secrets(&[
            ("square_token", TOKEN),
            ("square_signature_key", SIGNATURE_KEY),
        ])
        .source(
            "square",
            &plugin("square-source"),
            [
                ("api_base", square.base_url().into()),
                ("location_ids", locations.into()),
                ("notification_url", NOTIFICATION_URL.into()),
            ],
        )
        .set("poll_interval_secs", 3600.into())
        .vendor_signed("square")
        .http_sink("hook", &crm.url(), [])
        .text(dir.path());
    let daemon = InProcessDaemon::start(&text, dir.path()).await;
    let pipeline = daemon.pipeline.clone();
    let endpoint = format!("http://127.0.0.1:{port}/webhooks/square");
    rapport_e2e::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    let store = &pipeline.store;
    // The daemon polls once at startup: let that land before counting.
    let polled = square.orders().len() as i64;
    for _ in 0..200 {
        if store.summary().await.unwrap().orders >= polled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = store.summary().await.unwrap();
    assert_eq!(before.orders, polled);

    // An order's notification: the source refetches the order; 200 only once it is stored. The
    // order is one the poll stored already, so it still counts once.
    let order = square.orders().into_iter().last().unwrap();
    let order_id = order["id"].as_str().unwrap().to_string();
    let note = square.order_notification("order.updated", &order_id, "evt-1");
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, &note);
    let (status, answer) = square::deliver(&endpoint, &headers, &body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    assert_eq!(store.summary().await.unwrap().orders, before.orders);

    // The same delivery again: acknowledged, nothing new.
    let (status, answer) = square::deliver(&endpoint, &headers, &body).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        answer.contains("\"accepted\":0") && answer.contains("\"duplicates\":1"),
        "{answer}"
    );

    // Signed with the wrong key: 401, nothing stored or kept.
    let (headers, body) = square::signed_delivery(
        "not-the-key",
        NOTIFICATION_URL,
        &square.order_notification("order.updated", &order_id, "evt-2"),
    );
    let (status, answer) = square::deliver(&endpoint, &headers, &body).await.unwrap();
    assert_eq!(status, 401, "{answer}");
    assert!(store.kept_webhooks("square").await.unwrap().is_empty());

    // Correctly signed but malformed: 400, kept verbatim for inspection.
    let garbage = b"{\"event_id\": \"evt-3\", \"type\": ".to_vec();
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            square::SIGNATURE_HEADER.to_string(),
            square::sign(SIGNATURE_KEY, NOTIFICATION_URL, &garbage),
        ),
    ];
    let (status, answer) = square::deliver(&endpoint, &headers, &garbage)
        .await
        .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("kept for inspection"), "{answer}");
    let kept = store.kept_webhooks("square").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body.as_bytes(), garbage.as_slice());

    assert_eq!(store.summary().await.unwrap().orders, before.orders);
    daemon.stop().await;
}
