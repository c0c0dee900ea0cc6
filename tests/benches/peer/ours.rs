//! rapport's side: the release `rapport sync` with the square-source plugin, run twice on a fresh
//! SQLite store each time: the pull alone (the source and no sink: what it reads and stores), and
//! the whole job (the same source and the http-sink delivering to a loopback CRM). What it
//! received is counted in its store: the events per kind, and the distinct objects among them.

use crate::measure::{self, Cost};
use crate::simulator::Simulator;
use anyhow::Context;
use rapport_e2e::{plugin, rapport_bin, secrets_file, secrets_section, LOOPBACK_DEV};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Records one poll reads: as many orders per request as Airbyte's orders stream asks for
/// (customers and refunds go by Square's largest page, 100, on both sides).
pub const PAGE_LIMIT: u32 = 500;

/// Events stored per kind (`order`, `customer`, `refund`): (events, distinct objects).
pub type Stored = BTreeMap<String, (usize, usize)>;

/// The config of one run in `dir`: the square-source reading `sim`, and the http-sink posting to
/// `crm` when there is one.
fn config(dir: &Path, sim: &Simulator, crm: Option<&str>) -> String {
    // The plugin names a webhook signature key too; a pull never uses it.
    let secrets = secrets_file(
        dir,
        &[
            ("square_token", &sim.token),
            ("square_signature_key", "unused"),
        ],
    );
    let mut text = format!(
        r#"[store]
database_url = "sqlite://rapport.db"
[server]
listen = "127.0.0.1:0"
{LOOPBACK_DEV}{secrets}
[[source]]
id = "square"
plugin = "{square}"
poll_interval_secs = 3600
secrets = ["square_token", "square_signature_key"]
[source.config]
api_base = "{base}"
location_ids = "{locations}"
page_limit = {PAGE_LIMIT}
"#,
        secrets = secrets_section(&secrets),
        square = plugin("square-source").display(),
        base = sim.base_url,
        locations = sim.location_ids,
    );
    if let Some(url) = crm {
        text += &format!(
            r#"
[[sink]]
id = "crm"
plugin = "{sink}"
channels = []
[sink.config]
url = "{url}"
batch_size = 500
"#,
            sink = plugin("http-sink").display()
        );
    }
    text
}

/// Runs `rapport sync` in `dir` (a fresh directory) against `sim`, delivering to `crm` if given;
/// returns what it cost and what it stored.
pub async fn sync(
    dir: &Path,
    sim: &Simulator,
    crm: Option<&str>,
) -> anyhow::Result<(Cost, Stored)> {
    let config = dir.join("rapport.toml");
    std::fs::write(&config, self::config(dir, sim, crm))?;
    let mut command = Command::new(rapport_bin());
    command
        .args(["sync", "--timeout-secs", "3600", "--config"])
        .arg(&config)
        .env_remove("DATABASE_URL");
    let stderr = dir.join("rapport.stderr");
    let cost = tokio::task::spawn_blocking(move || measure::run(command, &stderr, |_| {}))
        .await?
        .context("running rapport sync")?;
    Ok((cost, stored(&dir.join("rapport.db")).await?))
}

/// Events per kind in the SQLite store at `db`.
async fn stored(db: &Path) -> anyhow::Result<Stored> {
    let mut connection = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let rows = sqlx::query(
        "SELECT kind, COUNT(*) AS events, COUNT(DISTINCT object_id) AS objects FROM events GROUP BY kind",
    )
    .fetch_all(&mut connection)
    .await?;
    let mut stored = Stored::new();
    for row in rows {
        let events: i64 = row.try_get("events")?;
        let objects: i64 = row.try_get("objects")?;
        stored.insert(
            row.try_get("kind")?,
            (usize::try_from(events)?, usize::try_from(objects)?),
        );
    }
    Ok(stored)
}
