//! `rapport export FILE` and `rapport restore FILE`: a backup of the store written (`-` for
//! standard output) or loaded into an empty store, through `rapport_host::backup`.

use anyhow::Context;
use rapport_host::backup;
use rapport_store::Store;
use std::path::Path;

/// Writes a backup of `store` to `file` (`-`: standard output) and says what it holds on stderr.
pub async fn export(store: &Store, file: &Path) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let summary = match file.as_os_str() == "-" {
        true => backup::export(store, now, &mut std::io::stdout().lock()).await?,
        false => backup::export_to_file(store, now, file)
            .await
            .with_context(|| format!("backing up to {}", file.display()))?,
    };
    eprintln!(
        "backed up {} rows of {} tables to {}",
        summary.rows,
        summary.tables,
        file.display()
    );
    Ok(())
}

/// Loads the backup in `file` (`-`: standard input) into `store`, which must be empty.
pub async fn restore(store: &Store, file: &Path) -> anyhow::Result<()> {
    let restored = match file.as_os_str() == "-" {
        true => backup::restore(store, std::io::stdin().lock()).await,
        false => {
            let input =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            backup::restore(store, std::io::BufReader::new(input)).await
        }
    };
    let (summary, taken) =
        restored.with_context(|| format!("restoring {}; nothing was restored", file.display()))?;
    println!(
        "restored {} rows of {} tables from the backup taken at {}",
        summary.rows,
        summary.tables,
        taken.to_rfc3339()
    );
    Ok(())
}
