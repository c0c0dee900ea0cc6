//! `rapport policy`: a one-page data policy in plain language, generated from the loaded config —
//! what comes in from which source, what is kept where, why and for how long, which CRM receives
//! which fields, how a person is forgotten, and how people are recognised. Every variable statement
//! comes from the config, so the page stays true when the config changes. It describes kinds of
//! data, never anyone's data: identifiers the shop blocked are counted, not shown.

use crate::config::{Config, ConnectorConfig};
use rapport_core::consent::contact::OverCap;
use rapport_core::consent::gate::WithoutChoice;
use rapport_core::governance::fields::{Allowlist, Field};
use rapport_core::governance::retention::RecordClass;
use rapport_core::governance::retention::{describe, in_words, Keep};
use rapport_core::identity::merge::MergeRules;
use rapport_core::journeys::Trigger;
use rapport_core::model::{Channel, IdentityKind};
use rapport_sandbox::packages::Manifest;
use std::path::Path;

/// The policy page for `config`, loaded from `config_path`.
pub fn render(config: &Config, config_path: &Path) -> String {
    let mut page = String::new();
    let retention = &config.retention;
    let keep = |class| retention.period(class).to_string();
    let line = |page: &mut String, text: String| {
        page.push_str(&text);
        page.push('\n');
    };

    line(&mut page, "DATA POLICY".into());
    line(
        &mut page,
        format!(
            "What rapport does with customer data at this shop. Generated from {}; run\n\
             `rapport policy` again after changing that file.\n",
            config_path.display()
        ),
    );

    line(&mut page, "1. What comes in".into());
    if config.sources.is_empty() {
        line(
            &mut page,
            "- No source is configured: nothing comes in.".into(),
        );
    }
    for source in &config.sources {
        line(
            &mut page,
            format!(
                "- \"{}\", through the {} plugin, checked every {}.",
                source.id,
                plugin_name(source),
                seconds_in_words(source.poll_interval_secs)
            ),
        );
    }
    if !config.sources.is_empty() {
        line(
            &mut page,
            "  Each brings sales and refunds (date, items bought, amounts, shop location, in store\n  \
             or online) and the customer the till recorded with them: name, email address, phone\n  \
             number, loyalty number, the till's customer number and their marketing choices."
                .into(),
        );
    }
    line(&mut page, String::new());

    line(
        &mut page,
        "2. What is kept, where, why and for how long".into(),
    );
    line(
        &mut page,
        format!(
            "Everything is kept in {}.",
            location(&config.store.database_url)
        ),
    );
    line(
        &mut page,
        "- Customers: one record per person with their name. Their email addresses, phone\n  \
         numbers, loyalty numbers and till customer numbers sit in a separate identities table,\n  \
         apart from sales, so a person is found, corrected or forgotten in one place.\n  \
         Why: to recognise the same customer across visits and tills. Kept until forgotten."
            .into(),
    );
    line(
        &mut page,
        "- Marketing choices: every yes or no each person gave, per channel (email, text, …),\n  \
         with when and where they gave it, the legal basis and the record that shows it. The\n  \
         latest choice applies; an older yes never overrides a later no.\n  \
         Why: so that no one who said no is marketed to. Kept until forgotten."
            .into(),
    );
    let events = match retention.events {
        Keep::Forever => "Details are kept with no time limit.".to_string(),
        Keep::For(days) => format!(
            "Details are kept for {}; after that only the date, the amount and the\n  \
             link to the customer's totals remain, so the totals stay right.",
            in_words(days)
        ),
    };
    line(
        &mut page,
        format!(
            "- Sales, refunds and customer updates.\n  \
             Why: to keep each customer's totals and to send sales to the CRMs below.\n  {events}"
        ),
    );
    for (class, why) in [
        (
            RecordClass::RejectedInputs,
            "so they can be fixed and sent again",
        ),
        (RecordClass::WebhookInbox, "so they can be inspected"),
        (RecordClass::DeliveredWork, "to show what was sent"),
        (
            RecordClass::DeadLetters,
            "so they can be retried with `rapport dlq`",
        ),
        (
            RecordClass::DeliveryHistory,
            "to show what was sent and when",
        ),
    ] {
        line(
            &mut page,
            format!(
                "- {}: kept {}, {why}.",
                capitalised(describe(class)),
                keep(class)
            ),
        );
    }
    line(
        &mut page,
        format!(
            "The retention job applies these periods every {} while rapport runs;\n\
             `rapport retention run --dry-run` shows what it would remove now.\n",
            seconds_in_words(retention.interval.as_secs())
        ),
    );

    line(&mut page, "3. Who receives what".into());
    if config.sinks.is_empty() {
        line(
            &mut page,
            "- No CRM is configured: no customer data leaves the shop.".into(),
        );
    }
    for sink in &config.sinks {
        let allowed = Allowlist::new(sink.fields.as_deref());
        let fields = match &sink.fields {
            None => "all profile fields (names, contact details and totals)".to_string(),
            Some(_) => listed(allowed.fields().map(Field::label)),
        };
        let identified_by = listed(
            allowed
                .fields()
                .filter(|f| f.is_identity())
                .map(Field::label),
        );
        let identified_by = if identified_by.is_empty() {
            "a code that means nothing outside rapport".to_string()
        } else {
            identified_by
        };
        line(
            &mut page,
            format!(
                "- \"{}\", through the {} plugin: {fields}.\n  \
                 It also receives each sale and refund of a known customer (date, amount, items\n  \
                 bought, shop location), identified by {identified_by}.\n  {}",
                sink.id,
                plugin_name(sink),
                consent_rule(config, sink),
            ),
        );
    }
    if !config.sinks.is_empty() {
        line(
            &mut page,
            "Every CRM always receives each customer's marketing choices, so it respects a no."
                .into(),
        );
    }
    if let Some(messages) = journey_messages(config) {
        line(&mut page, messages);
    }
    line(&mut page, String::new());

    line(&mut page, "4. How a person is forgotten".into());
    line(
        &mut page,
        "Run `rapport forget` with one of the person's identifiers: their identities, name and marketing\n\
         choices are erased here and each CRM above is asked to delete them. Only a one-way digest of\n\
         each identity stays, so old records cannot bring them back; a purchase with a fresh consent can."
            .into(),
    );
    line(&mut page, String::new());

    line(&mut page, "5. How people are recognised".into());
    line(
        &mut page,
        format!(
            "- Phone numbers without a country code are read as dialled in {}.",
            config.shop.region
        ),
    );
    line(
        &mut page,
        if config.identity.gmail_canonical {
            "- Gmail addresses that differ only by dots or a +tag count as one person."
        } else {
            "- Gmail addresses count as written: dots and +tags make a different address."
        }
        .into(),
    );
    let blocked = match config.identity.blocked.len() {
        0 => String::new(),
        1 => ", nor does the 1 value this shop listed (a walk-in customer, a staff\n  \
               member's address or a shared device)"
            .to_string(),
        n => format!(
            ", nor do the {n} values this shop listed (a walk-in customer, staff\n  \
             members' addresses or shared devices)"
        ),
    };
    line(
        &mut page,
        format!(
            "- Test placeholders such as test@test.com never link two people together{blocked}."
        ),
    );
    let rules = MergeRules::new(&config.identity.priority, config.identity.limits);
    let kind_name = |kind: IdentityKind| match kind {
        IdentityKind::VendorCustomer => "POS customer id",
        IdentityKind::LoyaltyId => "loyalty id",
        IdentityKind::Email => "email",
        IdentityKind::Phone => "phone",
    };
    let plural = |n: usize, kind: IdentityKind| match (n, kind) {
        (1, kind) => format!("1 {}", kind_name(kind)),
        (n, IdentityKind::Email) => format!("{n} emails"),
        (n, IdentityKind::Phone) => format!("{n} phones"),
        (n, kind) => format!("{n} {}s", kind_name(kind)),
    };
    let limits: Vec<String> = rules
        .priority()
        .iter()
        .map(|k| plural(rules.limit(*k), *k))
        .collect();
    line(
        &mut page,
        format!(
            "- When one purchase names two people the shop knew apart, they become one person (the\n  \
             older record stays). Identifiers count in this order: {}. A person holds at most {}\n  \
             (POS customer ids: per POS); an identifier that would go over links nobody. Every\n  \
             merge is logged without the identifiers, and `rapport identity unmerge` undoes it.",
            listed(rules.priority().iter().map(|k| kind_name(*k))),
            listed(limits.iter().map(String::as_str)),
        ),
    );
    page
}

/// The messages journeys send after a sale, and the quiet hours and caps that hold them back.
fn journey_messages(config: &Config) -> Option<String> {
    if config.journeys.is_empty() {
        return None;
    }
    let mut text = String::from(
        "Messages when something happens (a sale, a need, a lapse, a birthday), each only to customers who agreed to marketing on its channel:",
    );
    for j in &config.journeys {
        let when = match j.trigger {
            Trigger::FirstOrder => "a customer's first order",
            Trigger::EveryOrder => "every order",
            Trigger::Replenishment => "the time a customer usually takes to need more has passed",
            Trigger::Accessory => "buying an item that goes well with another",
            Trigger::WinBack => "a regular customer has not come back for a long while",
            Trigger::Birthday => "the start of their birthday month",
            Trigger::TierChange => "reaching a new loyalty tier",
        };
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        let wait = match j.wait_minutes {
            0 => String::new(),
            m if m % 60 == 0 => format!(", {} hour{} later", m / 60, plural(m / 60)),
            m => format!(", {m} minute{} later", plural(m)),
        };
        text.push_str(&format!(
            "\n- \"{}\": a message by {} through \"{}\" after {when}{wait}.",
            j.name,
            j.channel.as_str(),
            j.sink
        ));
    }
    let zone = config.shop.time_zone.name();
    if let Some(q) = config.consent.quiet_hours {
        text.push_str(&format!(
            "\n- No message is sent between {} and {} ({zone} time); they wait until {}.",
            q.start.format("%H:%M"),
            q.end.format("%H:%M"),
            q.end.format("%H:%M")
        ));
    }
    for cap in &config.consent.caps {
        let over = match cap.over_cap {
            OverCap::Drop => "further ones are not sent",
            OverCap::Delay => "further ones wait until an earlier one is older than that",
        };
        text.push_str(&format!(
            "\n- At most {} {} message{} per customer in any {} day{}; {over}.",
            cap.max,
            cap.channel.as_str(),
            if cap.max == 1 { "" } else { "s" },
            cap.per_days,
            if cap.per_days == 1 { "" } else { "s" },
        ));
    }
    Some(text)
}

/// Whose data a sink receives, by the channels it markets on and the shop's consent regime.
fn consent_rule(config: &Config, sink: &ConnectorConfig) -> String {
    let channels = sink
        .channels
        .clone()
        .unwrap_or_else(|| vec![Channel::Email]);
    if channels.is_empty() {
        return "It never contacts people, so it receives every customer.".into();
    }
    let on = listed(channels.iter().map(|c| c.as_str()));
    let undecided = match config.consent.marketing_without_choice {
        WithoutChoice::Withhold => "Customers who never chose receive nothing",
        WithoutChoice::Send => "Customers who never chose are included until they say no",
    };
    format!(
        "It markets by {on}: only customers who said yes to marketing by {on} are sent.\n  \
         {undecided}; someone who said no is sent only as their no."
    )
}

/// The plugin's id and version from its manifest, or its directory name when that is unreadable.
fn plugin_name(connector: &ConnectorConfig) -> String {
    let manifest = connector.plugin.join("rapport.toml");
    std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| Manifest::parse(&text, &manifest).ok())
        .map(|m| format!("{} {}", m.id, m.version))
        .unwrap_or_else(|| {
            connector.plugin.file_name().map_or_else(
                || connector.plugin.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            )
        })
}

/// Where the database is, without credentials.
fn location(database_url: &str) -> String {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "the SQLite file {}, on this computer",
            path.split('?').next().unwrap_or(path)
        ),
        None => "a PostgreSQL database (its address is in the configuration)".into(),
    }
}

fn seconds_in_words(secs: u64) -> String {
    match secs {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        s if s.is_multiple_of(3600) => format!("{} hours", s / 3600),
        s if s.is_multiple_of(60) => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// "a, b and c".
fn listed<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(listed(["a"].into_iter()), "a");
        assert_eq!(listed(["a", "b"].into_iter()), "a and b");
        assert_eq!(listed(["a", "b", "c"].into_iter()), "a, b and c");
        assert_eq!(listed(std::iter::empty()), "");
    }

    #[test]
    fn intervals_read_as_prose() {
        assert_eq!(seconds_in_words(60), "minute");
        assert_eq!(seconds_in_words(900), "15 minutes");
        assert_eq!(seconds_in_words(7200), "2 hours");
        assert_eq!(seconds_in_words(45), "45 seconds");
    }
}
