//! The `[[journey]]` entries checked against the configured sinks, and the contact caps against the
//! retention periods. The journey rules themselves (triggers, due times, message keys) are in
//! `rapport_core::journeys`; ingest queues the messages and delivery sends them.

use super::Config;
use rapport_core::governance::retention::Keep;
use rapport_core::model::Channel;
use std::collections::HashSet;

/// Checks `[[journey]]` entries against the sinks, and `[[consent.cap]]` windows against how long
/// the history they count is kept.
pub fn validate(config: &Config) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut experiments = HashSet::new();
    for journey in &config.journeys {
        let name = &journey.name;
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(format!(
                "[[journey]] name {name:?} must be non-empty printable text"
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("[[journey]] name {name:?} is used twice"));
        }
        let sink = config
            .sinks
            .iter()
            .find(|s| s.id == journey.sink)
            .ok_or_else(|| {
                let known: Vec<&str> = config.sinks.iter().map(|s| s.id.as_str()).collect();
                format!(
                    "[[journey]] {name:?}: sink {:?} is not a configured [[sink]] id (configured: {})",
                    journey.sink,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })?;
        if sink.retire {
            return Err(format!(
                "[[journey]] {name:?}: sink {:?} is being retired (retire = true) and takes no new work; point the journey at the sink that replaces it",
                journey.sink
            ));
        }
        let channels = sink
            .channels
            .clone()
            .unwrap_or_else(|| vec![Channel::Email]);
        if !channels.contains(&journey.channel) {
            let listed: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
            return Err(format!(
                "[[journey]] {name:?}: channel {:?} is not one sink {:?} markets on (its channels: [{}])",
                journey.channel.as_str(),
                journey.sink,
                listed.join(", ")
            ));
        }
        journey.check(!config.profiles.tiers.is_empty())?;
        if let Some(experiment) = &journey.experiment {
            if !experiments.insert(experiment.name.as_str()) {
                return Err(format!(
                    "[[journey]] {name:?}: experiment name {:?} is used by another journey",
                    experiment.name
                ));
            }
        }
    }
    let retention = &config.retention;
    for cap in &config.consent.caps {
        for (key, keep) in [
            ("outbox", retention.outbox),
            ("deliveries", retention.deliveries),
        ] {
            if let Keep::For(period) = keep {
                if period < cap.window().to_std().unwrap_or_default() {
                    return Err(format!(
                        "consent.cap ({}): per_days = {} counts sends older than retention.{key} keeps ({keep}); shorten the cap or keep {key} longer",
                        cap.channel.as_str(),
                        cap.per_days,
                    ));
                }
            }
        }
    }
    Ok(())
}
