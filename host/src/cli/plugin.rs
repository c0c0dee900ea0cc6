//! `rapport plugin …`: publisher keys, packing and signing `.rpk` packages, verifying and
//! installing them against the operator's trust store, the running daemon's plugin generations
//! (list, rollback, disable, enable; see `generations`), and approving what a new version asks for
//! (`approve`, through the store, where the daemon's reload watch reads it), and the connector
//! conformance suite (`test`, `rapport_host::conformance`).

use super::{check, generations};
use anyhow::Context as _;
use clap::Subcommand;
use rapport_host::config::Config;
use rapport_host::conformance::{self, logs::PluginLogs};
use rapport_host::connectors::{check_grants, not_approved};
use rapport_host::scaffold::{self, Kind, Spec};
use rapport_sandbox::install::{check_world, verify_archive};
use rapport_sandbox::install::{install, InstallError};
use rapport_sandbox::packages::archive::{self, PackageFiles};
use rapport_sandbox::packages::permissions::permissions;
use rapport_sandbox::packages::signing::{fingerprint, PublisherKey};
use rapport_sandbox::packages::{
    open_installed, Manifest, PackageRefusal, PluginKind, PluginPackage, TrustStore,
    TrustStoreError,
};
use rapport_sandbox::runtime::Runtime;
use rapport_store::Store;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Generate a publisher signing key: KEY_ID.key (secret, mode 600) and KEY_ID.pub (the entry
    /// operators add to their trust store).
    Keygen {
        /// The key id; manifests signed with this key name it as `publisher`.
        #[arg(long)]
        key_id: String,
        /// Directory to write both files into (never overwrites).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Write a new connector crate, NAME/, that builds as it is: Cargo.toml on rapport-sdk, the
    /// manifest, src/lib.rs with the vendor's calls left to write, a README and the conformance
    /// suite's config.
    New {
        /// The plugin id and crate name (lowercase letters, digits, '-').
        name: String,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The contract version (source: 0.3 or 0.1; sink: 0.4 or 0.1); the newest by default.
        #[arg(long)]
        contract: Option<String>,
        /// The publisher key id its packages will be signed with (default: NAME).
        #[arg(long)]
        publisher: Option<String>,
        /// Where rapport's sdk/ directory is (default: the one this rapport was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// The directory to write NAME/ into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Pack a manifest and its component into an unsigned package, ID-VERSION.rpk.
    Pack {
        /// The plugin's rapport.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// The component built for wasm32-wasip2.
        #[arg(long)]
        wasm: PathBuf,
        /// Package file to write (default: ID-VERSION.rpk in the current directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign a package with a publisher key (adds or replaces its signature).
    Sign {
        /// The publisher's secret key file, from `rapport plugin keygen`.
        #[arg(long)]
        key: PathBuf,
        package: PathBuf,
    },
    /// Check a package against a trust store, as install would, without installing it.
    Verify {
        /// The operator's trust store.
        #[arg(long)]
        trust: PathBuf,
        package: PathBuf,
    },
    /// Verify a package and install it as PLUGINS/ID/, replacing an earlier install atomically.
    Install {
        /// The operator's trust store (needed unless --dev installs an unsigned package).
        #[arg(long, required_unless_present = "dev")]
        trust: Option<PathBuf>,
        /// The plugins directory.
        #[arg(long)]
        plugins: PathBuf,
        /// Accept an unsigned package, marked DEV-UNSIGNED, for local development. A signed package
        /// is still verified.
        #[arg(long)]
        dev: bool,
        package: PathBuf,
    },
    /// The running daemon's plugins: live and kept generations, health, last rollback or refusal.
    List {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
    },
    /// Swap a connector (or every connector of a plugin) back to a kept generation in the running
    /// daemon: the one before the live one, or --to GEN.
    Rollback {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// A connector id, or a plugin id for every connector running it.
        target: String,
        #[arg(long)]
        to: Option<u64>,
    },
    /// Stop a connector (or every connector of a plugin) taking work in the running daemon; its
    /// work waits in the store until `enable`.
    Disable {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// A connector id, or a plugin id for every connector running it.
        target: String,
    },
    /// Let a disabled connector (or every connector of a plugin) take work again.
    Enable {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// A connector id, or a plugin id for every connector running it.
        target: String,
    },
    /// Load a connector's (or every connector of a plugin's) plugin files in the running daemon now,
    /// as its watch does when they change; a `[[freeze]]` in force holds a new version unless --force.
    Reload {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// A connector id, or a plugin id for every connector running it.
        target: String,
        /// Go through a freeze in force.
        #[arg(long)]
        force: bool,
    },
    /// Show what the plugin installed for a connector asks for (secrets, egress) beyond what was
    /// approved for it, and approve it: a running daemon then takes a version it held.
    Approve {
        #[arg(long, default_value = "rapport.toml")]
        config: PathBuf,
        /// The connector id.
        connector: String,
        /// Only show the difference.
        #[arg(long)]
        dry_run: bool,
        /// Load unsigned local plugins (as `rapport run --dev` does).
        #[arg(long)]
        dev: bool,
    },
    /// Run the connector conformance suite against the plugin in DIR: a table of checks with a
    /// verdict each; non-zero exit on a FAIL.
    Test(TestArgs),
}

/// `rapport plugin test DIR [--config FILE] [--json]`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// The plugin's directory (plugin.wasm and rapport.toml).
    pub dir: PathBuf,
    /// The conformance config (default: DIR/conformance.toml, which may be absent for a source
    /// that needs no settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the checks as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Runs the conformance suite and prints its checks, as `rapport check` prints its lines; exits
/// non-zero on a FAIL. `logs` must be catching the plugin's log lines (see `conformance::logs`).
pub async fn test(args: TestArgs, logs: &PluginLogs) -> anyhow::Result<()> {
    let lines = conformance::run(&args.dir, args.config.as_deref(), logs).await;
    match args.json {
        true => println!("{:#}", check::json(&lines)),
        false => print!("{}", check::table(&lines)),
    }
    if rapport_core::readiness::failed(lines.iter().map(|l| l.verdict)) {
        std::process::exit(1);
    }
    Ok(())
}

/// Why a `rapport plugin` command failed: a package refused by a check, or anything else. Both
/// display as one line.
pub enum Failure {
    Refused(PackageRefusal),
    Error(anyhow::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(refusal) => write!(f, "refused: {refusal}"),
            Failure::Error(error) => write!(f, "error: {error:#}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Error(error)
    }
}

impl From<PackageRefusal> for Failure {
    fn from(refusal: PackageRefusal) -> Self {
        Failure::Refused(refusal)
    }
}

impl From<InstallError> for Failure {
    fn from(error: InstallError) -> Self {
        match error {
            InstallError::Refused(refusal) => Failure::Refused(refusal),
            other => Failure::Error(other.into()),
        }
    }
}

impl From<TrustStoreError> for Failure {
    fn from(error: TrustStoreError) -> Self {
        Failure::Error(error.into())
    }
}

/// Runs one `rapport plugin` subcommand, printing what it did on stdout.
pub async fn run(command: PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::List { config } => Ok(generations::list(&config).await?),
        PluginCommand::New {
            name,
            kind,
            contract,
            publisher,
            sdk,
            out,
        } => {
            let spec = Spec {
                publisher: publisher.unwrap_or_else(|| name.clone()),
                name,
                kind,
                contract,
                sdk: sdk.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")),
            };
            let dir = scaffold::write(&out, &spec).map_err(anyhow::Error::from)?;
            println!(
                "wrote {}: build it with `cargo build --release --target wasm32-wasip2` there (its README says what next)",
                dir.display()
            );
            Ok(())
        }
        PluginCommand::Rollback { config, target, to } => {
            Ok(generations::rollback(&config, &target, to).await?)
        }
        PluginCommand::Disable { config, target } => {
            Ok(generations::set_disabled(&config, &target, true).await?)
        }
        PluginCommand::Enable { config, target } => {
            Ok(generations::set_disabled(&config, &target, false).await?)
        }
        PluginCommand::Reload {
            config,
            target,
            force,
        } => Ok(generations::reload(&config, &target, force).await?),
        PluginCommand::Approve {
            config,
            connector,
            dry_run,
            dev,
        } => Ok(approve(&config, &connector, dry_run, dev).await?),
        PluginCommand::Test(_) => unreachable!("main runs `plugin test` with its log catcher"),
        PluginCommand::Keygen { key_id, out } => keygen(&key_id, &out),
        PluginCommand::Pack {
            manifest,
            wasm,
            out,
        } => pack(&manifest, &wasm, out),
        PluginCommand::Sign { key, package } => sign(&key, &package),
        PluginCommand::Verify { trust, package } => {
            let trust = TrustStore::load(&trust)?;
            let runtime = Runtime::new(None)?;
            let verified = verify_archive(&package, Some(&trust), false, &runtime)?;
            let manifest = &verified.package.manifest;
            println!(
                "ok: {} {} ({}) {}",
                manifest.id, manifest.version, manifest.kind, verified.provenance
            );
            Ok(())
        }
        PluginCommand::Install {
            trust,
            plugins,
            dev,
            package,
        } => {
            let trust = trust.as_deref().map(TrustStore::load).transpose()?;
            let runtime = Runtime::new(None)?;
            let installed = install(&package, &plugins, trust.as_ref(), dev, &runtime)?;
            let manifest = &installed.manifest;
            println!(
                "installed {} {} ({}) into {}, {}",
                manifest.id,
                manifest.version,
                manifest.kind,
                installed.dir.display(),
                installed.provenance
            );
            Ok(())
        }
    }
}

/// Prints what the plugin installed for `connector` asks for that was never approved for it (and
/// what it no longer asks for), and unless `dry_run`, records it as approved in the store.
async fn approve(
    config_path: &Path,
    connector: &str,
    dry_run: bool,
    dev: bool,
) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    config.trust.dev |= dev;
    let all = || {
        let sources = config.sources.iter().map(|c| (c, PluginKind::PosSource));
        sources.chain(config.sinks.iter().map(|c| (c, PluginKind::CrmSink)))
    };
    let Some((c, kind)) = all().find(|(c, _)| c.id == connector) else {
        let known: Vec<&str> = all().map(|(c, _)| c.id.as_str()).collect();
        anyhow::bail!(
            "no connector is named `{connector}` in {} (connectors: {})",
            config_path.display(),
            known.join(", ")
        );
    };
    let role = match kind {
        PluginKind::PosSource => "source",
        PluginKind::CrmSink => "sink",
    };
    let trust = config
        .trust
        .store
        .as_deref()
        .map(TrustStore::load)
        .transpose()?;
    let (package, provenance) = open_installed(&c.plugin, trust.as_ref(), config.trust.dev)
        .map_err(|refusal| {
            anyhow::anyhow!(
                "{role} `{connector}`: plugin at {} refused: {refusal}",
                c.plugin.display()
            )
        })?;
    let manifest = &package.manifest;
    anyhow::ensure!(
        manifest.kind == kind,
        "{role} `{connector}`: plugin {} is a {} plugin, not a {kind}",
        manifest.id,
        manifest.kind
    );
    check_grants(c, manifest).map_err(|e| anyhow::anyhow!("{role} `{connector}`: {e}"))?;
    let store = Store::open(&config.store.database_url).await?;
    let asked = permissions(manifest);
    let approved = store.approved_permissions(connector).await?;
    let unapproved = not_approved(&asked, &approved);
    let (id, version) = (&manifest.id, &manifest.version);
    if unapproved.is_empty() {
        println!(
            "{role} {connector}: plugin {id} {version} asks for nothing new: nothing to approve"
        );
        store.close().await;
        return Ok(());
    }
    println!(
        "{role} {connector}: plugin {id} {version} ({provenance}) asks for more than was approved:"
    );
    for permission in &unapproved {
        println!("  + {permission}");
    }
    for permission in approved.difference(&asked) {
        println!("  - {permission} (no longer asked for)");
    }
    match dry_run {
        true => println!("not approved (--dry-run)"),
        false => {
            store
                .approve_permissions(connector, version, &asked)
                .await?;
            println!("approved: a running daemon takes this version within a few seconds");
        }
    }
    store.close().await;
    Ok(())
}

fn keygen(key_id: &str, out: &Path) -> Result<(), Failure> {
    let key = PublisherKey::generate(key_id).map_err(anyhow::Error::from)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (secret, public) = key.write_new(out).map_err(anyhow::Error::from)?;
    println!(
        "wrote {} (the secret signing key: keep it private, never commit it)",
        secret.display()
    );
    println!(
        "wrote {} (public key, fingerprint {}: give it to operators to add to their trust.toml)",
        public.display(),
        fingerprint(&key.public_key())
    );
    println!("set `publisher = \"{key_id}\"` in your plugin's rapport.toml");
    Ok(())
}

fn pack(manifest_path: &Path, wasm_path: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let manifest_bytes = std::fs::read(manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&String::from_utf8_lossy(&manifest_bytes), manifest_path)
        .map_err(anyhow::Error::from)?;
    let wasm =
        std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let package = PluginPackage {
        dir: wasm_path.to_path_buf(),
        manifest,
        wasm,
    };
    let runtime = Runtime::new(None)?;
    check_world(&runtime, &package)
        .map_err(|refusal| anyhow::anyhow!("cannot pack {}: {refusal}", wasm_path.display()))?;
    let manifest = package.manifest;
    let out = out.unwrap_or_else(|| PathBuf::from(archive::file_name(&manifest)));
    PackageFiles {
        manifest: manifest_bytes,
        wasm: package.wasm,
        signature: None,
    }
    .write_archive(&out)
    .map_err(anyhow::Error::from)?;
    println!(
        "packed {} {} ({}) into {} (unsigned: sign it with `rapport plugin sign --key KEY_FILE {}`)",
        manifest.id,
        manifest.version,
        manifest.kind,
        out.display(),
        out.display()
    );
    if manifest.publisher.is_none() {
        eprintln!(
            "note: {} names no `publisher`; set it to your key id, or the package cannot be signed",
            manifest_path.display()
        );
    }
    Ok(())
}

fn sign(key_path: &Path, package: &Path) -> Result<(), Failure> {
    let key = PublisherKey::load(key_path).map_err(anyhow::Error::from)?;
    let mut files = PackageFiles::read_archive(package).map_err(anyhow::Error::from)?;
    let manifest = Manifest::parse(
        &String::from_utf8_lossy(&files.manifest),
        &package.join(archive::MANIFEST_FILE),
    )
    .map_err(anyhow::Error::from)?;
    match &manifest.publisher {
        Some(publisher) if *publisher == key.key_id => {}
        Some(publisher) => {
            return Err(anyhow::anyhow!(
                "cannot sign {}: its manifest names publisher `{publisher}` but this key is `{}` \
                 (sign with the `{publisher}` key, or set `publisher = \"{}\"` and pack again)",
                package.display(),
                key.key_id,
                key.key_id
            )
            .into())
        }
        None => {
            return Err(anyhow::anyhow!(
                "cannot sign {}: its manifest names no publisher (set `publisher = \"{}\"` in rapport.toml and pack again)",
                package.display(),
                key.key_id
            )
            .into())
        }
    }
    let signature = key.sign(&files.manifest, &files.wasm);
    files.signature = Some(signature.to_toml().into_bytes());
    files.write_archive(package).map_err(anyhow::Error::from)?;
    println!(
        "signed {} ({} {}) with key `{}` (fingerprint {})",
        package.display(),
        manifest.id,
        manifest.version,
        key.key_id,
        fingerprint(&key.public_key())
    );
    Ok(())
}
