//! A real headless Chromium driven over WebDriver (chromedriver) with plain
//! HTTP: enough to open a page, find elements, click, read text and styles,
//! and save a screenshot.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::wait::wait_until;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// W3C's element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; chromedriver (and so Chromium) is killed on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (with a printed reason) when Chromium is not installed outside CI;
    /// under CI a missing browser fails the test.
    pub async fn start() -> Option<Self> {
        for program in [CHROMEDRIVER, CHROMIUM] {
            if !std::path::Path::new(program).exists() {
                assert!(
                    !super::in_ci(),
                    "{program} is missing; tests/setup installs it"
                );
                eprintln!(
                    "skipped: {program} is not installed (tests/setup installs chromium and chromium-driver)"
                );
                return None;
            }
        }
        let port = super::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = super::http();
        wait_until(
            "chromedriver to answer",
            Duration::from_secs(30),
            || async { http.get(format!("{base}/status")).send().await.map(drop) },
        )
        .await;
        let profile = tempfile::tempdir().expect("profile dir");
        // The flags the machine notes ask for: no sandbox as root, and no
        // background networking on a machine without internet.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // A prompt stays open until a test answers it (the default would
            // dismiss it at the next command).
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_string();
        Some(Self {
            driver,
            base,
            session,
            http,
            _profile: profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver json");
        response["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element matching `css`, waiting for it up to `timeout`.
    pub async fn find(&self, css: &str, timeout: Duration) -> String {
        wait_until(&format!("element {css}"), timeout, || async {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            found[ELEMENT].as_str().map(str::to_string).ok_or(found)
        })
        .await
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits until `script` returns `true`; panics with `what` and the page text after `timeout`.
    pub async fn wait_until(&self, what: &str, script: &str, timeout: Duration) {
        wait_until(what, timeout, || async {
            if self.script(script, json!([])).await == Value::Bool(true) {
                return Ok(());
            }
            let text = self
                .script("return document.body.innerText", json!([]))
                .await;
            Err(format!("page:\n{}", text.as_str().unwrap_or_default()))
        })
        .await;
    }

    /// Waits for a `prompt()` to open, types `text` and accepts it.
    pub async fn answer_prompt(&self, text: &str, timeout: Duration) {
        self.accept_dialog(Some(text), timeout).await;
    }

    /// Waits for a `confirm()` to open and accepts it; returns its message.
    pub async fn confirm(&self, timeout: Duration) -> String {
        self.accept_dialog(None, timeout).await
    }

    /// Waits for a dialog, types `text` into it (a prompt) and accepts it.
    async fn accept_dialog(&self, text: Option<&str>, timeout: Duration) -> String {
        let message = wait_until("a dialog", timeout, || async {
            let shown = self.call(reqwest::Method::GET, "/alert/text", None).await;
            match shown {
                Value::String(message) => Ok(message),
                other => Err(other),
            }
        })
        .await;
        if let Some(text) = text {
            self.call(
                reqwest::Method::POST,
                "/alert/text",
                Some(json!({"text": text})),
            )
            .await;
        }
        self.call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
            .await;
        message
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifact dir");
        }
        std::fs::write(path, bytes).expect("write screenshot");
    }
}

impl Browser {
    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a panic: chromedriver goes; Chromium notices its pipe closing.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
