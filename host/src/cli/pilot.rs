//! `rapport pilot …`: what shadow sinks did. `requests` lists the requests a shadow sink's plugin
//! made (captured, never sent; stored without the credentials the host would have added): when,
//! for which work, method, URL and body.

use anyhow::bail;
use clap::Subcommand;
use rapport_host::config::mode::SinkMode;
use rapport_host::config::Config;
use rapport_store::shadow::ShadowRequest;
use rapport_store::Store;

#[derive(Subcommand, Debug)]
pub enum PilotCommand {
    /// The requests a shadow sink's plugin made, newest last.
    Requests {
        /// The sink (`[[sink]] id`).
        #[arg(long)]
        sink: String,
        /// How many of the latest requests to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, store: &Store, command: PilotCommand) -> anyhow::Result<()> {
    let PilotCommand::Requests { sink, limit, json } = command;
    let Some(configured) = config.sinks.iter().find(|s| s.id == sink) else {
        let known: Vec<&str> = config.sinks.iter().map(|s| s.id.as_str()).collect();
        bail!(
            "no sink {sink:?} in the config; its sinks are: {}",
            known.join(", ")
        );
    };
    let requests = store.shadow_requests(&sink, i64::from(limit)).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&requests)?),
        false => {
            if requests.is_empty() {
                let mode = match configured.mode() {
                    SinkMode::Shadow => "it is in shadow mode but has made none yet",
                    SinkMode::Live => "it is live (set mode = \"shadow\" to pilot it)",
                };
                println!("sink {sink}: no shadow requests stored; {mode}");
            }
            for request in &requests {
                print!("{}", text(request));
            }
        }
    }
    Ok(())
}

/// One request: a header line (when, method, URL, the work it carried), then its body.
fn text(request: &ShadowRequest) -> String {
    let at = chrono::DateTime::from_timestamp_millis(request.captured_at)
        .map_or_else(|| request.captured_at.to_string(), |t| t.to_rfc3339());
    let work = match (request.outbox_id, request.profile_id) {
        (Some(item), Some(profile)) => format!("{} item {item}, profile {profile}", request.kind),
        _ => format!("{} call of {} items", request.kind, request.items),
    };
    format!(
        "#{} {at} {} {} ({work})\n  {}\n",
        request.id, request.method, request.url, request.body
    )
}
