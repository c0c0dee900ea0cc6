//! Product pairs end to end: a hand-made export imported through the csv-source as history, then
//! `rapport pairs --json` by product and by category, each rule's support, confidence, lift and
//! baskets checked against values worked out by hand below; and a shop below the minimum of
//! baskets refused with the reason and the figures.

use chrono::{Duration, Utc};
use rapport_e2e::{output_text, ShopDir, TestShop};
use serde_json::Value;

/// `days` ago at noon, as the CSV export writes it.
fn ago(days: i64) -> String {
    let day = (Utc::now() - Duration::days(days)).date_naive();
    format!("{day}T12:00:00Z")
}

/// A product: sku (empty for none), name, category, price.
type Product = (&'static str, &'static str, &'static str, &'static str);

const GRINDER: Product = ("G-1", "Grinder", "equipment", "40.00");
const FILTERS: Product = ("F-1", "Filters", "paper", "5.00");
const BEANS: Product = ("B-1", "House beans", "coffee", "12.00");
const MUG: Product = ("M-1", "Mug", "equipment", "8.00");
const LATTE: Product = ("", "Latte", "drinks", "4.00");
const CAKE: Product = ("K-1", "Cake", "bakery", "3.00");
const TART: Product = ("T-1", "Tart", "bakery", "3.00");

/// The CSV rows of `count` sales of `lines`, numbered from `first`, placed `days` ago (a sale's
/// number is added to it, so they fall on different days within a few weeks).
fn sales(first: usize, count: usize, days: i64, lines: &[Product]) -> Vec<String> {
    let cents = |price: &str| -> i64 { price.replace('.', "").parse().unwrap() };
    let total: i64 = lines.iter().map(|(_, _, _, price)| cents(price)).sum();
    let total = format!("{}.{:02}", total / 100, total % 100);
    (first..first + count)
        .flat_map(|n| {
            let date = ago(days + n as i64 % 30);
            let total = total.clone();
            lines.iter().map(move |(sku, product, category, price)| {
                format!(
                    "S{n},sale,,{date},Main,in-store,C-{},,,,,{sku},{product},{category},1,{price},{price},USD,0,0,{total}",
                    n % 7
                )
            })
        })
        .collect()
}

fn csv(rows: Vec<String>) -> String {
    let header = "receipt_id,kind,refund_of,date,location,channel,customer_id,customer_email,customer_phone,customer_name,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";
    format!("{header}\n{}\n", rows.join("\n"))
}

/// 24 baskets in the last year, and 3 older ones the window leaves out:
///
/// | sales | products                   | categories          |
/// |-------|----------------------------|---------------------|
/// | 5     | Grinder, Filters (twice)   | equipment, paper    |
/// | 1     | Grinder                    | equipment           |
/// | 3     | Filters, House beans       | paper, coffee       |
/// | 6     | House beans                | coffee              |
/// | 3     | Mug, Latte                 | equipment, drinks   |
/// | 4     | Latte                      | drinks              |
/// | 2     | Cake, Tart                 | bakery              |
/// | 3     | Grinder, Latte (400 days)  | —                   |
fn export() -> String {
    csv([
        sales(1, 5, 2, &[GRINDER, FILTERS, FILTERS]),
        sales(6, 1, 2, &[GRINDER]),
        sales(7, 3, 2, &[FILTERS, BEANS]),
        sales(10, 6, 2, &[BEANS]),
        sales(16, 3, 2, &[MUG, LATTE]),
        sales(19, 4, 2, &[LATTE]),
        sales(23, 2, 2, &[CAKE, TART]),
        sales(25, 3, 400, &[GRINDER, LATTE]),
    ]
    .concat())
}

/// A shop with `export` (of `sales` sales) imported as history, under these `[pairs]` settings.
async fn shop(export: String, sales: usize, pairs: [(&str, toml::Value); 4]) -> ShopDir {
    let dir = TestShop::new()
        .sqlite()
        .section("pairs", pairs)
        .csv_source("shop")
        .http_sink("crm", "http://127.0.0.1:9/hook", [])
        .write();
    let imported = dir.import("shop", &export, &["--history"]).await;
    let accepted = format!("accepted {sales} events, 0 duplicates, 0 rejected");
    assert!(
        String::from_utf8_lossy(&imported.stdout).contains(&accepted),
        "{}",
        output_text(&imported)
    );
    dir
}

/// Each rule as (antecedent, consequent, support, confidence, lift, baskets).
fn rules(json: &Value) -> Vec<(String, String, f64, f64, f64, i64)> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["antecedent"].as_str().unwrap().to_owned(),
                r["consequent"].as_str().unwrap().to_owned(),
                r["support"].as_f64().unwrap(),
                r["confidence"].as_f64().unwrap(),
                r["lift"].as_f64().unwrap(),
                r["baskets"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn assert_rules(got: &Value, want: &[(&str, &str, f64, f64, f64, i64)]) {
    let got = rules(got);
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.0.as_str(), g.1.as_str(), g.5),
            (w.0, w.1, w.5),
            "{got:?}"
        );
        for (have, expect) in [(g.2, w.2), (g.3, w.3), (g.4, w.4)] {
            assert!((have - expect).abs() < 1e-9, "{g:?} against {w:?}");
        }
    }
}

#[tokio::test]
async fn pairs_by_product_and_category_match_the_hand_computed_rules() {
    // 24 sales in the window and 3 older ones.
    let dir = shop(
        export(),
        27,
        [
            ("min_baskets", 20.into()),
            ("min_pair_baskets", 3.into()),
            ("min_support", 0.1.into()),
            ("min_confidence", 0.5.into()),
        ],
    )
    .await;
    let run = |by: &'static str| {
        let dir = &dir;
        async move {
            let output = dir.rapport(&["pairs", "--by", by, "--json"]).await;
            assert!(output.status.success(), "{}", output_text(&output));
            serde_json::from_slice::<Value>(&output.stdout).unwrap()
        }
    };

    // Products, over the 24 baskets of the window: Grinder (G-1) 6, Filters (F-1) 8, House
    // beans (B-1) 9, Mug (M-1) 3, Latte (no sku: its name) 7, Cake 2, Tart 2.
    // - M-1 → Latte: both 3; support 3/24 = 0.125, confidence 3/3 = 1, lift 3·24/(3·7) = 24/7.
    // - G-1 → F-1: both 5 (Filters twice in a sale counts once); support 5/24, confidence 5/6,
    //   lift 5·24/(6·8) = 2.5. F-1 → G-1: confidence 5/8, lift 2.5.
    // Left out: Latte → M-1 (confidence 3/7 < 0.5), F-1 ↔ B-1 (lift 3·24/(8·9) = 1, not above
    // 1), Cake ↔ Tart (2 baskets < 3), Grinder with Latte (older than the window).
    assert_rules(
        &run("product").await,
        &[
            ("M-1", "Latte", 0.125, 1.0, 24.0 / 7.0, 3),
            ("G-1", "F-1", 5.0 / 24.0, 5.0 / 6.0, 2.5, 5),
            ("F-1", "G-1", 5.0 / 24.0, 5.0 / 8.0, 2.5, 5),
        ],
    );

    // Categories: equipment 5 + 1 + 3 = 9, paper 8, coffee 9, drinks 7, bakery 2.
    // - paper → equipment: both 5; support 5/24, confidence 5/8, lift 5·24/(8·9) = 5/3.
    // - equipment → paper: confidence 5/9, lift 5/3.
    // Left out: paper ↔ coffee (lift 3·24/(8·9) = 1), equipment ↔ drinks (confidences 3/9 and
    // 3/7 < 0.5).
    assert_rules(
        &run("category").await,
        &[
            ("paper", "equipment", 5.0 / 24.0, 5.0 / 8.0, 5.0 / 3.0, 5),
            ("equipment", "paper", 5.0 / 24.0, 5.0 / 9.0, 5.0 / 3.0, 5),
        ],
    );

    let table = dir.rapport(&["pairs"]).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("3 rule(s) by product from 24 basket(s)") && text.contains("M-1 → Latte"),
        "{}",
        output_text(&table)
    );
}

#[tokio::test]
async fn a_shop_below_the_minimum_is_refused_with_the_shortfall() {
    let export = csv([
        sales(1, 5, 2, &[GRINDER, FILTERS]),
        sales(6, 3, 2, &[LATTE]),
    ]
    .concat());
    let dir = shop(
        export,
        8,
        [
            ("min_baskets", 100.into()),
            ("min_pair_baskets", 5.into()),
            ("min_support", 0.005.into()),
            ("min_confidence", 0.1.into()),
        ],
    )
    .await;
    for by in ["product", "category"] {
        let output = dir.rapport(&["pairs", "--by", by, "--json"]).await;
        assert!(!output.status.success(), "{}", output_text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no pairs by {by}"))
                && stderr.contains("8 sales with items in the window")
                && stderr.contains("needs 100 (92 more)"),
            "{}",
            output_text(&output)
        );
        assert!(output.stdout.is_empty(), "{}", output_text(&output));
    }
}
