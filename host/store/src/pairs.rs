//! Table `pair_rules`, the latest product pairs (`rapport_core::pairs`), and the sales they are
//! mined from: every counted sale (a completed order's current version) placed in a window, with
//! its payload, whose lines the host reads as a basket; and one person's counted sales, whose
//! lines are what they bought.

use super::events::COUNTED_SALES;
use super::rows::{self, Value};
use super::{Store, StoreError};
use rapport_core::pairs::{Item, PairsBy, Rule};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A counted sale's event id and payload (JSON of `rapport_core::model::Payload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLines {
    pub event_id: i64,
    pub payload: String,
}

impl Store {
    /// The counted sales placed at or after `since` (ms), by event id.
    pub async fn sales_since(&self, since: i64) -> Result<Vec<SaleLines>, StoreError> {
        sqlx::query(&format!(
            "SELECT id, payload FROM events WHERE {COUNTED_SALES} AND placed_at >= $1 ORDER BY id"
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sale_lines)
        .collect()
    }

    /// The counted sales of one profile, by event id: what the person bought, for the accessory
    /// their staff cues suggest.
    pub async fn sales_of(&self, profile_id: i64) -> Result<Vec<SaleLines>, StoreError> {
        sqlx::query(&format!(
            "SELECT id, payload FROM events WHERE {COUNTED_SALES} AND profile_id = $1 ORDER BY id"
        ))
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sale_lines)
        .collect()
    }

    /// Replaces the rules of one kind with `rules`, in their order, computed at `computed_at` (ms).
    pub async fn save_pair_rules(
        &self,
        by: PairsBy,
        rules: &[Rule],
        computed_at: i64,
    ) -> Result<(), StoreError> {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM pair_rules WHERE item_kind = $1")
            .bind(by.as_str())
            .execute(&mut *tx.inner)
            .await?;
        let values: Vec<Vec<Value>> = rules
            .iter()
            .enumerate()
            .map(|(rank, rule)| {
                vec![
                    by.as_str().into(),
                    (rank as i64).into(),
                    rule.antecedent.as_str().into(),
                    rule.consequent.as_str().into(),
                    Some(rule.support).into(),
                    Some(rule.confidence).into(),
                    Some(rule.lift).into(),
                    count(rule.baskets).into(),
                    count(rule.antecedent_baskets).into(),
                    count(rule.consequent_baskets).into(),
                    computed_at.into(),
                ]
            })
            .collect();
        rows::insert_values(
            &mut tx.inner,
            "INSERT INTO pair_rules (item_kind, rank, antecedent, consequent, support, confidence,
                 lift, baskets, antecedent_baskets, consequent_baskets, computed_at)",
            "",
            &values,
        )
        .await?;
        tx.commit().await
    }

    /// The stored rules of one kind, best first, with when they were computed (ms).
    pub async fn pair_rules(&self, by: PairsBy) -> Result<Vec<(Rule, i64)>, StoreError> {
        sqlx::query("SELECT * FROM pair_rules WHERE item_kind = $1 ORDER BY rank")
            .bind(by.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((rule(row)?, row.try_get("computed_at")?)))
            .collect()
    }
}

fn sale_lines(row: &AnyRow) -> Result<SaleLines, StoreError> {
    Ok(SaleLines {
        event_id: row.try_get("id")?,
        payload: row.try_get("payload")?,
    })
}

fn rule(row: &AnyRow) -> Result<Rule, StoreError> {
    let item = |column: &str| -> Result<Item, StoreError> {
        Item::new(&row.try_get::<String, _>(column)?)
            .ok_or_else(|| StoreError::Corrupt(format!("pair_rules.{column} is empty")))
    };
    let count = |column: &str| -> Result<u64, StoreError> {
        u64::try_from(row.try_get::<i64, _>(column)?)
            .map_err(|_| StoreError::Corrupt(format!("pair_rules.{column} is negative")))
    };
    Ok(Rule {
        antecedent: item("antecedent")?,
        consequent: item("consequent")?,
        support: row.try_get("support")?,
        confidence: row.try_get("confidence")?,
        lift: row.try_get("lift")?,
        baskets: count("baskets")?,
        antecedent_baskets: count("antecedent_baskets")?,
        consequent_baskets: count("consequent_baskets")?,
    })
}
