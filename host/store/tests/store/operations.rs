//! Sync latency ranks: the deliveries that count (a sink's sales and people confirmed since the
//! window began, from work queued since latency was kept; never journey messages), ranked
//! shortest first, at several ranks from one statement; and the events each source brought in.

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
async fn latencies_at_ranks_follow_the_counted_deliveries_in_order() {
    on_both(|db| async move {
        let since = 1_000_000;
        // 150 counted latencies with repeats, in no order: 7 × i mod 61, times 10 ms.
        let mut counted: Vec<i64> = (0..150).map(|i| (7 * i % 61) * 10).collect();
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

        counted.sort_unstable();
        assert_eq!(db.store.synced_count("crm", since).await.unwrap(), 150);
        let ranks = [1, 2, 75, 76, 149, 150, 151];
        let expected: Vec<Option<i64>> = ranks
            .iter()
            .map(|&r| counted.get(r as usize - 1).copied())
            .collect();
        assert_eq!(
            db.store
                .sync_latencies_at_ranks("crm", since, &ranks)
                .await
                .unwrap(),
            expected
        );
        assert_eq!(
            db.store
                .sync_latencies_at_ranks("nobody", since, &[1, 2])
                .await
                .unwrap(),
            vec![None, None]
        );
        assert!(db
            .store
            .sync_latencies_at_ranks("crm", since, &[])
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
