//! Win-back and birthday journeys end to end, on an injected clock: a csv-source shop whose history
//! (300 customers simulated from known BG/NBD parameters, and a few named ones) is imported, the
//! models fitted on it and the journeys planned again as the daemon does each day; then ten weeks
//! of shop life, an hour at a time, with messages to an http-sink catch-hook.
//!
//! - lapsed (win-back when P(alive) falls below 0.6): wes, who bought every two weeks and stopped,
//!   is written to when his P(alive) — worked out here from the fitted parameters by bisection on
//!   the model's formula — crosses 0.6, once, and not again while he buys nothing; vic, with the
//!   same history, buys again first, which moves his lapse to the later time his new history
//!   gives; ned, who never opted in, is never written to;
//! - birthday (the first day of the birthday month): bea, whose export gave her birthday in April,
//!   on 1 April at 08:00 (midnight is in the quiet hours, 21:00–08:00); zoe, born in April too
//!   but who refused marketing, not at all.

use crate::predict::{export, simulated_sales};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use rapport_core::clock::{Clock, ManualClock};
use rapport_core::predictions::BgNbd;
use rapport_e2e::{journey_message, plugin, TestShop};
use rapport_fakes::capture::CaptureServer;
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use rapport_host::predictions::{self, Refit};
use std::collections::BTreeMap;
use std::time::Duration as Wait;

/// The first day of the live part, 00:00 UTC.
fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap() + Duration::days(n)
}

const THRESHOLD: f64 = 0.6;

/// One receipt of the named customers: `customer` buys beans on day `n` at 10:00.
fn receipt(n: i64, customer: &str, opt_in: &str, birthday: &str) -> String {
    let placed = day(n) + Duration::hours(10);
    format!(
        "N{n}-{customer},{},{customer}@example.com,Beans,1,9.00,EUR,9.00,{opt_in},{birthday}\n",
        placed.format("%Y-%m-%d %H:%M:%S")
    )
}

const HEADER: &str = "receipt_id,date,customer_email,product,quantity,unit_price,currency,total,marketing_opt_in,customer_birthday\n";

/// The history of the named customers: wes and vic bought on days -40, -26 and -12; ned the same
/// without opting in; bea once, born on 15 April; zoe once, born on 3 April, refusing marketing.
fn named_history() -> String {
    let mut csv = String::from(HEADER);
    for n in [-40, -26, -12] {
        for (who, opt_in) in [("wes", "yes"), ("vic", "yes"), ("ned", "no")] {
            csv.push_str(&receipt(n, who, opt_in, ""));
        }
    }
    csv.push_str(&receipt(-100, "bea", "yes", "0000-04-15"));
    csv.push_str(&receipt(-90, "zoe", "no", "1990-04-03"));
    csv
}

/// P(alive) of a customer with `x` repeat purchases, the last `t_x` after the first, seen `t` after
/// the first (BG/NBD, Fader, Hardie & Lee 2005, eq. 11; in weeks).
fn p_alive(m: &BgNbd, x: f64, t_x: f64, t: f64) -> f64 {
    let odds = m.a / (m.b + x - 1.0) * ((m.alpha + t) / (m.alpha + t_x)).powf(m.r + x);
    1.0 / (1.0 + odds)
}

/// When P(alive) of a customer whose first purchase day began at `first` falls below the
/// threshold: bisection on `p_alive` over the weeks after `first`, to well under a second.
fn lapse(m: &BgNbd, first: DateTime<Utc>, x: f64, t_x: f64) -> DateTime<Utc> {
    let (mut lo, mut hi) = (t_x, t_x + 5_000.0);
    assert!(p_alive(m, x, t_x, lo) > THRESHOLD && p_alive(m, x, t_x, hi) < THRESHOLD);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        match p_alive(m, x, t_x, mid) < THRESHOLD {
            true => hi = mid,
            false => lo = mid,
        }
    }
    first + Duration::milliseconds((hi * 7.0 * 86_400_000.0).ceil() as i64)
}

/// When a message due at `due` reaches the CRM, with the clock moved an hour at a time: at the
/// first whole hour from `due`, or at 08:00 if that hour is in the quiet hours.
fn arrival(due: DateTime<Utc>) -> DateTime<Utc> {
    let mut hour = due.with_minute(0).unwrap().with_second(0).unwrap();
    hour = hour.with_nanosecond(0).unwrap();
    if hour < due {
        hour += Duration::hours(1);
    }
    match hour.hour() {
        21.. => (hour + Duration::days(1)).with_hour(8).unwrap(),
        ..8 => hour.with_hour(8).unwrap(),
        _ => hour,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn win_back_and_birthday_journeys_fire_at_the_times_the_model_and_the_calendar_give() {
    let crm = CaptureServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = TestShop::new()
        .sqlite()
        .section("shop", [("time_zone", "UTC".into())])
        .quiet_hours("21:00", "08:00")
        .csv_source("shop")
        .sink("crm", &plugin("http-sink"), [("url", crm.url().into())])
        .journey("lapsed", "crm", "email", "win-back")
        .set("p_alive_below", THRESHOLD.into())
        .journey("birthday", "crm", "email", "birthday")
        .text(dir.path());
    let clock = ManualClock::starting_at(day(0) + Duration::hours(9));
    let pipeline =
        Pipeline::start_with_clock(Config::parse(&text, dir.path()).unwrap(), clock.shared())
            .await
            .unwrap();
    let intake = &pipeline.intake;
    let csv = vec![("content-type".to_string(), "text/csv".to_string())];
    let as_of: NaiveDate = day(-1).date_naive();
    let simulated: Vec<_> = simulated_sales(300, as_of, 7)
        .into_iter()
        .filter(|s| s.placed_at < day(0))
        .collect();
    for body in [export(&simulated), named_history()] {
        let report = intake
            .receive_history("shop", csv.clone(), body.into_bytes())
            .await
            .unwrap();
        let refused = pipeline.store.rejected_inputs("shop").await.unwrap();
        assert_eq!(report.rejected, 0, "{:?}", refused.first());
    }
    let store = &pipeline.store;
    let fitted = predictions::refit(store, chrono_tz::UTC, as_of, clock.now())
        .await
        .unwrap();
    let Refit::Fitted(fit) = fitted else {
        panic!("the shop is above the minimum: {fitted:?}")
    };
    let model = fit.fit.bgnbd.params;

    // wes: x = 2 repeat purchase days, the last 28 days (4 weeks) after his first, day -40.
    let wes_due = lapse(&model, day(-40), 2.0, 4.0);
    // vic buys again on day 5: x = 3, the last 45 days after the first.
    let vic_due = lapse(&model, day(-40), 3.0, 45.0 / 7.0);
    let end = day(70);
    assert!(
        day(5) < wes_due && wes_due < vic_due && vic_due < end - Duration::days(7),
        "the fit puts the lapses inside the ten weeks: {model:?}, wes {wes_due}, vic {vic_due}"
    );

    let mut seen: Vec<(String, String, DateTime<Utc>, serde_json::Value)> = Vec::new();
    let mut counted = 0;
    let mut vic_bought = false;
    while clock.now() < end {
        let now = clock.now();
        if now.hour() == 3 {
            pipeline.replan_journeys().await.unwrap();
        }
        if now >= day(5) + Duration::hours(10) && !vic_bought {
            let mut again = String::from(HEADER);
            again.push_str(&receipt(5, "vic", "yes", ""));
            let report = intake
                .receive_push("shop", csv.clone(), again.into_bytes())
                .await
                .unwrap();
            assert_eq!(report.rejected, 0);
            vic_bought = true;
        }
        pipeline
            .drain(Wait::ZERO, Wait::from_secs(30))
            .await
            .unwrap();
        let activities = crm.captured().activities;
        for activity in &activities[counted..] {
            let Some((journey, email)) = journey_message(activity) else {
                continue;
            };
            let who = email.trim_end_matches("@example.com").to_string();
            seen.push((journey, who, now, activity["properties"].clone()));
        }
        counted = activities.len();
        clock.set(now.with_minute(0).unwrap().with_second(0).unwrap() + Duration::hours(1));
    }

    let mut received: BTreeMap<(&str, &str), Vec<DateTime<Utc>>> = BTreeMap::new();
    for (journey, who, at, _) in &seen {
        received.entry((journey, who)).or_default().push(*at);
    }
    let got = |journey: &str, who: &str| received.get(&(journey, who)).cloned().unwrap_or_default();
    assert_eq!(
        got("lapsed", "wes"),
        [arrival(wes_due)],
        "once, when he lapses"
    );
    assert_eq!(
        got("lapsed", "vic"),
        [arrival(vic_due)],
        "moved by his purchase"
    );
    assert!(got("lapsed", "ned").is_empty(), "never opted in");
    let wes = seen
        .iter()
        .find(|s| s.0 == "lapsed" && s.1 == "wes")
        .unwrap();
    assert_eq!(wes.3["last_visit"], day(-12).date_naive().to_string());
    assert_eq!(wes.3["step"], "win-back");
    assert_eq!(
        got("birthday", "bea"),
        [day(31) + Duration::hours(8)],
        "1 April, 08:00"
    );
    assert!(got("birthday", "zoe").is_empty(), "refused marketing");
    let simulated_people = seen.iter().filter(|s| s.1.starts_with('c')).count();
    let named = seen
        .iter()
        .filter(|s| s.0 == "lapsed" && !s.1.starts_with('c'))
        .count();
    assert_eq!(named, 2);
    assert_eq!(
        simulated_people, 0,
        "the simulated customers gave no consent, so none of them is written to"
    );
    pipeline.store.close().await;
}
