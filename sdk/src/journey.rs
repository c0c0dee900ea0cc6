//! Journey messages as a sink is given them: an activity named `Journey: <name>` whose properties
//! carry `journey`, its `step` and, in an experiment, the `variant` (README, "Journeys"). A sink
//! whose vendor needs each kind of event defined beforehand (HubSpot's custom events) sends every
//! journey message as one event and lets the vendor's workflow branch on `journey`.

/// What the name of every journey message's activity starts with (the host's
/// `Journey::activity_name`).
pub const ACTIVITY_PREFIX: &str = "Journey: ";

/// Whether an activity named `name` is a journey message.
pub fn is_message(name: &str) -> bool {
    name.starts_with(ACTIVITY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journey_messages_are_told_by_their_name() {
        assert!(is_message("Journey: thanks"));
        assert!(!is_message("Placed Order"));
        assert!(!is_message("journey: thanks"));
    }
}
