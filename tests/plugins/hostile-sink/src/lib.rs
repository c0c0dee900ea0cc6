//! A CRM sink that misbehaves on purpose, so the host's tests can prove that a trap, a runaway
//! loop, memory or stack exhaustion, an oversized result or a forbidden request fails one call
//! and nothing else. Config `behaviour` picks the misbehaviour for `upsert_profiles` and
//! `record_activities`; the probing behaviours report what the host answered as a rejection.

use rapport_sdk::config::{config_u32, require};
use rapport_sdk::host::{self, Header, HttpError, HttpRequest, Method};
use rapport_sdk::prelude::*;
use std::hint::black_box;

const HUGE_REASON_BYTES: usize = 256 << 20;

struct HostileSink;

impl Sink for HostileSink {
    fn describe() -> Descriptor {
        Descriptor {
            name: "Hostile test sink".into(),
            kind: ConnectorKind::CrmSink,
            streams: Vec::new(),
            max_batch: 100,
        }
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn upsert_profiles(profiles: Vec<Profile>) -> Result<Vec<Outcome>, ConnectorError> {
        misbehave(profiles.len())
    }

    fn record_activities(activities: Vec<Activity>) -> Result<Vec<Outcome>, ConnectorError> {
        misbehave(activities.len())
    }

    fn forget(_identities: Vec<Identity>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

rapport_sdk::export_sink!(HostileSink);

fn misbehave(items: usize) -> Result<Vec<Outcome>, ConnectorError> {
    let report = |text: String| Ok(vec![Outcome::Rejected(text); items]);
    match require("behaviour")?.as_str() {
        "ok" => Ok(vec![Outcome::Ok; items]),
        "trap" => panic!("hostile plugin trapped on purpose"),
        "loop" => spin(),
        "grow-memory" => hoard(),
        "recurse" => report(format!("recursed to {}", recurse(0))),
        "huge-result" => Ok(huge(items)),
        "send" => report(send(Vec::new())?),
        "header-injection" => report(send(vec![Header {
            name: "x-note".into(),
            value: "hello\r\nX-Injected: 1".into(),
        }])?),
        "send-flood" => report(flood()?),
        "read-secret" => report(read_secrets()),
        other => Err(ConnectorError::Config(format!(
            "unknown behaviour {other:?}"
        ))),
    }
}

/// Burns CPU until the host's deadline interrupts it.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates and touches 1 MiB at a time, keeping everything, until memory runs out.
fn hoard() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for byte in chunk.iter_mut().step_by(4096) {
            *byte = 1;
        }
        kept.push(black_box(chunk));
        black_box(&kept);
    }
}

/// Recurses until the wasm call stack is exhausted. The call goes through a volatile read of a
/// function pointer, so the optimiser cannot turn the recursion into a loop, and the frames hold
/// nothing in linear memory, so it is the engine's stack that overflows, not Rust's shadow stack.
fn recurse(depth: u64) -> u64 {
    // SAFETY: reads an initialised static of the right type.
    let next = unsafe { std::ptr::read_volatile(&RECURSE) };
    next(depth + 1).wrapping_add(depth)
}

static RECURSE: fn(u64) -> u64 = recurse;

/// A 256 MiB reason for the first item, built at run time so it really is allocated.
fn huge(items: usize) -> Vec<Outcome> {
    (0..items)
        .map(|i| {
            Outcome::Rejected(if i == 0 {
                "x".repeat(black_box(HUGE_REASON_BYTES))
            } else {
                "huge-result".into()
            })
        })
        .collect()
}

fn get(url: &str, headers: Vec<Header>) -> Result<u16, HttpError> {
    host::send(&HttpRequest {
        method: Method::Get,
        url: url.to_owned(),
        headers,
        body: Vec::new(),
    })
    .map(|response| response.status)
}

/// One GET to `target_url`, described the way the test reads it.
fn send(headers: Vec<Header>) -> Result<String, ConnectorError> {
    Ok(match get(&require("target_url")?, headers) {
        Ok(status) => format!("send result: status {status}"),
        Err(error) => format!("send result: {error:?}"),
    })
}

/// `flood_count` GETs to `target_url`, counted by result.
fn flood() -> Result<String, ConnectorError> {
    let url = require("target_url")?;
    let (mut ok, mut denied, mut other) = (0u32, 0u32, 0u32);
    for _ in 0..config_u32("flood_count", 1000)? {
        match get(&url, Vec::new()) {
            Ok(_) => ok += 1,
            Err(HttpError::Denied(_)) => denied += 1,
            Err(_) => other += 1,
        }
    }
    Ok(format!("flood: ok={ok} denied={denied} other={other}"))
}

/// Everything a plugin might try to learn secrets from: config, HMAC, environment, files.
fn read_secrets() -> String {
    let config: Vec<String> = ["hubspot_token", "secret", "HOME"]
        .iter()
        .map(|key| format!("{key}={:?}", host::config(key)))
        .collect();
    let hmac = host::hmac_sha256("hubspot_token", b"x");
    let env: Vec<(String, String)> = std::env::vars().collect();
    let files = std::fs::read_dir("/").map(|entries| entries.count());
    format!(
        "read-secret: config {}; hmac={hmac:?}; env={env:?}; fs={files:?}",
        config.join(" ")
    )
}
