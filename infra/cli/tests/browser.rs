//! The integration page in a real browser (headless Chromium through chromedriver), against the
//! local stack a newcomer gets from `personio-sync demo --admin-page`: the Kombo sandbox with its
//! connection flow (its stand-in connection page, its lifecycle webhooks to the webhook
//! function's handler), the Learn Amp sandbox, and the admin function's handler over the
//! embedded store, all on 127.0.0.1. The test steers the Kombo sandbox through its control API
//! (`/_sandbox/*`): when Kombo's setup finishes, when a connection breaks.
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
use std::sync::mpsc::Receiver;
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
    /// The Kombo sandbox's origin (its control API is under `/_sandbox/`).
    kombo: String,
    /// What the demo says of the webhooks it received and the imports it ran, line by line.
    events: Receiver<String>,
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
        let (event, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            const WANTED: [&str; 5] = [
                "Integration page: ",
                "Learn Amp API Base URL: ",
                "Learn Amp client id: ",
                "Learn Amp client secret: ",
                "Kombo sandbox: ",
            ];
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let line = line.trim();
                if line.starts_with("Kombo webhook ") || line.starts_with("import of tenant ") {
                    let _ = event.send(line.to_string());
                }
                for (i, prefix) in WANTED.iter().enumerate() {
                    if let Some(value) = line.strip_prefix(prefix) {
                        let value = value.split_whitespace().next().unwrap_or_default();
                        let _ = found.send((i, value.to_string()));
                    }
                }
            }
        });
        let mut values: [String; 5] = Default::default();
        while values.iter().any(String::is_empty) {
            let (i, value) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the demo prints its integration page and both sandboxes");
            values[i] = value;
        }
        let [origin, url, id, secret, kombo] = values;
        Self {
            child,
            origin: origin.trim_end_matches('/').to_string(),
            learnamp: [url, id, secret],
            // The API is under /v1; the control API and the connection page at the root.
            kombo: kombo
                .trim_end_matches('/')
                .trim_end_matches("/v1")
                .to_string(),
            events,
        }
    }

    /// The next line the demo prints that starts with `prefix` (earlier other lines are
    /// passed over), waiting at most `bound`.
    fn next_event(&self, prefix: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("the demo never said '{prefix}…' ({e})"),
            }
        }
    }

    /// A call to the Kombo sandbox's control API; its JSON answer.
    async fn kombo_control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.kombo));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the Kombo sandbox answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    /// The lifecycle webhooks the Kombo sandbox sent: `(type, the receiver's status)`.
    async fn webhooks_sent(&self) -> Vec<(String, i64)> {
        let sent = self
            .kombo_control(reqwest::Method::GET, "/_sandbox/webhooks", None)
            .await;
        sent["webhooks"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|w| {
                (
                    w["type"].as_str().unwrap_or_default().to_string(),
                    w["delivered"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
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

/// The whole journey: admin link → connect in Kombo's page (its `integration-created` webhook
/// binds the tenant) → Kombo's setup pending: "waiting", nothing imports → setup done →
/// Learn Amp credentials → "Delay until their hire date" → preview → Import all → counts and the
/// one employee in error → the connection breaks (`INVALID`) → Reconnect → Disconnect.
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

    // Connect through the Kombo sandbox's connection page, in the overlay's iframe. Kombo's
    // setup of the new connection finishes when this test says so.
    demo.kombo_control(
        reqwest::Method::PUT,
        "/_sandbox/setup-delay",
        Some(serde_json::json!({"ms": null})),
    )
    .await;
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
    // Kombo told the webhook handler, which bound the integration to this tenant.
    assert!(demo
        .next_event("Kombo webhook integration-created:", STEP)
        .ends_with("200 bound"));
    assert_eq!(
        demo.webhooks_sent().await,
        [("integration-created".to_string(), 200)]
    );

    // Kombo's setup is pending: the page says it waits, and nothing can be imported.
    browser
        .wait_for_text("#connection-status", "Kombo is still setting it up", STEP)
        .await
        .unwrap();
    let detail = browser.text("#connection-detail").await.unwrap();
    assert!(detail.contains("waiting"), "{detail}");
    assert_eq!(
        fetch_status(&browser, "POST", "/api/import", true).await,
        409
    );
    assert_eq!(
        fetch_status(&browser, "POST", "/api/preview", true).await,
        409
    );
    assert_eq!(
        browser
            .execute(
                "return [document.getElementById('import-all').disabled, \
                         document.getElementById('run-preview').disabled]",
                vec![]
            )
            .await
            .unwrap(),
        serde_json::json!([true, true])
    );
    let integration_id = status_of(&browser).await["connection"]["integration_id"]
        .as_str()
        .expect("bound")
        .to_string();

    // Kombo finishes its setup: the page sees it by itself. The first import the webhook
    // queues (unless the page's own status check got there first) waits for Learn Amp's account.
    demo.kombo_control(
        reqwest::Method::PATCH,
        &format!("/_sandbox/integrations/{integration_id}"),
        Some(serde_json::json!({"setup_status": "COMPLETED"})),
    )
    .await;
    let completed = demo.next_event("Kombo webhook integration-state-changed:", STEP);
    if completed.ends_with("200 queued") {
        let skipped = demo.next_event("import of tenant demo:", STEP);
        assert!(skipped.contains("no Learn Amp account"), "{skipped}");
    } else {
        assert!(completed.ends_with("200 recorded"), "{completed}");
    }
    browser
        .wait_for_text("#connection-status", "Everything is ready", STEP)
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

    // Preview: what the first import will do, changing nothing.
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

    // Nothing was written by itself: the page says the import waits for the admin.
    let hint = browser.text("#import-hint").await.unwrap();
    assert!(
        hint.contains("Nothing is written to Learn Amp until you press"),
        "{hint}"
    );

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
    browser.set_window_size(1280, 1000).await.unwrap();

    // The Personio connection breaks (Kombo marks it INVALID): the page offers to reconnect,
    // imports wait, and reconnecting in Kombo's page makes it work again.
    demo.kombo_control(
        reqwest::Method::PATCH,
        &format!("/_sandbox/integrations/{integration_id}"),
        Some(serde_json::json!({"status": "INVALID"})),
    )
    .await;
    assert!(demo
        .next_event("Kombo webhook integration-state-changed:", STEP)
        .ends_with("200 recorded"));
    browser.goto(&format!("{}/", demo.origin)).await.unwrap();
    browser
        .wait_for_text("#connection-status", "stopped working", STEP)
        .await
        .unwrap();
    assert_eq!(
        fetch_status(&browser, "POST", "/api/import", true).await,
        409
    );
    browser.click("#reconnect", STEP).await.unwrap();
    browser.enter_frame("#kombo-frame", STEP).await.unwrap();
    let heading = browser.text("h1").await.unwrap();
    assert_eq!(heading, "Reconnect Personio");
    browser.click(CONNECT_BUTTON, STEP).await.unwrap();
    browser.leave_frames().await.unwrap();
    browser
        .wait_for_text("#connection-status", "Everything is ready", STEP)
        .await
        .unwrap();
    let status = status_of(&browser).await;
    assert_eq!(
        status["connection"]["integration_id"],
        integration_id.as_str()
    );
    assert_eq!(status["connection"]["status"], "ACTIVE");
    assert_eq!(status["ready_to_import"], true);

    // Disconnect: confirmed, the integration is deleted at Kombo, whose webhook says so.
    browser.click("#disconnect", STEP).await.unwrap();
    let question = browser.accept_alert(STEP).await.unwrap();
    assert!(question.contains("Disconnect Personio"), "{question}");
    browser
        .wait_for_text("#connection-status", "isn't connected", STEP)
        .await
        .unwrap();
    assert!(demo
        .next_event("Kombo webhook integration-deleted:", STEP)
        .starts_with("Kombo webhook integration-deleted: 200"));
    let left = demo
        .kombo_control(reqwest::Method::GET, "/_sandbox/integrations", None)
        .await;
    assert!(
        !left.to_string().contains(&integration_id),
        "deleted at Kombo"
    );
    assert_eq!(
        fetch_status(&browser, "POST", "/api/import", true).await,
        409
    );

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

/// The Kombo sandbox's connection page's button ("Connect", or "Reconnect" for a relink).
const CONNECT_BUTTON: &str = "button[value='connect']";

/// `GET /api/status`, fetched by the page itself.
async fn status_of(browser: &Browser) -> serde_json::Value {
    browser
        .execute(
            "return fetch('/api/status', {credentials: 'same-origin'}).then(r => r.json())",
            vec![],
        )
        .await
        .unwrap()
}

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
