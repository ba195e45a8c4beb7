//! A small W3C WebDriver client (the handful of commands the browser tests use), spoken
//! over HTTP to a `chromedriver` this harness starts on loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages put Chromium and its driver (`.ci/run` installs them).
pub fn find_tools() -> Option<(PathBuf, PathBuf)> {
    let driver = std::env::var_os("ATTACH_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    let browser = std::env::var_os("ATTACH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    (driver.exists() && browser.exists()).then_some((driver, browser))
}

/// A running chromedriver, killed when dropped.
pub struct Driver {
    child: Child,
    pub base: String,
    browser: PathBuf,
    profile_root: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile_root);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Driver {
    pub async fn start(driver: &Path, browser: &Path, scratch: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            browser: browser.to_owned(),
            profile_root: scratch.join("profiles"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/status", d.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        d
    }

    /// A fresh headless Chromium with an empty profile.
    pub async fn session(&self, name: &str) -> Browser {
        let profile = self.profile_root.join(name);
        let _ = std::fs::create_dir_all(&profile);
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": self.browser.to_string_lossy(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1280,1000",
                            format!("--user-data-dir={}", profile.display()),
                        ]
                    }
                }
            }
        });
        let client = reqwest::Client::new();
        let r: Value = client
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .expect("new WebDriver session")
            .json()
            .await
            .expect("WebDriver JSON");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            client,
            url: format!("{}/session/{id}", self.base),
        }
    }
}

/// One browser window.
pub struct Browser {
    client: reqwest::Client,
    url: String,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r: Value = req
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver JSON");
        r["value"].clone()
    }

    async fn call_ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let v = self.call(method, path, body).await;
        if let Some(error) = v.get("error") {
            panic!("WebDriver {path}: {error} {}", v["message"]);
        }
        v
    }

    pub async fn goto(&self, url: &str) {
        self.call_ok(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.call_ok(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn source(&self) -> String {
        self.call_ok(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn try_find(&self, using: &str, value: &str) -> Option<Element> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": using, "value": value })),
            )
            .await;
        v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(|id| Element(id.to_owned()))
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.find_by("css selector", css).await
    }

    /// The first element matching an XPath expression, waiting up to 10 s.
    pub async fn find_xpath(&self, xpath: &str) -> Element {
        self.find_by("xpath", xpath).await
    }

    /// The button whose text is `label` (inside `scope`, an XPath prefix, or anywhere).
    pub async fn button(&self, label: &str) -> Element {
        self.find_xpath(&format!("//button[normalize-space()='{label}']"))
            .await
    }

    async fn find_by(&self, using: &str, value: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(using, value).await {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element {value:?} on {}:\n{}",
                    self.current_url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .call_ok(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get(ELEMENT).and_then(Value::as_str))
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn click(&self, e: &Element) {
        self.call_ok(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Clears a field and types `text` into it (for a file input: the file's path).
    pub async fn type_into(&self, e: &Element, text: &str) {
        let _ = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/clear", e.0),
                Some(json!({})),
            )
            .await;
        self.call_ok(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn text(&self, e: &Element) -> String {
        self.call_ok(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn property(&self, e: &Element, name: &str) -> Value {
        self.call_ok(
            reqwest::Method::GET,
            &format!("/element/{}/property/{name}", e.0),
            None,
        )
        .await
    }

    /// The element that has keyboard focus.
    pub async fn active(&self) -> Element {
        let v = self
            .call_ok(reqwest::Method::GET, "/element/active", None)
            .await;
        Element(
            v.get(ELEMENT)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// Presses keys (WebDriver key codes, e.g. "\u{E004}" for Tab) in the focused element.
    pub async fn press(&self, e: &Element, keys: &str) {
        self.call_ok(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": keys })),
        )
        .await;
    }

    pub async fn element_css(&self, e: &Element, property: &str) -> String {
        self.call_ok(
            reqwest::Method::GET,
            &format!("/element/{}/css/{property}", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Accepts a `confirm()` prompt, waiting up to 2 s for it to open; says whether
    /// there was one.
    pub async fn accept_prompt(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let v = self
                .call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
                .await;
            if v.get("error").is_none() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's URL satisfies `pred`.
    pub async fn wait_url(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.current_url().await;
            if pred(&url) {
                return url;
            }
            if Instant::now() > deadline {
                let source = self.source().await;
                let title = source
                    .split("<title>")
                    .nth(1)
                    .and_then(|t| t.split("</title>").next())
                    .unwrap_or("");
                panic!("waited for {what}; at {url}, page {title:?}:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = self
            .call_ok(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = decode_base64(v.as_str().unwrap_or_default());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("writing a screenshot");
    }

    pub async fn close(self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }
}

/// Standard base64 (with padding), as WebDriver returns screenshots.
fn decode_base64(s: &str) -> Vec<u8> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGk="), b"hi");
    assert_eq!(decode_base64(""), b"");
}
