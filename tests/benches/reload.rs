//! Hot reload latency, printed (not asserted): `cargo bench -p rapport-e2e --bench reload`.
//!
//! The daemon's pipeline runs in this process with its plugins directory watched. A new version of
//! a 1 MiB sink plugin (http-sink's component, padded to 1 MiB with a custom section) is renamed
//! into place, as `rapport plugin install` does; the figure is the time from the rename to the end
//! of the first call on the new generation. With a warm compile cache the component was compiled
//! before; with a cold one its digest is new, so it is compiled.
//!
//! Then the memory a shop's daemon holds while idle: the release `rapport run`, with six plugins
//! (the three sources and three vendor sinks) loaded and their vendors unreachable, its resident
//! set read from `/proc` once it has settled: started once to compile its plugins, then again
//! loading them from its compile cache.
//!
//! `RAPPORT_BENCH_RELOADS` sets the drops per mode (default 10).

use rapport_e2e::bench::{mb, status_kb, Section};
use rapport_e2e::{plugin, rapport_bin, secrets_file, with_custom_section, LOOPBACK_DEV};
use rapport_host::config::Config;
use rapport_host::pipeline::Pipeline;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PLUGIN_BYTES: usize = 1 << 20;

/// http-sink's component padded to 1 MiB; `tag` makes the digest.
fn build(tag: &str) -> Vec<u8> {
    let wasm = std::fs::read(plugin("http-sink").join("plugin.wasm")).unwrap();
    let mut payload = tag.as_bytes().to_vec();
    payload.resize(PLUGIN_BYTES.saturating_sub(wasm.len() + 64), b'.');
    with_custom_section(&wasm, "rapport-bench-padding", &payload)
}

/// Installs `wasm` as version `version` in `plugins/http-sink` the way install does: written into a
/// staging directory, then renamed into place. Returns the moment of the rename.
fn drop_in(plugins: &Path, version: u64, wasm: &[u8]) -> Instant {
    let manifest = std::fs::read_to_string(plugin("http-sink").join("rapport.toml"))
        .unwrap()
        .replacen(
            "version = \"0.1.0\"",
            &format!("version = \"1.0.{version}\""),
            1,
        );
    let staging = plugins.join(format!(".installing-{version}"));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("rapport.toml"), manifest).unwrap();
    std::fs::write(staging.join("plugin.wasm"), wasm).unwrap();
    let target = plugins.join("http-sink");
    let aside = plugins.join(format!(".replaced-{version}"));
    if target.exists() {
        std::fs::rename(&target, &aside).unwrap();
    }
    let dropped = Instant::now();
    std::fs::rename(&staging, &target).unwrap();
    let _ = std::fs::remove_dir_all(&aside);
    dropped
}

/// Waits for generation `number` of the sink and makes its first call.
async fn first_call(pipeline: &Pipeline, number: u64) {
    let sink = pipeline.connectors.sinks[0].clone();
    let start = Instant::now();
    while sink.live().number() < number {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "generation {number} never went live: {:?}",
            sink.generations.report().last_refusal
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let plugin = sink.plugin();
    tokio::task::spawn_blocking(move || plugin.describe())
        .await
        .unwrap()
        .unwrap();
}

fn summary(report: &mut Section, label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    report.line(format!(
        "- {label}: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} drops",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    ));
}

/// The six plugins' config: every vendor at a closed loopback port, polled once an hour.
fn six_plugins(dir: &Path) -> String {
    let secrets = secrets_file(
        dir,
        &[
            ("square_token", "t"),
            ("square_signature_key", "k"),
            ("shopify_token", "t"),
            ("shopify_webhook_secret", "k"),
            ("hubspot_token", "t"),
            ("mailchimp_key", "k-us1"),
            ("klaviyo_key", "k"),
        ],
    );
    let closed = "http://127.0.0.1:9";
    let source = |id: &str, secrets: &str, config: &str| {
        format!(
            "[[source]]\nid = \"{id}\"\nplugin = \"{}\"\npoll_interval_secs = 3600\nsecrets = [{secrets}]\n[source.config]\n{config}\n",
            plugin(&format!("{id}-source")).display()
        )
    };
    let sink = |id: &str, secret: &str, config: &str| {
        format!(
            "[[sink]]\nid = \"{id}\"\nplugin = \"{}\"\nchannels = [\"email\"]\nsecrets = [\"{secret}\"]\n[sink.config]\napi_base = \"{closed}\"\n{config}\n",
            plugin(&format!("{id}-sink")).display()
        )
    };
    [
        format!(
            "[store]\ndatabase_url = \"sqlite://rapport.db\"\n[runtime]\ncache_dir = \"cache\"\n[server]\nlisten = \"127.0.0.1:0\"\n{LOOPBACK_DEV}[secrets]\nfile = \"{}\"\n",
            secrets.display()
        ),
        source(
            "square",
            "\"square_token\", \"square_signature_key\"",
            &format!("api_base = \"{closed}\"\nlocation_ids = \"L1\""),
        ),
        source(
            "shopify",
            "\"shopify_token\", \"shopify_webhook_secret\"",
            &format!("api_base = \"{closed}/admin/api/2025-01\""),
        ),
        source("csv", "", ""),
        sink("hubspot", "hubspot_token", ""),
        sink("mailchimp", "mailchimp_key", "list_id = \"L1\""),
        sink("klaviyo", "klaviyo_key", ""),
    ]
    .concat()
}

/// The resident set of `rapport run` with six plugins, idle: read after `settle`, and the peak;
/// first when it compiles the plugins, then started again on the same config, when it loads them
/// from its compile cache (`[runtime] cache_dir`), as every later start of a shop's daemon does.
fn idle_memory(report: &mut Section, settle: Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rapport.toml"), six_plugins(dir.path())).unwrap();
    for start in ["compiling its plugins", "from its compile cache"] {
        let mut daemon = std::process::Command::new(rapport_bin())
            .args(["run", "--config"])
            .arg(dir.path().join("rapport.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(settle);
        let pid = daemon.id().to_string();
        let running = daemon.try_wait().unwrap().is_none();
        let rss = status_kb(&pid, "VmRSS");
        let peak = status_kb(&pid, "VmHWM");
        let _ = daemon.kill();
        let _ = daemon.wait();
        match (running, rss, peak) {
            (true, Some(rss), Some(peak)) => report.line(format!(
                "- idle `rapport run` with six plugins (square, shopify and csv sources; hubspot, mailchimp and klaviyo sinks), started {start}, after {} s: resident {} (peak {}); target 48 MB",
                settle.as_secs(),
                mb(rss),
                mb(peak)
            )),
            _ => report.line(format!("- idle `rapport run` with six plugins, started {start}: the daemon did not keep running; no figure")),
        }
    }
}

#[tokio::main]
async fn main() {
    let drops: usize = std::env::var("RAPPORT_BENCH_RELOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mut version = 0;
    drop_in(&plugins, version, &build("initial"));
    let config = format!(
        r#"
[store]
database_url = "sqlite://bench.db"
[server]
listen = "127.0.0.1:0"
{LOOPBACK_DEV}[[sink]]
id = "crm"
plugin = "plugins/http-sink"
channels = []
[sink.config]
url = "http://127.0.0.1:9/hook"
"#
    );
    let config = Config::parse(&config, dir.path()).unwrap();
    let debounce = config.runtime.reload_debounce_ms;
    let pipeline = Arc::new(Pipeline::start(config).await.unwrap());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
    // Let the watch start.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Two builds compiled once (the first drops of each), then dropped in turn: a warm cache.
    let warm_builds = [build("warm-a"), build("warm-b")];
    let mut warm = Vec::new();
    for i in 0..drops + 2 {
        version += 1;
        let dropped = drop_in(&plugins, version, &warm_builds[i % 2]);
        first_call(&pipeline, version + 1).await;
        if i >= 2 {
            warm.push(dropped.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let mut cold = Vec::new();
    for i in 0..drops {
        version += 1;
        let dropped = drop_in(&plugins, version, &build(&format!("cold-{i}")));
        first_call(&pipeline, version + 1).await;
        cold.push(dropped.elapsed().as_secs_f64() * 1000.0);
    }
    let mut report = Section::new(
        "reload",
        "Hot swap and idle memory",
        &format!(
            "A new version of a {} KiB sink plugin renamed into the watched plugins directory, as \
             `rapport plugin install` does; from the rename to the end of the first call on the \
             new generation (debounce {debounce} ms). Warm: the component was compiled before; \
             cold: its digest is new (`cargo bench -p rapport-e2e --bench reload`).\n",
            build("size").len() >> 10
        ),
    );
    summary(&mut report, "warm compile cache", warm);
    summary(&mut report, "cold compile cache", cold);
    let _ = stop.send(true);
    daemon.await.unwrap().unwrap();
    idle_memory(&mut report, Duration::from_secs(10));
}
