//! The README's main job: `rapport demo` runs the simulated shop end to end and checks what HubSpot
//! holds against the shop (it exits non-zero otherwise).

use rapport_e2e::{output_text, rapport_bin, target_dir};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shop_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let mut cmd = std::process::Command::new(rapport_bin());
    // The README's command as it runs: default size and seed.
    cmd.args(["demo", "--plugins"])
        .arg(target_dir().join("plugins"))
        .arg("--dir")
        .arg(&work);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        text.contains("1 replay acknowledged as a duplicate, 1 forged delivery refused with 401"),
        "{text}"
    );
    assert!(text.contains("0 rejected, 0 dead, 0 waiting"), "{text}");
    assert!(work.join("rapport.db").exists() && work.join("rapport.toml").exists());
}
