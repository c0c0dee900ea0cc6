//! `rapport pairs`: works out the product pairs now (as the daemon does on its schedule), stores
//! them and lists one kind's rules, best first, as a table or JSON; a shop below the minimum of
//! baskets is told how far it is from it, with a non-zero exit.

use chrono::Utc;
use rapport_core::pairs::{PairsBy, Rules};
use rapport_host::config::Config;
use rapport_host::pairs::recompute;
use rapport_store::Store;

/// Mines and stores both kinds of pairs, then prints those of `by`.
pub async fn run(config: &Config, store: &Store, by: PairsBy, json: bool) -> anyhow::Result<()> {
    let mined = recompute(store, &config.pairs, Utc::now()).await?;
    let rules = match mined.of(by) {
        Ok(rules) => rules,
        Err(too_few) => anyhow::bail!(
            "no pairs by {by}: {too_few} (sales since {}; [pairs] min_baskets sets the minimum)",
            mined.since.date_naive()
        ),
    };
    match json {
        true => println!("{}", serde_json::to_string_pretty(&rules.rules)?),
        false => print_table(by, rules),
    }
    Ok(())
}

fn print_table(by: PairsBy, found: &Rules) {
    println!(
        "{} rule(s) by {by} from {} basket(s)",
        found.rules.len(),
        found.baskets
    );
    for rule in &found.rules {
        println!(
            "  {} → {}  support {:.3}  confidence {:.3}  lift {:.2}  ({} baskets)",
            rule.antecedent,
            rule.consequent,
            rule.support,
            rule.confidence,
            rule.lift,
            rule.baskets
        );
    }
}
