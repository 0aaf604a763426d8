//! A small W3C WebDriver client over `reqwest`, for the browser tests: chromedriver (Debian's
//! `chromium-driver`) started on a free 127.0.0.1 port, one headless Chromium session, and the
//! handful of commands the tests need (navigate, find by CSS, click, type, read text, run a
//! script, switch frames, resize, screenshot). Everything waits with a bound; nothing is timed.
//!
//! Chromedriver runs in a process group of its own, and dropping [`Chromedriver`] kills that whole
//! group (chromedriver and every Chromium process it started), so a failing test leaves nothing
//! behind.

use base64::Engine as _;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names an element reference by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub type Result<T> = std::result::Result<T, String>;

/// Where Chromium and chromedriver are, when they are installed.
pub struct BrowserPaths {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl BrowserPaths {
    /// `CHROMIUM` / `CHROMEDRIVER` if set, else `chromium` / `chromedriver` on the `PATH`.
    pub fn find() -> Option<Self> {
        let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
            if let Some(path) = std::env::var_os(var) {
                return Some(PathBuf::from(path)).filter(|p| p.is_file());
            }
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
                .find(|p| p.is_file())
        };
        Some(Self {
            chromium: find(
                "CHROMIUM",
                &["chromium", "chromium-browser", "google-chrome"],
            )?,
            chromedriver: find("CHROMEDRIVER", &["chromedriver"])?,
        })
    }
}

/// A running chromedriver; killed, with its browsers, when dropped.
pub struct Chromedriver {
    child: Child,
    pub url: String,
}

impl Chromedriver {
    pub async fn start(paths: &BrowserPaths) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(&paths.chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", paths.chromedriver.display()))?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        wait_until(
            "chromedriver answers /status",
            Duration::from_secs(20),
            || {
                let http = http.clone();
                let url = format!("{}/status", driver.url);
                async move {
                    let status: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                    status["value"]["ready"].as_bool().filter(|r| *r)
                }
            },
        )
        .await?;
        Ok(driver)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium processes it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Polls `probe` until it gives a value, at most `bound`; the error names what was awaited.
pub async fn wait_until<T, F, Fut>(what: &str, bound: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("gave up waiting {bound:?} for: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    /// The user data directory: removed when the browser is.
    _profile: tempfile::TempDir,
}

/// An element reference of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// A new headless session, its window `width` × `height` CSS pixels.
    pub async fn start(
        driver: &Chromedriver,
        paths: &BrowserPaths,
        width: u32,
        height: u32,
    ) -> Result<Self> {
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": paths.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--lang=en-GB",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let answer = send(
            &http,
            reqwest::Method::POST,
            &format!("{}/session", driver.url),
            Some(capabilities),
        )
        .await?;
        let session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {answer}"))?;
        Ok(Self {
            http,
            session: format!("{}/session/{session}", driver.url),
            _profile: profile,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        send(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.command(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({"url": url})).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String> {
        Ok(self
            .get("/url")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The first element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Result<Option<Element>> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await?;
        Ok(found
            .as_array()
            .and_then(|all| all.first())
            .and_then(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element(id.to_string())))
    }

    /// The first element matching `css`, waiting for it at most `bound`.
    pub async fn find(&self, css: &str, bound: Duration) -> Result<Element> {
        wait_until(&format!("an element '{css}'"), bound, || async {
            self.try_find(css).await.ok().flatten()
        })
        .await
    }

    /// Waits (at most `bound`) for `css` to be displayed and enabled, then clicks it.
    pub async fn click(&self, css: &str, bound: Duration) -> Result<()> {
        let element = self.find_usable(css, bound).await?;
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .map(drop)
    }

    /// Waits (at most `bound`) for `css` to be usable, clears it and types `text`.
    pub async fn type_into(&self, css: &str, text: &str, bound: Duration) -> Result<()> {
        let element = self.find_usable(css, bound).await?;
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await?;
        self.post(
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        )
        .await
        .map(drop)
    }

    async fn find_usable(&self, css: &str, bound: Duration) -> Result<Element> {
        wait_until(&format!("'{css}' displayed and enabled"), bound, || async {
            let element = self.try_find(css).await.ok().flatten()?;
            let shown = self
                .get(&format!("/element/{}/displayed", element.0))
                .await
                .ok()?;
            let enabled = self
                .get(&format!("/element/{}/enabled", element.0))
                .await
                .ok()?;
            (shown.as_bool()? && enabled.as_bool()?).then_some(element)
        })
        .await
    }

    /// The rendered text of the first element matching `css` ("" when hidden).
    pub async fn text(&self, css: &str) -> Result<String> {
        let element = self
            .try_find(css)
            .await?
            .ok_or_else(|| format!("no element '{css}'"))?;
        Ok(self
            .get(&format!("/element/{}/text", element.0))
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Waits (at most `bound`) until the text of `css` contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, bound: Duration) -> Result<String> {
        let last = std::cell::RefCell::new(String::new());
        let found = wait_until(&format!("'{css}' to say '{needle}'"), bound, || async {
            let text = self.text(css).await.ok()?;
            let hit = text.contains(needle);
            *last.borrow_mut() = text.clone();
            hit.then_some(text)
        })
        .await;
        found.map_err(|e| format!("{e} (it said: '{}')", last.borrow()))
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page, returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Switches into the iframe matching `css` (of the current browsing context).
    pub async fn enter_frame(&self, css: &str, bound: Duration) -> Result<()> {
        let frame = self.find(css, bound).await?;
        self.post("/frame", json!({"id": {ELEMENT_KEY: frame.0}}))
            .await
            .map(drop)
    }

    /// Back to the top-level page.
    pub async fn leave_frames(&self) -> Result<()> {
        self.post("/frame", json!({"id": null})).await.map(drop)
    }

    /// Waits (at most `bound`) for a `confirm`/`alert` dialog, accepts it, returns its text.
    pub async fn accept_alert(&self, bound: Duration) -> Result<String> {
        let text = wait_until("a dialog", bound, || async {
            self.get("/alert/text")
                .await
                .ok()
                .map(|t| t.as_str().unwrap_or_default().to_string())
        })
        .await?;
        self.post("/alert/accept", json!({})).await?;
        Ok(text)
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await
            .map(drop)
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let data = self.get("/screenshot").await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot is not base64: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Ends the session (the browser quits). Dropping the [`Chromedriver`] kills it anyway.
    pub async fn quit(self) {
        let _ = self.command(reqwest::Method::DELETE, "", None).await;
    }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("webdriver {method} {url}: {e}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("webdriver {method} {url}: unreadable answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "webdriver {method} {url}: {status}: {}",
            answer["value"]["message"]
                .as_str()
                .unwrap_or("(no message)")
        ));
    }
    Ok(answer.get("value").cloned().unwrap_or(Value::Null))
}
