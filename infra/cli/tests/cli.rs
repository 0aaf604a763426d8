//! The `personio-sync` binary as an operator uses it: flags and environment, exit codes, the
//! JSON report, dry runs, and the sandbox command.

use sandbox::learnamp::SeedUser;
use sandbox::{KomboSandbox, LearnAmpSandbox, RunningServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_personio-sync");
const VARS: [&str; 8] = [
    "KOMBO_BASE_URL",
    "KOMBO_API_KEY",
    "KOMBO_INTEGRATION_ID",
    "LEARNAMP_BASE_URL",
    "LEARNAMP_CLIENT_ID",
    "LEARNAMP_CLIENT_SECRET",
    "INVITE_POLICY",
    "PERSONIO_SYNC_STATE",
];

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

struct Env {
    kombo: KomboSandbox,
    learnamp: LearnAmpSandbox,
    servers: Vec<RunningServer>,
    state: tempfile::TempDir,
}

impl Env {
    async fn start(employees: usize) -> Self {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let kombo = KomboSandbox::new(
            "key",
            "personio:cli",
            sandbox::generate_company(employees, 5, today),
        );
        let learnamp = LearnAmpSandbox::new("id", "secret");
        let servers = vec![
            kombo.start(0).await.unwrap(),
            learnamp.start(0).await.unwrap(),
        ];
        Self {
            kombo,
            learnamp,
            servers,
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn sync(&self, extra: &[&str]) -> Command {
        self.sync_in(self.state.path(), extra)
    }

    fn sync_in(&self, state: &std::path::Path, extra: &[&str]) -> Command {
        let mut cmd = command();
        cmd.arg("sync")
            .env("KOMBO_BASE_URL", &self.servers[0].base_url)
            .env("KOMBO_API_KEY", "key")
            .env("KOMBO_INTEGRATION_ID", "personio:cli")
            .env("LEARNAMP_BASE_URL", &self.servers[1].base_url)
            .env("LEARNAMP_CLIENT_ID", "id")
            .env("LEARNAMP_CLIENT_SECRET", "secret")
            .args(["--state", state.to_str().unwrap(), "--today", "2026-11-22"])
            .args(extra);
        cmd
    }

    async fn output(&self, extra: &[&str]) -> Output {
        let mut cmd = self.sync(extra);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn stop(self) {
        for s in self.servers {
            s.shutdown().await;
        }
    }
}

fn report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn missing_configuration_exits_2_naming_the_flag_and_variable() {
    let out = command().arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("--kombo-url") && err.contains("KOMBO_BASE_URL"),
        "{err}"
    );

    let out = command()
        .args([
            "sync",
            "--kombo-url",
            "http://127.0.0.1:1/v1",
            "--kombo-api-key",
            "k",
            "--integration-id",
            "personio:x",
        ])
        .args([
            "--learnamp-url",
            "http://127.0.0.1:1",
            "--learnamp-client-id",
            "i",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("LEARNAMP_CLIENT_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_values_exit_2_naming_the_flag() {
    let base = [
        "sync",
        "--kombo-url",
        "http://127.0.0.1:1/v1",
        "--kombo-api-key",
        "k",
        "--integration-id",
        "personio:x",
        "--learnamp-url",
        "http://127.0.0.1:1",
        "--learnamp-client-id",
        "i",
        "--learnamp-client-secret",
        "s",
    ];
    for (extra, flag) in [
        (vec!["--invite-policy", "sometimes"], "--invite-policy"),
        (vec!["--today", "22.11.2026"], "--today"),
        (vec!["--time-zone", "Mars/Olympus"], "--time-zone"),
    ] {
        let out = command().args(base).args(&extra).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&out).contains(flag), "{flag}: {}", stderr(&out));
    }
    let out = command()
        .args(["sync", "--kombo-url", "not a url"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--kombo-url must be an http(s) URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn flag_errors_are_one_line_naming_the_flag() {
    let base = [
        "sync",
        "--kombo-url",
        "http://127.0.0.1:1/v1",
        "--kombo-api-key",
        "k",
        "--integration-id",
        "personio:x",
        "--learnamp-url",
        "http://127.0.0.1:1",
        "--learnamp-client-id",
        "i",
        "--learnamp-client-secret",
        "s",
    ];
    for (extra, flag) in [
        (vec!["--concurrency", "-1"], "--concurrency"),
        (vec!["--concurrency", "many"], "--concurrency"),
        (vec!["--max-run-seconds", "-5"], "--max-run-seconds"),
        (vec!["--today", "2026-3-2"], "--today"),
        (vec!["--today", "26-03-02"], "--today"),
        (vec!["--mode", "sometimes"], "--mode"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ] {
        let out = command().args(base).args(&extra).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: one line: {err}");
        assert!(err.starts_with("personio-sync: "), "{extra:?}: {err}");
        assert!(err.contains(flag), "{extra:?}: names {flag}: {err}");
    }
    // Help is still help.
    let out = command().args(["sync", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--concurrency"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_prints_a_json_report_and_converges() {
    let env = Env::start(50).await;
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = report(&out);
    assert!(first["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(first["dry_run"], false);
    for key in [
        "created",
        "adopted",
        "updated",
        "deactivated",
        "reactivated",
        "unchanged",
        "deferred",
        "failed",
    ] {
        assert!(first["counts"][key].is_u64(), "counts.{key}");
    }
    assert!(first["counts"]["created"].as_u64().unwrap() > 30);
    // Progress goes to stderr as plain lines (stderr is not a terminal here), counts only.
    let progress = stderr(&out);
    let planned = first["counts"]["created"].as_u64().unwrap()
        + first["counts"]["deactivated"].as_u64().unwrap();
    assert!(
        progress.contains(" changes planned") && progress.contains("changes settled (100%)"),
        "{progress}"
    );
    let lines = progress
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .count();
    assert!(
        (3..=14).contains(&lines),
        "a line per tenth, not per change: {lines} for {planned}"
    );
    let action = &first["actions"][0];
    for key in ["employee_id", "action", "learnamp_user_id", "detail"] {
        assert!(action.get(key).is_some(), "actions[].{key}");
    }

    env.learnamp.reset_calls();
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let second = report(&out);
    assert_eq!(second["counts"]["unchanged"].as_u64(), Some(50));
    assert_eq!(env.learnamp.calls().writes(), 0);

    // The human summary names the counts.
    let out = env.output(&[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unchanged 50"), "{text}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_changes_neither_learnamp_nor_the_state() {
    let env = Env::start(20).await;
    let out = env.output(&["--dry-run", "--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = report(&out);
    assert_eq!(plan["dry_run"], true);
    assert!(plan["counts"]["created"].as_u64().unwrap() > 0);
    assert_eq!(env.learnamp.calls().total, 0);
    assert_eq!(
        std::fs::read_dir(env.state.path()).unwrap().count(),
        0,
        "no state written"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_1_and_the_report_says_which_and_why() {
    let env = Env::start(20).await;
    let victim = env
        .kombo
        .employees()
        .into_iter()
        .find(|e| e.employment_status.as_deref() == Some("ACTIVE") && e.termination_date.is_none())
        .unwrap();
    // Learn Amp already has this email on a user linked to someone else.
    env.learnamp.seed_user(SeedUser {
        email: victim.work_email.clone().unwrap(),
        first_name: "Someone".into(),
        last_name: "Else".into(),
        integration_external_id: Some("another-system-42".into()),
        deactivated: false,
    });
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["counts"]["failed"].as_u64(), Some(1));
    let failed: Vec<&serde_json::Value> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "failed")
        .collect();
    assert_eq!(failed[0]["employee_id"].as_str(), Some(victim.id.as_str()));
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("already belongs"),
        "{}",
        failed[0]["detail"]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_deactivation_halts_with_exit_3_until_allowed() {
    let env = Env::start(40).await;
    assert_eq!(env.output(&[]).await.status.code(), Some(0));
    let active: Vec<String> = env
        .kombo
        .employees()
        .into_iter()
        .filter(|e| {
            e.employment_status.as_deref() == Some("ACTIVE") && e.termination_date.is_none()
        })
        .map(|e| e.id)
        .collect();
    for id in active.iter().take(active.len() / 2) {
        env.kombo
            .update_employee(id, |e| e.employment_status = Some("INACTIVE".into()));
    }
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert!(r["halted"].as_str().unwrap().contains("over the limit"));
    assert_eq!(r["counts"]["deactivated"].as_u64(), Some(0));

    let out = env
        .output(&["--report", "json", "--allow-mass-deactivation"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        report(&out)["counts"]["deactivated"].as_u64(),
        Some((active.len() / 2) as u64)
    );
    env.stop().await;
}

#[test]
fn sandbox_serves_both_apis_and_prints_how_to_reach_them() {
    let mut child = command()
        .args(["sandbox", "--employees", "12", "--seed", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains("Press Ctrl-C");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    let find = |var: &str| {
        lines
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("export {var}="))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("{var} not printed: {lines:?}"))
    };
    let learnamp = find("LEARNAMP_BASE_URL");
    let kombo = find("KOMBO_BASE_URL");
    let state = get_json(&format!("{learnamp}/_sandbox/state"));
    assert!(state["users"].is_array());
    let employees = get_json(&format!("{}/_sandbox/state", kombo.trim_end_matches("/v1")));
    assert_eq!(employees["employees"].as_array().map(Vec::len), Some(12));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A GET for the sandbox test, which has no runtime of its own.
fn get_json(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_at_any_point_then_run_again_converges_without_duplicates() {
    // SIGKILL at three points of a first import (early, middle, late, counted in Learn Amp
    // writes), each followed by a run to completion: no duplicate user, nobody invited twice,
    // no change lost.
    for kill_after_writes in [5u64, 60, 140] {
        let env = Env::start(160).await;
        env.learnamp.faults().set_latency(Duration::from_millis(3));
        let mut child = env
            .sync(&["--invite-policy", "immediately", "--report", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while env.learnamp.calls().writes() < kill_after_writes {
            assert!(Instant::now() < deadline, "the run never got that far");
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before the kill"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL: no cleanup, no flush
        child.wait().unwrap();
        let written_before = env.learnamp.calls().writes();

        env.learnamp.faults().clear();
        let out = env
            .output(&["--invite-policy", "immediately", "--report", "json"])
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let snapshot = env.learnamp.snapshot();
        let mut seen = std::collections::HashSet::new();
        for user in &snapshot.users {
            if let Some(id) = &user.integration_external_id {
                assert!(seen.insert(id.clone()), "two users for employee {id}");
            }
            assert!(user.invitations_sent <= 1, "user {} invited twice", user.id);
        }
        let again = env.output(&["--report", "json"]).await;
        let again = report(&again);
        assert_eq!(
            again["counts"]["created"].as_u64().unwrap()
                + again["counts"]["updated"].as_u64().unwrap()
                + again["counts"]["failed"].as_u64().unwrap(),
            0,
            "killed after {written_before} writes: the re-run left nothing undone: {}",
            again["counts"]
        );
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_its_deadline_stops_and_the_next_goes_on() {
    let env = Env::start(120).await;
    // 113 changes, 8 at a time, 150 ms each: about 2 s of work.
    env.learnamp
        .faults()
        .set_latency(Duration::from_millis(150));
    let out = env.output(&["--max-run-seconds", "1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped after --max-run-seconds (1 s); run it again"),
        "{}",
        stderr(&out)
    );
    let done_before = env.learnamp.calls().writes();
    assert!(done_before > 0, "it had started");
    env.learnamp.faults().clear();
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let linked = env
        .learnamp
        .snapshot()
        .users
        .iter()
        .filter(|u| u.integration_external_id.is_some())
        .count();
    let again = report(&env.output(&["--report", "json"]).await);
    assert_eq!(
        again["counts"]["created"], 0,
        "{linked} users, nothing left to do"
    );
    let bad = env.output(&["--max-run-seconds", "0"]).await;
    assert_eq!(bad.status.code(), Some(2));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_refuses_at_once_with_exit_2() {
    let env = Env::start(60).await;
    env.learnamp
        .faults()
        .set_latency(Duration::from_millis(100));
    let mut first = env
        .sync(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.learnamp.calls().writes() == 0 {
        assert!(
            Instant::now() < deadline,
            "the first run never started writing"
        );
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let second = env.output(&["--report", "json"]).await;
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("is in use by another personio-sync run")
            && err.contains(env.state.path().to_str().unwrap()),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    assert!(second.stdout.is_empty(), "no report from the refused run");
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second was refused while the first was still running"
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
    // Once the first is done, the directory is free again.
    env.learnamp.faults().clear();
    let again = env.output(&["--report", "json"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(report(&again)["counts"]["created"], 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_state_directory_exits_2_before_any_learn_amp_call() {
    let env = Env::start(10).await;
    // Tests run as root, for whom a chmod 555 directory is still writable: these truly are not.
    let file = env.state.path().join("a-regular-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let proc_dir = std::path::PathBuf::from("/proc");
    for dir in [file.join("state"), file.clone(), proc_dir] {
        let mut cmd = env.sync_in(&dir, &["--report", "json"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", dir.display());
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("--state {} is not writable", dir.display())),
            "{err}"
        );
        assert_eq!(
            env.learnamp.calls().total,
            0,
            "{}: no Learn Amp call before the state is known to be writable",
            dir.display()
        );
    }
    env.stop().await;
}

fn state_command(sub: &str, dir: &std::path::Path) -> Output {
    command()
        .args(["state", sub, "--state", dir.to_str().unwrap()])
        .output()
        .unwrap()
}

/// What an older build sees after a newer one added a record type.
const UNKNOWN_RECORD: &str = r#"{"format":1,"t":"employee_note","v":{"employee_id":"e9"}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_state_line_stops_the_run_until_repaired() {
    let env = Env::start(20).await;
    assert_eq!(env.output(&[]).await.status.code(), Some(0));
    let log = env.state.path().join("personio_3acli.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let total = lines.len();
    assert!(total > 5);
    // A record shape this build does not know, as the 4th and as the last complete line.
    lines.insert(3, UNKNOWN_RECORD.into());
    lines.push(UNKNOWN_RECORD.into());
    let text = lines.join("\n") + "\n";
    std::fs::write(&log, &text).unwrap();
    let last = total + 2;

    // A change is waiting, so a run that went on would write.
    let someone = env.kombo.employees()[0].id.clone();
    env.kombo
        .update_employee(&someone, |e| e.job_title = Some("Chief Tester".into()));
    env.learnamp.reset_calls();
    let out = env.output(&["--report", "json"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("lines 4, {last} are not records")),
        "{err}"
    );
    assert!(err.contains("personio-sync state repair --state"), "{err}");
    assert!(!err.contains("employee_note"), "no line content: {err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        text,
        "nothing appended"
    );
    assert_eq!(env.learnamp.calls().total, 0, "no Learn Amp call");

    let check = state_command("check", env.state.path());
    assert_eq!(check.status.code(), Some(2));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains(&format!("lines 4, {last} are not")), "{said}");
    assert!(!said.contains("employee_note"), "{said}");

    let repair = state_command("repair", env.state.path());
    let said = String::from_utf8_lossy(&repair.stdout).into_owned();
    assert_eq!(repair.status.code(), Some(0), "{said}{}", stderr(&repair));
    assert!(
        said.contains(&format!("dropped 2 unreadable lines (lines 4, {last})")),
        "{said}"
    );
    assert!(!said.contains("employee_note"), "{said}");
    let backups: Vec<_> = std::fs::read_dir(env.state.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("personio_3acli.jsonl.backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "one backup");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), text);
    assert!(said.contains(backups[0].to_str().unwrap()), "{said}");
    assert_eq!(
        state_command("check", env.state.path()).status.code(),
        Some(0)
    );

    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["counts"]["updated"], 1, "{}", r["counts"]);
    assert_eq!(r["counts"]["created"], 0, "{}", r["counts"]);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_record_of_a_newer_format_is_refused_and_not_repaired() {
    let env = Env::start(10).await;
    assert_eq!(env.output(&[]).await.status.code(), Some(0));
    let log = env.state.path().join("personio_3acli.jsonl");
    let text =
        std::fs::read_to_string(&log)
            .unwrap()
            .replacen(r#"{"format":1,"#, r#"{"format":7,"#, 1);
    std::fs::write(&log, &text).unwrap();
    env.learnamp.reset_calls();
    let out = env.output(&[]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 1 was written by a newer personio-sync (format 7")
            && err.contains("upgrade"),
        "{err}"
    );
    assert_eq!(env.learnamp.calls().total, 0);
    assert_eq!(
        state_command("check", env.state.path()).status.code(),
        Some(2)
    );
    let repair = state_command("repair", env.state.path());
    assert_eq!(repair.status.code(), Some(2), "{}", stderr(&repair));
    assert!(
        stderr(&repair).contains("newer personio-sync"),
        "{}",
        stderr(&repair)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        text,
        "left as it was"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_last_state_line_is_still_dropped_silently() {
    let env = Env::start(10).await;
    assert_eq!(env.output(&[]).await.status.code(), Some(0));
    let log = env.state.path().join("personio_3acli.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    // A kill in the middle of writing one more record.
    bytes.extend_from_slice(&UNKNOWN_RECORD.as_bytes()[..25]);
    std::fs::write(&log, &bytes).unwrap();
    let check = state_command("check", env.state.path());
    assert_eq!(check.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&check.stdout).contains("torn last line"));
    let out = env.output(&["--report", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["counts"]["created"], 0);
    assert!(
        std::fs::read(&log).unwrap().ends_with(b"\n"),
        "a clean log again"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_stops_gracefully_records_and_the_next_run_converges() {
    let env = Env::start(160).await;
    // About 150 changes, 8 at a time, 100 ms each: a run of about 2 s.
    env.learnamp
        .faults()
        .set_latency(Duration::from_millis(100));
    let child = env
        .sync(&["--invite-policy", "immediately", "--report", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.learnamp.calls().writes() < 30 {
        assert!(Instant::now() < deadline, "the run never got that far");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signalled = Instant::now();
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let took = signalled.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    let said: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("progress: "))
        .collect();
    assert_eq!(said.len(), 1, "one line: {err}");
    assert!(
        said[0].starts_with("personio-sync: stopped by SIGTERM: ")
            && said[0].ends_with(" not started; run again to finish"),
        "{err}"
    );
    let r = report(&out);
    let stopped = &r["stopped"];
    assert_eq!(stopped["reason"], "SIGTERM", "{r}");
    let applied = stopped["applied"].as_u64().unwrap();
    let not_started = stopped["not_started"].as_u64().unwrap();
    // Writes counted teams too: some users were applied, many were not started.
    assert!(applied > 0 && not_started > 0, "{stopped}");
    assert!(
        said[0].contains(&format!(
            "{applied} changes applied, {not_started} not started"
        )),
        "{err}"
    );
    // The state holds what was applied, and the report.
    let log = std::fs::read_to_string(env.state.path().join("personio_3acli.jsonl")).unwrap();
    let run_id = r["run_id"].as_str().unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(r#""t":"report""#) && l.contains(run_id)),
        "the report is in the state"
    );
    let employees = log
        .lines()
        .filter(|l| l.contains(r#""t":"employee""#))
        .count();
    assert!(
        employees as u64 >= applied,
        "{employees} employees for {applied} applied"
    );

    env.learnamp.faults().clear();
    let out = env
        .output(&["--invite-policy", "immediately", "--report", "json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let snapshot = env.learnamp.snapshot();
    let mut seen = std::collections::HashSet::new();
    for user in &snapshot.users {
        if let Some(id) = &user.integration_external_id {
            assert!(seen.insert(id.clone()), "two users for employee {id}");
        }
        assert!(user.invitations_sent <= 1, "user {} invited twice", user.id);
    }
    let again = report(&env.output(&["--report", "json"]).await);
    assert_eq!(
        again["counts"]["created"].as_u64().unwrap()
            + again["counts"]["updated"].as_u64().unwrap()
            + again["counts"]["failed"].as_u64().unwrap(),
        0,
        "converged: {}",
        again["counts"]
    );
    env.stop().await;
}
