//! What the vendor-source tests share: sales staged in the simulators (`sale`, `line`, `ms`) and
//! the events the host stored from them, read back from the `events` table (`stored`).

use rapport_fakes::shop::{Line, Receipt};
use rapport_host::pipeline::Pipeline;
use serde_json::Value;
use sqlx::{AnyPool, Row};

/// Milliseconds of an RFC 3339 time.
pub fn ms(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .timestamp_millis()
}

/// A line of `quantity` × `product` at `unit_cents` (minor units as the simulators take them). Its
/// category is not used: each vendor's own data gives a line its category.
pub fn line(sku: &str, product: &str, quantity: u32, unit_cents: i64) -> Line {
    Line {
        sku: sku.into(),
        product: product.into(),
        category: "unused: the vendor's data gives the category".into(),
        quantity,
        unit_cents,
    }
}

/// A sale at the High Street shop at `date` (UTC), in store or `online`, with `tax` and
/// `discount` in the same minor units as the lines.
pub fn sale(
    id: &str,
    date: &str,
    lines: Vec<Line>,
    online: bool,
    tax: i64,
    discount: i64,
) -> Receipt {
    let gross: i64 = lines
        .iter()
        .map(|l| l.unit_cents * i64::from(l.quantity))
        .sum();
    Receipt {
        id: id.into(),
        refund_of: None,
        at: ms(date) / 1000,
        date: date.into(),
        location: "High Street".into(),
        online,
        customer: None,
        lines,
        tax_cents: tax,
        discount_cents: discount,
        total_cents: gross + tax - discount,
        file_lines: Vec::new(),
        malformed: None,
    }
}

/// One stored event: its id at the source, kind, vendor object, whether a newer version replaced
/// it, and its canonical payload.
#[derive(Debug, Clone)]
pub struct Stored {
    pub event_id: String,
    pub kind: String,
    pub object_id: String,
    pub superseded: bool,
    pub payload: Value,
}

/// Every event the host stored, oldest first.
pub async fn stored(pipeline: &Pipeline) -> Vec<Stored> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&pipeline.config.store.database_url)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT source_event_id, kind, object_id, superseded, payload FROM events ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| Stored {
            event_id: r.get("source_event_id"),
            kind: r.get("kind"),
            object_id: r.get("object_id"),
            superseded: r.get::<i64, _>("superseded") != 0,
            payload: serde_json::from_str(&r.get::<String, _>("payload")).unwrap(),
        })
        .collect()
}
