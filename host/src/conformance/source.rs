//! The source checks: `check` answers; each stream's poll ends, its cursor only moves forward, and
//! a restart from a stored cursor neither loses nor repeats records; every event passes the host's
//! edge validation; a webhook with a missing or wrong signature fails as auth.

use super::config::{ConformanceConfig, PollBounds};
use super::Probe;
use crate::check::{describe, Line};
use crate::ingest::validate;
use rapport_core::conformance::{cursor_walk, restart_gaps, PollStep};
use rapport_core::model::IdentityKind;
use rapport_core::readiness::Verdict;
use rapport_sandbox::contract::pos::PosEvent;
use rapport_sandbox::contract::wit::{ConnectorError, Descriptor};
use std::time::{Duration, Instant};

/// How one read of a stream ended.
enum End {
    /// A step said nothing more is waiting.
    Done,
    /// The bounds ran out while steps still said more is waiting.
    Endless(String),
    Failed(String),
}

/// One read of a stream from a cursor, step by step.
struct Read {
    steps: Vec<PollStep>,
    /// The ids of the events of each step.
    ids: Vec<Vec<String>>,
    events: Vec<PosEvent>,
    end: End,
}

impl Read {
    fn all_ids(&self) -> Vec<String> {
        self.ids.concat()
    }

    /// The cursor stored after step `k` (1-based).
    fn cursor_after(&self, start: Option<&str>, k: usize) -> Option<String> {
        (self.steps[..k].iter()).fold(start.map(str::to_owned), |cursor, step| {
            step.cursor.clone().or(cursor)
        })
    }
}

/// Reads `stream` from `cursor` until a step says nothing more waits, within `bounds`.
async fn read(probe: &Probe, stream: &str, cursor: Option<String>, bounds: PollBounds) -> Read {
    let started = Instant::now();
    let mut read = Read {
        steps: Vec::new(),
        ids: Vec::new(),
        events: Vec::new(),
        end: End::Done,
    };
    let mut cursor = cursor;
    loop {
        let (name, from) = (stream.to_owned(), cursor.clone());
        let answer = probe
            .call("poll", move |p| p.poll(&name, from.as_deref()))
            .await;
        let batch = match answer {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                read.end = End::Failed(format!(
                    "step {} answered {}",
                    read.steps.len() + 1,
                    describe(&e)
                ));
                return read;
            }
            Err(fault) => {
                read.end = End::Failed(fault.to_string());
                return read;
            }
        };
        read.ids
            .push(batch.events.iter().map(|e| e.id.clone()).collect());
        read.events.extend(batch.events);
        read.steps.push(PollStep {
            cursor: batch.cursor.clone(),
            more: batch.more,
        });
        cursor = batch.cursor.or(cursor);
        if !batch.more {
            return read;
        }
        if read.steps.len() >= bounds.max_steps
            || started.elapsed() >= Duration::from_secs(bounds.max_secs)
        {
            read.end = End::Endless(format!(
                "still saying more is waiting after {} steps and {} s (bounds: [poll] max_steps = {}, max_secs = {})",
                read.steps.len(),
                started.elapsed().as_secs(),
                bounds.max_steps,
                bounds.max_secs
            ));
            return read;
        }
    }
}

/// Every source check, and the phone numbers the events carried (for the log check).
pub async fn checks(
    probe: &Probe,
    descriptor: &Descriptor,
    conformance: &ConformanceConfig,
) -> (Vec<Line>, Vec<String>) {
    let mut lines = vec![check_line(probe).await];
    let bounds = conformance.poll;
    let mut reads = Vec::new();
    for stream in &descriptor.streams {
        reads.push((stream.as_str(), read(probe, stream, None, bounds).await));
    }
    let mut ends = Vec::new();
    let mut walks = Vec::new();
    let mut verdict = Verdict::Ok;
    let mut walk_verdict = Verdict::Ok;
    for (stream, r) in &reads {
        let events = r.events.len();
        ends.push(match &r.end {
            End::Done => format!("{stream}: {} step(s), {events} event(s)", r.steps.len()),
            End::Endless(why) | End::Failed(why) => {
                verdict = Verdict::Fail;
                format!("{stream}: {why}")
            }
        });
        if let Err(e) = cursor_walk(None, &r.steps) {
            walk_verdict = Verdict::Fail;
            walks.push(format!("{stream}: {e}"));
        }
    }
    if descriptor.streams.is_empty() {
        verdict = Verdict::Fail;
        ends.push("describe names no stream to poll".into());
    }
    lines.push(Line::new("poll terminates", verdict, ends.join("; ")));
    lines.push(Line::new(
        "cursor moves forward",
        walk_verdict,
        match walks.is_empty() {
            true => "every step that said more is waiting moved the cursor to a new one".into(),
            false => walks.join("; "),
        },
    ));
    lines.push(restart_line(probe, &reads, bounds).await);
    let (events_line, phones) = events_line(&reads);
    lines.push(events_line);
    lines.push(webhook_line(probe, conformance).await);
    (lines, phones)
}

async fn check_line(probe: &Probe) -> Line {
    match probe.call("check", |p| p.check()).await {
        Ok(Ok(())) => Line::new("check", Verdict::Ok, "answered ok"),
        Ok(Err(e)) => Line::new("check", Verdict::Fail, format!("answered {}", describe(&e))),
        Err(fault) => Line::new("check", Verdict::Fail, fault.to_string()),
    }
}

/// Each stream read again from the cursor stored half-way (after its first step if it had one)
/// finds every record the uninterrupted read found after that point (else FAIL), and none from
/// before it (else warn).
async fn restart_line(probe: &Probe, reads: &[(&str, Read)], bounds: PollBounds) -> Line {
    let mut verdict = Verdict::Ok;
    let mut notes = Vec::new();
    for (stream, full) in reads {
        if !matches!(full.end, End::Done) {
            verdict = verdict.max(Verdict::Skip);
            notes.push(format!("{stream}: skipped, its first read did not end"));
            continue;
        }
        let k = (full.steps.len() / 2).max(1);
        let cursor = full.cursor_after(None, k);
        let again = read(probe, stream, cursor, bounds).await;
        if let End::Endless(why) | End::Failed(why) = &again.end {
            verdict = Verdict::Fail;
            notes.push(format!("{stream}: reading again after step {k}: {why}"));
            continue;
        }
        let before = full.ids[..k].concat();
        let gaps = restart_gaps(&full.all_ids(), &before, &again.all_ids());
        let at = format!("{stream}: restarted after step {k} of {}", full.steps.len());
        match gaps.is_clean() {
            true => notes.push(format!("{at}: nothing lost or repeated")),
            false => {
                // A lost record is gone; a repeated one costs a re-read (the host drops event ids
                // it stored), as an inclusive watermark does on purpose.
                verdict = verdict.max(match gaps.lost.is_empty() {
                    true => Verdict::Warn,
                    false => Verdict::Fail,
                });
                let some =
                    |ids: &[String]| ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
                notes.push(format!(
                    "{at}: {} record(s) lost ({}), {} repeated ({})",
                    gaps.lost.len(),
                    some(&gaps.lost),
                    gaps.repeated.len(),
                    some(&gaps.repeated)
                ));
            }
        }
    }
    Line::new("restart from cursor", verdict, notes.join("; "))
}

/// Every polled event passes the host's edge validation; returns the phones they named.
fn events_line(reads: &[(&str, Read)]) -> (Line, Vec<String>) {
    let now = chrono::Utc::now();
    let mut phones = Vec::new();
    let mut refused = Vec::new();
    let mut total = 0;
    for event in reads.iter().flat_map(|(_, r)| &r.events) {
        total += 1;
        match validate::event(event.clone(), now) {
            Ok(valid) => phones.extend(
                (valid.payload.identities().iter())
                    .filter(|i| i.kind == IdentityKind::Phone)
                    .map(|i| i.value.clone()),
            ),
            Err(rejected) => refused.push(format!("{}: {}", rejected.locator, rejected.reason)),
        }
    }
    let line = match (total, refused.len()) {
        (0, _) => Line::new(
            "events valid",
            Verdict::Warn,
            "the polls returned no event to validate: give the test settings some data",
        ),
        (n, 0) => Line::new(
            "events valid",
            Verdict::Ok,
            format!("{n} event(s), all pass the host's edge validation (money, times, identities)"),
        ),
        (n, k) => Line::new(
            "events valid",
            Verdict::Fail,
            format!(
                "{k} of {n} events refused at the host's edge: {}",
                refused
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    };
    (line, phones)
}

/// A delivery without a signature, and one with a wrong signature, fail as auth.
async fn webhook_line(probe: &Probe, conformance: &ConformanceConfig) -> Line {
    let Some(webhook) = &conformance.webhook else {
        return Line::new(
            "webhook signature",
            Verdict::Skip,
            "the conformance config has no [webhook] signature_header",
        );
    };
    let content = ("content-type".to_string(), "application/json".to_string());
    let forged = (
        webhook.signature_header.clone(),
        "c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ==".to_string(),
    );
    let mut wrong = Vec::new();
    for (what, headers) in [
        ("unsigned", vec![content.clone()]),
        ("wrongly signed", vec![content, forged]),
    ] {
        let body = webhook.body.clone().into_bytes();
        match probe
            .call("webhook", move |p| p.webhook(&headers, &body))
            .await
        {
            Ok(Err(ConnectorError::Auth(_))) => {}
            Ok(Err(e)) => wrong.push(format!("{what}: answered {}", describe(&e))),
            Ok(Ok(push)) => wrong.push(format!(
                "{what}: accepted, with {} event(s)",
                push.events.len()
            )),
            Err(fault) => wrong.push(format!("{what}: {fault}")),
        }
    }
    match wrong.is_empty() {
        true => Line::new(
            "webhook signature",
            Verdict::Ok,
            format!(
                "unsigned and wrongly signed deliveries ({}) fail as auth",
                webhook.signature_header
            ),
        ),
        false => Line::new(
            "webhook signature",
            Verdict::Fail,
            format!("{} (expected: auth)", wrong.join("; ")),
        ),
    }
}
