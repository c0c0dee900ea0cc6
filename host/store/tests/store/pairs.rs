//! Product pairs in the store: the sales read are the counted ones placed in the window, with their
//! payloads; each kind's rules are replaced whole and read back in the order they were saved.

use crate::common::{on_both, Db};
use rapport_core::pairs::{Item, PairsBy, Rule};

/// Stores an order event placed at `at` (ms) with `payload`.
async fn order(db: &Db, id: &str, state: &str, superseded: i64, at: i64, payload: &str) {
    sqlx::query(
        "INSERT INTO events (source_id, source_event_id, kind, object_id, amount_minor, currency,
                             occurred_at, ingested_at, payload, state, placed_at, superseded)
         VALUES ('pos', $1, 'order', $1, 500, 'EUR', $2, $2, $3, $4, $2, $5)",
    )
    .bind(id)
    .bind(at)
    .bind(payload)
    .bind(state)
    .bind(superseded)
    .execute(&db.sql)
    .await
    .unwrap();
}

fn rule(antecedent: &str, consequent: &str, baskets: u64) -> Rule {
    Rule {
        antecedent: Item::new(antecedent).unwrap(),
        consequent: Item::new(consequent).unwrap(),
        support: 0.25,
        confidence: 0.5,
        lift: 1.75,
        baskets,
        antecedent_baskets: 8,
        consequent_baskets: 9,
    }
}

#[tokio::test]
async fn the_sales_read_are_counted_and_in_the_window() {
    on_both(|db| async move {
        order(&db, "o1", "completed", 0, 1_000, "{\"a\":1}").await;
        order(&db, "o2", "completed", 0, 5_000, "{\"b\":2}").await;
        order(&db, "o3", "completed", 1, 5_000, "{}").await;
        order(&db, "o4", "cancelled", 0, 5_000, "{}").await;
        order(&db, "o5", "open", 0, 5_000, "{}").await;
        order(&db, "o6", "completed", 0, 4_999, "{}").await;
        order(&db, "o7", "completed", 0, 6_000, "{\"c\":3}").await;
        let payloads: Vec<String> = (db.store.sales_since(5_000).await.unwrap())
            .into_iter()
            .map(|s| s.payload)
            .collect();
        assert_eq!(payloads, ["{\"b\":2}", "{\"c\":3}"]);
        db
    })
    .await;
}

#[tokio::test]
async fn each_kinds_rules_are_replaced_whole_and_read_back_in_order() {
    on_both(|db| async move {
        let first = [rule("mug", "beans", 5), rule("beans", "mug", 5)];
        db.store
            .save_pair_rules(PairsBy::Product, &first, 10)
            .await
            .unwrap();
        db.store
            .save_pair_rules(PairsBy::Category, &[rule("tea", "cups", 7)], 10)
            .await
            .unwrap();
        let read = db.store.pair_rules(PairsBy::Product).await.unwrap();
        assert_eq!(read, vec![(first[0].clone(), 10), (first[1].clone(), 10)]);

        let second = [rule("grinder", "filters", 6)];
        db.store
            .save_pair_rules(PairsBy::Product, &second, 20)
            .await
            .unwrap();
        let read = db.store.pair_rules(PairsBy::Product).await.unwrap();
        assert_eq!(read, vec![(second[0].clone(), 20)]);
        db.store
            .save_pair_rules(PairsBy::Product, &[], 30)
            .await
            .unwrap();
        assert!(db
            .store
            .pair_rules(PairsBy::Product)
            .await
            .unwrap()
            .is_empty());
        let categories = db.store.pair_rules(PairsBy::Category).await.unwrap();
        assert_eq!(categories, vec![(rule("tea", "cups", 7), 10)]);
        db
    })
    .await;
}
