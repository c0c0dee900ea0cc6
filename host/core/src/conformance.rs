//! The judging rules of `rapport plugin test`, the connector conformance suite: what a log line
//! must not hold, how a source's cursors may move, what a restart from a stored cursor may lose or
//! repeat, what a sink must answer to each vendor fault, and whether repeated activities kept
//! their idempotency keys. The suite measures a plugin; these rules judge, with plain values.

use std::collections::BTreeSet;

/// The customer contact detail a log line shows, if any: an email address, a phone number in
/// international form (`+` and 8 to 15 digits), or one of `phones` (the numbers the suite handed
/// the plugin or read from it) however it is punctuated.
pub fn contact_in(line: &str, phones: &[String]) -> Option<&'static str> {
    if has_email(line) {
        return Some("an email address");
    }
    if has_international_phone(line) {
        return Some("a phone number");
    }
    let squeezed: String = line
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    phones
        .iter()
        .map(|p| significant_digits(p))
        .filter(|d| d.len() >= MIN_PHONE_DIGITS)
        .any(|d| squeezed.contains(&d))
        .then_some("a phone number")
}

/// The fewest digits of a known phone number that identify it in a log line.
const MIN_PHONE_DIGITS: usize = 7;

/// The last nine digits of a phone number (the national number without trunk or country prefix
/// in most numbering plans), or all of them if fewer.
fn significant_digits(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(9)..].iter().collect()
}

/// `local@domain.tld`: a local part, an `@`, and a domain with a dot followed by a letter.
fn has_email(line: &str) -> bool {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    line.match_indices('@').any(|(at, _)| {
        let before = line[..at].chars().next_back().is_some_and(local);
        let host: String = line[at + 1..].chars().take_while(|&c| domain(c)).collect();
        let host = host.trim_end_matches('.');
        before
            && host
                .rsplit_once('.')
                .is_some_and(|(name, tld)| !name.is_empty() && tld.len() >= 2)
            && host
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()))
    })
}

/// `+` then 8 to 15 digits, spaces or dashes allowed between them.
fn has_international_phone(line: &str) -> bool {
    line.match_indices('+').any(|(plus, _)| {
        let digits = line[plus + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ' ' || *c == '-')
            .filter(char::is_ascii_digit)
            .count();
        (8..=15).contains(&digits)
    })
}

/// One step of a source's poll: the cursor it returned (`None` keeps the one it was given) and
/// whether it said more is waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollStep {
    pub cursor: Option<String>,
    pub more: bool,
}

/// Whether a poll's cursors only moved forward: while a step says more is waiting, its cursor is
/// one never seen before in this poll (else the next step reads again what was read, for ever);
/// the last step may keep the cursor it was given but not go back to an earlier one. `start` is
/// the cursor the poll began from.
pub fn cursor_walk(start: Option<&str>, steps: &[PollStep]) -> Result<(), String> {
    let mut current = start.map(str::to_owned);
    let mut seen: Vec<Option<String>> = vec![current.clone()];
    for (i, step) in steps.iter().enumerate() {
        let next = step.cursor.clone().or_else(|| current.clone());
        let earlier = seen.iter().position(|c| *c == next);
        match earlier {
            Some(j) if step.more || (next != current) => {
                let shown = next.as_deref().map_or("none".into(), |c| format!("{c:?}"));
                let when = match j {
                    0 => "the cursor the poll started from".to_string(),
                    j => format!("the cursor of step {j}"),
                };
                return Err(format!(
                    "step {} returned cursor {shown}, {when}{}",
                    i + 1,
                    if step.more {
                        ", and said more is waiting: the poll would read the same records again"
                    } else {
                        ": it went back"
                    }
                ));
            }
            _ => {}
        }
        seen.push(next.clone());
        current = next;
    }
    Ok(())
}

/// What a restart from a stored cursor lost and repeated, by record id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestartGaps {
    /// Read by the uninterrupted poll but neither before the restart point nor after it.
    pub lost: Vec<String>,
    /// Read before the restart point and again after it.
    pub repeated: Vec<String>,
}

impl RestartGaps {
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty() && self.repeated.is_empty()
    }
}

/// Compares an uninterrupted poll (`full`) with one stopped after some steps (`before`, the ids
/// those steps read) and resumed from the cursor they stored (`after`).
pub fn restart_gaps(full: &[String], before: &[String], after: &[String]) -> RestartGaps {
    let before: BTreeSet<&String> = before.iter().collect();
    let after: BTreeSet<&String> = after.iter().collect();
    let full: BTreeSet<&String> = full.iter().collect();
    RestartGaps {
        lost: (full.iter())
            .filter(|id| !before.contains(*id) && !after.contains(*id))
            .map(|id| id.to_string())
            .collect(),
        repeated: before
            .intersection(&after)
            .map(|id| id.to_string())
            .collect(),
    }
}

/// A vendor answer the suite's loopback server gives to every request of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorFault {
    /// HTTP 401.
    Unauthorized,
    /// HTTP 403.
    Forbidden,
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimitedFor(u32),
    /// HTTP 429 without `Retry-After`.
    RateLimited,
    /// HTTP 503.
    Unavailable,
    /// HTTP 200 whose body is not what any API answers (not JSON).
    Malformed,
}

impl VendorFault {
    /// Every fault the suite injects, in the order it reports them.
    pub const ALL: [VendorFault; 6] = [
        VendorFault::Unauthorized,
        VendorFault::Forbidden,
        VendorFault::RateLimitedFor(RETRY_AFTER_SECS),
        VendorFault::RateLimited,
        VendorFault::Unavailable,
        VendorFault::Malformed,
    ];

    /// The check's name in the suite's table.
    pub fn check_name(self) -> &'static str {
        match self {
            VendorFault::Unauthorized => "http 401",
            VendorFault::Forbidden => "http 403",
            VendorFault::RateLimitedFor(_) => "http 429 with retry-after",
            VendorFault::RateLimited => "http 429 without retry-after",
            VendorFault::Unavailable => "http 5xx",
            VendorFault::Malformed => "malformed answer",
        }
    }

    /// What the sink must answer, in words.
    pub fn expected(self) -> String {
        match self {
            VendorFault::Unauthorized | VendorFault::Forbidden => {
                "the call fails as auth".to_string()
            }
            VendorFault::RateLimitedFor(secs) => {
                format!("rate-limited (the call) or retry-after (every item) for at least {secs} s")
            }
            VendorFault::RateLimited => {
                "rate-limited (the call) or retry-after (every item), with a wait".to_string()
            }
            VendorFault::Unavailable => {
                "transient or a wait, for the call or every item".to_string()
            }
            VendorFault::Malformed => {
                "an outcome for every item or a call error, neither auth nor config".to_string()
            }
        }
    }
}

/// The `Retry-After` the suite's 429 sends, in seconds.
pub const RETRY_AFTER_SECS: u32 = 7;

/// How a sink's answer reads for one item: its own outcome, or the error that failed the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Ok,
    Rejected,
    Transient,
    /// retry-after (an item) or rate-limited (the call), in ms.
    Wait(u32),
    Auth,
    Config,
}

/// Whether `readings` (one per item, or the call's error once) is the right answer to `fault`;
/// `Err` says what is wrong.
pub fn judge_fault(fault: VendorFault, readings: &[Reading]) -> Result<(), String> {
    let wrong = readings.iter().find(|r| match fault {
        VendorFault::Unauthorized | VendorFault::Forbidden => **r != Reading::Auth,
        VendorFault::RateLimitedFor(secs) => {
            !matches!(r, Reading::Wait(ms) if u64::from(*ms) >= u64::from(secs) * 1000)
        }
        VendorFault::RateLimited => !matches!(r, Reading::Wait(ms) if *ms > 0),
        VendorFault::Unavailable => !matches!(r, Reading::Transient | Reading::Wait(_)),
        VendorFault::Malformed => matches!(r, Reading::Auth | Reading::Config),
    });
    match (readings.is_empty(), wrong) {
        (true, _) => Err("no answer at all".into()),
        (false, Some(r)) => Err(format!("answered {r:?}; expected {}", fault.expected())),
        (false, None) => Ok(()),
    }
}

/// The idempotency keys of `keys` that are missing from either of two runs of the same
/// activities, each the text of every request the sink sent in it.
pub fn keys_not_kept(keys: &[String], first: &str, second: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| !first.contains(k.as_str()) || !second.contains(k.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[(Option<&str>, bool)]) -> Vec<PollStep> {
        list.iter()
            .map(|(c, more)| PollStep {
                cursor: c.map(str::to_owned),
                more: *more,
            })
            .collect()
    }

    #[test]
    fn emails_in_log_lines_are_found() {
        assert_eq!(
            contact_in("upserted ada@example.com", &[]),
            Some("an email address")
        );
        assert_eq!(
            contact_in("to=<Bob.Smith+x@mail.example.co.uk>.", &[]),
            Some("an email address")
        );
        assert_eq!(contact_in("upserted 2 profiles, 0 rejected", &[]), None);
        assert_eq!(contact_in("GET /v2/customers?cursor=a@b", &[]), None);
        assert_eq!(contact_in("version 1.2@3.4", &[]), None);
        assert_eq!(contact_in("@mention someone", &[]), None);
    }

    #[test]
    fn phones_in_log_lines_are_found() {
        assert_eq!(
            contact_in("sms to +14155550100", &[]),
            Some("a phone number")
        );
        assert_eq!(
            contact_in("sms to +44 7700 900123", &[]),
            Some("a phone number")
        );
        let known = vec!["+14155550100".to_string()];
        assert_eq!(
            contact_in("calling (415) 555-0100 now", &known),
            Some("a phone number")
        );
        assert_eq!(
            contact_in("calling 415.555.0100", &known),
            Some("a phone number")
        );
        assert_eq!(
            contact_in("polled 1700000000000 to 1700086400000, +3 more", &known),
            None
        );
        assert_eq!(contact_in("page 4 of 15, 5550 items", &known), None);
    }

    #[test]
    fn a_cursor_that_moves_forward_passes() {
        let walk = steps(&[(Some("a"), true), (Some("b"), true), (Some("c"), false)]);
        assert_eq!(cursor_walk(None, &walk), Ok(()));
        // The last step may keep the cursor (nothing new), or return none (keep it).
        assert_eq!(
            cursor_walk(Some("c"), &steps(&[(Some("c"), false)])),
            Ok(())
        );
        assert_eq!(cursor_walk(Some("c"), &steps(&[(None, false)])), Ok(()));
    }

    #[test]
    fn a_cursor_that_loops_or_goes_back_fails_naming_the_step() {
        let looping = steps(&[(Some("a"), true), (Some("b"), true), (Some("a"), true)]);
        let e = cursor_walk(None, &looping).unwrap_err();
        assert!(e.contains("step 3") && e.contains("step 1"), "{e}");
        let stuck = steps(&[(Some("a"), true), (None, true)]);
        assert!(cursor_walk(None, &stuck).unwrap_err().contains("step 2"));
        let back = steps(&[(Some("a"), true), (Some("b"), true), (Some("a"), false)]);
        assert!(cursor_walk(None, &back).unwrap_err().contains("went back"));
        let to_start = steps(&[(Some("b"), true), (Some("a"), true)]);
        assert!(cursor_walk(Some("a"), &to_start)
            .unwrap_err()
            .contains("started from"));
    }

    #[test]
    fn restart_gaps_name_lost_and_repeated_records() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let full = ids(&["1", "2", "3", "4"]);
        assert!(restart_gaps(&full, &ids(&["1", "2"]), &ids(&["3", "4"])).is_clean());
        let gaps = restart_gaps(&full, &ids(&["1", "2"]), &ids(&["2", "4"]));
        assert_eq!(gaps.lost, ids(&["3"]));
        assert_eq!(gaps.repeated, ids(&["2"]));
    }

    #[test]
    fn each_fault_has_its_right_answers() {
        use Reading::*;
        use VendorFault::*;
        assert!(judge_fault(Unauthorized, &[Auth]).is_ok());
        assert!(judge_fault(Forbidden, &[Rejected, Rejected]).is_err());
        assert!(judge_fault(RateLimitedFor(7), &[Wait(7000), Wait(7000)]).is_ok());
        let e = judge_fault(RateLimitedFor(7), &[Wait(1000)]).unwrap_err();
        assert!(e.contains("at least 7 s"), "{e}");
        assert!(judge_fault(RateLimitedFor(7), &[Rejected]).is_err());
        assert!(judge_fault(RateLimited, &[Wait(1000)]).is_ok());
        assert!(judge_fault(RateLimited, &[Wait(0)]).is_err());
        assert!(judge_fault(RateLimited, &[Rejected, Rejected]).is_err());
        assert!(judge_fault(Unavailable, &[Transient, Wait(5)]).is_ok());
        assert!(judge_fault(Unavailable, &[Ok]).is_err());
        assert!(judge_fault(Malformed, &[Transient]).is_ok());
        assert!(judge_fault(Malformed, &[Rejected, Ok]).is_ok());
        assert!(judge_fault(Malformed, &[Auth]).is_err());
        assert!(judge_fault(Unavailable, &[]).is_err());
    }

    #[test]
    fn keys_must_be_in_both_runs() {
        let keys = vec!["k-1".to_string(), "k-2".to_string()];
        assert!(keys_not_kept(&keys, "k-1 k-2", "{\"k-2\",\"k-1\"}").is_empty());
        assert_eq!(keys_not_kept(&keys, "k-1 k-2", "k-1 rnd-9"), vec!["k-2"]);
    }
}
