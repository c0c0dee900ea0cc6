//! `rapport swap`: a vendor swap as it runs. Each sink that joined a shop with customers is first
//! sent all of them (its backfill), shown as a progress bar; each sink being replaced shows what it
//! still owes, then when it was retired. `--follow` redraws until every backfill and retirement is
//! done. It reads the store only, so it works beside a running daemon.

use rapport_host::config::Config;
use rapport_store::{Backfill, Store};
use std::io::Write as _;
use std::time::Duration;

/// Characters of a progress bar.
const BAR_WIDTH: usize = 30;
/// How often `--follow` redraws.
const REFRESH: Duration = Duration::from_millis(500);

pub async fn run(config: &Config, store: &Store, follow: bool) -> anyhow::Result<()> {
    let retiring: Vec<&str> = config
        .sinks
        .iter()
        .filter(|s| s.retire)
        .map(|s| s.id.as_str())
        .collect();
    loop {
        let backfills = store.backfills().await?;
        let mut lines: Vec<String> = backfills
            .iter()
            .filter(|b| b.profiles > 0)
            .map(backfill_line)
            .collect();
        let mut settled = backfills.iter().all(|b| b.owed == 0);
        for sink in &retiring {
            let (retired_at, owed) = store.retirement(sink).await?;
            lines.push(match retired_at {
                Some(at) => format!("{sink:<16} retired at {}", crate::cli::forget::time(at)),
                None => {
                    settled = false;
                    format!("{sink:<16} retiring: {owed} item(s) still to deliver")
                }
            });
        }
        if lines.is_empty() {
            lines.push("no backfill or retirement under way".into());
        }
        let mut out = std::io::stdout().lock();
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        if !follow || settled {
            return Ok(());
        }
        tokio::time::sleep(REFRESH).await;
        // Move back over the lines just printed, to redraw them in place.
        write!(out, "\x1b[{}A", lines.len())?;
    }
}

fn backfill_line(b: &Backfill) -> String {
    format!(
        "{:<16} backfill [{}] {:>3}%  {} of {} profiles",
        b.sink,
        bar(b.done(), b.profiles),
        b.done() * 100 / b.profiles.max(1),
        b.done(),
        b.profiles
    )
}

/// `done` of `total` as a bar of `BAR_WIDTH` characters: `#` done, `-` to go.
fn bar(done: i64, total: i64) -> String {
    let filled = (done.clamp(0, total) as usize * BAR_WIDTH)
        .checked_div(total as usize)
        .unwrap_or(BAR_WIDTH);
    format!("{}{}", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled))
}

#[cfg(test)]
mod tests {
    use super::{bar, BAR_WIDTH};

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(0, 10), "-".repeat(BAR_WIDTH));
        assert_eq!(bar(10, 10), "#".repeat(BAR_WIDTH));
        assert_eq!(bar(5, 10), format!("{}{}", "#".repeat(15), "-".repeat(15)));
        assert_eq!(bar(0, 0), "#".repeat(BAR_WIDTH));
    }
}
