//! The engine's side of a bench run: `personio-sync bench-engine <sync flags>` runs exactly what
//! `personio-sync sync` runs, then prints its report with the process's own peak RSS.
//!
//! The peak is read here, from `/proc/self/status` (`VmHWM`), because the one `wait4` gives the
//! parent counts the time before `exec`, when the child still shared the bench's memory, with
//! its sandboxes of tens of thousands of records.

use crate::sync_cmd::{exit_code, prepare, run_to_deadline, SyncArgs, EXIT_FAILED};
use serde::{Deserialize, Serialize};
use sync_core::report::RunReport;

#[derive(Serialize, Deserialize)]
pub struct EngineOutput {
    pub report: RunReport,
    /// The process's peak resident set since it started, `None` where `/proc` is not there.
    pub peak_rss_bytes: Option<u64>,
}

pub async fn run(args: SyncArgs) -> u8 {
    let (config, _, runner) = match prepare(args) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match run_to_deadline(&runner, &config).await {
        Ok(report) => {
            let code = exit_code(&report);
            let output = EngineOutput {
                report,
                peak_rss_bytes: peak_rss_bytes(),
            };
            match serde_json::to_string(&output) {
                Ok(json) => {
                    println!("{json}");
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
