//! Property tests over arbitrary config text: whatever an operator writes (or a file half-written
//! when the daemon reads it), `Config::parse` answers with a config or a message, never a panic.
//! Run with `cargo test --lib config::fuzz` (`PROPTEST_CASES=100000` for a longer run).

use super::Config;
use proptest::prelude::*;
use std::path::Path;

/// Lines that look like rapport.toml: its sections and keys, with values of every TOML type.
fn config_like() -> impl Strategy<Value = String> {
    let section = prop::sample::select(
        &[
            "[store]",
            "[shop]",
            "[identity]",
            "[consent]",
            "[runtime]",
            "[server]",
            "[delivery]",
            "[network]",
            "[secrets]",
            "[trust]",
            "[retention]",
            "[privacy]",
            "[journeys]",
            "[[source]]",
            "[[sink]]",
            "[[journey]]",
            "[consent.caps]",
        ][..],
    )
    .prop_map(str::to_string);
    let key = prop::sample::select(
        &[
            "id",
            "plugin",
            "database_url",
            "region",
            "time_zone",
            "listen",
            "fields",
            "channels",
            "max_age",
            "wait_minutes",
            "trigger",
            "sink",
            "channel",
            "events",
            "interval",
            "keep_birth_year",
            "data_requests",
            "priority",
            "blocked",
            "limits",
            "quiet_hours",
            "memory_mb",
            "max_attempts",
            "allow_private",
            "file",
            "dev",
            "url",
            "name",
        ][..],
    );
    let value = prop_oneof![
        "\"[a-z0-9 :/._-]{0,16}\"",
        "-?[0-9]{1,6}",
        Just("true".to_string()),
        "\\[(\"[a-z_]{0,8}\", ?){0,3}\\]",
        "\"[0-9]{1,3}(d|h|m|s|days)\"",
        ".{0,12}",
    ];
    let line = prop_oneof![
        section,
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        ".{0,20}",
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn any_config_text_parses_or_says_why(text in config_like()) {
        if let Err(message) = Config::parse(&text, Path::new("/etc/rapport")) {
            prop_assert!(!message.trim().is_empty());
        }
    }

    #[test]
    fn any_text_at_all_parses_or_says_why(text in ".{0,256}") {
        let _ = Config::parse(&text, Path::new("/etc/rapport"));
    }
}
