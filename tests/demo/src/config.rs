//! The demo shop's `rapport.toml` and secrets file, written as an operator would keep them: the
//! Square source, HubSpot as the CRM, and the shop's mailer (an http-sink catch-hook that sends
//! the emails, and is given only the address and the first name) for the journeys' messages.

use rapport_fakes::hubspot::{self, HubSpotSim};
use rapport_fakes::square::{self, SquareServer};
use std::path::Path;

pub(crate) const SQUARE_TOKEN: &str = "square-demo-token";
pub(crate) const SIGNATURE_KEY: &str = "square-demo-signature-key";
pub(crate) const NOTIFICATION_URL: &str = "https://coffee.example.com/hooks/square";

/// Journey names, as the config gives them and sinks receive them (`Journey: <name>`).
pub const THANKS: &str = "thanks";
pub const WIN_BACK: &str = "win-back";

/// The demo's vendor credentials, in an owner-only secrets file.
pub(crate) fn write_secrets(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("secrets.toml");
    std::fs::write(
        &path,
        format!(
            "square_token = \"{SQUARE_TOKEN}\"\nsquare_signature_key = \"{SIGNATURE_KEY}\"\nhubspot_token = \"{}\"\n",
            hubspot::TOKEN
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Where the config's connectors point.
pub(crate) struct Endpoints<'a> {
    pub plugins: &'a Path,
    pub square: &'a SquareServer,
    pub crm: &'a HubSpotSim,
    pub mailer_url: &'a str,
    pub port: u16,
}

pub(crate) fn demo_config(e: &Endpoints) -> String {
    format!(
        r#"# Written by the demo shop (scripts/demo).
[store]
database_url = "sqlite://rapport.db"

[runtime]
memory_limit_mib = 64
call_timeout_ms = 10000
cache_dir = "cache"

[server]
listen = "127.0.0.1:{port}"

# Square signs its webhooks and square-source checks the signature, so they need no upload token.
[server.sources.square]
vendor_signed = true

# The demo's vendors are simulators on this machine: allow loopback, and nothing else private.
[network]
allow_private = ["127.0.0.1/32"]

# Vendor credentials live in an owner-only file, never in this config.
[secrets]
file = "secrets.toml"

# The demo's plugins are local builds, not signed packages: development mode loads them, marked
# DEV-UNSIGNED. A shop configures `[trust] store` instead and installs signed packages.
[trust]
dev = true

[[source]]
id = "square"
plugin = "{source}"
poll_interval_secs = 3600
secrets = ["square_token", "square_signature_key"]   # granted to this source only
[source.config]
api_base = "{square_api}"
location_ids = "{high_street},{market_hall}"
notification_url = "{NOTIFICATION_URL}"

# Square records only refusals. The shop relies on the soft opt-in for its buyers (they may be
# emailed about similar products until they refuse, and were offered the refusal at the till), so
# customers who never chose are sent; those who refused reach HubSpot as their opt-out alone,
# without their purchases.
[consent]
marketing_without_choice = "send"

[[sink]]
id = "hubspot"
plugin = "{hubspot}"
channels = ["email"]
secrets = ["hubspot_token"]
[sink.config]
api_base = "{hubspot_api}"
subscription_id = {subscription}

# The shop's mailer: a catch-hook that sends the journeys' emails. It needs the address and the
# first name, nothing else.
[[sink]]
id = "mailer"
plugin = "{http_sink}"
channels = ["email"]
fields = ["email", "given_name"]
[sink.config]
url = "{mailer_url}"

# A thank-you after every sale (the history's sales are too old to start one).
[[journey]]
name = "{THANKS}"
sink = "mailer"
channel = "email"
trigger = "every-order"

# A note to those the fitted model says have probably lapsed, within three months of it.
[[journey]]
name = "{WIN_BACK}"
sink = "mailer"
channel = "email"
trigger = "win-back"
p_alive_below = 0.5
max_age_days = 90
"#,
        port = e.port,
        source = e.plugins.join("square-source").display(),
        hubspot = e.plugins.join("hubspot-sink").display(),
        http_sink = e.plugins.join("http-sink").display(),
        square_api = e.square.base_url(),
        hubspot_api = e.crm.base_url(),
        mailer_url = e.mailer_url,
        high_street = square::location_id("High Street"),
        market_hall = square::location_id("Market Hall"),
        subscription = hubspot::SUBSCRIPTION_ID,
    )
}
