//! A headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ended by a NUL byte, on the browser's file
//! descriptors 3 and 4), so the host's pages (the staff page, the dashboard) are tested as a browser
//! runs them, with no driver crate.
//! Under CI (`CI=true`) a missing Chromium fails the test; elsewhere it is skipped with the reason
//! printed.

use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The browser the test script installs.
const CHROMIUM: &str = "chromium";

pub struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: ChildStdout,
    pending: Vec<u8>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

/// Whether Chromium is installed; under CI its absence is a failure.
pub fn available() -> bool {
    let found = std::process::Command::new(CHROMIUM)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{CHROMIUM}` is not installed: scripts/test installs Debian's chromium package with apt-get"
        );
        eprintln!("SKIPPED: `{CHROMIUM}` is not installed (scripts/test installs it); the page was not tested in a browser");
    }
    found
}

impl Browser {
    /// A headless Chromium with a fresh profile and one page of `width` × `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // The shell hands the browser our pipes as its descriptors 3 (commands) and 4 (answers).
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {CHROMIUM} --headless --no-sandbox --disable-gpu --no-first-run \
                 --disable-extensions --remote-debugging-pipe --user-data-dir=\"$1\" \
                 about:blank 3<&0 4>&1 0</dev/null 1>/dev/null 2>/dev/null"
            ))
            .arg("sh")
            .arg(profile.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let mut browser = Browser {
            commands: child.stdin.take().unwrap(),
            answers: child.stdout.take().unwrap(),
            child,
            pending: Vec::new(),
            next_id: 0,
            session: None,
            _profile: profile,
        };
        let target = browser
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        browser.call("Page.enable", json!({})).await;
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        browser
    }

    /// Sends a command (to the page once attached); returns its id.
    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).await.unwrap();
        id
    }

    /// Sends a command and waits for its answer.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        let answer = tokio::time::timeout(Duration::from_secs(20), self.answer(id))
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
        if let Some(error) = answer.get("error") {
            panic!("chromium refused {method}: {error}");
        }
        answer["result"].clone()
    }

    async fn answer(&mut self, id: u64) -> Value {
        loop {
            while let Some(end) = self.pending.iter().position(|b| *b == 0) {
                let message: Vec<u8> = self.pending.drain(..=end).collect();
                let message: Value = serde_json::from_slice(&message[..end]).unwrap();
                if message["id"] == id {
                    return message;
                }
            }
            // Into the heap buffer: a buffer on the stack would be part of every future awaiting
            // this one, and the test thread's stack is small.
            self.pending.reserve(65536);
            let n = self.answers.read_buf(&mut self.pending).await.unwrap();
            assert!(n > 0, "chromium closed its pipe");
        }
    }

    /// Opens `url` in the page.
    pub async fn open(&mut self, url: &str) {
        let navigated = self.call("Page.navigate", json!({"url": url})).await;
        assert!(navigated.get("errorText").is_none(), "{url}: {navigated}");
    }

    /// The value of the script `expression` in the page (awaited if a promise).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            answer.get("exceptionDetails").is_none(),
            "{expression}: {answer}"
        );
        answer["result"]["value"].clone()
    }

    /// Waits until the script `condition` is true in the page.
    pub async fn wait_for(&mut self, condition: &str) {
        let start = Instant::now();
        loop {
            // The page may be between two documents; a failed evaluation is tried again.
            let answer = self
                .call(
                    "Runtime.evaluate",
                    json!({"expression": format!("!!({condition})"), "returnByValue": true}),
                )
                .await;
            if answer["result"]["value"] == json!(true) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the page never showed {condition}: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's visible text.
    pub async fn text(&mut self) -> String {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": "document.body ? document.body.innerText : ''", "returnByValue": true}),
            )
            .await;
        answer["result"]["value"].as_str().unwrap_or("").to_owned()
    }

    /// A PNG of the page as it is shown.
    async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// Keeps a PNG of the page as it is shown in `target/test-artifacts/{name}`.
    pub async fn keep_screenshot(&mut self, name: &str) {
        let png = self.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = rapport_e2e::target_dir().join("test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &png).unwrap();
        println!("the page's screenshot: {}", path.display());
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        self.session = None;
        self.send("Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
