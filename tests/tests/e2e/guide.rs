//! The connector author's guide (`sdk/README.md`) works as written: its worked example — `rapport
//! plugin new` for a sink, the wasm build, the conformance suite, keygen, pack, sign, verify and
//! install — runs as one shell script, and the package it installs loads in the host (`rapport
//! check`, with the trust store it made) and answers its vendor's `check`. A source written by `plugin new` builds and
//! loads too, passes the conformance suite as written, and refuses a webhook delivery whose
//! signature does not match.

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use rapport_e2e::{output_text, rapport_bin, ShopDir, TestShop};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The shell block the guide marks as its worked example.
fn worked_example() -> String {
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/README.md");
    let text = std::fs::read_to_string(&guide).expect("the guide");
    let (_, after) = text
        .split_once("<!-- guide: worked example -->\n```sh\n")
        .expect("the guide marks its worked example");
    let (block, _) = after.split_once("```").expect("the block ends");
    block.to_string()
}

/// Runs `script` with bash in `dir`, with this build's `rapport` first on the PATH.
fn run(script: &str, dir: &Path, envs: &[(&str, &str)]) {
    let bin = rapport_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .envs(envs.iter().copied())
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{script}\n{}",
        output_text(&output)
    );
}

/// `rapport check --json` in `dir`: the line named `check`.
async fn check_line(dir: &ShopDir, check: &str) -> (String, String) {
    let output = dir.rapport(&["check", "--json"]).await;
    let lines: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&output)));
    let line = (lines.iter().find(|l| l["check"] == check))
        .unwrap_or_else(|| panic!("no {check} line: {lines:#?}"));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&line["verdict"]), text(&line["detail"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_worked_example_runs_as_written_and_its_connectors_load() {
    // The vendor: its cheapest authenticated read answers.
    let app = Router::new()
        .route("/me", get(|| async { StatusCode::OK }))
        .route("/contacts/batch", post(|| async { StatusCode::OK }));
    let vendor = rapport_fakes::server::serve(app, 0).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = worked_example();
    tokio::task::block_in_place(|| run(&script, work.path(), &[]));
    let crate_dir = work.path().join("acme-crm");
    let installed = work.path().join("shop-plugins/acme-crm");
    for file in ["plugin.wasm", "rapport.toml", "signature"] {
        assert!(installed.join(file).is_file(), "install wrote {file}");
    }

    // A shop that trusts acme runs the signed sink, with no development mode.
    let shop = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .section(
            "trust",
            [
                ("dev", false.into()),
                (
                    "store",
                    crate_dir.join("keys/acme.pub").display().to_string().into(),
                ),
            ],
        )
        .sink("crm", &installed, [("api_base", vendor.base_url().into())])
        .secrets(&[("acme_crm_token", "t0ken")])
        .write_in(&shop);
    let (verdict, detail) = check_line(&shop, "plugin crm").await;
    assert_eq!(verdict, "ok", "{detail}");
    assert!(
        detail.contains("acme-crm 0.1.0, signed by acme: check ok"),
        "{detail}"
    );

    // A source, written and built the same way (sharing the sink's build directory).
    let target = crate_dir.join("target").display().to_string();
    tokio::task::block_in_place(|| {
        run(
            "rapport plugin new till --kind source\n\
             cd till\n\
             cargo build --release --target wasm32-wasip2\n\
             mkdir -p dist/till\n\
             cp \"$CARGO_TARGET_DIR/wasm32-wasip2/release/till.wasm\" dist/till/plugin.wasm\n\
             cp rapport.toml dist/till/rapport.toml\n\
             RAPPORT_SECRET_TILL_TOKEN=t0ken RAPPORT_SECRET_TILL_WEBHOOK_SECRET=s3cret \
             rapport plugin test dist/till --config conformance.toml\n",
            work.path(),
            &[("CARGO_TARGET_DIR", &target)],
        )
    });
    let till = work.path().join("till/dist/till");
    let shop = ShopDir::new("");
    TestShop::new()
        .sqlite()
        .source("till", &till, [("api_base", vendor.base_url().into())])
        .secrets(&[("till_token", "t0ken"), ("till_webhook_secret", "s3cret")])
        .write_in(&shop);
    let (verdict, detail) = check_line(&shop, "plugin till").await;
    assert_eq!(verdict, "warn", "unsigned: {detail}");
    assert!(
        detail.contains("till 0.1.0, DEV-UNSIGNED") && detail.contains("check ok"),
        "{detail}"
    );
    // An upload is a webhook delivery to the source: without the vendor's signature, refused.
    let refused = shop.try_import("till", "{}", &[]).await;
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("the x-signature header is missing"),
        "{}",
        output_text(&refused)
    );
}
