//! `personio-sync state check|repair`: the local runner's state logs, checked for lines a run
//! could not read, and repaired by dropping them (a backup of each log is kept first). Line
//! numbers only: a line's content is never printed.

use crate::state_dir;
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use sync_core::error::StoreError;
use sync_core::store::{check_log, log_files, repair_log, Repair};

#[derive(Args)]
pub struct StateArgs {
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Subcommand)]
enum StateCommand {
    /// Says whether every state log can be read, and which lines cannot (exit 0 ok, 2 not).
    Check(StateDirArg),
    /// Keeps a backup of each log that has unreadable lines, then drops those lines.
    Repair(StateDirArg),
}

#[derive(Args)]
struct StateDirArg {
    /// Directory of the embedded state store
    #[arg(long, env = "PERSONIO_SYNC_STATE", default_value = ".personio-sync/")]
    state: PathBuf,
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn numbers(lines: &[usize]) -> String {
    let all: Vec<String> = lines.iter().map(usize::to_string).collect();
    all.join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn logs(dir: &Path) -> Result<Vec<PathBuf>, u8> {
    if !dir.is_dir() {
        eprintln!(
            "personio-sync: --state {} is not a directory; point --state at the sync's state directory",
            dir.display()
        );
        return Err(EXIT_CONFIG);
    }
    log_files(dir).map_err(|e| {
        eprintln!("personio-sync: {e}");
        EXIT_FAILED
    })
}

fn check(dir: &Path) -> u8 {
    let logs = match logs(dir) {
        Ok(logs) => logs,
        Err(code) => return code,
    };
    if logs.is_empty() {
        println!("{}: no state logs", dir.display());
        return EXIT_OK;
    }
    let mut code = EXIT_OK;
    for log in logs {
        let check = match check_log(&log) {
            Ok(check) => check,
            Err(e) => {
                eprintln!("personio-sync: {e}");
                return EXIT_FAILED;
            }
        };
        let torn = if check.torn_last {
            " (and a torn last line, from a run that was killed: the next run drops it)"
        } else {
            ""
        };
        if check.is_ok() {
            println!(
                "{}: ok, {}{torn}",
                name(&log),
                plural(check.records, "record", "records")
            );
            continue;
        }
        code = EXIT_CONFIG;
        if !check.undecodable.is_empty() {
            println!(
                "{}: {} {} {} not records this personio-sync can read{torn}; `personio-sync state repair --state {}` keeps a backup and drops {}",
                name(&log),
                if check.undecodable.len() == 1 { "line" } else { "lines" },
                numbers(&check.undecodable),
                if check.undecodable.len() == 1 { "is" } else { "are" },
                dir.display(),
                if check.undecodable.len() == 1 { "it" } else { "them" },
            );
        }
        for (line, format) in &check.newer {
            println!(
                "{}: line {line} was written by a newer personio-sync (format {format}); upgrade personio-sync",
                name(&log)
            );
        }
    }
    code
}

fn repair(dir: &Path) -> u8 {
    let logs = match logs(dir) {
        Ok(logs) => logs,
        Err(code) => return code,
    };
    // Not while a run is writing the logs.
    let _lock = match state_dir::lock_for_writing(dir) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("personio-sync: {e}");
            return EXIT_CONFIG;
        }
    };
    let mut code = EXIT_OK;
    for log in logs {
        match repair_log(&log) {
            Ok(Repair::Clean) => println!("{}: ok, nothing to repair", name(&log)),
            Ok(Repair::Repaired {
                dropped,
                torn_last,
                backup,
            }) => {
                let mut what = Vec::new();
                if !dropped.is_empty() {
                    what.push(format!(
                        "{} ({} {})",
                        plural(dropped.len(), "unreadable line", "unreadable lines"),
                        if dropped.len() == 1 { "line" } else { "lines" },
                        numbers(&dropped)
                    ));
                }
                if torn_last {
                    what.push("a torn last line".into());
                }
                println!(
                    "{}: dropped {}; the log as it was is kept at {}",
                    name(&log),
                    what.join(" and "),
                    backup.display()
                );
            }
            Err(e @ StoreError::NewerFormat { .. }) => {
                eprintln!("personio-sync: {e}; nothing was repaired in this log");
                code = EXIT_CONFIG;
            }
            Err(e) => {
                eprintln!("personio-sync: {e}");
                return EXIT_FAILED;
            }
        }
    }
    code
}

pub fn run(args: StateArgs) -> u8 {
    match args.command {
        StateCommand::Check(a) => check(&a.state),
        StateCommand::Repair(a) => repair(&a.state),
    }
}
