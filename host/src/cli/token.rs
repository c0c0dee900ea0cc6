//! `rapport token create | list | revoke`: the tokens of the HTTP surface. A token is printed once
//! when made and only its hash is kept; `admin` tokens use the admin API, `staff` tokens the cue
//! page to come, and an `upload` token pushes into one source.

use clap::Subcommand;
use rapport_host::admin::tokens::{self, Role};
use rapport_host::config::Config;
use rapport_store::Store;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it, this once.
    Create {
        /// admin, staff or upload.
        #[arg(long, default_value = "admin")]
        role: String,
        /// An upload token's source.
        #[arg(long)]
        source: Option<String>,
        /// What the token is for, shown by `list`.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the tokens (never their values): id, role, label, made and revoked.
    List,
    /// Revoke a token by its id; the browser sessions made with it end too.
    Revoke { id: i64 },
}

/// Runs a `token` subcommand against `store`.
pub async fn run(config: &Config, store: &Store, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            role,
            source,
            label,
        } => {
            let role = Role::parse(&role, source.as_deref()).map_err(anyhow::Error::msg)?;
            if let Role::Upload(source) = &role {
                anyhow::ensure!(
                    config.sources.iter().any(|s| &s.id == source),
                    "no [[source]] {source:?} is configured (the sources are {:?})",
                    config.sources.iter().map(|s| &s.id).collect::<Vec<_>>()
                );
            }
            let label = if label.is_empty() {
                role.to_string()
            } else {
                label
            };
            let issued = tokens::create(store, &role, &label).await?;
            println!("token {} ({role}), shown this once:", issued.id);
            println!("{}", issued.token);
        }
        TokenCommand::List => {
            for t in tokens::list(store).await? {
                let role = match &t.source_id {
                    Some(source) => format!("{} {source}", t.role),
                    None => t.role.clone(),
                };
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", time(at)),
                    None => "in force".into(),
                };
                println!(
                    "{:>4}  {role:<20} {:<24} made {}  {state}",
                    t.id,
                    t.label,
                    time(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                tokens::revoke(store, id).await?,
                "no token {id} is in force (`rapport token list` shows them)"
            );
            println!("token {id} revoked; its browser sessions are ended");
        }
    }
    Ok(())
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}
