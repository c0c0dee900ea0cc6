//! The sales the customer-base models read (completed orders' current versions with a buyer, before
//! a time) and the fits table: a fit reads back as it was recorded, and the latest is the last made.

use crate::common::{event, on_both, profiles};
use chrono::NaiveDate;
use rapport_core::predictions::{
    BgNbd, BgNbdFit, DataFigures, GammaGamma, GammaGammaFit, ShopFit, TimeUnit,
};

#[tokio::test]
async fn the_sales_read_are_completed_current_orders_of_known_buyers_before_the_time() {
    on_both(|db| async move {
        let [ana, ben] = profiles(&db).await;
        event(&db, "o1", "order", Some(ana), "completed", 1_000).await;
        event(&db, "o2", "order", Some(ben), "completed", 2_000).await;
        event(&db, "o3", "order", Some(ana), "completed", 3_000).await;
        event(&db, "o4-old", "order", Some(ana), "completed", 1_500).await;
        event(&db, "o5", "order", Some(ana), "cancelled", 1_600).await;
        event(&db, "o6", "order", Some(ana), "open", 1_700).await;
        event(&db, "o7", "order", None, "completed", 1_800).await;
        event(&db, "r1", "refund", Some(ana), "completed", 1_900).await;
        event(&db, "o8", "order", Some(ben), "completed", 9_000).await;

        let sales = db.store.sales_before(9_000).await.unwrap();
        let mut seen: Vec<(i64, i64)> = sales
            .iter()
            .map(|s| (s.profile_id, s.placed_at.timestamp_millis()))
            .collect();
        seen.sort();
        assert_eq!(seen, vec![(ana, 1_000), (ana, 3_000), (ben, 2_000)]);
        assert!(sales
            .iter()
            .all(|s| s.amount_minor == 1250 && s.currency.as_str() == "EUR"));
        let ana_sales = db.store.profile_sales_before(ana, 2_000).await.unwrap();
        assert_eq!(ana_sales.len(), 1);
        db
    })
    .await;
}

fn fit(as_of: &str, gamma_gamma: bool) -> ShopFit {
    ShopFit {
        as_of: as_of.parse::<NaiveDate>().unwrap(),
        time_unit: TimeUnit::Week,
        currency: Some("EUR".to_owned().try_into().unwrap()),
        figures: DataFigures {
            customers: 2357,
            repeat_customers: 946,
            frequent_customers: 480,
            history_days: 272,
        },
        bgnbd: BgNbdFit {
            params: BgNbd {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            log_likelihood: -9582.43,
        },
        gamma_gamma: gamma_gamma.then_some(GammaGammaFit {
            params: GammaGamma {
                p: 6.25,
                q: 3.74,
                v: 15.44,
            },
            log_likelihood: -4000.5,
            customers: 946,
        }),
    }
}

#[tokio::test]
async fn a_fit_reads_back_as_recorded_and_the_latest_is_the_last_made() {
    on_both(|db| async move {
        assert_eq!(db.store.latest_fit().await.unwrap(), None);
        let first = fit("1997-09-30", true);
        let id = db.store.record_fit(&first, 10).await.unwrap();
        let stored = db.store.latest_fit().await.unwrap().unwrap();
        assert_eq!((stored.id, stored.fitted_at), (id, 10));
        assert_eq!(stored.fit, first);
        let second = fit("1997-10-01", false);
        db.store.record_fit(&second, 20).await.unwrap();
        let stored = db.store.latest_fit().await.unwrap().unwrap();
        assert_eq!(stored.fit, second);
        assert_eq!(stored.fitted_at, 20);
        db
    })
    .await;
}
