//! `rapport profile` and `rapport segments`: one person as the counter or a marketer sees them,
//! their service issues, the facts rebuilt from scratch, and the shop's buyers per RFM segment.

use chrono::Utc;
use clap::Subcommand;
use rapport_core::identity::Normalizer;
use rapport_host::config::Config;
use rapport_host::lookup::find_one;
use rapport_host::profiles::rebuild;
use rapport_host::profiles::segments::{segments, Segments};
use rapport_host::profiles::view::{self, MarketerView, StaffView, ViewKind, ViewRules};
use rapport_store::Store;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Show one person: an email address, a phone number, a loyalty number (loyalty:NUMBER), a
    /// vendor customer id (source:id), or a profile key (p-…) or id.
    Show {
        who: String,
        /// `staff`: short, no contact details; `marketer`: everything.
        #[arg(long, value_enum, default_value_t = ViewKind::Marketer)]
        view: ViewKind,
        #[arg(long)]
        json: bool,
    },
    /// Open a service issue on a person's profile; prints its id.
    Open { who: String, title: String },
    /// Close a service issue.
    Close { who: String, issue: i64 },
    /// Work out every profile's facts again from the stored sales (they are kept current on
    /// every ingest; this is for checking, or after restoring a backup).
    Rebuild,
}

/// Runs a `profile` subcommand against `store`.
pub async fn run(config: &Config, store: &Store, command: ProfileCommand) -> anyhow::Result<()> {
    let normalizer = Normalizer::new(config.shop.region, &config.identity);
    let now = Utc::now();
    match command {
        ProfileCommand::Show { who, view, json } => {
            let found = find_one(store, &normalizer, &who).await?;
            let rules = ViewRules {
                tiers: &config.profiles.tiers,
                zone: config.shop.time_zone,
                now,
            };
            let loaded = view::load(store, found.id, view, &rules).await?;
            match (view, json) {
                (ViewKind::Staff, true) => print_json(&view::staff(&loaded, &rules))?,
                (ViewKind::Staff, false) => print_staff(&view::staff(&loaded, &rules)),
                (ViewKind::Marketer, true) => print_json(&view::marketer(&loaded, &rules))?,
                (ViewKind::Marketer, false) => print_marketer(&view::marketer(&loaded, &rules)),
            }
        }
        ProfileCommand::Open { who, title } => {
            let title = title.trim();
            anyhow::ensure!(
                !title.is_empty(),
                "an issue needs a title saying what is wrong"
            );
            let found = find_one(store, &normalizer, &who).await?;
            let id = (store.open_issue(found.id, title, "cli", now.timestamp_millis())).await?;
            println!("issue {id} opened on {}", found.key);
        }
        ProfileCommand::Close { who, issue } => {
            let found = find_one(store, &normalizer, &who).await?;
            let closed = store
                .close_issue(found.id, issue, "cli", now.timestamp_millis())
                .await?;
            anyhow::ensure!(closed, "{} has no open issue {issue}", found.key);
            println!("issue {issue} closed");
        }
        ProfileCommand::Rebuild => {
            let profiles = rebuild(store, config.shop.time_zone).await?;
            println!("facts worked out again for {profiles} profile(s)");
        }
    }
    Ok(())
}

/// Prints the shop's segments.
pub async fn print_segments(store: &Store, json: bool) -> anyhow::Result<()> {
    let found = segments(store).await?;
    match json {
        true => print_json(&found),
        false => {
            print_segment_table(&found);
            Ok(())
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "—".into(), |v| v.to_string())
}

pub(crate) fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02} {currency}",
        minor.abs() / 100,
        minor.abs() % 100
    )
}

fn print_staff(v: &StaffView) {
    println!("{}", or_dash(v.first_name.as_deref()));
    println!("  last visit: {}", or_dash(v.last_visit));
    println!(
        "  loyalty: {} ({} points)",
        or_dash(v.loyalty_tier.as_deref()),
        or_dash(v.loyalty_points)
    );
    println!("  favourite: {}", or_dash(v.favoured_category.as_deref()));
    if let Some(day) = v.birthday_this_month {
        println!("  birthday this month, on the {day}");
    }
    for issue in &v.open_issues {
        println!("  open issue {}: {}", issue.id, issue.title);
    }
    let channels: Vec<&str> = v.opted_in.iter().map(|c| c.as_str()).collect();
    println!(
        "  opted in: {}",
        or_dash((!channels.is_empty()).then(|| channels.join(", ")))
    );
}

fn print_marketer(v: &MarketerView) {
    let name = [v.given_name.as_deref(), v.family_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    println!("{} {}", v.key, name);
    for email in &v.emails {
        println!("  email: {email}");
    }
    for phone in &v.phones {
        println!("  phone: {phone}");
    }
    if let Some(b) = v.birthday {
        println!("  birthday: {:02}-{:02}", b.month, b.day);
    }
    if let Some(l) = &v.loyalty {
        println!(
            "  loyalty {}: {} points ({} ever), tier {}",
            l.account,
            l.points,
            l.lifetime_points,
            or_dash(l.tier.as_deref())
        );
    }
    println!(
        "  orders: {} ({} in store, {} online), visits: {}, returns: {}",
        v.orders, v.store_orders, v.online_orders, v.visits, v.returns
    );
    println!(
        "  first visit: {}, last visit: {}",
        or_dash(v.first_visit),
        or_dash(v.last_visit)
    );
    if let Some(spend) = &v.net_spend {
        println!("  net spend: {}", money(spend.minor, &spend.currency));
    }
    if let Some(basket) = &v.typical_basket {
        println!(
            "  typical basket: {}",
            money(basket.minor, &basket.currency)
        );
    }
    if let (Some(mean), Some(median)) = (v.mean_days_between_visits, v.median_days_between_visits) {
        println!("  days between visits: {mean:.1} on average, {median:.1} typically");
    }
    for c in &v.favoured_categories {
        println!(
            "  favours {} ({} spent in 12 months)",
            c.category, c.spend_minor
        );
    }
    if let Some(rfm) = &v.rfm {
        println!(
            "  segment: {} (R{} F{} M{})",
            rfm.segment, rfm.recency, rfm.frequency, rfm.monetary
        );
    }
    if let Some(p) = &v.predictions {
        println!("  P(alive): {:.0}%", p.p_alive * 100.0);
        for line in &p.purchases {
            let e = &line.estimate;
            println!(
                "  purchases in {} days: {:.1} expected ({:.0}–{:.0})",
                line.days, e.expected, e.low, e.high
            );
        }
        println!("  next order: {}", or_dash(p.next_order));
        if let Some(value) = &p.value_12_months {
            println!(
                "  value in 12 months: {:.2} expected ({:.2}–{:.2})",
                value.expected, value.low, value.high
            );
        }
    }
    let channels: Vec<&str> = v.opted_in.iter().map(|c| c.as_str()).collect();
    println!(
        "  opted in: {}",
        or_dash((!channels.is_empty()).then(|| channels.join(", ")))
    );
    for issue in &v.issues {
        let state = if issue.closed_at.is_some() {
            "closed"
        } else {
            "open"
        };
        println!("  issue {} ({state}): {}", issue.id, issue.title);
    }
}

pub(crate) fn print_segment_table(s: &Segments) {
    let currency = s.currency.as_deref().unwrap_or("");
    println!("{} buyer(s)", s.buyers);
    for line in &s.segments {
        println!(
            "  {:<16} {:>6} people  {:>14} net  {:>12} each",
            line.segment.as_str(),
            line.people,
            money(line.net_spend_minor, currency),
            money(line.average_minor, currency)
        );
    }
}
