//! Sync latencies counted by value: the deliveries that count (a sink's sales and people confirmed
//! since the window began, from work queued since latency was kept; never journey messages); and
//! the events each source brought in.

use crate::common::{event, on_both, Db, Param};

async fn delivery(db: &Db, sink: &str, kind: &str, outcome: &str, at: i64, queued_at: Option<i64>) {
    let queued = queued_at.map_or_else(|| "NULL".to_string(), |q| q.to_string());
    db.run(
        &format!(
            "INSERT INTO deliveries (outbox_id, sink_id, kind, idempotency_key, outcome, attempts,
                                     at, queued_at)
             VALUES (0, $1, $2, 'k', $3, 1, $4, {queued})"
        ),
        &[
            Param::Text(sink),
            Param::Text(kind),
            Param::Text(outcome),
            Param::Int(at),
        ],
    )
    .await;
}

#[tokio::test]
async fn latencies_are_counted_by_value_over_the_deliveries_that_count() {
    on_both(|db| async move {
        let since = 1_000_000;
        // 150 counted latencies with repeats, in no order: 7 × i mod 61, times 10 ms.
        let counted: Vec<i64> = (0..150).map(|i| (7 * i % 61) * 10).collect();
        for (i, latency) in counted.iter().enumerate() {
            let at = since + 500 + i as i64;
            let kind = if i % 2 == 0 { "activity" } else { "profile" };
            delivery(&db, "crm", kind, "ok", at, Some(at - latency)).await;
        }
        // Not counted: before the window, a journey message, a rejection, no queue time, another sink.
        delivery(
            &db,
            "crm",
            "activity",
            "ok",
            since - 1,
            Some(since - 100_001),
        )
        .await;
        delivery(
            &db,
            "crm",
            "message",
            "ok",
            since + 10,
            Some(since - 900_000),
        )
        .await;
        delivery(
            &db,
            "crm",
            "profile",
            "rejected",
            since + 10,
            Some(since - 900_000),
        )
        .await;
        delivery(&db, "crm", "profile", "ok", since + 10, None).await;
        delivery(
            &db,
            "mail",
            "profile",
            "ok",
            since + 10,
            Some(since - 900_000),
        )
        .await;

        let mut expected: Vec<(i64, u64)> = Vec::new();
        for latency in counted {
            match expected.iter_mut().find(|(value, _)| *value == latency) {
                Some((_, n)) => *n += 1,
                None => expected.push((latency, 1)),
            }
        }
        expected.sort_unstable();
        let mut seen = db.store.sync_latency_counts("crm", since).await.unwrap();
        seen.sort_unstable();
        assert_eq!(seen, expected);
        assert_eq!(seen.iter().map(|(_, n)| n).sum::<u64>(), 150);
        assert!(db
            .store
            .sync_latency_counts("nobody", since)
            .await
            .unwrap()
            .is_empty());
        db
    })
    .await;
}

#[tokio::test]
async fn events_are_counted_for_each_source_asked_for() {
    on_both(|db| async move {
        for (i, id) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            event(&db, id, "order", None, "completed", 1_000 + i as i64).await;
        }
        db.run(
            "UPDATE events SET source_id = 'web' WHERE source_event_id IN ('b', 'd')",
            &[],
        )
        .await;
        let counts = db.store.events_by_source(&["web", "pos", "gone"]).await;
        assert_eq!(counts.unwrap(), vec![2, 3, 0]);
        assert!(db.store.events_by_source(&[]).await.unwrap().is_empty());
        db
    })
    .await;
}
