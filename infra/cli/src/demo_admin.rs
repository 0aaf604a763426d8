//! `personio-sync demo --admin-page`: instead of the scripted steps, the integration page on
//! 127.0.0.1 (the admin server of `personio-sync admin serve`: [`LocalAdmin`], [`serve_local`])
//! over the demo's company, and an admin link to open it, so that a newcomer clicks through the
//! whole journey: connect Personio (in the Kombo sandbox's connection page; its setup takes a few
//! seconds), Learn Amp credentials, settings, preview, Import all.
//!
//! The company has one pre-hire whose start date is two weeks ahead (so "Delay until their hire
//! date" has someone to delay) and one employee whose work email is mistyped (so the page shows
//! how an employee Learn Amp refuses looks). The link key is `ADMIN_LINK_KEY` when set (the
//! browser test mints its own links with it), else the state directory's local key.

use crate::admin_cmd::local_key;
use crate::admin_local::{serve_local, LocalAdmin, LOCAL_SETUP_DELAY};
use crate::local::{LEARNAMP_CLIENT_ID, LEARNAMP_CLIENT_SECRET};
use crate::sync_cmd::{EXIT_FAILED, EXIT_OK};
use chrono::{Duration, Utc};

/// The tenant the printed link opens.
const TENANT: &str = "demo";

pub async fn run(employees: usize, seed: u64, port: u16) -> u8 {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let mut company = sandbox::generate_company(employees, seed, today);
    // Skip the first employees (the CEO and the heads, who manage the others).
    let mut plain = company.employees.iter_mut().skip(employees / 3);
    if let Some(pre_hire) = plain.next() {
        pre_hire.employment_status = Some("PENDING".into());
        pre_hire.start_date = (today + Duration::days(14))
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc());
        pre_hire.termination_date = None;
    }
    if let Some(mistyped) = plain.next() {
        mistyped.work_email = Some("mistyped.email(at)acme.example".into());
    }
    let state = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("personio-sync: cannot make a temporary state directory: {e}");
            return EXIT_FAILED;
        }
    };
    let key = match std::env::var("ADMIN_LINK_KEY") {
        Ok(key) if key.len() >= 32 => key.into_bytes(),
        _ => match local_key(state.path()) {
            Ok(key) => key,
            Err(e) => {
                eprintln!("personio-sync: {e}");
                return EXIT_FAILED;
            }
        },
    };
    let local = match LocalAdmin::start(company, state.path(), key.clone()).await {
        Ok(local) => local,
        Err(e) => {
            eprintln!("personio-sync: {e}");
            return EXIT_FAILED;
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "personio-sync: cannot listen on 127.0.0.1:{port}: {e} (try another --admin-port)"
            );
            return EXIT_FAILED;
        }
    };
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let link = admin_fn::link::mint(&key, &base_url, TENANT, Duration::minutes(15), Utc::now());
    println!("== The integration page, on 127.0.0.1 (no AWS account)");
    println!("Integration page: {base_url}/");
    println!(
        "Kombo sandbox: {}  (a new connection's setup takes {} s; control API /_sandbox/*)",
        local.sandboxes.kombo_server.base_url,
        LOCAL_SETUP_DELAY.as_secs()
    );
    println!(
        "Learn Amp API Base URL: {}",
        local.sandboxes.learnamp_server.base_url
    );
    println!("Learn Amp client id: {LEARNAMP_CLIENT_ID}");
    println!("Learn Amp client secret: {LEARNAMP_CLIENT_SECRET}");
    println!("\nOpen this admin link (it works once, for 15 minutes):\n\n{link}\n");
    println!(
        "More links: personio-sync admin-link --tenant {TENANT} --base-url {base_url} --state {}",
        state.path().display()
    );
    println!("Press Ctrl-C to stop.");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve_local(listener, local, &base_url, shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("personio-sync: the admin server stopped: {e}");
            EXIT_FAILED
        }
    }
}
