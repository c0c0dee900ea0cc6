//! Product pairs kept current: reads the counted sales of the `[pairs]` window, turns each into a
//! basket of products (sku, else name) and one of categories, mines the rules of each kind with
//! `rapport_core::pairs` under the configured guards, and stores them whole (none for a kind below
//! the minimum). The daemon does it every `[pairs] interval_hours`, `rapport pairs` on demand.

use crate::config::pairs::PairsConfig;
use chrono::{DateTime, Utc};
use rapport_core::clock::SharedClock;
use rapport_core::model::Payload;
use rapport_core::pairs::{mine, Basket, Item, PairsBy, Rules, TooFewBaskets};
use rapport_store::pairs::SaleLines;
use rapport_store::{Store, StoreError};
use tokio::sync::watch;

/// What mining one kind of item gave.
pub type Outcome = Result<Rules, TooFewBaskets>;

/// The rules of both kinds, as just stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Mined {
    /// The start of the window (sales placed from then on).
    pub since: DateTime<Utc>,
    pub product: Outcome,
    pub category: Outcome,
}

impl Mined {
    pub fn of(&self, by: PairsBy) -> &Outcome {
        match by {
            PairsBy::Product => &self.product,
            PairsBy::Category => &self.category,
        }
    }
}

/// Mines the pairs of the window ending at `now`, by product and by category, and stores them.
pub async fn recompute(
    store: &Store,
    config: &PairsConfig,
    now: DateTime<Utc>,
) -> Result<Mined, StoreError> {
    let since = now - config.window();
    let sales = store.sales_since(since.timestamp_millis()).await?;
    let guards = config.guards();
    let mined = Mined {
        since,
        product: mine(&baskets(&sales, PairsBy::Product), &guards),
        category: mine(&baskets(&sales, PairsBy::Category), &guards),
    };
    for by in PairsBy::ALL {
        let rules = mined.of(by).as_ref().map_or(&[][..], |r| &r.rules[..]);
        store
            .save_pair_rules(by, rules, now.timestamp_millis())
            .await?;
    }
    Ok(mined)
}

/// Mines the pairs now and then every `[pairs] interval_hours`, until `shutdown`. A kind below the
/// minimum is logged with the shortfall, and its stored rules are emptied.
pub async fn schedule(
    store: Store,
    config: PairsConfig,
    clock: SharedClock,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match recompute(&store, &config, clock.now()).await {
            Ok(mined) => {
                for by in PairsBy::ALL {
                    match mined.of(by) {
                        Ok(found) => tracing::info!(%by, baskets = found.baskets,
                            rules = found.rules.len(), "product pairs worked out"),
                        Err(too_few) => tracing::info!(%by, "no product pairs: {too_few}"),
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "working out product pairs failed; tried again later")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Each sale's basket of items of one kind. A payload that is not an order (the retention job
/// summarised the sale and kept no lines) gives an empty basket, which counts nowhere.
pub fn baskets(sales: &[SaleLines], by: PairsBy) -> Vec<Basket> {
    sales
        .iter()
        .map(
            |sale| match serde_json::from_str::<Payload>(&sale.payload) {
                Ok(Payload::Order(order)) => order
                    .lines
                    .iter()
                    .filter_map(|line| match by {
                        PairsBy::Product => Item::product(line.sku.as_deref(), &line.product),
                        PairsBy::Category => line.category.as_deref().and_then(Item::new),
                    })
                    .collect(),
                _ => Basket::new(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::model::{LineItem, Money, Order, OrderState, Quantity, SalesChannel};

    fn line(sku: Option<&str>, product: &str, category: Option<&str>) -> LineItem {
        let money = Money {
            minor: 100,
            currency: "USD".to_string().try_into().unwrap(),
        };
        LineItem {
            sku: sku.map(str::to_owned),
            product: product.into(),
            category: category.map(str::to_owned),
            quantity: Quantity { units: 1, scale: 0 },
            unit_price: money.clone(),
            total: money,
        }
    }

    fn sale(event_id: i64, lines: Vec<LineItem>) -> SaleLines {
        let money = lines[0].total.clone();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let order = Order {
            id: format!("o{event_id}"),
            customer: None,
            location: None,
            channel: SalesChannel::InStore,
            state: OrderState::Completed,
            lines,
            subtotal: money.clone(),
            tax: money.clone(),
            discount: money.clone(),
            total: money,
            placed_at: at,
            updated_at: at,
            version: None,
        };
        SaleLines {
            event_id,
            payload: serde_json::to_string(&Payload::Order(order)).unwrap(),
        }
    }

    fn items(texts: &[&str]) -> Basket {
        texts.iter().map(|t| Item::new(t).unwrap()).collect()
    }

    #[test]
    fn sales_become_baskets_of_products_and_of_categories() {
        let sales = [
            sale(
                1,
                vec![
                    line(Some("L-1"), "Latte", Some("coffee")),
                    line(None, "Mug", Some("mugs")),
                    line(Some(""), "Espresso", Some("coffee")),
                    line(Some("L-1"), "Latte (renamed)", None),
                ],
            ),
            SaleLines {
                event_id: 2,
                payload: "{\"summarised\":true}".into(),
            },
        ];
        assert_eq!(
            baskets(&sales, PairsBy::Product),
            [items(&["Espresso", "L-1", "Mug"]), Basket::new()]
        );
        assert_eq!(
            baskets(&sales, PairsBy::Category),
            [items(&["coffee", "mugs"]), Basket::new()]
        );
    }
}
