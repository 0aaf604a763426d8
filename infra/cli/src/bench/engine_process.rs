//! The engine's side of a bench run: `personio-sync bench-engine <sync flags>` runs exactly what
//! `personio-sync sync` runs, then prints its report with the process's own peak RSS.
//!
//! The peak is read here, from `/proc/self/status` (`VmHWM`), because the one `wait4` gives the
//! parent counts the time before `exec`, when the child still shared the bench's memory, with
//! its sandboxes of tens of thousands of records.

use crate::sync_cmd::{exit_code, leave_to_exit, prepare, run_to_deadline, SyncArgs, EXIT_FAILED};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};
use sync_core::report::RunReport;

#[derive(Serialize, Deserialize)]
pub struct EngineOutput {
    pub report: RunReport,
    /// The process's peak resident set since it started, `None` where `/proc` is not there.
    pub peak_rss_bytes: Option<u64>,
    /// When the process reached each step, so that the bench can tell the process's own start
    /// and end from the run.
    pub moments: EngineMoments,
}

/// Wall-clock moments of one engine process, in microseconds since the Unix epoch (the bench
/// compares them with its own clock's spawn and reaping of the process).
#[derive(Serialize, Deserialize, Default, Clone, Copy)]
pub struct EngineMoments {
    /// `main` entered: the program is loaded.
    pub main_entered_us: u64,
    /// Arguments read, the clients, the state lock and the store ready: the run starts.
    pub prepared_us: u64,
    /// The run returned its report: the state and the report are recorded.
    pub run_returned_us: u64,
}

static MAIN_ENTERED: OnceLock<u64> = OnceLock::new();

/// Called first thing in `main`.
pub fn mark_main_entered() {
    MAIN_ENTERED.get_or_init(unix_micros);
}

pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub async fn run(args: SyncArgs) -> u8 {
    let (config, _, runner) = match prepare(args) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let prepared_us = unix_micros();
    match run_to_deadline(&runner, &config).await {
        Ok(report) => {
            let code = exit_code(&report);
            let output = EngineOutput {
                report,
                peak_rss_bytes: peak_rss_bytes(),
                moments: EngineMoments {
                    main_entered_us: MAIN_ENTERED.get().copied().unwrap_or(0),
                    prepared_us,
                    run_returned_us: unix_micros(),
                },
            };
            match serde_json::to_string(&output) {
                Ok(json) => {
                    println!("{json}");
                    leave_to_exit(runner);
                    code
                }
                Err(e) => {
                    eprintln!("personio-sync: the report could not be written: {e}");
                    EXIT_FAILED
                }
            }
        }
        Err(code) => code,
    }
}

/// `VmHWM` of this process, in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
