//! The reads the business metrics make: current refunds of known people before a time, by time;
//! and the orders an accessory suggestion can have been bought in, which are only those of the
//! people entered into one of the named journeys in the entries' span.

use crate::common::{event, on_both, profiles, Db, Param};

async fn entry(db: &Db, journey: &str, profile: i64, at: i64, outcome: &str) {
    db.run(
        "INSERT INTO journey_entries (journey, profile_id, entered_at, outcome, channel)
         VALUES ($1, $2, $3, $4, 'email')",
        &[
            Param::Text(journey),
            Param::Int(profile),
            Param::Int(at),
            Param::Text(outcome),
        ],
    )
    .await;
}

/// The ids (from the payloads) of the orders read, in order.
fn ids(orders: &[(i64, String)]) -> Vec<(i64, String)> {
    (orders.iter())
        .map(|(person, payload)| {
            let payload: serde_json::Value = serde_json::from_str(payload).unwrap();
            (*person, payload["id"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test]
async fn only_the_orders_of_people_entered_into_the_named_journeys_are_read() {
    on_both(|db| async move {
        let [ana, ben, cy] = profiles(&db).await;
        // Entries: ana sent the accessory suggestion, ben held out of it; ana also in another
        // journey; cy was skipped (no message, no holdout); and an entry after the span.
        entry(&db, "accessory", ana, 1_000, "sent").await;
        entry(&db, "accessory", ben, 2_000, "holdout").await;
        entry(&db, "thank-you", cy, 1_000, "sent").await;
        entry(&db, "accessory", cy, 1_500, "suppressed").await;
        entry(&db, "accessory", cy, 9_000, "sent").await;
        event(&db, "a1", "order", Some(ana), "completed", 1_200).await;
        event(&db, "a2-old", "order", Some(ana), "completed", 1_300).await;
        event(&db, "a3", "order", Some(ana), "canceled", 1_400).await;
        event(&db, "a4", "order", Some(ana), "completed", 12_000).await;
        event(&db, "b1", "order", Some(ben), "completed", 2_500).await;
        event(&db, "b2", "refund", Some(ben), "completed", 2_600).await;
        event(&db, "b0", "order", Some(ben), "completed", 100).await;
        event(&db, "c1", "order", Some(cy), "completed", 1_600).await;
        event(&db, "n1", "order", None, "completed", 1_700).await;

        let read = |journeys: &'static [&'static str], until: i64| {
            let store = db.store.clone();
            async move {
                ids(&(store
                    .orders_after_entries(journeys, 500, 5_000, until)
                    .await)
                    .unwrap())
            }
        };
        assert_eq!(
            read(&["accessory"], 10_000).await,
            vec![(ana, "a1".to_string()), (ben, "b1".to_string())],
            "counted sales in [500, 10000) of the people sent or held out of an accessory entry \
             in [500, 5000)"
        );
        assert_eq!(
            read(&["accessory"], 20_000).await,
            vec![
                (ana, "a1".to_string()),
                (ana, "a4".to_string()),
                (ben, "b1".to_string())
            ],
            "by event id, the orders' span reaching further"
        );
        assert_eq!(
            read(&["accessory", "thank-you"], 10_000).await,
            vec![
                (ana, "a1".to_string()),
                (ben, "b1".to_string()),
                (cy, "c1".to_string())
            ]
        );
        assert_eq!(read(&[], 10_000).await, vec![], "no journeys, no orders");
        db
    })
    .await;
}

#[tokio::test]
async fn the_refunds_read_are_current_ones_of_known_people_before_the_time() {
    on_both(|db| async move {
        let [ana, ben] = profiles(&db).await;
        event(&db, "r3", "refund", Some(ana), "completed", 3_000).await;
        event(&db, "r1", "refund", Some(ben), "completed", 1_000).await;
        event(&db, "r2-old", "refund", Some(ana), "completed", 1_500).await;
        event(&db, "r4", "refund", None, "completed", 2_000).await;
        event(&db, "o1", "order", Some(ana), "completed", 2_500).await;
        event(&db, "r5", "refund", Some(ana), "completed", 9_000).await;
        let refunds = db.store.refunds_before(9_000).await.unwrap();
        let mut seen: Vec<(i64, i64, i64, String)> = (refunds.into_iter())
            .map(|r| (r.profile_id, r.at, r.amount_minor, r.currency))
            .collect();
        seen.sort_by_key(|(_, at, _, _)| *at);
        assert_eq!(
            seen,
            vec![
                (ben, 1_000, 1250, "EUR".to_string()),
                (ana, 3_000, 1250, "EUR".to_string())
            ]
        );
        db
    })
    .await;
}
