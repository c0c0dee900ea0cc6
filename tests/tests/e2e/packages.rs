//! Plugin packages end to end through the real `rapport` binary and the real built plugins:
//! keygen → pack → sign → verify → install, and every way a package is refused (tampered wasm or
//! manifest, wrong key, unknown, expired or revoked publisher, unsigned without --dev, wrong
//! contract, wrong kind), each with its one-line reason.

use rapport_e2e::{output_text, plugin, rapport_bin};
use rapport_sandbox::packages::signing::PublisherKey;
use rapport_sandbox::packages::{open_installed, verify_installed, PluginPackage, Provenance};
use rapport_sandbox::packages::{PackageRefusal, TrustStore};
use rapport_sandbox::runtime::Runtime;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A publisher's and an operator's files in one scratch directory.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `rapport plugin <args>`, run in the scratch directory.
    fn rapport<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        std::process::Command::new(rapport_bin())
            .arg("plugin")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run rapport")
    }

    fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.rapport(args);
        assert!(output.status.success(), "{}", output_text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `keygen --key-id ID --out SUBDIR`; returns the secret key file and the trust entry file.
    fn keygen(&self, subdir: &str, key_id: &str) -> (PathBuf, PathBuf) {
        let out = self.path(subdir);
        self.ok([
            OsStr::new("keygen"),
            OsStr::new("--key-id"),
            OsStr::new(key_id),
            OsStr::new("--out"),
            out.as_os_str(),
        ]);
        (
            out.join(format!("{key_id}.key")),
            out.join(format!("{key_id}.pub")),
        )
    }

    /// The built plugin's manifest, with `publisher` set, written to `<name>.rapport.toml`.
    fn manifest(&self, name: &str, publisher: Option<&str>) -> PathBuf {
        let text = std::fs::read_to_string(plugin(name).join("rapport.toml")).expect("manifest");
        let text = match publisher {
            Some(publisher) => text.replacen(
                "contract = ",
                &format!("publisher = \"{publisher}\"\ncontract = "),
                1,
            ),
            None => text,
        };
        let path = self.path(&format!("{name}.rapport.toml"));
        std::fs::write(&path, text).expect("write manifest");
        path
    }

    /// `pack` the built plugin `name` with `manifest`; returns the package file.
    fn pack(&self, name: &str, manifest: &Path) -> PathBuf {
        let out = self.path(&format!("{name}.rpk"));
        let wasm = plugin(name).join("plugin.wasm");
        let stdout = self.ok([
            OsStr::new("pack"),
            OsStr::new("--manifest"),
            manifest.as_os_str(),
            OsStr::new("--wasm"),
            wasm.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
        ]);
        assert!(stdout.contains("unsigned"), "{stdout}");
        out
    }

    fn sign(&self, key: &Path, package: &Path) {
        self.ok([
            OsStr::new("sign"),
            OsStr::new("--key"),
            key.as_os_str(),
            package.as_os_str(),
        ]);
    }

    /// A trust store made of these keygen entries, each followed by its extra lines.
    fn trust(&self, entries: &[(&Path, &str)]) -> PathBuf {
        let mut text = String::new();
        for (public, extra) in entries {
            text.push_str(&std::fs::read_to_string(public).expect("public key entry"));
            text.push_str(extra);
            text.push('\n');
        }
        let path = self.path("trust.toml");
        std::fs::write(&path, text).expect("write trust store");
        path
    }

    fn verify(&self, trust: &Path, package: &Path) -> Output {
        self.rapport([
            OsStr::new("verify"),
            OsStr::new("--trust"),
            trust.as_os_str(),
            package.as_os_str(),
        ])
    }

    fn install(&self, trust: Option<&Path>, package: &Path, dev: bool) -> Output {
        let mut args: Vec<&OsStr> = vec![OsStr::new("install")];
        if let Some(trust) = trust {
            args.extend([OsStr::new("--trust"), trust.as_os_str()]);
        }
        if dev {
            args.push(OsStr::new("--dev"));
        }
        let plugins = self.plugins();
        args.extend([
            OsStr::new("--plugins"),
            plugins.as_os_str(),
            package.as_os_str(),
        ]);
        self.rapport(args)
    }

    fn plugins(&self) -> PathBuf {
        self.path("plugins")
    }

    /// A signed http-sink package by `acme`, and a trust store that trusts acme.
    fn signed_http_sink(&self) -> Signed {
        let (key, public) = self.keygen("acme-keys", "acme");
        let package = self.pack("http-sink", &self.manifest("http-sink", Some("acme")));
        self.sign(&key, &package);
        let trust = self.trust(&[(&public, "")]);
        Signed {
            key,
            public,
            package,
            trust,
        }
    }

    /// Verify and install both refuse `package` with `reason`; nothing is installed.
    fn assert_refused(&self, trust: &Path, package: &Path, reason: &str) {
        for output in [
            self.verify(trust, package),
            self.install(Some(trust), package, false),
        ] {
            assert_eq!(refusal(&output), reason, "{}", output_text(&output));
        }
        assert!(!self.plugins().join("http-sink").exists());
    }

    fn assert_refused_starting(&self, trust: &Path, package: &Path, reason: &str) {
        for output in [
            self.verify(trust, package),
            self.install(Some(trust), package, false),
        ] {
            let line = refusal(&output);
            assert!(line.starts_with(reason), "{}", output_text(&output));
        }
        assert!(!self.plugins().join("http-sink").exists());
    }
}

struct Signed {
    key: PathBuf,
    public: PathBuf,
    package: PathBuf,
    trust: PathBuf,
}

/// The single line a failed command prints on stderr: it must fail, and say why in one line.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "{}", output_text(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", output_text(output));
    lines[0].to_string()
}

/// Rewrites a package archive's entries with `edit(name, bytes)`, as anyone with `tar` could.
fn edit_archive(package: &Path, mut edit: impl FnMut(&str, &mut Vec<u8>)) {
    let mut entries = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(package).expect("open package"));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read entry");
        edit(&name, &mut bytes);
        entries.push((name, bytes));
    }
    let mut builder = tar::Builder::new(std::fs::File::create(package).expect("rewrite package"));
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &name, bytes.as_slice())
            .expect("append");
    }
    builder.finish().expect("finish package");
}

/// Replaces the package's signature with `key`'s over its current contents, bypassing the checks
/// `rapport plugin sign` makes (as a hostile or buggy publisher tool could).
fn sign_raw(package: &Path, key: &Path) {
    let key = PublisherKey::load(key).expect("load key");
    let (mut manifest, mut wasm) = (Vec::new(), Vec::new());
    edit_archive(package, |name, bytes| match name {
        "rapport.toml" => manifest = bytes.clone(),
        "plugin.wasm" => wasm = bytes.clone(),
        _ => {}
    });
    let signature = key.sign(&manifest, &wasm).to_toml().into_bytes();
    edit_archive(package, |name, bytes| {
        if name == "signature" {
            *bytes = signature.clone();
        }
    });
}

fn trust_store(path: &Path) -> TrustStore {
    TrustStore::load(path).expect("trust store")
}

#[test]
fn a_signed_package_installs_and_loads() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let stdout = bench.ok([
        OsStr::new("verify"),
        OsStr::new("--trust"),
        signed.trust.as_os_str(),
        signed.package.as_os_str(),
    ]);
    assert_eq!(stdout, "ok: http-sink 0.1.0 (crm-sink) signed by acme\n");

    // A source from the same publisher, packed to the default file name.
    let manifest = bench.manifest("csv-source", Some("acme"));
    let wasm = plugin("csv-source").join("plugin.wasm");
    bench.ok([
        OsStr::new("pack"),
        OsStr::new("--manifest"),
        manifest.as_os_str(),
        OsStr::new("--wasm"),
        wasm.as_os_str(),
    ]);
    let source_package = bench.path("csv-source-0.1.0.rpk");
    bench.sign(&signed.key, &source_package);

    let trust = trust_store(&signed.trust);
    let runtime = Runtime::new(None).expect("runtime");
    for (package, id, kind) in [
        (&signed.package, "http-sink", "crm-sink"),
        (&source_package, "csv-source", "pos-source"),
    ] {
        // Installing twice replaces the first install.
        for _ in 0..2 {
            let output = bench.install(Some(&signed.trust), package, false);
            assert!(output.status.success(), "{}", output_text(&output));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout.starts_with(&format!("installed {id} 0.1.0 ({kind}) into "))
                    && stdout.trim_end().ends_with(", signed by acme"),
                "{stdout}"
            );
        }
        let dir = bench.plugins().join(id);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("install dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["plugin.wasm", "rapport.toml", "signature"]);
        assert_eq!(
            std::fs::read(dir.join("plugin.wasm")).expect("installed wasm"),
            std::fs::read(plugin(id).join("plugin.wasm")).expect("built wasm")
        );
        let opened = PluginPackage::open(&dir).expect("installed package opens");
        assert_eq!(opened.manifest.publisher.as_deref(), Some("acme"));
        assert_eq!(
            verify_installed(&dir, &trust).expect("installed package verifies"),
            Provenance::Signed {
                key_id: "acme".into()
            }
        );
        let (package, _) = open_installed(&dir, Some(&trust), false).expect("open installed");
        runtime
            .check_world(&package)
            .expect("installed plugin loads");
    }
    // No staging or replaced directories are left behind.
    let mut left: Vec<String> = std::fs::read_dir(bench.plugins())
        .expect("plugins dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["csv-source", "http-sink"]);

    // An installed file changed afterwards is caught when the host loads it.
    let dir = bench.plugins().join("http-sink");
    let mut wasm = std::fs::read(dir.join("plugin.wasm")).expect("wasm");
    let middle = wasm.len() / 2;
    wasm[middle] ^= 0x01;
    std::fs::write(dir.join("plugin.wasm"), wasm).expect("write wasm");
    assert!(matches!(
        verify_installed(&dir, &trust),
        Err(PackageRefusal::Tampered)
    ));
}

#[test]
fn tampered_wasm_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    edit_archive(&signed.package, |name, bytes| {
        if name == "plugin.wasm" {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
        }
    });
    bench.assert_refused(
        &signed.trust,
        &signed.package,
        "refused: signature does not match the package contents (plugin.wasm or rapport.toml was changed after signing)",
    );
    // --dev does not rescue a signed package that fails verification.
    let output = bench.install(Some(&signed.trust), &signed.package, true);
    assert!(refusal(&output).starts_with("refused: signature does not match"));
}

#[test]
fn tampered_manifest_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    edit_archive(&signed.package, |name, bytes| {
        if name == "rapport.toml" {
            let text = String::from_utf8_lossy(bytes).replace(
                "[[egress]]\nurl = \"{config:url}\"",
                "[[egress]]\nurl = \"https://collector.example\"",
            );
            assert!(text.contains("collector.example"), "{text}");
            *bytes = text.into_bytes();
        }
    });
    bench.assert_refused(
        &signed.trust,
        &signed.package,
        "refused: signature does not match the package contents (plugin.wasm or rapport.toml was changed after signing)",
    );
}

#[test]
fn a_package_signed_with_another_key_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    // Someone else generates a key with the same id and signs the package with it.
    let (impostor, _) = bench.keygen("impostor-keys", "acme");
    bench.sign(&impostor, &signed.package);
    bench.assert_refused_starting(
        &signed.trust,
        &signed.package,
        "refused: signed with a key `acme` (fingerprint ",
    );
    let line = refusal(&bench.verify(&signed.trust, &signed.package));
    assert!(
        line.contains(&format!(
            "is not the one the trust store {} has for `acme`",
            signed.trust.display()
        )),
        "{line}"
    );
}

#[test]
fn a_signer_other_than_the_manifest_publisher_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let (evil, evil_public) = bench.keygen("evil-keys", "evil");
    // `rapport plugin sign` itself will not sign for another publisher…
    let output = bench.rapport([
        OsStr::new("sign"),
        OsStr::new("--key"),
        evil.as_os_str(),
        signed.package.as_os_str(),
    ]);
    assert!(
        refusal(&output).contains("its manifest names publisher `acme` but this key is `evil`"),
        "{}",
        output_text(&output)
    );
    // …and a package signed that way anyway is refused, even if `evil` is trusted.
    sign_raw(&signed.package, &evil);
    let trust = bench.trust(&[(&signed.public, ""), (&evil_public, "")]);
    bench.assert_refused(
        &trust,
        &signed.package,
        "refused: signed with key `evil` but the manifest names publisher `acme` (sign it with the `acme` key)",
    );
}

#[test]
fn an_unknown_publisher_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let (_, globex) = bench.keygen("globex-keys", "globex");
    let trust = bench.trust(&[(&globex, "")]);
    bench.assert_refused(
        &trust,
        &signed.package,
        &format!(
            "refused: publisher `acme` is not in the trust store {} (add the publisher's `acme.pub` entry to it if you trust them)",
            trust.display()
        ),
    );
}

#[test]
fn an_expired_publisher_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let trust = bench.trust(&[(&signed.public, "name = \"Acme\"\nexpires = 2020-01-01")]);
    bench.assert_refused_starting(
        &trust,
        &signed.package,
        "refused: publisher `acme`'s key expired on 2020-01-01 (",
    );
    // Not yet expired: accepted.
    let trust = bench.trust(&[(&signed.public, "expires = \"2999-12-31T23:59:59Z\"")]);
    let output = bench.verify(&trust, &signed.package);
    assert!(output.status.success(), "{}", output_text(&output));
}

#[test]
fn a_revoked_publisher_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let trust = bench.trust(&[(&signed.public, "revoked = true")]);
    bench.assert_refused_starting(
        &trust,
        &signed.package,
        "refused: publisher `acme`'s key is revoked in the trust store ",
    );
}

#[test]
fn an_unsigned_package_needs_dev_and_is_marked() {
    let bench = Bench::new();
    let (_, public) = bench.keygen("acme-keys", "acme");
    let trust = bench.trust(&[(&public, "")]);
    let package = bench.pack("http-sink", &bench.manifest("http-sink", None));
    bench.assert_refused(
        &trust,
        &package,
        "refused: package is not signed (sign it with `rapport plugin sign`, or install with --dev for local development)",
    );

    let output = bench.install(None, &package, true);
    assert!(output.status.success(), "{}", output_text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("DEV-UNSIGNED"), "{stdout}");
    let dir = bench.plugins().join("http-sink");
    assert!(dir.join("DEV-UNSIGNED").is_file());
    assert!(!dir.join("signature").exists());
    assert_eq!(
        verify_installed(&dir, &trust_store(&trust)).expect("dev install verifies"),
        Provenance::DevUnsigned
    );
    PluginPackage::open(&dir).expect("dev install opens");

    // Without the marker, the same files are refused at load time.
    std::fs::remove_file(dir.join("DEV-UNSIGNED")).expect("remove marker");
    assert!(matches!(
        verify_installed(&dir, &trust_store(&trust)),
        Err(PackageRefusal::Unsigned)
    ));

    // A signed install replaces the dev one, marker and all.
    let manifest = bench.manifest("http-sink", Some("acme"));
    let signed = bench.pack("http-sink", &manifest);
    bench.sign(&bench.path("acme-keys/acme.key"), &signed);
    std::fs::write(dir.join("DEV-UNSIGNED"), "stale").expect("marker");
    let output = bench.install(Some(&trust), &signed, true);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(!dir.join("DEV-UNSIGNED").exists());
    assert!(dir.join("signature").is_file());
}

#[test]
fn a_wrong_contract_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let built_for_newer =
        |text: &str| text.replace("rapport:connector@0.1.0", "rapport:connector@0.9.0");

    // pack checks the manifest first.
    let manifest = bench.manifest("http-sink", Some("acme"));
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, built_for_newer(&text)).expect("manifest");
    let line = pack_refusal(&bench, "http-sink", &manifest);
    assert!(line.contains("field `contract`"), "{line}");

    // A package built for another contract (by a newer tool), properly signed.
    edit_archive(&signed.package, |name, bytes| {
        if name == "rapport.toml" {
            *bytes = built_for_newer(&String::from_utf8_lossy(bytes)).into_bytes();
        }
    });
    sign_raw(&signed.package, &signed.key);
    bench.assert_refused(
        &signed.trust,
        &signed.package,
        &format!(
            "refused: plugin manifest {}: line 5: field `contract`: the plugin was built for \"rapport:connector@0.9.0\", this host runs rapport:connector@0.1.0, rapport:connector@0.2.0, rapport:connector@0.3.0, rapport:connector@0.4.0, rapport:connector@0.5.0",
            signed.package.join("rapport.toml").display()
        ),
    );
}

/// `pack` with `manifest` over the built component of `name`; the single line it refused with.
fn pack_refusal(bench: &Bench, name: &str, manifest: &Path) -> String {
    let wasm = plugin(name).join("plugin.wasm");
    let output = bench.rapport([
        OsStr::new("pack"),
        OsStr::new("--manifest"),
        manifest.as_os_str(),
        OsStr::new("--wasm"),
        wasm.as_os_str(),
    ]);
    refusal(&output)
}

#[test]
fn a_component_built_for_an_unknown_contract_is_refused_by_name() {
    let bench = Bench::new();
    // Its manifest claims 0.1; the component imports and exports rapport:connector@0.9.0.
    let manifest = bench.manifest("future-sink", None);
    let line = pack_refusal(&bench, "future-sink", &manifest);
    assert!(
        line.ends_with(": plugin.wasm was built for rapport:connector@0.9.0, and this host runs rapport:connector@0.1.0, rapport:connector@0.2.0, rapport:connector@0.3.0, rapport:connector@0.4.0, rapport:connector@0.5.0 (rebuild the plugin with an SDK for one of those, or upgrade rapport)"),
        "{line}"
    );
}

/// The 0.1 http-sink under a manifest declaring contract `version` is refused at pack time,
/// naming the `export` it lacks.
fn http_sink_declared_as_is_refused_for(version: &str, export: &str) {
    let bench = Bench::new();
    let manifest = bench.manifest("http-sink", None);
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace(
            "rapport:connector@0.1.0",
            &format!("rapport:connector@{version}"),
        ),
    )
    .expect("manifest");
    let line = pack_refusal(&bench, "http-sink", &manifest);
    assert!(
        line.contains("plugin.wasm does not implement the crm-sink world its manifest declares: ")
            && line.contains(export),
        "{line}"
    );
}

#[test]
fn a_0_1_component_declared_as_0_2_is_refused_for_the_missing_consent_feed() {
    http_sink_declared_as_is_refused_for("0.2.0", "consent-feed@0.2.0");
}

#[test]
fn a_0_1_component_declared_as_0_4_is_refused_for_the_missing_erasure() {
    http_sink_declared_as_is_refused_for("0.4.0", "erasure@0.4.0");
}

#[test]
fn a_0_1_component_declared_as_0_5_is_refused_for_the_missing_erasure() {
    http_sink_declared_as_is_refused_for("0.5.0", "erasure@0.4.0");
}

#[test]
fn a_wrong_kind_is_refused() {
    let bench = Bench::new();
    let signed = bench.signed_http_sink();

    // pack checks the component against the manifest's world.
    let manifest = bench.manifest("http-sink", Some("acme"));
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("crm-sink", "pos-source")).expect("manifest");
    let line = pack_refusal(&bench, "http-sink", &manifest);
    assert!(
        line.contains("does not implement the pos-source world"),
        "{line}"
    );

    // A sink's component under a source's manifest, signed by its publisher.
    edit_archive(&signed.package, |name, bytes| {
        if name == "rapport.toml" {
            *bytes = String::from_utf8_lossy(bytes)
                .replace("kind = \"crm-sink\"", "kind = \"pos-source\"")
                .into_bytes();
        }
    });
    bench.sign(&signed.key, &signed.package);
    bench.assert_refused_starting(
        &signed.trust,
        &signed.package,
        "refused: plugin.wasm does not implement the pos-source world its manifest declares: ",
    );
}

#[test]
fn keygen_never_overwrites_a_key() {
    let bench = Bench::new();
    let (key, public) = bench.keygen("keys", "acme");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&key).expect("key");
    let out = bench.path("keys");
    let output = bench.rapport([
        OsStr::new("keygen"),
        OsStr::new("--key-id"),
        OsStr::new("acme"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    assert!(
        refusal(&output).contains("already exists: refusing to overwrite a key"),
        "{}",
        output_text(&output)
    );
    assert_eq!(std::fs::read(&key).expect("key"), before);
    // The public half is a ready-made trust store.
    trust_store(&public);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_loads_only_trusted_plugins_unless_in_development_mode() {
    use rapport_host::config::{Config, ConnectorConfig};
    use rapport_host::connectors::{Connector, HostServices};
    use rapport_sandbox::packages::PluginKind;

    let bench = Bench::new();
    let signed = bench.signed_http_sink();
    let output = bench.install(Some(&signed.trust), &signed.package, false);
    assert!(output.status.success(), "{}", output_text(&output));
    let installed = bench.plugins().join("http-sink");
    let load = |trust: Option<&Path>, dev: bool, dir: PathBuf| {
        let trust = trust
            .map(|t| format!("store = \"{}\"\n", t.display()))
            .unwrap_or_default();
        let text = format!("[trust]\n{trust}dev = {dev}\n");
        async move {
            let host =
                HostServices::from_config(&Config::parse(&text, Path::new(".")).unwrap()).unwrap();
            let config = ConnectorConfig {
                config: [(
                    "url".to_string(),
                    toml::Value::String("https://hooks.example.com/x".into()),
                )]
                .into_iter()
                .collect(),
                ..ConnectorConfig::new("crm", dir)
            };
            Connector::load(&config, PluginKind::CrmSink, &host)
                .await
                .map(|c| c.live().provenance.clone())
                .map_err(|e| e.to_string())
        }
    };

    let trusted = load(Some(&signed.trust), false, installed.clone()).await;
    assert_eq!(
        trusted,
        Ok(Provenance::Signed {
            key_id: "acme".into()
        })
    );

    let unsigned = load(None, false, plugin("http-sink")).await.unwrap_err();
    assert!(
        unsigned.contains("not signed") && unsigned.contains("--dev"),
        "{unsigned}"
    );
    let dev = load(None, true, plugin("http-sink")).await;
    assert_eq!(dev, Ok(Provenance::DevUnsigned));

    let mut wasm = std::fs::read(installed.join("plugin.wasm")).unwrap();
    let last = wasm.len() - 1;
    wasm[last] ^= 0x01;
    std::fs::write(installed.join("plugin.wasm"), wasm).unwrap();
    let tampered = load(Some(&signed.trust), true, installed)
        .await
        .unwrap_err();
    assert!(tampered.contains("does not match"), "{tampered}");
}
