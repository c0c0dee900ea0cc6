//! `rapport predict` on a shop whose history was imported through the csv-source plugin into a
//! SQLite store: customers simulated from known BG/NBD and Gamma-Gamma parameters, fitted on the
//! history up to `--as-of` (later sales are in the store and must be left out); and a shop too
//! small to predict from, refused with the reason and its figures.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rapport_core::predictions::simulate;
use rapport_core::predictions::{fit_shop, BgNbd, GammaGamma, Sale, ShopHistory, TIME_UNIT};
use rapport_e2e::{output_text, TestShop};
use serde_json::Value;
use std::fmt::Write;

const TRUTH: BgNbd = BgNbd {
    r: 1.5,
    alpha: 10.0,
    a: 0.6,
    b: 2.5,
};

const SPEND: GammaGamma = GammaGamma {
    p: 6.0,
    q: 4.0,
    v: 15.0,
};

/// `customers` customers whose first purchase falls in the year before `as_of`, each simulated up to
/// 60 days after it, as sales at noon UTC plus the simulated time (whole cents, in EUR).
pub(crate) fn simulated_sales(customers: usize, as_of: NaiveDate, seed: u64) -> Vec<Sale> {
    let mut rng = StdRng::seed_from_u64(seed);
    let end = Utc
        .from_utc_datetime(&as_of.and_hms_opt(12, 0, 0).unwrap())
        .timestamp_millis();
    let week_ms = 7.0 * 86_400_000.0;
    let mut sales = Vec::new();
    for id in 0..customers {
        let t = 52.0 * (1.0 - rand::Rng::gen::<f64>(&mut rng));
        let first = end - (t * week_ms) as i64;
        for p in simulate::customer(&mut rng, &TRUTH, &SPEND, t + 60.0 / 7.0) {
            sales.push(Sale {
                profile_id: id as i64,
                placed_at: Utc
                    .timestamp_millis_opt(first + (p.at * week_ms) as i64)
                    .unwrap(),
                amount_minor: ((p.spend * 100.0).round() as i64).max(1),
                currency: "EUR".to_owned().try_into().unwrap(),
            });
        }
    }
    sales
}

/// The sales as a csv-source export: one receipt per sale, the customer named by email.
pub(crate) fn export(sales: &[Sale]) -> String {
    let mut csv =
        String::from("receipt_id,date,customer_email,product,quantity,unit_price,currency,total\n");
    for (n, s) in sales.iter().enumerate() {
        let amount = format!("{}.{:02}", s.amount_minor / 100, s.amount_minor % 100);
        let _ = writeln!(
            csv,
            "R{n},{},c{}@example.com,Coffee,1,{amount},EUR,{amount}",
            s.placed_at.format("%Y-%m-%d %H:%M:%S"),
            s.profile_id
        );
    }
    csv
}

async fn predict(sales: &[Sale], as_of: NaiveDate) -> (std::process::Output, Value) {
    let dir = TestShop::new().sqlite().csv_source("shop").write();
    dir.import("shop", &export(sales), &["--history"]).await;
    let as_of = as_of.to_string();
    let output = dir.rapport(&["predict", "--json", "--as-of", &as_of]).await;
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&output)));
    (output, json)
}

fn number(json: &Value, path: &[&str]) -> f64 {
    let mut at = json;
    for key in path {
        at = &at[key];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {json:#}"))
}

/// 1,000 customers, about 4,200 sales. The fit in the JSON is the one the core makes of the same
/// sales summarised by purchase day (to 1e-6): the store, the import and the `--as-of` cut lose
/// and add nothing. Against the parameters the customers were drawn from: at this size a and b,
/// and p and v, are each poorly pinned down alone (they trade off against each other), so the
/// test checks what is: r and α within 35%, the mean drop-out a/(a+b) within 40%, q within 30%
/// and the mean spend pv/(q−1) within 12%. Over 12 seeds of this shop the largest errors were
/// 14%, 16%, 20%, 14% and 5%.
#[tokio::test(flavor = "multi_thread")]
async fn the_fit_recovers_the_parameters_the_shop_was_simulated_from() {
    let as_of: NaiveDate = "2026-06-30".parse().unwrap();
    let sales = simulated_sales(1_000, as_of, 2026);
    let (output, json) = predict(&sales, as_of).await;
    assert!(output.status.success(), "{}", output_text(&output));

    let history = ShopHistory::summarise(&sales, chrono_tz::UTC, as_of, TIME_UNIT);
    let expected = fit_shop(&history).unwrap();
    assert_eq!(json["as_of"], "2026-06-30");
    assert_eq!(json["time_unit"], "week");
    assert_eq!(json["currency"], "EUR");
    assert_eq!(json["customers"], expected.figures.customers);
    assert_eq!(json["repeat_customers"], expected.figures.repeat_customers);
    let same = |got: f64, want: f64| (got - want).abs() <= 1e-6 * want.abs().max(1.0);
    let b = expected.bgnbd.params;
    let g = expected.gamma_gamma.unwrap().params;
    for (path, want) in [
        (["bgnbd", "r"], b.r),
        (["bgnbd", "alpha"], b.alpha),
        (["bgnbd", "a"], b.a),
        (["bgnbd", "b"], b.b),
        (["bgnbd", "log_likelihood"], expected.bgnbd.log_likelihood),
        (["gamma_gamma", "p"], g.p),
        (["gamma_gamma", "q"], g.q),
        (["gamma_gamma", "v"], g.v),
    ] {
        let got = number(&json, &path);
        assert!(same(got, want), "{path:?}: {got} vs {want}");
    }

    let near = |name: &str, got: f64, truth: f64, tolerance: f64| {
        assert!(
            (got - truth).abs() <= tolerance * truth,
            "{name} = {got}, drawn from {truth}"
        );
    };
    let at = |model: &str, name: &str| number(&json, &[model, name]);
    near("r", at("bgnbd", "r"), TRUTH.r, 0.35);
    near("alpha", at("bgnbd", "alpha"), TRUTH.alpha, 0.35);
    let drop = |a: f64, b: f64| a / (a + b);
    near(
        "a/(a+b)",
        drop(at("bgnbd", "a"), at("bgnbd", "b")),
        drop(TRUTH.a, TRUTH.b),
        0.4,
    );
    near("q", at("gamma_gamma", "q"), SPEND.q, 0.3);
    let mean = |p: f64, q: f64, v: f64| p * v / (q - 1.0);
    near(
        "pv/(q-1)",
        mean(
            at("gamma_gamma", "p"),
            at("gamma_gamma", "q"),
            at("gamma_gamma", "v"),
        ),
        mean(SPEND.p, SPEND.q, SPEND.v),
        0.12,
    );
}

/// The public CDNOW sample (host/core/testdata/cdnow: 2,357 customers, 6,919 transactions, from
/// the `lifetimes` package), imported as a POS export and fitted on the 39-week calibration period,
/// reproduces the published fits: BG/NBD r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4
/// (Fader, Hardie & Lee 2005a) and Gamma-Gamma p = 6.25, q = 3.74, γ = 15.44 (2005b), within their
/// rounding. rapport takes no sale before 2000, so every date is moved 28 years on (2025's
/// calendar is 1997's: the same weekdays and day counts); the calibration ends 2025-09-30.
#[tokio::test(flavor = "multi_thread")]
async fn the_cdnow_sample_gives_the_published_fit() {
    let mut csv =
        String::from("receipt_id,date,customer_email,product,quantity,unit_price,currency,total\n");
    let sample = include_str!("../../../host/core/testdata/cdnow/CDNOW_sample.txt");
    for (n, line) in sample.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let year: i32 = f[2][..4].parse().unwrap();
        let date = format!("{}-{}-{} 12:00", year + 28, &f[2][4..6], &f[2][6..]);
        let _ = writeln!(
            csv,
            "T{n},{date},c{}@example.com,CD,1,{},USD,{}",
            f[1], f[4], f[4]
        );
    }
    let dir = TestShop::new().sqlite().csv_source("shop").write();
    dir.import("shop", &csv, &["--history"]).await;
    let output = dir
        .rapport(&["predict", "--json", "--as-of", "2025-09-30"])
        .await;
    assert!(output.status.success(), "{}", output_text(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["customers"], 2357);
    assert_eq!(json["repeat_customers"], 946);
    assert_eq!(json["time_unit"], "week");
    for (path, published, rounding) in [
        (["bgnbd", "r"], 0.243, 0.001),
        (["bgnbd", "alpha"], 4.414, 0.001),
        (["bgnbd", "a"], 0.793, 0.001),
        (["bgnbd", "b"], 2.426, 0.001),
        (["bgnbd", "log_likelihood"], -9582.4, 0.1),
        (["gamma_gamma", "p"], 6.25, 0.01),
        (["gamma_gamma", "q"], 3.74, 0.01),
        (["gamma_gamma", "v"], 15.44, 0.01),
    ] {
        let got = number(&json, &path);
        assert!(
            (got - published).abs() <= rounding,
            "{path:?} = {got}, published {published}"
        );
    }

    // Customer 0001's marketer view carries P(alive) from this fit, as the paper's eq. (12) gives
    // it for their purchase days (all of them, up to today, in weeks):
    // 1 / (1 + a/(b + x − 1) · ((α + T)/(α + tₓ))^(r + x)).
    let days: std::collections::BTreeSet<NaiveDate> = sample
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f[1] == "0001")
        .map(|f| {
            let d = NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap();
            d.with_year(d.year() + 28).unwrap()
        })
        .collect();
    let first = *days.first().unwrap();
    let weeks = |d: NaiveDate| (d - first).num_days() as f64 / 7.0;
    let (x, t_x, t) = (
        (days.len() - 1) as f64,
        weeks(*days.last().unwrap()),
        weeks(Utc::now().date_naive()),
    );
    let p = |name: &str| number(&json, &["bgnbd", name]);
    let expected = 1.0
        / (1.0
            + p("a") / (p("b") + x - 1.0)
                * ((p("alpha") + t) / (p("alpha") + t_x)).powf(p("r") + x));
    let view = dir
        .rapport(&["profile", "show", "c0001@example.com", "--json"])
        .await;
    assert!(view.status.success(), "{}", output_text(&view));
    let view: Value = serde_json::from_slice(&view.stdout).unwrap();
    let p_alive = number(&view, &["predictions", "p_alive"]);
    assert!(
        x >= 1.0 && (p_alive - expected).abs() < 1e-9,
        "P(alive) {p_alive}, by hand {expected}"
    );
    let purchases = view["predictions"]["purchases"].as_array().unwrap();
    let days_ahead: Vec<i64> = purchases
        .iter()
        .map(|p| p["days"].as_i64().unwrap())
        .collect();
    assert_eq!(days_ahead, [30, 90, 365]);
}

/// 40 customers over three weeks: refused, non-zero, with the reason and each figure's shortfall.
#[tokio::test(flavor = "multi_thread")]
async fn a_shop_too_small_is_refused_with_the_reason() {
    let as_of: NaiveDate = "2026-06-30".parse().unwrap();
    let sales: Vec<Sale> = simulated_sales(40, as_of, 7)
        .into_iter()
        .filter(|s| s.placed_at.date_naive() > as_of - Duration::days(21))
        .collect();
    let (output, json) = predict(&sales, as_of).await;
    assert!(!output.status.success(), "{}", output_text(&output));
    let reason = json["refused"].as_str().unwrap();
    assert!(reason.contains("not enough history"), "{reason}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not enough history"),
        "{}",
        output_text(&output)
    );
    let customers = json["customers"].as_u64().unwrap();
    assert!(customers > 0 && customers <= 40, "{json:#}");
    let short: Vec<&str> = json["short"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gap| gap["figure"].as_str().unwrap())
        .collect();
    assert!(
        short.contains(&"customers") && short.contains(&"history_days"),
        "{json:#}"
    );
    assert_eq!(json["minimum"]["customers"], 100);
}
