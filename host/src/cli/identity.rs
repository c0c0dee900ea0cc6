//! `rapport identity`: the identity graph for operators — show one person with their identities,
//! consents, orders and merges; merge two profiles; undo a merge (newest first).

use super::forget::time;
use clap::Subcommand;
use rapport_core::identity::Normalizer;
use rapport_host::config::Config;
use rapport_host::identity::graph::{self, Shown};
use rapport_store::{MergeRecord, Store};

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Show one person: an email address, a phone number, a vendor customer id (source:id), or a
    /// profile key (p-…) or id.
    Show { who: String },
    /// Merge two people into one profile (the younger into the older) and tell every sink.
    Merge {
        a: String,
        b: String,
        /// Why, for the merge log (recorded as "operator: REASON").
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Undo a merge: both profiles as they were, plus what arrived since; every sink is told.
    Unmerge { merge_id: i64 },
}

/// Runs an `identity` subcommand against `store`, printing what it found or did.
pub async fn run(config: &Config, store: &Store, command: IdentityCommand) -> anyhow::Result<()> {
    let normalizer = Normalizer::new(config.shop.region, &config.identity);
    let sinks: Vec<String> = config
        .sinks
        .iter()
        .filter(|s| !s.retire)
        .map(|s| s.id.clone())
        .collect();
    match command {
        IdentityCommand::Show { who } => print_shown(&graph::show(store, &normalizer, &who).await?),
        IdentityCommand::Merge { a, b, reason } => {
            let merged = graph::merge(
                store,
                &normalizer,
                &a,
                &b,
                &reason,
                &sinks,
                config.shop.time_zone,
            )
            .await?;
            println!(
                "merge {}: profile {} merged into {}; {} sink(s) will receive {}",
                merged.merge_id,
                merged.absorbed_key,
                merged.survivor_key,
                sinks.len(),
                merged.survivor_key
            );
        }
        IdentityCommand::Unmerge { merge_id } => {
            let undone =
                graph::unmerge(store, &normalizer, merge_id, &sinks, config.shop.time_zone).await?;
            println!(
                "merge {}: undone; profiles {} and {} are apart again and {} sink(s) will receive both",
                undone.merge_id,
                undone.survivor_key,
                undone.absorbed_key,
                sinks.len()
            );
        }
    }
    Ok(())
}

fn print_shown(shown: &Shown) {
    let p = &shown.profile;
    println!("profile {} (id {})", p.key, p.id);
    if let Some(m) = shown.absorbed_by() {
        println!(
            "  merged into {} by merge {}: its identities, orders and consents are there",
            m.survivor_key, m.id
        );
    }
    let name: Vec<&str> = [&p.given_name, &p.family_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !name.is_empty() {
        println!("  name: {}", name.join(" "));
    }
    println!("  identities:");
    for i in &p.identities {
        println!("    {} {}", i.kind.as_str(), i.value);
    }
    println!("  consents in force:");
    for c in &p.consents {
        println!(
            "    {} {}: {} at {} ({})",
            c.channel.as_str(),
            c.purpose.as_str(),
            c.state.as_str(),
            time(c.at),
            c.source
        );
    }
    println!("  orders: {}, refunds: {}", p.orders_count, p.refunds_count);
    println!("  merges:");
    for m in &shown.merges {
        print_merge(m);
    }
}

fn print_merge(m: &MergeRecord) {
    let moved: Vec<String> = m
        .moved
        .iter()
        .map(|(item, n)| format!("{n} {item}"))
        .collect();
    println!(
        "    merge {}: {} into {}, by {} ({}), {}; moved {}{}",
        m.id,
        m.absorbed_key,
        m.survivor_key,
        m.reason,
        m.evidence,
        time(m.merged_at),
        if moved.is_empty() {
            "nothing".to_string()
        } else {
            moved.join(", ")
        },
        m.unmerged_at
            .map_or(String::new(), |at| format!("; undone {}", time(at)))
    );
}
