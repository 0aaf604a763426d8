//! `personio-sync sync`: one run for one tenant against any Kombo- and Learn Amp-compatible
//! base URL, with the embedded state store and the in-process queue.

use crate::output;
use crate::progress::StderrProgress;
pub use crate::settings_args::ConfigError;
use crate::settings_args::{learnamp_account, required, url, SettingsArgs};
use crate::state_dir::{self, StateDirLock};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use sync_clients::{KomboClient, LearnAmpClient};
use sync_core::messages::ChangeMessage;
use sync_core::ports::StateStore;
use sync_core::queue::InProcessQueue;
use sync_core::report::{RunReport, RunTrigger, SyncMode};
use sync_core::store::EmbeddedStore;
use sync_core::{Engine, EngineError, NoProgress, Progress, RunOptions, Stop, TenantSettings};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;
pub const EXIT_HALTED: u8 = 3;

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Full,
    Delta,
    Reconcile,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Kombo API root, e.g. https://api.kombo.dev/v1
    #[arg(long, env = "KOMBO_BASE_URL")]
    kombo_url: Option<String>,
    #[arg(long, env = "KOMBO_API_KEY", hide_env_values = true)]
    kombo_api_key: Option<String>,
    /// The tenant's Kombo integration id, e.g. personio:CBNMt7dSNCzBdnRTx87dev4E
    #[arg(long, env = "KOMBO_INTEGRATION_ID")]
    integration_id: Option<String>,
    /// The Learn Amp account's API Base URL, e.g. https://api.learnamp.com
    #[arg(long, env = "LEARNAMP_BASE_URL")]
    learnamp_url: Option<String>,
    #[arg(long, env = "LEARNAMP_CLIENT_ID")]
    learnamp_client_id: Option<String>,
    #[arg(long, env = "LEARNAMP_CLIENT_SECRET", hide_env_values = true)]
    learnamp_client_secret: Option<String>,
    /// OAuth scopes to request (for credentials provisioned with granular scopes only)
    #[arg(long, env = "LEARNAMP_SCOPE")]
    learnamp_scope: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Directory of the embedded state store
    #[arg(long, env = "PERSONIO_SYNC_STATE", default_value = ".personio-sync/")]
    state: PathBuf,
    /// Full reads everything (and deactivates who is missing); delta reads what changed since
    /// the last run; reconcile also reads Learn Amp and corrects what was changed there by hand
    #[arg(long, value_enum, default_value = "full")]
    mode: ModeArg,
    /// Sync only this Kombo employee id
    #[arg(long)]
    employee: Option<String>,
    /// Print the plan and change nothing, neither in Learn Amp nor in the state
    #[arg(long)]
    dry_run: bool,
    /// Run as if today were this date (YYYY-MM-DD), in the tenant's time zone
    #[arg(long)]
    today: Option<String>,
    /// Let a run deactivate more users than the guard allows
    #[arg(long)]
    allow_mass_deactivation: bool,
    /// Print the run report as JSON on stdout
    #[arg(long, value_enum)]
    report: Option<ReportFormat>,
    /// Learn Amp calls in flight at once
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stop a run still going after this many seconds (run again, it goes on where it stopped)
    #[arg(long, env = "MAX_RUN_SECONDS", default_value_t = 3600)]
    max_run_seconds: u64,
}

/// Everything a run needs, validated.
pub struct SyncConfig {
    pub kombo_url: String,
    pub kombo_api_key: String,
    pub learnamp_url: String,
    pub learnamp_client_id: String,
    pub learnamp_client_secret: String,
    pub learnamp_scope: Option<String>,
    pub settings: TenantSettings,
    pub state_dir: PathBuf,
    pub options: RunOptions,
    pub concurrency: usize,
    /// The run's overall deadline.
    pub max_run: std::time::Duration,
}

impl SyncArgs {
    pub fn into_config(self) -> Result<(SyncConfig, Option<ReportFormat>), ConfigError> {
        let kombo_url = url(
            required(self.kombo_url, "--kombo-url", "KOMBO_BASE_URL")?,
            "--kombo-url",
        )?;
        let kombo_api_key = required(self.kombo_api_key, "--kombo-api-key", "KOMBO_API_KEY")?;
        let integration_id = required(
            self.integration_id,
            "--integration-id",
            "KOMBO_INTEGRATION_ID",
        )?;
        let (learnamp_url, learnamp_client_id) =
            learnamp_account(self.learnamp_url, self.learnamp_client_id)?;
        let learnamp_client_secret = required(
            self.learnamp_client_secret,
            "--learnamp-client-secret",
            "LEARNAMP_CLIENT_SECRET",
        )?;
        let today = self
            .today
            .map(|t| {
                strict_date(&t).ok_or_else(|| {
                    ConfigError(format!("--today must be a date as YYYY-MM-DD, got '{t}'"))
                })
            })
            .transpose()?;
        if self.max_run_seconds == 0 {
            return Err(ConfigError("--max-run-seconds must be at least 1".into()));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(ConfigError("--concurrency must be between 1 and 64".into()));
        }
        let settings = self.settings.into_settings(integration_id)?;
        let config = SyncConfig {
            kombo_url,
            kombo_api_key,
            learnamp_url,
            learnamp_client_id,
            learnamp_client_secret,
            learnamp_scope: self.learnamp_scope,
            settings,
            state_dir: self.state,
            options: RunOptions {
                mode: match self.mode {
                    ModeArg::Full => SyncMode::Full,
                    ModeArg::Delta => SyncMode::Delta,
                    ModeArg::Reconcile => SyncMode::Reconcile,
                },
                dry_run: self.dry_run,
                today,
                employee_id: self.employee,
                allow_mass_deactivation: self.allow_mass_deactivation,
                trigger: RunTrigger::Local,
            },
            concurrency: self.concurrency,
            max_run: std::time::Duration::from_secs(self.max_run_seconds),
        };
        Ok((config, self.report))
    }
}

/// A date written exactly as `YYYY-MM-DD` (chrono alone also takes `2026-3-2`).
pub fn strict_date(text: &str) -> Option<NaiveDate> {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The clients, store and queue of one tenant's local runs.
pub struct LocalRunner {
    pub kombo: KomboClient,
    pub learnamp: LearnAmpClient,
    pub store: EmbeddedStore,
    pub queue: InProcessQueue<ChangeMessage>,
    pub settings: TenantSettings,
    pub concurrency: usize,
    pub progress: Box<dyn Progress>,
    /// One run per state directory, held until the runner is dropped.
    _lock: Option<StateDirLock>,
}

impl LocalRunner {
    pub fn new(config: &SyncConfig) -> Result<Self, ConfigError> {
        // Before anything is read or written: a run that could not record what it did in
        // Learn Amp must not start, and neither may a second run on the same state.
        let lock = if config.options.dry_run {
            state_dir::lock_for_reading(&config.state_dir)
        } else {
            state_dir::lock_for_writing(&config.state_dir).map(Some)
        }
        .map_err(|e| ConfigError(e.to_string()))?;
        let store = EmbeddedStore::open(&config.state_dir)
            .map_err(|e| ConfigError(format!("--state: {e}")))?;
        // A log this build cannot read stops the run before anything is written or Learn Amp is
        // called. A reconcile lists Learn Amp's users at once, so its log is read here first;
        // any other run reads it on a thread of its own while it reads Kombo (at 50,000
        // employees the log is some 30 MB, a large part of a short run), and the run's read of
        // its state stops it.
        let tenant = &config.settings.tenant_id;
        if config.options.mode == SyncMode::Reconcile {
            store.preload(tenant)
        } else {
            store.load_in_background(tenant)
        }
        .map_err(|e| ConfigError(e.to_string()))?;
        Ok(Self {
            kombo: KomboClient::new(
                &config.kombo_url,
                &config.kombo_api_key,
                &config.settings.tenant_id,
            ),
            learnamp: LearnAmpClient::new(
                &config.learnamp_url,
                &config.learnamp_client_id,
                &config.learnamp_client_secret,
            )
            .with_scope(config.learnamp_scope.clone()),
            store,
            queue: InProcessQueue::new(),
            settings: config.settings.clone(),
            concurrency: config.concurrency,
            progress: Box::new(NoProgress),
            _lock: lock,
        })
    }

    pub fn with_progress(mut self, progress: Box<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    fn engine(&self) -> Engine<'_> {
        self.kombo.reset_call_stats();
        self.learnamp.reset_call_stats();
        Engine {
            hris: &self.kombo,
            learnamp: &self.learnamp,
            store: &self.store,
            queue: &self.queue,
            settings: &self.settings,
            concurrency: self.concurrency,
            progress: self.progress.as_ref(),
        }
    }

    pub async fn run(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        self.engine().run(options).await
    }

    /// A run that stops gracefully when `stop` fires.
    pub async fn run_until(
        &self,
        options: &RunOptions,
        stop: &Stop,
    ) -> Result<RunReport, EngineError> {
        self.engine().run_until(options, stop).await
    }
}

/// Once a run's state is recorded and flushed and its report written, the process only exits:
/// the runner's memory (the embedded store's states, some 100 MB at 50,000 employees) is
/// handed back to the system with the process instead of being freed piece by piece first
/// (40 ms at 50,000). The state directory's lock goes with the process too.
pub fn leave_to_exit(runner: LocalRunner) {
    std::mem::forget(runner);
}

/// The exit code a finished run earns.
pub fn exit_code(report: &RunReport) -> u8 {
    if report.stopped.is_some() {
        EXIT_FAILED
    } else if report.halted.is_some() {
        EXIT_HALTED
    } else if report.converged() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

pub fn error_exit_code(error: &EngineError) -> u8 {
    use sync_core::error::{SourceError, StoreError};
    match error {
        EngineError::Source(
            SourceError::Unauthorized { .. }
            | SourceError::ConnectionBroken { .. }
            | SourceError::Protocol(_),
        ) => EXIT_CONFIG,
        EngineError::Target(e) if e.is_fatal() => EXIT_CONFIG,
        // A state log this build cannot read: it needs a repair, a restore or an upgrade.
        EngineError::Store(StoreError::Undecodable { .. } | StoreError::NewerFormat { .. }) => {
            EXIT_CONFIG
        }
        _ => EXIT_FAILED,
    }
}

/// Validates the arguments and builds the runner. An error is reported on stderr; its exit
/// code comes back.
pub fn prepare(args: SyncArgs) -> Result<(SyncConfig, Option<ReportFormat>, LocalRunner), u8> {
    let report = |ConfigError(message): ConfigError| {
        eprintln!("personio-sync: {message}");
        EXIT_CONFIG
    };
    let (config, format) = args.into_config().map_err(report)?;
    let runner = LocalRunner::new(&config).map_err(report)?;
    Ok((config, format, runner))
}

/// How long the calls in flight get to finish once a run is asked to stop.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Past the grace period, how long recording the state and the report may take before the run
/// is dropped where it is (a stop while Kombo is still being read lands here too).
const STOP_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(10);

/// The next SIGTERM or SIGINT, by name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handling: only the deadline stops the run.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// One run, stopped gracefully at `--max-run-seconds` or on SIGTERM or SIGINT: no new change is
/// started, the calls in flight get `STOP_GRACE`, the state and the report are recorded, and
/// one line says how far it got. A failure is reported on stderr; its exit code comes back.
pub async fn run_to_deadline(runner: &LocalRunner, config: &SyncConfig) -> Result<RunReport, u8> {
    let stop = Stop::new(STOP_GRACE);
    let run = runner.run_until(&config.options, &stop);
    tokio::pin!(run);
    let deadline = format!("--max-run-seconds ({} s)", config.max_run.as_secs());
    let result = tokio::select! {
        result = &mut run => result,
        () = tokio::time::sleep(config.max_run) => {
            stop.fire(deadline.clone());
            stopping(&mut run, runner, &stop).await?
        }
        signal = stop_signal() => {
            stop.fire(signal);
            stopping(&mut run, runner, &stop).await?
        }
    };
    let report = result.map_err(|error| {
        eprintln!("personio-sync: sync failed: {error}");
        error_exit_code(&error)
    })?;
    if let Some(stopped) = &report.stopped {
        let progress = format!(
            "{} {} applied, {} not started",
            stopped.applied,
            if stopped.applied == 1 {
                "change"
            } else {
                "changes"
            },
            stopped.not_started
        );
        if stopped.reason == deadline {
            eprintln!("personio-sync: the run was stopped after {deadline}; run it again: it goes on where it stopped ({progress})");
        } else {
            eprintln!(
                "personio-sync: stopped by {}: {progress}; run again to finish",
                stopped.reason
            );
        }
    }
    Ok(report)
}

/// The run, asked to stop, finishing: bounded, and cut short by a second signal.
async fn stopping(
    run: &mut std::pin::Pin<&mut impl std::future::Future<Output = Result<RunReport, EngineError>>>,
    runner: &LocalRunner,
    stop: &Stop,
) -> Result<Result<RunReport, EngineError>, u8> {
    let reason = stop.reason().unwrap_or_default();
    tokio::select! {
        result = run.as_mut() => return Ok(result),
        () = tokio::time::sleep(STOP_GRACE + STOP_BACKSTOP) => {}
        signal = stop_signal() => {
            eprintln!("personio-sync: {signal} again: stopping at once");
        }
    }
    // What was applied is recorded as it happens; keep it, and let the next run go on.
    if let Err(e) = runner.store.flush().await {
        eprintln!("personio-sync: the state could not be flushed: {e}");
    }
    eprintln!("personio-sync: stopped by {reason} before the run could record its report; run again to finish");
    Err(EXIT_FAILED)
}

pub async fn run(args: SyncArgs) -> u8 {
    let (config, format, runner) = match prepare(args) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let runner = runner.with_progress(Box::new(StderrProgress::for_stderr()));
    match run_to_deadline(&runner, &config).await {
        Ok(report) => {
            if format == Some(ReportFormat::Json) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("reports serialise")
                );
            } else {
                output::print_summary(&report, &runner.settings, output::SHOWN_ACTIONS);
            }
            leave_to_exit(runner);
            exit_code(&report)
        }
        Err(code) => code,
    }
}
