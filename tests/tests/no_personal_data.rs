//! No name or email of the company reaches a log line or the stored state. One end-to-end life
//! of a tenant (first import adopting users made by hand, a Learn Amp rejection, a rename, a
//! move, a leaver, a delta and a reconcile) runs with every log line of every crate captured at
//! DEBUG, and the capture and the state directory are searched for every name and email of the
//! fixture. Its own test binary: the log capture is process-wide.

use e2e::Harness;
use sandbox::learnamp::SeedUser;
use std::io::Write;
use std::sync::{Arc, Mutex};
use sync_core::report::SyncMode;
use sync_core::{InvitePolicy, RunOptions};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every personal string of the company: names and emails, and the emails' local parts (a log
/// that cut an address at the `@` would still name the person).
fn personal_strings(h: &Harness) -> Vec<String> {
    let mut out = Vec::new();
    for e in h.kombo.employees() {
        for value in [
            &e.first_name,
            &e.last_name,
            &e.work_email,
            &e.display_full_name,
        ]
        .into_iter()
        .flatten()
        {
            out.push(value.clone());
        }
        if let Some(email) = &e.work_email {
            out.push(email.split('@').next().unwrap_or_default().to_string());
        }
    }
    out.retain(|s| s.len() >= 4);
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_name_or_email_reaches_a_log_line_or_the_state() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .init();

    let h = Harness::generated(80, 21, Harness::settings(InvitePolicy::Immediately)).await;
    let employees = h.kombo.employees();
    // Users made by hand before the integration: adopted by email (a lookup by email).
    for e in employees.iter().filter(|e| e.work_email.is_some()).take(5) {
        h.learnamp.seed_user(SeedUser {
            email: e.work_email.clone().unwrap(),
            first_name: e.first_name.clone().unwrap_or_default(),
            last_name: e.last_name.clone().unwrap_or_default(),
            integration_external_id: None,
            deactivated: false,
        });
    }
    // An address Learn Amp refuses: its error is logged and recorded.
    let rejected = employees[10].id.clone();
    h.kombo
        .update_employee(&rejected, |e| e.work_email = Some("broken-address".into()));
    h.full().await;

    let movers: Vec<String> = employees[20..23].iter().map(|e| e.id.clone()).collect();
    h.kombo
        .update_employee(&movers[0], |e| e.job_title = Some("Principal".into()));
    h.kombo
        .update_employee(&movers[1], |e| e.last_name = Some("Renamed-Surname".into()));
    h.kombo.update_employee(&movers[2], |e| {
        e.employment_status = Some("INACTIVE".into())
    });
    let options = RunOptions {
        today: Some(e2e::today()),
        ..RunOptions::default()
    };
    h.run(&RunOptions {
        mode: SyncMode::Delta,
        ..options.clone()
    })
    .await;
    h.run(&RunOptions {
        mode: SyncMode::Reconcile,
        ..options
    })
    .await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 50,
        "the capture holds the run's logs: {} lines",
        logs.lines().count()
    );
    let mut state = String::new();
    for entry in std::fs::read_dir(h.state_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            state.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    assert!(!state.is_empty(), "the state was written");
    let mut personal = personal_strings(&h);
    personal.push("broken-address".into());
    personal.push("Renamed-Surname".into());
    for value in &personal {
        assert!(!logs.contains(value.as_str()), "a log line holds {value:?}");
        assert!(!state.contains(value.as_str()), "the state holds {value:?}");
    }
    h.stop().await;
}
