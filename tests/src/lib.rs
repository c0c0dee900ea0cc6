//! Shared harness for the end-to-end tests: where the built plugins and the `rapport` binary are, a
//! scratch shop directory with a config file, and the config sections and secrets files most tests
//! share.

use rapport_host::config::Config;
use rapport_host::connectors::HostServices;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod bench;

/// The cargo target directory this test binary was built into.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.ancestors()
        .nth(3)
        .expect("target directory")
        .to_path_buf()
}

/// `target/plugins/<name>`, built by scripts/build-plugins.
pub fn plugin(name: &str) -> PathBuf {
    let dir = target_dir().join("plugins").join(name);
    assert!(
        dir.join("plugin.wasm").exists(),
        "plugin {name} is not built at {}: run scripts/build-plugins (scripts/test does)",
        dir.display()
    );
    dir
}

/// The `rapport` binary of this build profile.
pub fn rapport_bin() -> PathBuf {
    profile_bin("rapport-host", "rapport")
}

/// Signed packages of the built plugins `names`, installed into `dir/plugins/<name>` through the
/// real `rapport plugin keygen | pack | sign | install`, signed by publisher `rapport` (named in
/// each manifest, added where a manifest names none); returns the plugins directory and a trust
/// store (`dir/trust.toml`) that trusts that publisher.
pub fn install_signed(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let run = |args: &[&std::ffi::OsStr]| {
        let output = Command::new(rapport_bin())
            .arg("plugin")
            .args(args)
            .output()
            .expect("run rapport plugin");
        assert!(output.status.success(), "{}", output_text(&output));
    };
    let keys = dir.join("keys");
    run(&[
        "keygen".as_ref(),
        "--key-id".as_ref(),
        "rapport".as_ref(),
        "--out".as_ref(),
        keys.as_os_str(),
    ]);
    let trust = dir.join("trust.toml");
    std::fs::copy(keys.join("rapport.pub"), &trust).expect("the trust store");
    let plugins = dir.join("plugins");
    for name in names {
        let text = std::fs::read_to_string(plugin(name).join("rapport.toml")).expect("manifest");
        let text = match text.contains("\npublisher = ") {
            true => text,
            false => text.replacen("contract = ", "publisher = \"rapport\"\ncontract = ", 1),
        };
        let manifest = dir.join(format!("{name}.rapport.toml"));
        std::fs::write(&manifest, text).expect("write the manifest");
        let package = dir.join(format!("{name}.rpk"));
        let wasm = plugin(name).join("plugin.wasm");
        run(&[
            "pack".as_ref(),
            "--manifest".as_ref(),
            manifest.as_os_str(),
            "--wasm".as_ref(),
            wasm.as_os_str(),
            "--out".as_ref(),
            package.as_os_str(),
        ]);
        run(&[
            "sign".as_ref(),
            "--key".as_ref(),
            keys.join("rapport.key").as_os_str(),
            package.as_os_str(),
        ]);
        run(&[
            "install".as_ref(),
            "--trust".as_ref(),
            trust.as_os_str(),
            "--plugins".as_ref(),
            plugins.as_os_str(),
            package.as_os_str(),
        ]);
    }
    (plugins, trust)
}

/// The `rapport-fakes` simulator binary of this build profile.
pub fn fakes_bin() -> PathBuf {
    profile_bin("rapport-fakes", "rapport-fakes")
}

/// Binary `name` of package `package`, built into this test binary's profile directory.
fn profile_bin(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .ancestors()
        .nth(2)
        .expect("profile directory")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p {package} --bin {name}` (scripts/test does)",
        bin.display()
    );
    bin
}

macro_rules! loopback_dev {
    () => {
        "[network]\nallow_private = [\"127.0.0.1/32\"]\n[trust]\ndev = true\n"
    };
}

/// Config sections for tests against fakes on loopback: the operator allows `127.0.0.1/32` (a
/// private range the host otherwise refuses) and trusts unsigned (dev) plugins.
pub const LOOPBACK_DEV: &str = loopback_dev!();

/// [`LOOPBACK_DEV`] with the store in `rapport.db`, a SQLite file beside the config.
pub const SQLITE_LOOPBACK_DEV: &str = concat!(
    "[store]\ndatabase_url = \"sqlite://rapport.db\"\n",
    loopback_dev!()
);

/// Writes an owner-only (mode 0600) `secrets.toml` in `dir` holding one `name = "value"` line per
/// entry, and returns its path.
pub fn secrets_file(dir: &Path, entries: &[(&str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("secrets.toml");
    let text: String = entries
        .iter()
        .map(|(name, value)| format!("{name} = \"{value}\"\n"))
        .collect();
    std::fs::write(&path, text).expect("write secrets file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("make secrets file owner-only");
    path
}

/// [`secrets_file`] in a fresh scratch directory that is kept for the rest of the test process.
pub fn scratch_secrets_file(entries: &[(&str, &str)]) -> PathBuf {
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
    secrets_file(dir.path(), entries)
}

/// The config section naming `path` as the secrets file.
pub fn secrets_section(path: &Path) -> String {
    format!("[secrets]\nfile = \"{}\"\n", path.display())
}

/// Host services as a config of [`LOOPBACK_DEV`] and the secrets file `secrets` builds them.
pub fn loopback_services(secrets: &Path) -> HostServices {
    let text = format!("{LOOPBACK_DEV}{}", secrets_section(secrets));
    let config = Config::parse(&text, Path::new(".")).expect("config parses");
    HostServices::from_config(&config).expect("host services start")
}

/// `wasm` with a custom section `name` holding `payload` appended: the same code under another
/// digest, as another build of a plugin would have (and as large as the payload makes it).
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend(content);
    out
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A scratch directory with a `rapport.toml`.
pub struct ShopDir {
    pub dir: tempfile::TempDir,
}

impl ShopDir {
    pub fn new(config: &str) -> ShopDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rapport.toml"), config).expect("write config");
        ShopDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("rapport.toml")
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("rapport.db").display())
    }

    /// Runs `rapport <args> --config <this config>` to completion (off the async runtime, so
    /// loopback fakes in this process keep serving).
    pub async fn rapport(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(rapport_bin());
        cmd.args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("DATABASE_URL");
        tokio::task::spawn_blocking(move || cmd.output().expect("run rapport"))
            .await
            .expect("rapport task")
    }

    /// Writes `export` to a file in this shop and runs `rapport import --source <source>
    /// <flags…> <file>` (flags such as `--history`, `--dev`); returns what it did.
    pub async fn try_import(&self, source: &str, export: &str, flags: &[&str]) -> Output {
        let file = self.path().join(format!("{source}-import.csv"));
        std::fs::write(&file, export).expect("write the export");
        let file = file.to_str().expect("a UTF-8 path");
        let mut args = vec!["import", "--source", source];
        args.extend(flags);
        args.push(file);
        self.rapport(&args).await
    }

    /// [`ShopDir::try_import`], which must succeed.
    pub async fn import(&self, source: &str, export: &str, flags: &[&str]) -> Output {
        let output = self.try_import(source, export, flags).await;
        assert!(output.status.success(), "{}", output_text(&output));
        output
    }

    /// Makes a token with `rapport token create --role <role>` (and `--source <source>` for an
    /// upload token) in this shop's database, and returns it.
    pub async fn token(&self, role: &str, source: Option<&str>) -> String {
        let mut args = vec!["token", "create", "--role", role];
        if let Some(source) = source {
            args.extend(["--source", source]);
        }
        let output = self.rapport(&args).await;
        assert!(output.status.success(), "{}", output_text(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .expect("rapport token create prints the token last")
            .trim()
            .to_string()
    }

    /// Starts `rapport run` in the background.
    pub fn spawn_daemon(&self) -> Child {
        Self::spawn_daemon_with(&self.config())
    }

    /// Starts `rapport run` in the background with its log (warnings and errors) written to the
    /// file `log` instead of the test's stderr.
    pub fn spawn_daemon_logging_to(&self, log: &Path) -> Child {
        let file = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("create daemon log {}: {e}", log.display()));
        Self::spawn_run(&self.config(), file.into())
    }

    /// Starts `rapport run --config <config>` in the background.
    pub fn spawn_daemon_with(config: &Path) -> Child {
        Self::spawn_run(config, Stdio::inherit())
    }

    fn spawn_run(config: &Path, log: Stdio) -> Child {
        Command::new(rapport_bin())
            .args(["run", "--config"])
            .arg(config)
            .env_remove("DATABASE_URL")
            .env("RAPPORT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rapport run")
    }
}

/// A test shop's `rapport.toml`, built from the pieces tests share instead of inline TOML: the
/// operator allows loopback and trusts unsigned plugins (as [`LOOPBACK_DEV`]); the store,
/// sections, connectors and secrets are added by name, and values are written as TOML (quoted and
/// escaped), e.g. `TestShop::new().sqlite().csv_source("shop").http_sink("hook", &url, [])`.
#[derive(Debug, Clone)]
pub struct TestShop {
    document: toml::Table,
    secrets: Vec<(String, String)>,
    /// Whether the entry added last is a `source`, a `sink` or a `journey`.
    last: Option<String>,
}

impl TestShop {
    pub fn new() -> TestShop {
        let empty = TestShop {
            document: toml::Table::new(),
            secrets: Vec::new(),
            last: None,
        };
        empty
            .section(
                "network",
                [(
                    "allow_private",
                    toml::Value::Array(vec!["127.0.0.1/32".into()]),
                )],
            )
            .section("trust", [("dev", true.into())])
    }

    /// The store in `rapport.db`, a SQLite file beside the config.
    pub fn sqlite(self) -> TestShop {
        self.database("sqlite://rapport.db")
    }

    /// The store at `url` (e.g. a [`PostgresDatabase`]'s).
    pub fn database(self, url: &str) -> TestShop {
        self.section("store", [("database_url", url.into())])
    }

    /// The shop's region (`[shop] region`), which reads local phone numbers, e.g. `"GB"`.
    pub fn region(self, code: &str) -> TestShop {
        self.section("shop", [("region", code.into())])
    }

    /// The webhook server listening on `127.0.0.1:<port>` (`[server] listen`).
    pub fn listen(self, port: u16) -> TestShop {
        self.section("server", [("listen", format!("127.0.0.1:{port}").into())])
    }

    /// Sets `entries` in `[server.sources.<source>]`, the source's push route (e.g.
    /// `vendor_signed`, `grants_consent`, `max_body_mib`, `max_concurrent`).
    pub fn server_source<const N: usize>(
        mut self,
        source: &str,
        entries: [(&str, toml::Value); N],
    ) -> TestShop {
        let sources = self
            .document
            .entry("server")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("[server] is a section")
            .entry("sources")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("[server.sources] is a table");
        sources
            .entry(source)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("[server.sources.<id>] is a table")
            .extend(entries.map(|(key, value)| (key.to_owned(), value)));
        self
    }

    /// Marks `source` as checking its vendor's signature on every push (Square, Shopify): its
    /// webhook needs no upload token.
    pub fn vendor_signed(self, source: &str) -> TestShop {
        self.server_source(source, [("vendor_signed", true.into())])
    }

    /// Sets `entries` in section `[name]`, creating it if needed.
    pub fn section<const N: usize>(
        mut self,
        name: &str,
        entries: [(&str, toml::Value); N],
    ) -> TestShop {
        let section = self
            .document
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("[{name}] is not a section"));
        section.extend(entries.map(|(key, value)| (key.to_owned(), value)));
        self
    }

    /// A `[[source]]` running the plugin in `plugin` with `config` as its settings.
    pub fn source<const N: usize>(
        self,
        id: &str,
        plugin: &Path,
        config: [(&str, toml::Value); N],
    ) -> TestShop {
        self.connector("source", id, plugin, config)
    }

    /// A `[[sink]]` running the plugin in `plugin` with `config` as its settings.
    pub fn sink<const N: usize>(
        self,
        id: &str,
        plugin: &Path,
        config: [(&str, toml::Value); N],
    ) -> TestShop {
        self.connector("sink", id, plugin, config)
    }

    /// A csv-source `id` that takes uploads (`rapport import`, or posts to its webhook).
    pub fn csv_source(self, id: &str) -> TestShop {
        self.source(id, &plugin("csv-source"), [])
    }

    /// A csv-source `id` that polls the export at `export_url`, `batch_size` receipts a step.
    pub fn csv_export_source(self, id: &str, export_url: &str, batch_size: i64) -> TestShop {
        self.source(
            id,
            &plugin("csv-source"),
            [
                ("export_url", export_url.into()),
                ("batch_size", batch_size.into()),
            ],
        )
    }

    /// An http-sink `id` posting to `url` (a catch-hook), marketing on no channel so it receives
    /// everyone's data, with `config` as further settings.
    pub fn http_sink<const N: usize>(
        self,
        id: &str,
        url: &str,
        config: [(&str, toml::Value); N],
    ) -> TestShop {
        self.sink(id, &plugin("http-sink"), config)
            .channels(&[])
            .setting("url", url.into())
    }

    /// The channels the sink added last markets on (`channels`): none means it receives everyone's
    /// data, whatever they consented to.
    pub fn channels(self, channels: &[&str]) -> TestShop {
        let list = channels.iter().map(|&c| toml::Value::from(c)).collect();
        self.set("channels", toml::Value::Array(list))
    }

    /// The person fields the connector added last may send (`fields`), e.g. `["email"]`.
    pub fn fields(self, fields: &[&str]) -> TestShop {
        let list = fields.iter().map(|&f| toml::Value::from(f)).collect();
        self.set("fields", toml::Value::Array(list))
    }

    /// A `[[journey]]` `name` sending on `channel` through `sink` when `trigger` fires (e.g.
    /// `"first-order"`); further keys (e.g. `wait`) by [`TestShop::set`].
    pub fn journey(mut self, name: &str, sink: &str, channel: &str, trigger: &str) -> TestShop {
        let journey = toml::Table::from_iter([
            ("name".to_owned(), name.into()),
            ("sink".to_owned(), sink.into()),
            ("channel".to_owned(), channel.into()),
            ("trigger".to_owned(), trigger.into()),
        ]);
        push(&mut self.document, "journey", journey);
        self.last = Some("journey".to_owned());
        self
    }

    /// What marketing sinks do with people who never made a choice (`[consent]
    /// marketing_without_choice`), e.g. `"send"` for the soft opt-in.
    pub fn marketing_without_choice(self, rule: &str) -> TestShop {
        self.section("consent", [("marketing_without_choice", rule.into())])
    }

    /// Quiet hours (`[consent] quiet_hours`) from `start` to `end`, times of day like `"21:00"`.
    pub fn quiet_hours(self, start: &str, end: &str) -> TestShop {
        let hours = toml::Table::from_iter([
            ("start".to_owned(), start.into()),
            ("end".to_owned(), end.into()),
        ]);
        self.section("consent", [("quiet_hours", toml::Value::Table(hours))])
    }

    /// A frequency cap (`[[consent.cap]]`): at most `max` messages on `channel` per `per_days`,
    /// and what happens to the rest (`over_cap`: `"drop"` or `"delay"`) if given.
    pub fn consent_cap(
        mut self,
        channel: &str,
        max: i64,
        per_days: i64,
        over_cap: Option<&str>,
    ) -> TestShop {
        let mut cap = toml::Table::from_iter([
            ("channel".to_owned(), channel.into()),
            ("max".to_owned(), max.into()),
            ("per_days".to_owned(), per_days.into()),
        ]);
        if let Some(rule) = over_cap {
            cap.insert("over_cap".to_owned(), rule.into());
        }
        let consent = self
            .document
            .entry("consent")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("[consent] is a section");
        push(consent, "cap", cap);
        self
    }

    /// A `[[freeze]]` window `name` over the shop days `from` to `to` (both included), pausing the
    /// journeys if `pause_journeys`.
    pub fn freeze(
        mut self,
        name: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        pause_journeys: bool,
    ) -> TestShop {
        let freeze = toml::Table::from_iter([
            ("name".to_owned(), name.into()),
            ("from".to_owned(), from.to_string().into()),
            ("to".to_owned(), to.to_string().into()),
            ("pause_journeys".to_owned(), pause_journeys.into()),
        ]);
        push(&mut self.document, "freeze", freeze);
        self
    }

    /// Sets `key` on the connector (or journey) added last (e.g. `poll_interval_secs`, `retire`).
    pub fn set(mut self, key: &str, value: toml::Value) -> TestShop {
        self.last_connector().insert(key.to_owned(), value);
        self
    }

    /// Sets `key` in the settings (`[….config]`) of the connector added last.
    pub fn setting(mut self, key: &str, value: toml::Value) -> TestShop {
        self.last_connector()
            .entry("config")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a connector's config is a table")
            .insert(key.to_owned(), value);
        self
    }

    /// Secrets the plugins read, written to an owner-only secrets file beside the config.
    pub fn secrets(mut self, entries: &[(&str, &str)]) -> TestShop {
        self.secrets.extend(
            entries
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        self
    }

    /// The config as TOML, its secrets file (if any) in `dir`.
    pub fn text(&self, dir: &Path) -> String {
        let mut document = self.document.clone();
        if !self.secrets.is_empty() {
            let entries: Vec<(&str, &str)> = self
                .secrets
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let path = secrets_file(dir, &entries);
            let mut section = toml::Table::new();
            section.insert("file".into(), path.display().to_string().into());
            document.insert("secrets".into(), toml::Value::Table(section));
        }
        toml::to_string(&document).expect("the config serialises as TOML")
    }

    /// A scratch directory holding this config as `rapport.toml` (and its secrets file).
    pub fn write(&self) -> ShopDir {
        let dir = ShopDir::new("");
        self.write_in(&dir);
        dir
    }

    /// Writes this config (and its secrets file) over `dir`'s, e.g. an edit a running daemon
    /// picks up.
    pub fn write_in(&self, dir: &ShopDir) {
        std::fs::write(dir.config(), self.text(dir.path())).expect("write config");
    }

    /// Adds a connector running the plugin in `plugin`, granted the secrets its manifest names (a
    /// test about grants sets `secrets` itself afterwards).
    fn connector<const N: usize>(
        mut self,
        kind: &str,
        id: &str,
        plugin: &Path,
        config: [(&str, toml::Value); N],
    ) -> TestShop {
        let mut connector = toml::Table::new();
        connector.insert("id".into(), id.into());
        connector.insert("plugin".into(), plugin.display().to_string().into());
        let named = manifest_secrets(plugin);
        if !named.is_empty() {
            let granted = named.into_iter().map(toml::Value::from).collect();
            connector.insert("secrets".into(), toml::Value::Array(granted));
        }
        push(&mut self.document, kind, connector);
        self.last = Some(kind.to_owned());
        config
            .into_iter()
            .fold(self, |shop, (key, value)| shop.setting(key, value))
    }

    fn last_connector(&mut self) -> &mut toml::Table {
        let kind = self
            .last
            .clone()
            .expect("add a source, sink or journey first");
        self.document
            .get_mut(&kind)
            .and_then(toml::Value::as_array_mut)
            .and_then(|list| list.last_mut())
            .and_then(toml::Value::as_table_mut)
            .expect("the connector added last")
    }
}

/// The secrets the manifest in the plugin directory `plugin` names (none if it has no readable
/// manifest: the connector's loading then says what is wrong).
pub fn manifest_secrets(plugin: &Path) -> Vec<String> {
    let path = plugin.join("rapport.toml");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| rapport_sandbox::packages::Manifest::parse(&text, &path).ok())
        .map(|manifest| manifest.secrets)
        .unwrap_or_default()
}

/// Appends `entry` to the array of tables `key` in `table` (`[[key]]`), creating it if needed.
fn push(table: &mut toml::Table, key: &str, entry: toml::Table) {
    table
        .entry(key)
        .or_insert_with(|| toml::Value::Array(Vec::new()))
        .as_array_mut()
        .unwrap_or_else(|| panic!("`{key}` is not a list of tables"))
        .push(toml::Value::Table(entry));
}

impl Default for TestShop {
    fn default() -> TestShop {
        TestShop::new()
    }
}

/// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
pub fn stop_gracefully(child: &mut Child) -> bool {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success(), "could not signal rapport");
    child.wait().expect("wait for rapport").success()
}

/// The daemon (`rapport_host::daemon::run`) in the test's own process, on a pipeline started
/// from the config `text` (its relative paths under `dir`): the test reads and drives the
/// pipeline while the daemon polls, delivers and serves.
pub struct InProcessDaemon {
    pub pipeline: std::sync::Arc<rapport_host::pipeline::Pipeline>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessDaemon {
    pub async fn start(text: &str, dir: &Path) -> InProcessDaemon {
        let config = Config::parse(text, dir).unwrap();
        let pipeline = std::sync::Arc::new(
            rapport_host::pipeline::Pipeline::start(config)
                .await
                .unwrap(),
        );
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(rapport_host::daemon::run(pipeline.clone(), shutdown));
        InProcessDaemon {
            pipeline,
            stop,
            task,
        }
    }

    /// Stops the daemon and waits for it to finish; a daemon that failed fails the test.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap().unwrap();
    }

    /// Asks the daemon to stop, without waiting for it (for a `Drop`).
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Polls `done` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// Requires that every person's activities (as the catch-hook received them) first arrived in the
/// order their receipts happened at `shop`'s till, whatever failed or died in between: a later
/// receipt never overtakes an earlier one that was being retried. A repeat (a batch sent again
/// after a crash, which the vendor deduplicates by idempotency key) is not a new arrival. Returns
/// how many people had activities.
pub fn assert_in_till_order(
    shop: &rapport_fakes::shop::SampleShop,
    activities: &[serde_json::Value],
) -> usize {
    use std::collections::{HashMap, HashSet};
    let position: HashMap<&str, usize> = shop
        .valid_receipts()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut arrived = HashSet::new();
    let mut latest: HashMap<&str, (usize, &str)> = HashMap::new();
    for activity in activities {
        let key = activity["idempotency_key"]
            .as_str()
            .unwrap_or_else(|| panic!("activity has no idempotency key: {activity}"));
        if !arrived.insert(key) {
            continue;
        }
        let properties = &activity["properties"];
        let receipt = properties["refund_id"]
            .as_str()
            .or(properties["order_id"].as_str())
            .unwrap_or_else(|| panic!("activity names no receipt: {activity}"));
        let at = *position
            .get(receipt)
            .unwrap_or_else(|| panic!("activity of an unknown receipt {receipt}"));
        let person = activity["profile_key"]
            .as_str()
            .unwrap_or_else(|| panic!("activity has no profile key: {activity}"));
        if let Some((before, earlier)) = latest.insert(person, (at, receipt)) {
            assert!(
                before < at,
                "{person}: receipt {receipt} arrived after their later receipt {earlier}"
            );
        }
    }
    latest.len()
}

/// Text of a process's stdout and stderr, for assertion messages.
pub fn output_text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A file of the official vendor specifications vendored in `tests/fakes/specs` (sources and
/// licences in its README), parsed as JSON: e.g. `vendor_spec("square/api.json")`.
pub fn vendor_spec(path: &str) -> serde_json::Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fakes/specs")
        .join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("vendor spec {} is missing: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("vendor spec {}: {e}", file.display()))
}

/// A fresh, empty PostgreSQL database on the local server, dropped when this guard is dropped.
/// The server is `RAPPORT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`).
pub struct PostgresDatabase {
    server: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> PostgresDatabase {
        use sqlx::Connection;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let server = std::env::var("RAPPORT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!(
            "rapport_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/test"))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {server} is needed for this test: {e}"));
        sqlx::Connection::ping(&mut admin)
            .await
            .expect("ping PostgreSQL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .expect("drop old test database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        PostgresDatabase { server, name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin = format!("{}/test", self.server);
        let name = self.name.clone();
        // Dropped from a plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs one call on a loaded connector's plugin off the async runtime, as the host does; the plugin
/// call itself must complete (a fault fails the test), and its answer is returned.
async fn call_plugin<T: Send + 'static>(
    connector: &rapport_host::connectors::Connector,
    call: impl FnOnce(
            &rapport_sandbox::runtime::plugin::Plugin,
        ) -> Result<T, rapport_sandbox::runtime::plugin::PluginError>
        + Send
        + 'static,
) -> T {
    let plugin = connector.plugin();
    tokio::task::spawn_blocking(move || call(&plugin))
        .await
        .unwrap()
        .expect("the plugin call completes")
}

/// Calls into a loaded sink plugin, as the delivery workers do.
pub mod sink_calls {
    use super::call_plugin;
    use rapport_host::connectors::Connector;
    use rapport_sandbox::contract::consent_feed::ConsentPage;
    use rapport_sandbox::contract::wit::{Activity, ConnectorError, Identity, Outcome, Profile};

    pub async fn upsert(
        sink: &Connector,
        profiles: Vec<Profile>,
    ) -> Result<Vec<Outcome>, ConnectorError> {
        call_plugin(sink, move |plugin| plugin.upsert_profiles(&profiles)).await
    }

    pub async fn record(
        sink: &Connector,
        activities: Vec<Activity>,
    ) -> Result<Vec<Outcome>, ConnectorError> {
        call_plugin(sink, move |plugin| plugin.record_activities(&activities)).await
    }

    pub async fn forget(sink: &Connector, identities: Vec<Identity>) -> Result<(), ConnectorError> {
        call_plugin(sink, move |plugin| plugin.forget(&identities)).await
    }

    pub async fn consent_changes(
        sink: &Connector,
        cursor: Option<String>,
    ) -> Result<ConsentPage, ConnectorError> {
        call_plugin(sink, move |plugin| {
            plugin.consent_changes(cursor.as_deref())
        })
        .await
    }
}

/// Calls into a loaded source plugin, as the pollers and the webhook server do.
pub mod source_calls {
    use super::call_plugin;
    use rapport_host::connectors::Connector;
    use rapport_sandbox::contract::pos::{Batch, Push};
    use rapport_sandbox::contract::wit::ConnectorError;

    pub async fn poll(
        c: &Connector,
        stream: &str,
        cursor: Option<String>,
    ) -> Result<Batch, ConnectorError> {
        let stream = stream.to_owned();
        call_plugin(c, move |plugin| plugin.poll(&stream, cursor.as_deref())).await
    }

    pub async fn webhook(
        c: &Connector,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Push, ConnectorError> {
        call_plugin(c, move |plugin| plugin.webhook(&headers, &body)).await
    }
}

/// Uploads `shop`'s CSV export through the source `source` (a csv-source) of a running pipeline,
/// as `rapport import` does, and checks that every row was accepted.
pub async fn upload_csv(
    pipeline: &rapport_host::pipeline::Pipeline,
    source: &str,
    shop: &rapport_fakes::shop::SampleShop,
) -> rapport_host::ingest::IngestReport {
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    let report = pipeline
        .intake
        .receive_push(source, headers, shop.to_csv().into_bytes())
        .await
        .unwrap();
    let refused = pipeline.store.rejected_inputs(source).await.unwrap();
    assert_eq!(report.rejected, 0, "{:?}", refused.first());
    report
}

/// An admin token made in `store` (as `rapport token create` does), for a pipeline's HTTP routes.
pub async fn admin_token(store: &rapport_store::Store) -> String {
    let role = rapport_host::admin::tokens::Role::Admin;
    rapport_host::admin::tokens::create(store, &role, "test")
        .await
        .unwrap()
        .token
}

/// An upload token for `source` made in `store`.
pub async fn upload_token(store: &rapport_store::Store, source: &str) -> String {
    let role = rapport_host::admin::tokens::Role::Upload(source.to_string());
    rapport_host::admin::tokens::create(store, &role, "test")
        .await
        .unwrap()
        .token
}

/// Delivers until nothing is due within 5 s (at most `timeout`); every sink must catch up.
pub async fn drain_all(pipeline: &rapport_host::pipeline::Pipeline, timeout: Duration) {
    let owed = pipeline
        .drain(Duration::from_secs(5), timeout)
        .await
        .unwrap();
    assert_eq!(owed, 0, "every sink caught up");
}

/// The csv-source's columns, as the tests' receipts fill them.
pub const CSV_HEADER: &str = "receipt_id,kind,refund_of,date,location,channel,customer_id,customer_email,customer_phone,customer_name,marketing_opt_in,sku,product,category,quantity,unit_price,line_total,currency,tax,discount,total";

/// An export of `receipts` (rows under [`CSV_HEADER`]): the header, then one receipt per line.
pub fn csv_export(receipts: &[String]) -> String {
    format!("{CSV_HEADER}\n{}\n", receipts.join("\n"))
}

/// Uploads `receipts` (rows under [`CSV_HEADER`]) through the csv-source `shop` of `pipeline`: as
/// history when `at` is `None`, else live with `clock` set to `at`; none may be rejected. Then
/// lets in the journey waits that fell due.
pub async fn upload_receipts(
    pipeline: &rapport_host::pipeline::Pipeline,
    clock: &rapport_core::clock::ManualClock,
    at: Option<chrono::DateTime<chrono::Utc>>,
    receipts: &[String],
) {
    let body = csv_export(receipts).into_bytes();
    let headers = vec![("content-type".to_string(), "text/csv".to_string())];
    let intake = &pipeline.intake;
    let report = match at {
        None => intake.receive_history("shop", headers, body).await,
        Some(at) => {
            clock.set(at);
            intake.receive_push("shop", headers, body).await
        }
    }
    .unwrap();
    assert_eq!(report.rejected, 0, "{report:?}");
    pipeline.run_journeys().await.unwrap();
}

/// A journey message as a CRM received it: the journey (from the activity's name, `Journey: <name>`)
/// and the person's email; `None` for any other activity.
pub fn journey_message(activity: &serde_json::Value) -> Option<(String, String)> {
    let journey = activity["name"].as_str()?.strip_prefix("Journey: ")?;
    let email = (activity["identities"].as_array()?.iter())
        .find(|i| i["kind"] == "email")
        .and_then(|i| i["value"].as_str())?;
    Some((journey.to_string(), email.to_string()))
}

/// A receipt under [`CSV_HEADER`]: one sale of a tea at `total` (e.g. `"4.00"`, GBP) at `at`, to
/// the customer `customer` with the given email, phone, name and marketing opt-in (`yes`, `no` or
/// empty), any of which may be empty.
#[allow(clippy::too_many_arguments)]
pub fn tea_sale(
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
    customer: &str,
    email: &str,
    phone: &str,
    name: &str,
    opt_in: &str,
    total: &str,
) -> String {
    let date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("{id},sale,,{date},High Street,in-store,{customer},{email},{phone},{name},{opt_in},TEA-1,Tea,drinks,1,{total},{total},GBP,0.00,0.00,{total}")
}
