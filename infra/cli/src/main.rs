//! `personio-sync`: the local runner and operator CLI.
//!
//! Exit codes: 0 every employee converged; 1 some failed or the run could not complete (the
//! report or the error says why); 2 bad configuration or input; 3 the deactivation guard held
//! the run's deactivations back.

mod admin_cmd;
mod admin_local;
mod bench;
mod demo;
mod demo_admin;
mod dlq_cmd;
mod local;
mod output;
mod progress;
mod sandbox_cmd;
mod settings_args;
mod state_cmd;
mod state_dir;
mod status_cmd;
mod sync_cmd;
mod tenants_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "personio-sync",
    version,
    about = "Keeps Learn Amp users and teams in step with Personio, read through Kombo."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints a signed admin link: it opens one tenant's integration page, once, within
    /// --valid-minutes (functions/admin/API.md)
    AdminLink(admin_cmd::AdminLinkArgs),
    /// The admin function locally: `admin serve` serves the integration page and its API on
    /// 127.0.0.1 with both sandboxes
    Admin(admin_cmd::AdminArgs),
    /// Measures the sync scenarios (import, resync, churn, reconcile) against the sandboxes
    /// with the latency and rate limit given, and prints the figures as JSON.
    Bench(bench::BenchArgs),
    /// Starts both sandboxes in-process, syncs a generated company, then applies a few Personio
    /// changes through a signed Kombo webhook and shows what happened.
    Demo(demo::DemoArgs),
    /// Serves the Kombo and Learn Amp sandboxes on 127.0.0.1 until stopped.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// One sync run for one tenant.
    Sync(Box<sync_cmd::SyncArgs>),
    /// One sync run, as `sync` makes it, printing its report and the process's peak RSS as
    /// one JSON line: the engine's side of `bench`.
    #[command(hide = true)]
    BenchEngine(Box<sync_cmd::SyncArgs>),
    /// The local runner's state logs: `check` finds lines a run could not read, `repair`
    /// drops them (keeping a backup).
    State(state_cmd::StateArgs),
    /// The tenants of the AWS deployment (its DynamoDB state table).
    Tenants(tenants_cmd::TenantsArgs),
    /// A tenant of the AWS deployment at a glance: last runs, activity, employees in error.
    Status(status_cmd::StatusArgs),
    /// The dead-letter queues of the AWS deployment.
    Dlq(dlq_cmd::DlqArgs),
}

/// Logs go to stderr (stdout carries the summary or the JSON report), ids only.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A flag error as one line naming the flag, like every other configuration error; help and
/// version go out as clap prints them.
fn flag_error(error: &clap::Error, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // `--concurrency -1`: clap reads "-1" as an unknown flag; name the flag it was given to.
    if error.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) {
            let negative_number =
                arg.len() > 1 && arg.starts_with('-') && arg[1..].parse::<f64>().is_ok();
            let flag = args
                .iter()
                .position(|a| a == arg)
                .and_then(|i| i.checked_sub(1))
                .map(|i| &args[i])
                .filter(|f| f.starts_with("--"));
            if let (true, Some(flag)) = (negative_number, flag) {
                message = format!("invalid value '{arg}' for '{flag}': must not be negative");
            }
        }
    }
    if let Some(ContextValue::String(tip)) = error.get(ContextKind::SuggestedArg) {
        message.push_str(&format!(" (did you mean '{tip}'?)"));
    }
    format!("personio-sync: {message}")
}

fn main() -> ExitCode {
    bench::engine_process::mark_main_entered();
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                error.exit();
            }
            eprintln!("{}", flag_error(&error, &args));
            return ExitCode::from(sync_cmd::EXIT_CONFIG);
        }
    };
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let code = runtime.block_on(async {
        match cli.command {
            Command::AdminLink(args) => admin_cmd::run_link(args).await,
            Command::Admin(args) => admin_cmd::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Sandbox(args) => sandbox_cmd::run(args).await,
            Command::Sync(args) => sync_cmd::run(*args).await,
            Command::BenchEngine(args) => bench::engine_process::run(*args).await,
            Command::State(args) => state_cmd::run(args),
            Command::Tenants(args) => tenants_cmd::run(args).await,
            Command::Status(args) => status_cmd::run(args).await,
            Command::Dlq(args) => dlq_cmd::run(args).await,
        }
    });
    ExitCode::from(code)
}
