//! `rapport explain WHO`: prints [`rapport_host::explain::Explanation`] for people, or as JSON.

use rapport_host::explain::{Explanation, Finished, JourneyExplained, Owed, Verdict};
use rapport_host::pipeline::Pipeline;

/// Explains `who` and prints it (`json`: one JSON document).
pub async fn run(pipeline: &Pipeline, who: &str, json: bool) -> anyhow::Result<()> {
    let explained = rapport_host::explain::explain(pipeline, who).await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&explained)?),
        false => print!("{}", text(&explained)),
    }
    Ok(())
}

fn when(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The explanation as people read it.
pub fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let p = &e.person;
    line(format!(
        "{} (profile {}, id {}), as of {}",
        p.name.as_deref().unwrap_or("(no name)"),
        p.key,
        p.id,
        e.at.format("%Y-%m-%d %H:%M UTC")
    ));
    for (kind, value) in &p.identities {
        line(format!("  {kind} {value}"));
    }
    line("consents in force:".into());
    if e.consents.is_empty() {
        line("  none: they never made a choice".into());
    }
    for c in &e.consents {
        line(format!(
            "  {} {}: {} at {} from {} (basis {}, record {})",
            c.channel,
            c.purpose,
            c.state,
            when(&c.at),
            c.source,
            c.legal_basis.as_deref().unwrap_or("-"),
            c.evidence.as_deref().unwrap_or("-")
        ));
    }
    if let Some(hours) = &e.quiet_hours {
        line(format!("their own quiet hours: {hours}"));
    }
    line("merges:".into());
    if e.merges.is_empty() {
        line("  none".into());
    }
    for m in &e.merges {
        line(format!(
            "  merge {}: {} into {} by {} ({}), {}{}",
            m.id,
            m.absorbed,
            m.survivor,
            m.reason,
            m.evidence,
            when(&m.merged_at),
            m.undone_at
                .map_or(String::new(), |t| format!("; undone {}", when(&Some(t))))
        ));
    }
    for s in &e.sinks {
        line(format!(
            "sink {}{}: {}{}",
            s.sink,
            if s.retiring { " (retiring)" } else { "" },
            match s.admission {
                "full" => "may receive everything its fields allow".to_string(),
                "consents-only" => "receives their consents only".to_string(),
                _ => "receives nothing about them".to_string(),
            },
            s.admission_reason
                .as_ref()
                .map_or(String::new(), |why| format!(" ({why})"))
        ));
        if !s.held_back.is_empty() {
            line(format!(
                "  held back by its fields: {}",
                s.held_back.join(", ")
            ));
        }
        line(format!("  has received ({}):", s.received.len()));
        for f in &s.received {
            line(format!("    {}", finished(f)));
        }
        line(format!("  would receive ({}):", s.would_receive.len()));
        for o in &s.would_receive {
            line(format!("    {}", owed(o)));
        }
    }
    for j in &e.journeys {
        line(journey(j));
        for w in &j.waits {
            line(format!(
                "  waiting: due {}, started {}: {}",
                when(&w.due_at),
                when(&w.trigger_at),
                w.decision
            ));
        }
        for entry in &j.entries {
            line(format!(
                "  entered {}: {}{}",
                when(&entry.entered_at),
                entry.outcome,
                entry
                    .arm
                    .as_ref()
                    .map_or(String::new(), |arm| format!(" (arm {arm})"))
            ));
        }
    }
    out
}

fn finished(f: &Finished) -> String {
    format!(
        "#{} {}: {} {}{}{}",
        f.item.id,
        f.item.what,
        f.outcome.as_str(),
        when(&f.at),
        f.reason
            .as_ref()
            .map_or(String::new(), |why| format!(": {why}")),
        f.item
            .queued_for
            .as_ref()
            .map_or(String::new(), |key| format!(" (queued for {key})"))
    )
}

fn owed(o: &Owed) -> String {
    let waiting = match (&o.waiting_because, o.in_flight) {
        (_, true) => " [in flight]".to_string(),
        (Some(why), false) => match &o.due_at {
            Some(_) => format!(" [waiting until {}: {why}]", when(&o.due_at)),
            None => format!(" [waiting: {why}]"),
        },
        (None, false) => String::new(),
    };
    format!(
        "#{} {}: {}{waiting}",
        o.item.id,
        o.item.what,
        verdict(&o.verdict)
    )
}

fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Send { name, carries } => format!(
            "send{}{}",
            name.as_ref().map_or(String::new(), |n| format!(" {n:?}")),
            if carries.is_empty() {
                String::new()
            } else {
                format!(" with {}", carries.join(", "))
            }
        ),
        Verdict::Delay { until, reason } => format!("held until {}: {reason}", when(until)),
        Verdict::Suppress { reason } => format!("not sent: {reason}"),
        Verdict::DeadLetter { reason } => format!("cannot be sent: {reason}"),
    }
}

fn journey(j: &JourneyExplained) -> String {
    let mut why = Vec::new();
    if !j.enabled {
        why.push("paused (enabled = false)".to_string());
    }
    if !j.in_rollout {
        why.push(format!(
            "outside its rollout ({:.0}% of people)",
            j.rollout * 100.0
        ));
    }
    if let Some(reason) = &j.consent_reason {
        why.push(reason.clone());
    }
    let arm = match (&j.experiment, &j.arm) {
        (Some(experiment), Some(arm)) => format!("; experiment {experiment}: arm {arm}"),
        _ => String::new(),
    };
    format!(
        "journey {} ({} on {} by {}): {}{arm}; a message now: {}",
        j.name,
        j.trigger,
        j.channel,
        j.sink,
        match why.is_empty() {
            true => "eligible".to_string(),
            false => format!("not eligible: {}", why.join("; ")),
        },
        verdict(&j.contact_now)
    )
}
