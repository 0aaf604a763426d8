//! `personio-sync demo`: the whole job on one machine, in a minute.
//!
//! 1. starts the Kombo and Learn Amp sandboxes and a local webhook receiver;
//! 2. runs a full sync of a generated company (the first import);
//! 3. runs it again, unchanged: no Learn Amp writes;
//! 4. makes four Personio changes (a joiner, a job-title change, a department move, a leaver),
//!    which reach the runner as a signed Kombo `data-changed` webhook, and runs the delta sync
//!    that webhook asked for.

use crate::local::{LocalSandboxes, INTEGRATION_ID};
use crate::output;
use crate::sync_cmd::{LocalRunner, EXIT_FAILED, EXIT_OK};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{Duration, Utc};
use clap::Args;
use sandbox::kombo::EmbeddedGroup;
use sandbox::KomboEmployee;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use sync_core::intake::{kombo_intake, Intake};
use sync_core::messages::SyncRequest;
use sync_core::report::SyncMode;
use sync_core::webhook::{kombo_signature, KOMBO_SIGNATURE_HEADER};
use sync_core::{InvitePolicy, RunOptions, TenantSettings};
use tokio::sync::mpsc;

const WEBHOOK_SECRET: &[u8] = b"demo-kombo-webhook-secret";

#[derive(Args)]
pub struct DemoArgs {
    /// Employees of the generated company
    #[arg(long, default_value_t = 60)]
    employees: usize,
    /// Seed of the generated company
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Instead of the scripted steps, serve the integration page on 127.0.0.1 and print an
    /// admin link to it: connect Personio, settings, preview and import, in the browser
    #[arg(long)]
    admin_page: bool,
    /// The integration page's port with --admin-page (0 = any free port)
    #[arg(long, default_value_t = 8787, requires = "admin_page")]
    admin_port: u16,
}

/// The local webhook receiver: verifies, deduplicates on the event id, queues a sync request.
struct Receiver {
    seen: Mutex<HashSet<String>>,
    requests: mpsc::UnboundedSender<SyncRequest>,
}

async fn receive_kombo(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get(KOMBO_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    match kombo_intake(&[WEBHOOK_SECRET], &body, signature, |t| t == INTEGRATION_ID) {
        Err(sync_core::webhook::WebhookError::BadSignature) => StatusCode::UNAUTHORIZED,
        Err(_) => StatusCode::BAD_REQUEST,
        Ok((event, Intake::Sync(request))) => {
            if receiver.seen.lock().expect("lock").insert(event.id.clone()) {
                let _ = receiver.requests.send(request);
            }
            StatusCode::OK
        }
        Ok(_) => StatusCode::OK,
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

pub async fn run(args: DemoArgs) -> u8 {
    if args.admin_page {
        return crate::demo_admin::run(args.employees, args.seed, args.admin_port).await;
    }
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let company = sandbox::generate_company(args.employees, args.seed, today);
    let sandboxes = match LocalSandboxes::start(company, 0, 0).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("personio-sync: cannot start the sandboxes on 127.0.0.1: {e}");
            return EXIT_FAILED;
        }
    };
    let state_dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("personio-sync: cannot create a temporary state directory: {e}");
            return EXIT_FAILED;
        }
    };
    let mut settings = TenantSettings::new(INTEGRATION_ID);
    settings.invite_policy = InvitePolicy::OnHireDate;
    let config = sandboxes.sync_config(settings.clone(), state_dir.path().to_path_buf());
    let runner = match LocalRunner::new(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("personio-sync: {}", e.0);
            return EXIT_FAILED;
        }
    };
    let code = match demo(&sandboxes, &runner, &settings).await {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("personio-sync: demo failed: {message}");
            EXIT_FAILED
        }
    };
    sandboxes.shutdown().await;
    code
}

async fn demo(
    sandboxes: &LocalSandboxes,
    runner: &LocalRunner,
    settings: &TenantSettings,
) -> Result<(), String> {
    println!("personio-sync demo: Personio (through Kombo) → Learn Amp, all on 127.0.0.1");
    println!("  Kombo sandbox      {}", sandboxes.kombo_server.base_url);
    println!(
        "  Learn Amp sandbox  {}",
        sandboxes.learnamp_server.base_url
    );

    let (tx, mut requests) = mpsc::unbounded_channel();
    let receiver = Arc::new(Receiver {
        seen: Mutex::new(HashSet::new()),
        requests: tx,
    });
    let app = Router::new()
        .route("/webhooks/kombo", post(receive_kombo))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| e.to_string())?;
    let webhook_url = format!(
        "http://{}/webhooks/kombo",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    println!("  Webhook receiver   {webhook_url}");

    let full = RunOptions::default();
    step("1. First import: a full sync of the whole company");
    let first = runner.run(&full).await.map_err(|e| e.to_string())?;
    output::print_summary(&first, settings, 5);

    step("2. The same sync again, with nothing changed in Personio");
    let second = runner.run(&full).await.map_err(|e| e.to_string())?;
    output::print_summary(&second, settings, 5);

    step("3. Changes in Personio: a joiner, a new job title, a department move, a leaver");
    let changes = make_changes(sandboxes)?;
    for line in &changes {
        println!("  {line}");
    }

    let event = serde_json::json!({
        "id": format!("demo-event-{}", Utc::now().timestamp_millis()),
        "type": "data-changed",
        "data": {
            "integration_id": INTEGRATION_ID,
            "integration_tool": "personio",
            "integration_category": "HRIS",
            "changed_models": [{"name": "hris_employees"}, {"name": "hris_join_employees_teams"}]
        }
    });
    let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let forged = http
        .post(&webhook_url)
        .header(
            KOMBO_SIGNATURE_HEADER,
            kombo_signature(b"not-the-secret", &body),
        )
        .body(body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "  a forged webhook (wrong secret)       → HTTP {}",
        forged.status().as_u16()
    );
    for attempt in ["Kombo sends data-changed", "Kombo delivers it again "] {
        let response = http
            .post(&webhook_url)
            .header(
                KOMBO_SIGNATURE_HEADER,
                kombo_signature(WEBHOOK_SECRET, &body),
            )
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "  {attempt} (signed)       → HTTP {}",
            response.status().as_u16()
        );
    }

    step("4. The delta sync the webhook asked for");
    let mut runs = 0;
    while let Ok(request) = requests.try_recv() {
        runs += 1;
        println!(
            "  sync request for {} (event {})",
            request.tenant, request.event_id
        );
        let delta = RunOptions {
            mode: SyncMode::Delta,
            ..RunOptions::default()
        };
        let report = runner.run(&delta).await.map_err(|e| e.to_string())?;
        output::print_summary(&report, settings, output::SHOWN_ACTIONS);
    }
    println!("  {runs} sync run(s) for 2 deliveries of the same event (deduplicated on its id)");

    let snapshot = sandboxes.learnamp.snapshot();
    let active = snapshot
        .users
        .iter()
        .filter(|u| u.status != "deactivated")
        .count();
    let invited: u32 = snapshot.users.iter().map(|u| u.invitations_sent).sum();
    step("Learn Amp now");
    println!(
        "  {} users ({} active, {} deactivated), {} teams, {} invitations sent",
        snapshot.users.len(),
        active,
        snapshot.users.len() - active,
        snapshot.teams.len(),
        invited
    );
    println!("\nTry it yourself: `personio-sync sandbox` serves both sandboxes, `personio-sync sync --help` runs a sync.");

    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

/// Applies four changes to the Kombo sandbox, as Personio edits would arrive there.
fn make_changes(sandboxes: &LocalSandboxes) -> Result<Vec<String>, String> {
    let kombo = &sandboxes.kombo;
    let employees = kombo.employees();
    let managers: HashSet<String> = employees
        .iter()
        .filter_map(|e| e.manager_id.clone())
        .collect();
    let mut regulars = employees.iter().filter(|e| {
        e.employment_status.as_deref() == Some("ACTIVE")
            && e.termination_date.is_none()
            && e.remote_deleted_at.is_none()
            && !managers.contains(&e.id)
            && e.groups
                .iter()
                .any(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
    });
    let (Some(retitled), Some(mover), Some(leaver)) =
        (regulars.next(), regulars.next(), regulars.next())
    else {
        return Err(
            "the generated company is too small for the demo; use --employees 20 or more".into(),
        );
    };
    let department_of = |e: &KomboEmployee| {
        e.groups
            .iter()
            .find(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
            .cloned()
    };
    let from = department_of(mover).ok_or("mover has no department")?;
    let to: EmbeddedGroup = kombo
        .groups()
        .into_iter()
        .find(|g| g.r#type.as_deref() == Some("DEPARTMENT") && g.id != from.id)
        .map(|g| EmbeddedGroup {
            id: g.id,
            remote_id: g.remote_id,
            name: g.name,
            r#type: g.r#type,
        })
        .ok_or("the company has a single department")?;

    let mut lines = Vec::new();
    kombo.update_employee(&retitled.id, |e| {
        e.job_title = Some("Head of Learning Experience".into())
    });
    lines.push(format!("job title changed:  employee {}", retitled.id));

    let (from_name, to_name) = (
        from.name.clone().unwrap_or_default(),
        to.name.clone().unwrap_or_default(),
    );
    kombo.update_employee(&mover.id, |e| {
        e.groups
            .retain(|g| g.r#type.as_deref() != Some("DEPARTMENT"));
        e.groups.push(to);
    });
    lines.push(format!(
        "department move:    employee {} from {from_name} to {to_name}",
        mover.id
    ));

    let yesterday = Utc::now() - Duration::days(1);
    kombo.update_employee(&leaver.id, |e| {
        e.employment_status = Some("INACTIVE".into());
        e.termination_date = Some(yesterday);
    });
    lines.push(format!(
        "leaver:             employee {} (terminated yesterday)",
        leaver.id
    ));

    let mut joiner = retitled.clone();
    joiner.id = "DemoJoiner0000000000000001".into();
    joiner.remote_id = "90001".into();
    joiner.first_name = Some("Grace".into());
    joiner.last_name = Some("Hopper".into());
    joiner.display_full_name = Some("Grace Hopper".into());
    joiner.work_email = Some("grace.hopper@acme.example".into());
    joiner.job_title = Some("Compiler Engineer".into());
    joiner.start_date = Some(yesterday);
    kombo.upsert_employee(joiner.clone());
    lines.push(format!(
        "joiner:             employee {} (started yesterday)",
        joiner.id
    ));
    Ok(lines)
}
