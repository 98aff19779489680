//! Real headless Chromium for end-to-end tests, driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A running chromedriver; killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
    profiles: Vec<tempfile::TempDir>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    pub async fn start() -> Driver {
        let port = free_port();
        // Killed and waited for in Drop.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                return Driver {
                    child,
                    url,
                    profiles: vec![],
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// A new browser window at 1280×800 with a profile of its own.
    pub async fn browser(&mut self, lang: &str) -> Client {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,800".into(),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({"args": args, "binary": "/usr/bin/chromium", "prefs": {"intl.accept_languages": lang}}));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Waits up to ten seconds for an element.
pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// Waits up to ten seconds until a script returns true.
pub async fn wait_until(c: &Client, what: &str, script: &str, args: Vec<Value>) {
    for _ in 0..100 {
        if c.execute(script, args.clone()).await.ok() == Some(Value::Bool(true)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits up to ten seconds for an element inside the open shadow root of the first
/// element matching `host`.
pub async fn wait_for_in_shadow(
    c: &Client,
    host: &str,
    css: &str,
) -> fantoccini::elements::Element {
    for _ in 0..100 {
        if let Ok(h) = c.find(Locator::Css(host)).await
            && let Ok(root) = h.shadow_root().await
            && let Ok(e) = root.find(Locator::Css(css)).await
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{host} {css} did not appear in the shadow root");
}

/// Runs `body` in the page and returns what it returns.
pub async fn script(c: &Client, body: &str) -> Value {
    c.execute(body, vec![]).await.unwrap()
}

/// Waits until `body`, run in the page, returns true.
pub async fn wait_script(c: &Client, what: &str, body: &str) {
    wait_until(c, what, body, vec![]).await;
}

/// A script for `execute`/`wait_until` that sees `root`: the open shadow root of the
/// first element matching `host`, or null while there is none. Arguments stay in
/// `arguments`.
pub fn in_shadow(host: &str, body: &str) -> String {
    format!(
        "const root = (document.querySelector({}) || {{}}).shadowRoot || null;\n{body}",
        json!(host)
    )
}

/// Saves a screenshot under `docs/screenshots/`.
pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}
