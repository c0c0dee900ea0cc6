//! `rapport plugin new`: a new connector crate that builds as it is, so a third party starts from
//! a working component instead of the WIT: `Cargo.toml` on `rapport-sdk`, the manifest with its
//! settings, secrets and egress rule, `src/lib.rs` implementing the world (the vendor's calls left
//! to write, each marked `Vendor:`), a README with the commands from build to signed package, and
//! the conformance suite's config. The templates are in `templates/`.

use std::path::{Path, PathBuf};

/// What the connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Source,
    Sink,
}

/// The contract versions a new connector may be built for, newest first per kind.
const CONTRACTS: &[(Kind, &str)] = &[
    (Kind::Source, "0.3.0"),
    (Kind::Source, "0.1.0"),
    (Kind::Sink, "0.4.0"),
    (Kind::Sink, "0.1.0"),
];

/// A connector to write.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The plugin id and crate name: lowercase letters, digits and '-', starting with a letter.
    pub name: String,
    pub kind: Kind,
    /// `0.3` or `0.3.0`; the newest this kit writes for the kind when unset.
    pub contract: Option<String>,
    /// The `rapport-sdk` crate's directory, which the new crate depends on by path.
    pub sdk: PathBuf,
    /// The publisher key id its packages will be signed with.
    pub publisher: String,
}

/// Why no connector was written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0:?} is not a connector name: use lowercase letters, digits and '-', starting with a letter")]
    Name(String),
    #[error("a {kind} can be written for contract {known}, not {asked}")]
    Contract {
        kind: &'static str,
        known: String,
        asked: String,
    },
    #[error("{0} exists already: choose another name or directory (nothing was written)")]
    Exists(PathBuf),
    #[error("no rapport-sdk at {0}: pass --sdk with the path of rapport's sdk/ directory")]
    NoSdk(PathBuf),
    #[error("writing {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Sink => "sink",
        }
    }
}

/// The files of the connector `spec` describes, by path relative to its directory.
pub fn files(spec: &Spec) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    let name = &spec.name;
    let name_ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(ScaffoldError::Name(name.clone()));
    }
    let contract = contract(spec.kind, spec.contract.as_deref())?;
    let secret = name.replace('-', "_");
    let (token, webhook_secret) = (
        format!("{secret}_token"),
        format!("{secret}_webhook_secret"),
    );
    let sdk = spec.sdk.display().to_string();
    let mut dependencies = format!("rapport-sdk = {{ path = {sdk:?} }}");
    let (export, erasure_use, erasure_impl) = match (spec.kind, contract) {
        (Kind::Sink, "0.4.0") => {
            let erasure = spec.sdk.join("erasure").display().to_string();
            dependencies.push_str(&format!("\nrapport-sdk-erasure = {{ path = {erasure:?} }}"));
            (
                "rapport_sdk_erasure::export_sink!(Connector);",
                "use rapport_sdk_erasure::{Erasure, ErasureSubject};\n",
                ERASURE,
            )
        }
        (Kind::Sink, _) => ("rapport_sdk::export_sink!(Connector);", "", ""),
        (Kind::Source, "0.3.0") => ("rapport_sdk::export_source_v0_3!(Connector);", "", ""),
        (Kind::Source, _) => ("rapport_sdk::export_source!(Connector);", "", ""),
    };
    let (template, conformance, secrets, prelude) = match (spec.kind, contract) {
        (Kind::Sink, _) => (
            include_str!("templates/sink.rs.tmpl"),
            include_str!("templates/conformance-sink.toml.tmpl"),
            format!("{token:?}"),
            "rapport_sdk::prelude::*",
        ),
        (Kind::Source, "0.3.0") => (
            include_str!("templates/source.rs.tmpl"),
            include_str!("templates/conformance-source.toml.tmpl"),
            format!("{token:?}, {webhook_secret:?}"),
            "rapport_sdk::v0_3::prelude::*",
        ),
        (Kind::Source, _) => (
            include_str!("templates/source.rs.tmpl"),
            include_str!("templates/conformance-source.toml.tmpl"),
            format!("{token:?}, {webhook_secret:?}"),
            "rapport_sdk::prelude::*",
        ),
    };
    let (kind, section) = match spec.kind {
        Kind::Source => ("pos-source", "source"),
        Kind::Sink => ("crm-sink", "sink"),
    };
    let description = match spec.kind {
        Kind::Source => format!("{name}: a POS source for rapport"),
        Kind::Sink => format!("{name}: a CRM sink for rapport"),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{contract}}", contract)
            .replace("{{kind}}", kind)
            .replace("{{section}}", section)
            .replace("{{description}}", &description)
            .replace("{{publisher}}", &spec.publisher)
            .replace("{{secrets}}", &secrets)
            .replace("{{token}}", &token)
            .replace("{{token_env}}", &token.to_uppercase())
            .replace("{{webhook_secret}}", &webhook_secret)
            .replace("{{sdk_dependencies}}", &dependencies)
            .replace("{{prelude}}", prelude)
            .replace("{{erasure_use}}", erasure_use)
            .replace("{{erasure_impl}}", erasure_impl)
            .replace("{{export}}", export)
    };
    Ok(vec![
        (
            "Cargo.toml".into(),
            fill(include_str!("templates/Cargo.toml.tmpl")),
        ),
        (
            "rapport.toml".into(),
            fill(include_str!("templates/rapport.toml.tmpl")),
        ),
        ("src/lib.rs".into(), fill(template)),
        (
            "README.md".into(),
            fill(include_str!("templates/README.md.tmpl")),
        ),
        ("conformance.toml".into(), fill(conformance)),
        (".gitignore".into(), "/target\n/dist\n/keys\n*.rpk\n".into()),
    ])
}

/// The contract `asked` for (`0.3` or `0.3.0`), or the newest for `kind`.
fn contract(kind: Kind, asked: Option<&str>) -> Result<&'static str, ScaffoldError> {
    let known = CONTRACTS
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, v)| *v);
    let Some(asked) = asked else {
        return Ok(known.clone().next().expect("every kind has a contract"));
    };
    let full = match asked.matches('.').count() {
        1 => format!("{asked}.0"),
        _ => asked.to_string(),
    };
    known
        .clone()
        .find(|v| *v == full)
        .ok_or_else(|| ScaffoldError::Contract {
            kind: kind.as_str(),
            known: known.collect::<Vec<_>>().join(" or "),
            asked: asked.to_string(),
        })
}

/// Writes the connector into `parent/<name>`, which must not exist; returns that directory.
pub fn write(parent: &Path, spec: &Spec) -> Result<PathBuf, ScaffoldError> {
    let sdk = match spec.sdk.join("Cargo.toml").is_file() {
        true => spec.sdk.canonicalize().unwrap_or_else(|_| spec.sdk.clone()),
        false => return Err(ScaffoldError::NoSdk(spec.sdk.clone())),
    };
    let files = files(&Spec {
        sdk,
        ..spec.clone()
    })?;
    let dir = parent.join(&spec.name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    for (path, text) in files {
        let path = dir.join(path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|error| ScaffoldError::Write { path, error })?;
    }
    Ok(dir)
}

/// The 0.4 `erasure` export of a sink.
const ERASURE: &str = r#"
impl Erasure for Connector {
    /// Erase the person the host sent as `person.key`, and everyone their identities name.
    fn forget_person(person: ErasureSubject) -> Result<(), ConnectorError> {
        // Vendor: the API's deletion (GDPR) request, by your external id and by identities.
        let values: Vec<&str> = person.identities.iter().map(|i| i.value.as_str()).collect();
        let body = json!({ "external_id": person.key, "identities": values });
        Request::post(&api("/erasures")?, &body)?.send()?.success()?;
        Ok(())
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: Kind, contract: Option<&str>) -> Spec {
        Spec {
            name: name.into(),
            kind,
            contract: contract.map(str::to_string),
            sdk: "/src/rapport/sdk".into(),
            publisher: "acme".into(),
        }
    }

    fn file(files: &[(PathBuf, String)], path: &str) -> String {
        files
            .iter()
            .find(|(p, _)| p == Path::new(path))
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("no {path}"))
    }

    #[test]
    fn a_sink_is_written_for_the_newest_contract_with_its_erasure() {
        let files = files(&spec("acme-crm", Kind::Sink, None)).unwrap();
        let manifest = file(&files, "rapport.toml");
        assert!(
            manifest.contains("contract = \"rapport:connector@0.4.0\""),
            "{manifest}"
        );
        assert!(
            manifest.contains("secrets = [\"acme_crm_token\"]"),
            "{manifest}"
        );
        assert!(manifest.contains("{secret:acme_crm_token}"), "{manifest}");
        let lib = file(&files, "src/lib.rs");
        assert!(lib.contains("impl Erasure for Connector"), "{lib}");
        assert!(lib.contains("rapport_sdk_erasure::export_sink!(Connector);"));
        assert!(!lib.contains("{{"), "every placeholder filled: {lib}");
        let conformance = file(&files, "conformance.toml");
        assert!(
            conformance.contains("RAPPORT_SECRET_ACME_CRM_TOKEN"),
            "{conformance}"
        );
        assert!(
            conformance.contains("path = \"/contacts/batch\""),
            "{conformance}"
        );
        let cargo = file(&files, "Cargo.toml");
        assert!(
            cargo.contains("rapport-sdk-erasure = { path = \"/src/rapport/sdk/erasure\" }"),
            "{cargo}"
        );
    }

    #[test]
    fn a_source_for_contract_0_1_uses_its_prelude_and_export() {
        let files = files(&spec("till", Kind::Source, Some("0.1"))).unwrap();
        let lib = file(&files, "src/lib.rs");
        assert!(
            lib.contains("use rapport_sdk::prelude::*;")
                && lib.contains("rapport_sdk::export_source!(Connector);"),
            "{lib}"
        );
        assert!(lib.contains("\"till_webhook_secret\""), "{lib}");
        let manifest = file(&files, "rapport.toml");
        assert!(
            manifest.contains("secrets = [\"till_token\", \"till_webhook_secret\"]"),
            "{manifest}"
        );
        for (_, text) in &files {
            assert!(!text.contains("{{"), "{text}");
        }
    }

    #[test]
    fn bad_names_and_contracts_are_refused_by_what_is_wrong() {
        let e = files(&spec("Acme CRM", Kind::Sink, None)).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"Acme CRM\" is not a connector name"),
            "{e}"
        );
        let e = files(&spec("acme", Kind::Sink, Some("0.3"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a sink can be written for contract 0.4.0 or 0.1.0, not 0.3"
        );
    }
}
