//! `rapport plugin list | rollback | disable | enable | reload` and `rapport config apply`: the
//! running daemon's plugins, their kept generations and health, and the operator's controls over
//! them and over its config, through the daemon's admin API.

use super::daemon::Daemon;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// Prints every connector's plugin: the live generation, the kept ones, health, and the last
/// rollback or refusal.
pub async fn list(config: &Path) -> anyhow::Result<()> {
    let reports = Daemon::from_config(config)?.get("/api/plugins").await?;
    for report in reports.as_array().into_iter().flatten() {
        print!("{}", describe(report));
    }
    Ok(())
}

/// Rolls a connector (or every connector of a plugin) back, to generation `to` or the one before.
pub async fn rollback(config: &Path, target: &str, to: Option<u64>) -> anyhow::Result<()> {
    let query = to.map(|to| format!("?to={to}")).unwrap_or_default();
    let done = Daemon::from_config(config)?
        .post(&format!("/api/plugins/{target}/rollback{query}"))
        .await?;
    for rolled in done.as_array().into_iter().flatten() {
        println!(
            "{}: generation {} is live again (was {})",
            text(&rolled["connector"]),
            rolled["to"],
            rolled["from"]
        );
    }
    Ok(())
}

/// Disables or enables a connector, or every connector of a plugin.
pub async fn set_disabled(config: &Path, target: &str, disabled: bool) -> anyhow::Result<()> {
    let action = if disabled { "disable" } else { "enable" };
    let done = Daemon::from_config(config)?
        .post(&format!("/api/plugins/{target}/{action}"))
        .await?;
    for switched in done.as_array().into_iter().flatten() {
        let state = if disabled {
            "disabled: it takes no work, which waits in the store"
        } else {
            "enabled"
        };
        let already = if switched["changed"].as_bool() == Some(false) {
            " (already)"
        } else {
            ""
        };
        println!("{}: {state}{already}", text(&switched["connector"]));
    }
    Ok(())
}

/// Loads a connector's (or every connector of a plugin's) plugin files now, through a freeze if
/// `force`; prints what each connector did, and fails if a version was held or refused.
pub async fn reload(config: &Path, target: &str, force: bool) -> anyhow::Result<()> {
    let done = Daemon::from_config(config)?
        .post(&format!("/api/plugins/{target}/reload?force={force}"))
        .await?;
    let mut stopped = 0;
    for reloaded in done.as_array().into_iter().flatten() {
        let (connector, detail) = (text(&reloaded["connector"]), text(&reloaded["detail"]));
        match text(&reloaded["outcome"]) {
            "promoted" => println!("{connector}: version {detail} is live, on probation"),
            "unchanged" => println!("{connector}: the files hold the live version ({detail})"),
            outcome => {
                stopped += 1;
                println!("{connector}: {outcome}: {detail}");
            }
        }
    }
    anyhow::ensure!(
        stopped == 0,
        "{stopped} connector(s) kept their live version"
    );
    Ok(())
}

/// Asks the daemon to apply its config file now, through a freeze if `force`.
pub async fn apply_config(config: &Path, force: bool) -> anyhow::Result<()> {
    let done = Daemon::from_config(config)?
        .post(&format!("/api/config/apply?force={force}"))
        .await?;
    println!("{}", text(&done["done"]));
    Ok(())
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

/// One connector's report as a few lines of text.
fn describe(r: &Value) -> String {
    let health = &r["health"];
    let mut out = format!(
        "{} {}: plugin {} {} generation {} ({}), {}, {} calls, {} faults{}\n",
        text(&r["role"]),
        text(&r["connector"]),
        text(&r["plugin"]),
        text(&r["version"]),
        r["generation"],
        text(&r["provenance"]),
        text(&health["state"]),
        health["calls"],
        health["faults"],
        if r["disabled"].as_bool() == Some(true) {
            ", DISABLED (its work waits in the store)"
        } else {
            ""
        }
    );
    let kept: Vec<String> = r["kept"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{} ({}{}, {})",
                g["generation"],
                text(&g["version"]),
                if g["live"].as_bool() == Some(true) {
                    ", live"
                } else {
                    ""
                },
                text(&g["health"])
            )
        })
        .collect();
    let _ = writeln!(out, "  kept generations: {}", kept.join(", "));
    if let Some(previous) = r["probation_against"].as_u64() {
        let _ = writeln!(out, "  on probation against generation {previous}");
    }
    if let Some(rollback) = r["last_rollback"].as_object() {
        let _ = writeln!(
            out,
            "  last rollback: {} → {} ({}) at {}: {}",
            rollback["from"],
            rollback["to"],
            if rollback["automatic"].as_bool() == Some(true) {
                "automatic"
            } else {
                "by the operator"
            },
            text(&rollback["at"]),
            text(&rollback["reason"])
        );
    }
    if let Some(refusal) = r["last_refusal"].as_object() {
        let _ = writeln!(
            out,
            "  last refused version at {}: {}",
            text(&refusal["at"]),
            text(&refusal["reason"])
        );
    }
    out
}
