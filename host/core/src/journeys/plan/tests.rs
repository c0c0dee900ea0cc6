//! Plans checked against times worked out by hand.

use super::*;
use crate::journeys::admit::{admit, Admission, Standing};
use crate::journeys::Reentry;
use crate::model::{Channel, LineItem, Money, OrderState, Quantity, SalesChannel};
use crate::predictions::bgnbd::BgNbd;
use crate::predictions::summary::CustomerSummary;
use crate::predictions::TimeUnit;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn eur(minor: i64) -> Money {
    Money {
        minor,
        currency: "EUR".to_owned().try_into().unwrap(),
    }
}

fn journey(name: &str, trigger: Trigger) -> Journey {
    Journey {
        name: name.into(),
        sink: "crm".into(),
        channel: Channel::Email,
        trigger,
        wait_minutes: 60,
        reentry: None,
        max_age_days: None,
        window_days: 7,
        categories: Vec::new(),
        typical_days: None,
        min_price_minor: None,
        p_alive_below: None,
        days_past_expected: None,
        experiment: None,
        enabled: true,
        rollout: 1.0,
    }
}

fn line(product: &str, category: &str, price: i64) -> LineItem {
    LineItem {
        sku: None,
        product: product.into(),
        category: Some(category.into()),
        quantity: Quantity { units: 1, scale: 0 },
        unit_price: eur(price),
        total: eur(price),
    }
}

fn order(id: &str, placed: &str, lines: Vec<LineItem>) -> Order {
    Order {
        id: id.into(),
        customer: None,
        location: None,
        channel: SalesChannel::InStore,
        state: OrderState::Completed,
        lines,
        subtotal: eur(0),
        tax: eur(0),
        discount: eur(0),
        total: eur(0),
        placed_at: at(placed),
        updated_at: at(placed),
        version: None,
    }
}

fn bought(placed: &str, category: &str) -> Sale {
    Sale {
        placed_at: at(placed),
        total: eur(1_000),
        channel: SalesChannel::InStore,
        categories: vec![(category.into(), 1_000)],
    }
}

#[test]
fn sales_start_a_first_order_once_every_order_always_and_an_accessory_from_the_dearest_line() {
    let mut accessory = journey("lens", Trigger::Accessory);
    accessory.min_price_minor = Some(50_000);
    let journeys = [
        journey("welcome", Trigger::FirstOrder),
        journey("thanks", Trigger::EveryOrder),
        accessory,
    ];
    let cheap = order(
        "o-1",
        "2026-03-01T10:00:00Z",
        vec![line("Strap", "straps", 2_000)],
    );
    let dear = order(
        "o-2",
        "2026-03-05T10:00:00Z",
        vec![
            line("Camera", "cameras", 90_000),
            line("Tripod", "tripods", 60_000),
        ],
    );
    let sales = vec![
        NewSale {
            profile_id: 1,
            person: "p-1",
            event_id: 12,
            source_event_id: "e-2",
            order: &dear,
        },
        NewSale {
            profile_id: 1,
            person: "p-1",
            event_id: 11,
            source_event_id: "e-1",
            order: &cheap,
        },
    ];
    let waits = sale_waits("pos", &journeys, sales, HashSet::new());
    let got: Vec<(&str, i64, DateTime<Utc>)> = waits
        .iter()
        .map(|w| (w.journey.name.as_str(), w.event_id.unwrap(), w.due))
        .collect();
    assert_eq!(
        got,
        [
            ("welcome", 11, at("2026-03-01T11:00:00Z")),
            ("thanks", 11, at("2026-03-01T11:00:00Z")),
            ("thanks", 12, at("2026-03-05T11:00:00Z")),
            ("lens", 12, at("2026-03-05T11:00:00Z")),
        ]
    );
    assert_eq!(waits[3].detail["bought"], "Camera");
    assert_eq!(waits[3].detail["bought_category"], "cameras");
    assert_eq!(waits[3].detail["order_id"], "o-2");
}

fn context(now: &str) -> Context<'static> {
    Context {
        zone: chrono_tz::Europe::Paris,
        now: at(now),
        max_age: Duration::days(3),
        models: None,
    }
}

#[test]
fn replenishment_waits_the_typical_interval_then_the_persons_own_mean_gap() {
    let mut beans = journey("beans", Trigger::Replenishment);
    beans.categories = vec!["coffee".into()];
    beans.typical_days = Some(30);
    beans.wait_minutes = 0;
    let journeys = [beans];
    let once = [bought("2026-03-01T09:00:00Z", "coffee")];
    let person = Person {
        profile_id: 7,
        key: "p-7",
        sales: &once,
        birthday: None,
    };
    let waits = fact_waits(&journeys, &person, &context("2026-03-02T00:00:00Z"));
    assert_eq!(waits.len(), 1);
    // One purchase: the typical 30 days.
    assert_eq!(waits[0].due, at("2026-03-31T09:00:00Z"));
    assert!(waits[0].replaces);
    // Three purchase days, 1, 11 and 21 March: gaps of 10 days, so the next is due 31 March.
    let thrice = [
        bought("2026-03-01T09:00:00Z", "coffee"),
        bought("2026-03-11T09:00:00Z", "coffee"),
        bought("2026-03-21T17:00:00Z", "coffee"),
        bought("2026-03-22T09:00:00Z", "cake"),
    ];
    let person = Person {
        sales: &thrice,
        ..person
    };
    let waits = fact_waits(&journeys, &person, &context("2026-03-22T00:00:00Z"));
    assert_eq!(waits[0].trigger_at, at("2026-03-31T17:00:00Z"));
    assert_eq!(waits[0].detail["interval_days"], "10.0");
    // A plan whose trigger is already older than the maximum age is not made (history).
    assert!(fact_waits(&journeys, &person, &context("2026-04-04T00:00:00Z")).is_empty());
}

#[test]
fn p_alive_falls_below_where_solving_eq_13_by_hand_says() {
    // r = 1, α = 10, a = 1, b = 3; x = 2, tₓ = 20. For p = ½: k = (2 − 1)(3 + 2 − 1)/1 = 4 and
    // T = (10 + 20)·4^(1/3) − 10 = 30 × 1.587401 − 10 = 37.62203.
    let model = BgNbd {
        r: 1.0,
        alpha: 10.0,
        a: 1.0,
        b: 3.0,
    };
    let c = CustomerSummary {
        x: 2,
        t_x: 20.0,
        t: 20.0,
        mean_spend: None,
    };
    let t = model.p_alive_falls_below(&c, 0.5).unwrap();
    assert!((t - 37.62203).abs() < 1e-4, "{t}");
    let at_t = model.p_alive(&CustomerSummary { t, ..c });
    assert!((at_t - 0.5).abs() < 1e-9, "{at_t}");
    assert_eq!(
        model.p_alive_falls_below(&CustomerSummary { x: 0, ..c }, 0.5),
        None
    );
}

#[test]
fn win_back_is_due_when_the_fit_says_the_person_lapses() {
    let models = Models {
        time_unit: TimeUnit::Day,
        bgnbd: BgNbd {
            r: 1.0,
            alpha: 10.0,
            a: 1.0,
            b: 3.0,
        },
        gamma_gamma: None,
    };
    let mut lapse = journey("come back", Trigger::WinBack);
    lapse.p_alive_below = Some(0.5);
    lapse.wait_minutes = 0;
    lapse.max_age_days = Some(400);
    let journeys = [lapse];
    // Purchase days 1, 11 and 21 January (UTC shop): x = 2, tₓ = 20 days; P(alive) falls below ½
    // 37.62203 days after 1 January 00:00, i.e. on 7 February at 14:55:43 (rounded up).
    let sales = [
        bought("2026-01-01T10:00:00Z", "coffee"),
        bought("2026-01-11T10:00:00Z", "coffee"),
        bought("2026-01-21T10:00:00Z", "coffee"),
    ];
    let person = Person {
        profile_id: 3,
        key: "p-3",
        sales: &sales,
        birthday: None,
    };
    let context = Context {
        zone: chrono_tz::UTC,
        models: Some(&models),
        ..context("2026-01-22T00:00:00Z")
    };
    let waits = fact_waits(&journeys, &person, &context);
    let seconds = (37.62203_f64 * 86_400.0).ceil() as i64;
    let expected = at("2026-01-01T00:00:00Z") + Duration::seconds(seconds);
    assert!(
        (waits[0].due - expected).num_seconds().abs() <= 1,
        "{:?}",
        waits[0].due
    );
    assert_eq!(waits[0].detail["last_visit"], "2026-01-21");
}

#[test]
fn a_birthday_is_due_at_its_month_or_now_within_it_and_next_year_after_it() {
    let mut party = journey("birthday", Trigger::Birthday);
    party.wait_minutes = 0;
    let journeys = [party];
    let person = |birthday| Person {
        profile_id: 5,
        key: "p-5",
        sales: &[],
        birthday: Some(birthday),
    };
    // Paris is UTC+2 in June: 1 June 00:00 local is 31 May 22:00 UTC.
    let before = fact_waits(
        &journeys,
        &person((6, 14)),
        &context("2026-05-20T00:00:00Z"),
    );
    assert_eq!(before[0].due, at("2026-05-31T22:00:00Z"));
    let within = fact_waits(
        &journeys,
        &person((6, 14)),
        &context("2026-06-10T08:00:00Z"),
    );
    assert_eq!(within[0].due, at("2026-06-10T08:00:00Z"));
    assert_eq!(within[0].detail["year"], "2026");
    let mut context_after = context("2026-07-01T08:00:00Z");
    context_after.max_age = Duration::days(400);
    let after = fact_waits(&journeys, &person((6, 14)), &context_after);
    assert_eq!(after[0].due, at("2027-05-31T22:00:00Z"));
}

#[test]
fn a_tier_change_plans_only_a_move_up() {
    let tier = |name: &str, spend| Tier {
        name: name.into(),
        min_spend_minor: Some(spend),
        min_lifetime_points: None,
    };
    let tiers = [tier("silver", 10_000), tier("gold", 50_000)];
    let journeys = [journey("welcome to a tier", Trigger::TierChange)];
    let now = at("2026-05-01T12:00:00Z");
    let up = tier_waits(
        &journeys,
        &tiers,
        (1, "p-1"),
        Some(&tiers[0]),
        Some(&tiers[1]),
        now,
    );
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].detail["tier"], "gold");
    assert_eq!(up[0].due, now + Duration::hours(1));
    let first = tier_waits(&journeys, &tiers, (1, "p-1"), None, Some(&tiers[0]), now);
    assert_eq!(first.len(), 1);
    assert!(tier_waits(
        &journeys,
        &tiers,
        (1, "p-1"),
        Some(&tiers[1]),
        Some(&tiers[0]),
        now
    )
    .is_empty());
    assert!(tier_waits(
        &journeys,
        &tiers,
        (1, "p-1"),
        Some(&tiers[1]),
        Some(&tiers[1]),
        now
    )
    .is_empty());
}

#[test]
fn admission_checks_age_consent_reentry_and_a_purchase_since_the_last_win_back() {
    let now = at("2026-06-10T12:00:00Z");
    let standing = Standing {
        consented: true,
        last_purchase: Some(at("2026-01-01T00:00:00Z")),
        last_entry: None,
    };
    let zone = chrono_tz::UTC;
    let thanks = journey("thanks", Trigger::EveryOrder);
    let three_days = Duration::days(3);
    let check = |j: &Journey, trigger: &str, s: &Standing| {
        admit(j, "p-ana", three_days, at(trigger), s, now, zone)
    };
    assert_eq!(
        check(&thanks, "2026-06-08T12:00:00Z", &standing),
        Admission::Enter
    );
    assert!(
        matches!(check(&thanks, "2026-06-07T11:00:00Z", &standing), Admission::Skip(why) if why.contains("maximum age"))
    );
    let refused = Standing {
        consented: false,
        ..standing
    };
    assert!(
        matches!(check(&thanks, "2026-06-10T00:00:00Z", &refused), Admission::Skip(why) if why.contains("consent"))
    );
    let mut once = journey("welcome", Trigger::FirstOrder);
    let entered = Standing {
        last_entry: Some(at("2025-12-31T00:00:00Z")),
        ..standing
    };
    assert!(matches!(
        check(&once, "2026-06-10T00:00:00Z", &entered),
        Admission::Skip(_)
    ));
    once.reentry = Some(Reentry::Yearly);
    assert_eq!(
        check(&once, "2026-06-10T00:00:00Z", &entered),
        Admission::Enter
    );
    once.reentry = Some(Reentry::AfterDays(200));
    assert!(matches!(
        check(&once, "2026-06-10T00:00:00Z", &entered),
        Admission::Skip(_)
    ));
    once.reentry = Some(Reentry::AfterDays(150));
    assert_eq!(
        check(&once, "2026-06-10T00:00:00Z", &entered),
        Admission::Enter
    );
    // Win-back: attempted on 31 December, no purchase since (last 1 January is after it: came
    // back, so another lapse may be won back; one from before is not).
    let win_back = journey("come back", Trigger::WinBack);
    assert_eq!(
        check(&win_back, "2026-06-09T00:00:00Z", &entered),
        Admission::Enter
    );
    let no_purchase_since = Standing {
        last_entry: Some(at("2026-02-01T00:00:00Z")),
        ..standing
    };
    assert!(
        matches!(check(&win_back, "2026-06-09T00:00:00Z", &no_purchase_since), Admission::Skip(why) if why.contains("no purchase since"))
    );
}

#[test]
fn a_rollout_holds_a_stable_share_that_only_grows_and_a_paused_journey_admits_nobody() {
    let people: Vec<String> = (0..10_000).map(|n| format!("p-{n:05}")).collect();
    let mut fifth = journey("thanks", Trigger::EveryOrder);
    fifth.rollout = 0.2;
    let mut half = journey("thanks", Trigger::EveryOrder);
    half.rollout = 0.5;
    let inside: Vec<&String> = people.iter().filter(|p| fifth.rolled_out_to(p)).collect();
    // Binomial(10 000, 0.2): mean 2 000, standard deviation 40; within four of them.
    assert!((1_840..=2_160).contains(&inside.len()), "{}", inside.len());
    assert!(
        inside.iter().all(|p| half.rolled_out_to(p)),
        "growing keeps everyone in"
    );
    assert!(people
        .iter()
        .all(|p| journey("thanks", Trigger::EveryOrder).rolled_out_to(p)));
    let mut other = journey("win-back", Trigger::WinBack);
    other.rollout = 0.2;
    let both = inside.iter().filter(|p| other.rolled_out_to(p)).count();
    // Each journey draws its own people: about a fifth of this fifth (400 ± 4 × 18).
    assert!((328..=472).contains(&both), "{both}");

    let now = at("2026-06-10T12:00:00Z");
    let standing = Standing {
        consented: true,
        last_purchase: None,
        last_entry: None,
    };
    let outside = people.iter().find(|p| !fifth.rolled_out_to(p)).unwrap();
    let admitted = |j: &Journey, who: &str| {
        admit(
            j,
            who,
            Duration::days(3),
            now,
            &standing,
            now,
            chrono_tz::UTC,
        )
    };
    assert_eq!(admitted(&fifth, inside[0]), Admission::Enter);
    assert!(matches!(admitted(&fifth, outside), Admission::Skip(why) if why.contains("rollout")));
    let mut paused = journey("thanks", Trigger::EveryOrder);
    paused.enabled = false;
    assert!(matches!(admitted(&paused, inside[0]), Admission::Skip(why) if why.contains("paused")));
    fifth.rollout = 1.5;
    assert!(fifth.check(false).unwrap_err().contains("rollout"));
}
