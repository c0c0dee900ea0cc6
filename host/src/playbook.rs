//! `rapport playbook`: the go-live playbook, one page generated from the config so it is never out
//! of date: what runs where, who to call, the freeze windows, and the exact commands that undo
//! each kind of change (a plugin version, a sink swap, a sink or journey going live, the data
//! itself from a backup). It reads the config and the plugins' manifests only, so it prints even
//! when the daemon or the database is down — which is when it is needed.

use crate::config::{Config, ConnectorConfig};
use chrono::{DateTime, Utc};
use rapport_core::freeze;
use rapport_core::governance::retention::format_duration;
use rapport_core::rollout;
use rapport_sandbox::packages::Manifest;
use rapport_store::health::Location;
use std::fmt::Write as _;
use std::path::Path;

/// The playbook of the config at `path` (absolute), as of `now`.
pub fn render(config: &Config, path: &Path, now: DateTime<Utc>) -> String {
    let zone = config.shop.time_zone;
    let at = |c: &str| format!("{c} --config {}", path.display());
    let mut out = String::new();
    let today = now.with_timezone(&zone).date_naive();
    let _ = writeln!(out, "# rapport go-live playbook");
    let _ = writeln!(
        out,
        "Generated {today} from {}. Print it again after every config change: `{}`.\n",
        path.display(),
        at("rapport playbook")
    );

    let _ = writeln!(out, "## What runs where");
    let _ = writeln!(out, "- The daemon: `{}`, serving {} (dashboard at /, health at /health); shop time zone {zone}.", at("rapport run"), listen(config));
    let _ = writeln!(
        out,
        "- The database: {}.",
        database(&config.store.database_url)
    );
    let secrets = match &config.secrets.file {
        Some(file) => format!(
            "the file {} (mode 600) and RAPPORT_SECRET_<NAME> variables",
            file.display()
        ),
        None => "RAPPORT_SECRET_<NAME> environment variables".into(),
    };
    let _ = writeln!(out, "- Secrets: {secrets}.");
    for source in &config.sources {
        let _ = writeln!(
            out,
            "- Source `{}`: {}, polled every {} s.",
            source.id,
            plugin(source),
            source.poll_interval_secs
        );
    }
    for sink in &config.sinks {
        let _ = writeln!(
            out,
            "- Sink `{}`: {}; {}.",
            sink.id,
            plugin(sink),
            sink_state(sink)
        );
    }
    for journey in &config.journeys {
        let state = share(journey.enabled, journey.rollout, "PAUSED (enabled = false)");
        let _ = writeln!(
            out,
            "- Journey `{}` ({}) by {} through sink `{}`: {state}.",
            journey.name,
            journey.trigger.as_str(),
            journey.channel.as_str(),
            journey.sink
        );
    }

    let _ = writeln!(out, "\n## Who to call");
    if config.support.contacts.is_empty() {
        let _ = writeln!(out, "- Nobody is listed: add `[[support.contacts]]` (name, role, phone or email, hours) to the config.");
    }
    for c in &config.support.contacts {
        let ways: Vec<&str> = [c.phone.as_deref(), c.email.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let hours = c
            .hours
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let _ = writeln!(out, "- {}, {}: {}{hours}", c.name, c.role, ways.join(", "));
    }

    let _ = writeln!(out, "\n## Freezes");
    if config.freezes.is_empty() {
        let _ = writeln!(out, "- None configured: add `[[freeze]]` windows (name, from, to, pause_journeys) to protect the busy season.");
    }
    let mut freezes: Vec<_> = config.freezes.iter().collect();
    freezes.sort_by_key(|f| f.from);
    for f in freezes {
        let when = match (f.in_force(now, zone), f.to < today) {
            (true, _) => " — IN FORCE NOW",
            (false, true) => " — over",
            (false, false) => "",
        };
        let journeys = match f.pause_journeys {
            true => "journeys paused",
            false => "journeys run",
        };
        let _ = writeln!(
            out,
            "- {:?}: {} to {} (shop days, both included), {journeys}{when}.",
            f.name, f.from, f.to
        );
    }
    let _ = writeln!(out, "- During a freeze, config edits and new plugin versions wait until it ends. Only if it cannot wait: `{}`, `{}`. Rollback, disable and enable always work.", at("rapport config apply --force"), at("rapport plugin reload <connector> --force"));
    if let Some(f) = freeze::in_force(&config.freezes, now, zone) {
        let _ = writeln!(
            out,
            "- Now: {} until {}.",
            f.describe(),
            f.ends_at(zone)
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M")
        );
    }

    let _ = writeln!(out, "\n## Before going live");
    let _ = writeln!(
        out,
        "1. `{}`: every line ok (it exits non-zero on a FAIL).",
        at("rapport check")
    );
    let _ = writeln!(
        out,
        "2. `{}`: the daemon's figures, the freeze in force, each sink's rollout.",
        at("rapport status")
    );
    let _ = writeln!(out, "3. Go live step by step: raise a sink's or a journey's `rollout` (0.1, 0.5, 1.0) and `{}`.", at("rapport config apply"));

    let _ = writeln!(out, "\n## Rollback");
    let _ = writeln!(
        out,
        "Each step undoes one kind of change; none loses data (work waits in the store).\n"
    );
    let _ = writeln!(out, "**A plugin version misbehaves.** Go back to the generation before it, or stop the connector:");
    for c in config.sources.iter().chain(&config.sinks) {
        let _ = writeln!(
            out,
            "- `{}`  or  `{}`",
            at(&format!("rapport plugin rollback {}", c.id)),
            at(&format!("rapport plugin disable {}", c.id))
        );
    }
    let _ = writeln!(out, "\n**A sink sends what it should not.** In the config set `enabled = false` on its `[[sink]]` (its work waits), or lower its `rollout`; then `{}`.", at("rapport config apply"));
    let retiring: Vec<&str> = config
        .sinks
        .iter()
        .filter(|s| s.retire)
        .map(|s| s.id.as_str())
        .collect();
    let taking: Vec<&str> = config
        .sinks
        .iter()
        .filter(|s| !s.retire)
        .map(|s| s.id.as_str())
        .collect();
    match retiring.is_empty() {
        true => {
            let _ = writeln!(out, "\n**Swap sinks back.** No swap is under way. To go back after one, take `retire = true` off the old `[[sink]]`, put it on the new one, then `{}`.", at("rapport config apply"));
        }
        false => {
            let _ = writeln!(out, "\n**Swap sinks back.** A swap is under way: {} retiring, {} taking the work. To go back: take `retire = true` off {}, put it on {}, then `{}`; `{}` shows the backfill.", quoted(&retiring), quoted(&taking), quoted(&retiring), quoted(&taking), at("rapport config apply"), at("rapport swap --follow"));
        }
    }
    let _ = writeln!(out, "\n**A journey misbehaves.** Set `enabled = false` on its `[[journey]]` (or lower its `rollout`), then `{}`.", at("rapport config apply"));
    let _ = writeln!(out, "\n**The data itself is damaged.** Stop the daemon; set the damaged database aside ({}); restore the newest backup into an empty database: `{}`; start the daemon again. {}", set_aside(&config.store.database_url), at("rapport restore <newest backup file>"), backups(config));
    out
}

/// Where the daemon listens, as a URL.
fn listen(config: &Config) -> String {
    let scheme = match config.server.tls {
        Some(_) => "https",
        None => "http",
    };
    format!("{scheme}://{}", config.server.listen)
}

fn database(url: &str) -> String {
    match Location::of(url) {
        Ok(Location::File(path)) => format!("the SQLite file {}", path.display()),
        Ok(Location::Memory) => "SQLite in memory: NOTHING IS KEPT across restarts".into(),
        Ok(Location::Server(url)) => format!("PostgreSQL at {url}"),
        Err(e) => format!("unreadable database URL ({e})"),
    }
}

/// Where the backups to restore are: `[backup]`'s directory, or a warning that none are taken.
fn backups(config: &Config) -> String {
    match &config.backup {
        Some(backup) => format!(
            "Backups are taken every {} into {} (the newest {} kept; the newest file name sorts last).",
            backup.every.to_std().map(format_duration).unwrap_or_default(),
            backup.dir.display(),
            backup.keep
        ),
        None => "**No `[backup]` is configured**: the database is the only copy until you add one (or run `rapport export FILE` yourself).".into(),
    }
}

/// How to set a damaged database aside so the restore starts from an empty one.
fn set_aside(url: &str) -> String {
    match Location::of(url) {
        Ok(Location::File(path)) => format!(
            "`mv {0} {0}.damaged` and its -wal and -shm files",
            path.display()
        ),
        _ => "create a new, empty database and point `[store] database_url` at it".into(),
    }
}

/// A connector's plugin: its id and version from the manifest in its directory, or why not.
fn plugin(connector: &ConnectorConfig) -> String {
    let manifest = connector.plugin.join("rapport.toml");
    let read = std::fs::read_to_string(&manifest)
        .map_err(|e| e.to_string())
        .and_then(|text| Manifest::parse(&text, &manifest).map_err(|e| e.message));
    match read {
        Ok(m) => format!(
            "plugin {} {} in {}",
            m.id,
            m.version,
            connector.plugin.display()
        ),
        Err(e) => format!(
            "plugin in {} (its manifest cannot be read: {e})",
            connector.plugin.display()
        ),
    }
}

fn sink_state(sink: &ConnectorConfig) -> String {
    let mut state = share(
        sink.enabled,
        sink.rollout,
        "HELD (enabled = false): its work waits",
    );
    if sink.retire {
        state.push_str(", retiring (it delivers what it owes, then stops)");
    }
    state
}

/// Who a sink or journey runs for: `off` when not enabled, else its share of people.
fn share(enabled: bool, rollout: f64, off: &str) -> String {
    match (enabled, rollout) {
        (false, _) => off.to_string(),
        (true, share) if share < 1.0 => format!("live for {}", rollout::describe(share)),
        (true, _) => "live for everyone".to_string(),
    }
}

fn quoted(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[shop]\ntime_zone = \"Europe/London\"\n[store]\ndatabase_url = \"sqlite:///srv/shop/rapport.db\"\n\
             [[sink]]\nid = \"old-crm\"\nplugin = \"plugins/http-sink\"\nretire = true\n\
             [[sink]]\nid = \"crm\"\nplugin = \"plugins/hubspot-sink\"\nrollout = 0.25\n{extra}"
        );
        Config::parse(&text, Path::new("/srv/shop")).unwrap()
    }

    #[test]
    fn the_playbook_names_every_connector_rollback_and_the_freeze_in_force() {
        let c = config(
            "[backup]\nevery = \"6h\"\nkeep = 4\ndir = \"/var/backups/shop\"\n\
             [[freeze]]\nname = \"holidays\"\nfrom = \"2026-11-20\"\nto = \"2027-01-05\"\npause_journeys = true\n\
             [[support.contacts]]\nname = \"Ana\"\nrole = \"shop owner\"\nphone = \"+44 20 7946 0000\"\n",
        );
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let page = render(&c, Path::new("/srv/shop/rapport.toml"), now);
        let cfg = "--config /srv/shop/rapport.toml";
        for line in [
            format!("rapport plugin rollback crm {cfg}"),
            format!("rapport plugin rollback old-crm {cfg}"),
            format!("rapport plugin disable crm {cfg}"),
            format!("rapport restore <newest backup file> {cfg}"),
            format!("rapport config apply --force {cfg}"),
            "Ana, shop owner: +44 20 7946 0000".to_string(),
            "\"holidays\": 2026-11-20 to 2027-01-05 (shop days, both included), journeys paused — IN FORCE NOW".to_string(),
            "live for 25% of people".to_string(),
            "take `retire = true` off `old-crm`, put it on `crm`".to_string(),
            "the SQLite file /srv/shop/rapport.db".to_string(),
            "`mv /srv/shop/rapport.db /srv/shop/rapport.db.damaged`".to_string(),
            "Backups are taken every 6h into /var/backups/shop (the newest 4 kept".to_string(),
        ] {
            assert!(page.contains(&line), "missing {line:?} in:\n{page}");
        }
    }

    #[test]
    fn an_empty_setup_says_what_to_add() {
        let c = config("");
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let page = render(&c, Path::new("/srv/shop/rapport.toml"), now);
        assert!(
            page.contains("Nobody is listed: add `[[support.contacts]]`"),
            "{page}"
        );
        assert!(page.contains("None configured: add `[[freeze]]`"), "{page}");
        assert!(
            page.contains("**No `[backup]` is configured**: the database is the only copy"),
            "{page}"
        );
    }
}
