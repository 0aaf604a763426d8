//! The integration page in a real browser (headless Chromium through chromedriver), against the
//! local stack a newcomer gets from `personio-sync demo --admin-page`: the Kombo sandbox with its
//! stand-in connection page, the Learn Amp sandbox, and the admin function's handler over the
//! embedded store, all on 127.0.0.1.
//!
//! The admin links are minted here with the documented algorithm (`functions/admin/API.md`),
//! as Learn Amp's app would mint them, with the key handed to the demo in `ADMIN_LINK_KEY`.
//!
//! Skipped, with a message, only when Chromium or chromedriver is missing and `REQUIRE_BROWSER`
//! is unset (the test command installs them and sets it). `SCREENSHOT_DIR=docs` refreshes the
//! README's screenshots.

use e2e::webdriver::{wait_until, Browser, BrowserPaths, Chromedriver};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_personio-sync");
const KEY: &str = "browser-test-admin-link-key-0123456789abcdef";
const TENANT: &str = "demo";
/// How long any one thing on the page may take to appear (a bound, never asserted).
const STEP: Duration = Duration::from_secs(30);
/// An import of the demo company, Kombo's setup included.
const IMPORT: Duration = Duration::from_secs(120);

/// The browser, or `None` (and a message) when it may be skipped.
fn browser_paths() -> Option<BrowserPaths> {
    match BrowserPaths::find() {
        Some(paths) => Some(paths),
        None if std::env::var_os("REQUIRE_BROWSER").is_some() => panic!(
            "REQUIRE_BROWSER is set but chromium or chromedriver is not installed \
             (apt-get install chromium chromium-driver)"
        ),
        None => {
            eprintln!(
                "SKIPPED: the browser tests need Debian's chromium and chromium-driver \
                 (./infra/scripts/test.sh installs them; set REQUIRE_BROWSER=1 to fail instead)"
            );
            None
        }
    }
}

/// `personio-sync demo --admin-page`, killed when dropped.
struct Demo {
    child: Child,
    /// `http://127.0.0.1:<port>`
    origin: String,
    /// The Learn Amp sandbox's API Base URL, client id and secret, as the demo prints them.
    learnamp: [String; 3],
}

impl Demo {
    fn start() -> Self {
        let mut child = Command::new(BIN)
            // Port 0: a free port, so that the tests' demos run side by side.
            .args([
                "demo",
                "--admin-page",
                "--admin-port",
                "0",
                "--employees",
                "30",
            ])
            .env("ADMIN_LINK_KEY", KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the demo starts");
        let stdout = child.stdout.take().expect("stdout");
        let (found, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            const WANTED: [&str; 4] = [
                "Integration page: ",
                "Learn Amp API Base URL: ",
                "Learn Amp client id: ",
                "Learn Amp client secret: ",
            ];
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                for (i, prefix) in WANTED.iter().enumerate() {
                    if let Some(value) = line.trim().strip_prefix(prefix) {
                        let _ = found.send((i, value.trim().to_string()));
                    }
                }
            }
        });
        let mut values: [String; 4] = Default::default();
        while values.iter().any(String::is_empty) {
            let (i, value) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the demo prints its integration page and Learn Amp sandbox");
            values[i] = value;
        }
        let [origin, url, id, secret] = values;
        Self {
            child,
            origin: origin.trim_end_matches('/').to_string(),
            learnamp: [url, id, secret],
        }
    }

    /// A signed admin link for `tenant`, valid for `valid_secs` (negative: already expired).
    fn link(&self, tenant: &str, valid_secs: i64, key: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let expires = (now + valid_secs).to_string();
        let nonce = format!("{:032x}", rand::random::<u128>());
        let message = format!("personio-sync-admin-link/v1\n{tenant}\n{expires}\n{nonce}");
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(message.as_bytes());
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{}/enter?tenant={tenant}&expires={expires}&nonce={nonce}&sig={sig}",
            self.origin
        )
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SCREENSHOT_DIR")?);
    let dir = if dir.is_relative() {
        // Relative to the workspace root, not to this crate.
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir)
    } else {
        dir
    };
    std::fs::create_dir_all(&dir).expect("SCREENSHOT_DIR can be made");
    Some(dir)
}

/// Scrolls `css` to the top of the window and saves a screenshot as `name`, when asked to.
async fn shot(browser: &Browser, css: &str, name: &str) {
    let Some(dir) = screenshot_dir() else { return };
    browser
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); \
             document.activeElement && document.activeElement.blur();",
            vec![serde_json::json!(css)],
        )
        .await
        .expect("scrolls");
    browser
        .screenshot(&dir.join(name))
        .await
        .expect("screenshot written");
}

async fn count(browser: &Browser, list: &str, key: &str) -> i64 {
    let text = browser
        .text(&format!("{list} li[data-count='{key}'] strong"))
        .await
        .unwrap_or_default();
    text.trim().parse().unwrap_or(-1)
}

/// The whole journey: admin link → connect in Kombo's page → Learn Amp credentials → "Delay
/// until their hire date" → preview → Import all → counts and the one employee in error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_configures_previews_and_imports() {
    let Some(paths) = browser_paths() else { return };
    let started = Instant::now();
    let demo = Demo::start();
    let driver = Chromedriver::start(&paths).await.expect("chromedriver");
    let browser = Browser::start(&driver, &paths, 1280, 1000)
        .await
        .expect("chromium");

    // Entering: the link becomes a session and the page loads.
    browser.goto(&demo.link(TENANT, 600, KEY)).await.unwrap();
    browser.find("body[data-ready]", STEP).await.unwrap();
    browser
        .wait_for_text("#connection-status", "isn't connected", STEP)
        .await
        .unwrap();
    shot(&browser, "body", "admin-page-not-connected.png").await;

    // Connect through the Kombo sandbox's stand-in page, in the overlay's iframe.
    browser
        .type_into("#connect-email", "it-admin@acme.example", STEP)
        .await
        .unwrap();
    browser
        .type_into("#connect-org", "ACME GmbH", STEP)
        .await
        .unwrap();
    browser.click("#connect", STEP).await.unwrap();
    browser.enter_frame("#kombo-frame", STEP).await.unwrap();
    browser.click(CONNECT_BUTTON, STEP).await.unwrap();
    browser.leave_frames().await.unwrap();
    browser
        .wait_for_text("#connection-status", "Personio is connected", STEP)
        .await
        .unwrap();

    // Learn Amp credentials: checked with Learn Amp, saved, the secret not shown back.
    let [url, id, secret] = &demo.learnamp;
    browser.type_into("#la-base-url", url, STEP).await.unwrap();
    browser.type_into("#la-client-id", id, STEP).await.unwrap();
    browser
        .type_into("#la-client-secret", secret, STEP)
        .await
        .unwrap();
    browser.click("#save-learnamp", STEP).await.unwrap();
    browser
        .wait_for_text("#learnamp-status", "Saved", STEP)
        .await
        .unwrap();
    assert_eq!(demo_value(&browser, "la-client-secret").await, "");

    // Settings: "Delay until their hire date".
    browser
        .click("input[name='invite_policy'][value='on_hire_date']", STEP)
        .await
        .unwrap();
    browser.click("#save-settings", STEP).await.unwrap();
    browser
        .wait_for_text("#progress", "Settings saved", STEP)
        .await
        .unwrap();
    shot(&browser, "#connection", "admin-page-connected-settings.png").await;

    // Kombo copies the Personio data first; the page says so and enables the preview when done.
    browser.click("#run-preview", IMPORT).await.unwrap();
    browser
        .wait_for_text("#progress", "Preview ready", STEP)
        .await
        .unwrap();
    let to_create = count(&browser, "#preview-counts", "create").await;
    let deferred = count(&browser, "#preview-counts", "defer").await;
    assert!(
        to_create > 0,
        "the preview creates the company ({to_create})"
    );
    assert!(
        deferred > 0,
        "pre-hires wait for their hire date ({deferred})"
    );
    let items = browser.text("#preview-items").await.unwrap();
    assert!(items.contains("will be created"), "{items}");
    assert!(items.contains("waits"), "{items}");
    shot(&browser, "#preview", "admin-page-preview.png").await;

    // Import all, follow its progress, see the counts and the employee Learn Amp refused.
    browser.click("#import-all", STEP).await.unwrap();
    let done = browser
        .wait_for_text("#import-done-text", "Import finished", IMPORT)
        .await
        .unwrap();
    assert!(done.contains("created"), "{done}");
    assert_eq!(
        count(&browser, "#import-counts", "failed").await,
        1,
        "{done}"
    );
    let errors = browser
        .wait_for_text("#errors-list", "Email is invalid", STEP)
        .await
        .unwrap();
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('#errors-list li').length",
                vec![]
            )
            .await
            .unwrap(),
        1,
        "{errors}"
    );
    let runs = browser.text("#runs-table").await.unwrap();
    assert!(runs.contains("Full import"), "{runs}");
    shot(&browser, "#import", "admin-page-import-done.png").await;

    // On a phone: nothing wider than the screen.
    browser.set_window_size(375, 812).await.unwrap();
    let widths = wait_until("the page laid out at 375 px", STEP, || async {
        let w = browser
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .ok()?;
        let (scroll, inner) = (w[0].as_i64()?, w[1].as_i64()?);
        (inner <= 400).then_some((scroll, inner))
    })
    .await
    .unwrap();
    assert!(
        widths.0 <= widths.1,
        "no horizontal scroll at 375 px: {widths:?}"
    );
    shot(&browser, "#import", "admin-page-phone.png").await;

    browser.quit().await;
    drop(driver);
    drop(demo);
    eprintln!("browser journey: {:.1} s", started.elapsed().as_secs_f64());
}

async fn demo_value(browser: &Browser, id: &str) -> String {
    browser
        .execute(
            "return document.getElementById(arguments[0]).value",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The connection page's button: the admin server's local stand-in (`#connect`) or the Kombo
/// sandbox's (`button[value=connect]`).
const CONNECT_BUTTON: &str = "#connect, button[value='connect']";

const REFUSED: &str = "This link has expired or was already used";

/// Forged, expired and replayed links open nothing; a session is needed for the page; a POST
/// without the CSRF token is refused even with the session cookie; a session sees only its own
/// tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_sessions_csrf_and_tenants_hold_in_the_browser() {
    let Some(paths) = browser_paths() else { return };
    let demo = Demo::start();
    let driver = Chromedriver::start(&paths).await.expect("chromedriver");
    let browser = Browser::start(&driver, &paths, 1280, 900)
        .await
        .expect("chromium");

    // Without a session, the page says to open it from Learn Amp.
    browser.goto(&format!("{}/", demo.origin)).await.unwrap();
    browser
        .wait_for_text("body", "Learn Amp", STEP)
        .await
        .unwrap();
    assert!(
        browser.try_find("#app").await.unwrap().is_none()
            || browser.text("#app").await.unwrap().is_empty()
    );

    // A forged link (another key) and an expired one are refused, with no session.
    for link in [
        demo.link(TENANT, 600, "a-key-that-is-not-the-demo-key-0123456789"),
        demo.link(TENANT, -60, KEY),
        demo.link(TENANT, 3600, KEY), // beyond the 15 minutes a link may live
    ] {
        browser.goto(&link).await.unwrap();
        browser.wait_for_text("body", REFUSED, STEP).await.unwrap();
        let status = fetch_status(&browser, "GET", "/api/session", false).await;
        assert_eq!(status, 401, "{link}");
    }

    // A good link works once; replayed, it is refused.
    let link = demo.link("acme-gmbh", 600, KEY);
    browser.goto(&link).await.unwrap();
    browser.find("body[data-ready]", STEP).await.unwrap();
    let replay = Browser::start(&driver, &paths, 800, 600).await.unwrap();
    replay.goto(&link).await.unwrap();
    replay.wait_for_text("body", REFUSED, STEP).await.unwrap();
    replay.quit().await;

    // With the session cookie but without the CSRF token, a state change is refused.
    assert_eq!(
        fetch_status(&browser, "POST", "/api/import", false).await,
        403
    );
    assert_eq!(
        fetch_status(&browser, "POST", "/api/import", true).await,
        409
    );

    // Another tenant: its own session, its own state only, whatever the first one did.
    browser
        .type_into("#connect-email", "it-admin@acme.example", STEP)
        .await
        .unwrap();
    browser
        .type_into("#connect-org", "ACME", STEP)
        .await
        .unwrap();
    browser.click("#connect", STEP).await.unwrap();
    browser.enter_frame("#kombo-frame", STEP).await.unwrap();
    browser.click(CONNECT_BUTTON, STEP).await.unwrap();
    browser.leave_frames().await.unwrap();
    browser
        .wait_for_text("#connection-status", "Personio is connected", STEP)
        .await
        .unwrap();
    browser
        .goto(&demo.link("globex-ltd", 600, KEY))
        .await
        .unwrap();
    browser.find("body[data-ready]", STEP).await.unwrap();
    browser
        .wait_for_text("#connection-status", "isn't connected", STEP)
        .await
        .unwrap();
    let session = browser
        .execute(
            "return fetch('/api/session', {credentials: 'same-origin'}).then(r => r.json())",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(session["tenant_id"], "globex-ltd");

    browser.quit().await;
}

/// The status of `method path` fetched by the page itself (same origin, its cookie), with or
/// without the CSRF token of its session.
async fn fetch_status(browser: &Browser, method: &str, path: &str, csrf: bool) -> i64 {
    let script = "const [method, path, csrf] = arguments; \
        const headers = {}; \
        if (csrf) { \
          const s = await fetch('/api/session', {credentials: 'same-origin'}); \
          headers['X-CSRF-Token'] = (await s.json()).csrf_token; \
        } \
        const r = await fetch(path, {method, headers, credentials: 'same-origin'}); \
        return r.status;";
    let wrapped = format!("return (async () => {{ {script} }})(...arguments)");
    browser
        .execute(
            &wrapped,
            vec![
                serde_json::json!(method),
                serde_json::json!(path),
                serde_json::json!(csrf),
            ],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap_or(-1)
}
