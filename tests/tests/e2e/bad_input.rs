//! Bad input gets a clear error naming what was wrong, and nothing already accepted is lost: an
//! invalid config, an unreachable database, a disk that fills up mid-run.

use rapport_e2e::{output_text, ShopDir, TestShop};
use rapport_fakes::shop::SampleShop;
use rapport_host::config::Config;
use rapport_host::ingest::push::PushError;
use rapport_host::pipeline::Pipeline;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_config_is_refused_naming_the_line_and_field() {
    let dir = ShopDir::new("[runtime]\nmemory_limit_mib = \"lots\"\n");
    let out = dir.rapport(&["status"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("memory_limit_mib"),
        "{}",
        output_text(&out)
    );

    let dir = TestShop::new()
        .http_sink("crm", "https://x.example", [("batch", 5.into())])
        .write();
    let out = dir.rapport(&["status"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sink `crm`") && err.contains("unknown setting `batch`"),
        "{}",
        output_text(&out)
    );
    assert!(
        err.contains("url, batch_size") || err.contains("batch_size"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_is_named_without_its_password() {
    let dir = TestShop::new()
        .database("postgres://rapport:s3cret@127.0.0.1:1/shop")
        .write();
    let out = dir.rapport(&["status"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the database at postgres://rapport:***@127.0.0.1:1/shop"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// A tmpfs of `size` mounted over `dir`, unmounted on drop.
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(dir: &std::path::Path, size: &str) -> TinyDisk {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test needs to mount a small tmpfs (run as root)"
        );
        TinyDisk(dir.to_path_buf())
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success());
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_new_input_clearly_and_keeps_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let disk = TinyDisk::mount(&data, "2m");
    let text = TestShop::new()
        .database("sqlite://data/rapport.db")
        .csv_source("shop")
        .text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();

    let mut accepted = 0;
    let mut refused = None;
    for i in 0..200 {
        let shop = SampleShop::generate(i, 40, 0).as_export(i as usize, &format!("B{i:03}-"));
        match pipeline
            .intake
            .receive_push("shop", vec![], shop.to_csv().into_bytes())
            .await
        {
            Ok(report) => accepted += report.accepted,
            Err(e) => {
                refused = Some((shop, e));
                break;
            }
        }
    }
    let (shop, error) = refused.expect("the disk should have filled up");
    assert!(matches!(error, PushError::Store(_)), "{error}");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(accepted > 0, "refused at once: {error}");

    // Room again: what was acknowledged is all there, and the refused upload goes through when
    // the vendor sends it again.
    disk.grow("16m");
    let summary = pipeline.store.summary().await.unwrap();
    assert_eq!((summary.orders + summary.refunds) as usize, accepted);
    let again = pipeline
        .intake
        .receive_push("shop", vec![], shop.to_csv().into_bytes())
        .await
        .unwrap();
    assert_eq!(again.accepted, shop.valid_receipts().count());
    pipeline.store.close().await;
}
