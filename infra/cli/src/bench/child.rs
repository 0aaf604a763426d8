//! One engine run as a process of its own (`personio-sync bench-engine`, the local runner of
//! `personio-sync sync`), so that its peak RSS and CPU time are the engine's alone, not the
//! sandboxes' that serve it from the bench's process.

use super::engine_process::{unix_micros, EngineMoments, EngineOutput};
use anyhow::{bail, Context};
use serde::Serialize;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sync_core::report::RunReport;

/// What the operating system and the run itself say about one run.
pub struct EngineRun {
    pub report: RunReport,
    pub exit_code: i32,
    /// From spawning the process to reaping it: start, state load, run, final flush.
    pub wall: Duration,
    /// User + system CPU time of the process.
    pub cpu: Duration,
    pub peak_rss_bytes: Option<u64>,
    pub phases: ProcessPhases,
}

/// Where the wall time of one engine process went, in seconds: its start, its preparation, the
/// run (the engine's own `timings` split it further), and its end.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessPhases {
    /// From spawning the process to its `main`: `exec` and the program's loading.
    pub start_seconds: f64,
    /// From `main` to the run's start: arguments, logging, the runtime, the HTTP clients, the
    /// state directory's lock, the state store opened (its log read in the background).
    pub prepare_seconds: f64,
    /// The run, up to its report with the state and the report recorded.
    pub run_seconds: f64,
    /// From the run's return to the process reaped: its output written, everything dropped,
    /// the exit.
    pub end_seconds: f64,
}

impl ProcessPhases {
    fn of(spawned_us: u64, moments: EngineMoments, reaped_us: u64) -> Self {
        let seconds = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e6;
        Self {
            start_seconds: seconds(spawned_us, moments.main_entered_us),
            prepare_seconds: seconds(moments.main_entered_us, moments.prepared_us),
            run_seconds: seconds(moments.prepared_us, moments.run_returned_us),
            end_seconds: seconds(moments.run_returned_us, reaped_us),
        }
    }
}

pub struct EngineCommand {
    pub binary: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    /// Where the run's stdout (its JSON report) and stderr (its logs) go.
    pub work_dir: PathBuf,
}

impl EngineCommand {
    /// Runs it to the end without blocking the runtime the sandboxes serve on.
    pub async fn run(&self) -> anyhow::Result<EngineRun> {
        let stdout_path = self.work_dir.join("report.json");
        let stderr_path = self.work_dir.join("engine.log");
        let started = Instant::now();
        let spawned_us = unix_micros();
        let child = Command::new(&self.binary)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let pid = child.id() as libc::pid_t;
        let (status, usage) = tokio::task::spawn_blocking(move || wait_with_usage(pid))
            .await
            .context("the waiting thread panicked")??;
        let wall = started.elapsed();
        let reaped_us = unix_micros();
        let exit_code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let output: EngineOutput = match std::fs::read(&stdout_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(r) => r,
            None => bail!(
                "the engine run printed no report (exit {exit_code}); its log: {}",
                tail(&stderr_path)
            ),
        };
        Ok(EngineRun {
            report: output.report,
            exit_code,
            wall,
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            peak_rss_bytes: output.peak_rss_bytes,
            phases: ProcessPhases::of(spawned_us, output.moments, reaped_us),
        })
    }
}

/// `wait4`: the exit status and the resource usage of exactly this child.
fn wait_with_usage(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; status and usage are valid for writes.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
