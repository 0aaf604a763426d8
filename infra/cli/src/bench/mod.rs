//! `personio-sync bench`: the sync scenarios against the sandboxes, served from this process
//! with the latency and rate limit asked for, each run made by the engine in a process of its
//! own (`personio-sync bench-engine`: the local runner of `personio-sync sync`), measured, and
//! printed as JSON on stdout.
//!
//! Per company size, on one company and one state, in order: the initial import, an unchanged
//! resync, 1 % churn, 10 % churn, and a reconcile after 1 % of Learn Amp users were edited by
//! hand. The counts are the sandboxes' (every request received, 429s included, and what got
//! past the rate limit to the API) beside the engine's own; see `figures` for the minimum and
//! the bound each run is held against.

mod changes;
mod child;
pub mod engine_process;
mod figures;

use crate::local::{
    LocalSandboxes, INTEGRATION_ID, KOMBO_API_KEY, LEARNAMP_CLIENT_ID, LEARNAMP_CLIENT_SECRET,
};
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use changes::Churn;
use child::{EngineCommand, EngineRun};
use clap::{Args, ValueEnum};
use figures::{
    learnamp_pages, rate_limit_bound, ratio, AnswerTime, LearnAmpServed, Limits, Minimum,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sync_core::report::{Counts, RunTimings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Import,
    Resync,
    Churn1,
    Churn10,
    Reconcile,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Company sizes to run, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    employees: Vec<usize>,
    /// Scenarios to run, comma-separated, in this order (each builds on the one before)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "import,resync,churn1,churn10,reconcile"
    )]
    scenarios: Vec<Scenario>,
    /// Latency the Kombo sandbox adds to every answer, in ms
    #[arg(long, default_value_t = 20)]
    kombo_latency_ms: u64,
    /// Latency the Learn Amp sandbox adds to every answer, in ms
    #[arg(long, default_value_t = 0)]
    learnamp_latency_ms: u64,
    /// Requests per second Learn Amp allows (429 with Retry-After over it); 0 for no limit
    #[arg(long, default_value_t = 100.0)]
    learnamp_rate_limit: f64,
    /// Share of Learn Amp calls answered 429 at random, with no `Retry-After` (0 to 1): a
    /// throttling the client cannot learn a rate from, only retry through
    #[arg(long, default_value_t = 0.0)]
    learnamp_random_429_share: f64,
    /// Learn Amp calls the engine keeps in flight
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seed of the generated company and of the changes
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The engine to run (default: this binary); it is run as `<binary> bench-engine`
    #[arg(long, hide = true)]
    engine_binary: Option<PathBuf>,
    /// Keep each engine run's log here (`<employees>-<scenario>.log`), logged at this bench's
    /// `RUST_LOG` instead of `warn`: to see where a run's time went
    #[arg(long, hide = true)]
    engine_log_dir: Option<PathBuf>,
}

/// The whole output.
#[derive(Serialize)]
struct BenchOutput {
    machine: Machine,
    limits: Limits,
    seed: u64,
    results: Vec<ScenarioResult>,
}

#[derive(Serialize)]
struct Machine {
    arch: &'static str,
    cpu: String,
    cores: usize,
    /// `release` or `debug`: a debug build's CPU figures say nothing.
    build: &'static str,
}

impl Machine {
    fn this() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            arch: std::env::consts::ARCH,
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

/// One scenario's figures.
#[derive(Serialize)]
struct ScenarioResult {
    scenario: Scenario,
    /// Employees in the company the run reads (Kombo's listing, leavers included).
    employees: u64,
    exit_code: i32,
    converged: bool,
    /// What the bench changed before the run (churn), or edited in Learn Amp (reconcile).
    #[serde(skip_serializing_if = "Option::is_none")]
    churn: Option<Churn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drifted_users: Option<u64>,
    /// The run report's counts.
    counts: Counts,
    kombo: KomboCalls,
    learnamp: LearnAmpCalls,
    minimum: Minimum,
    /// Kombo calls + Learn Amp calls received (rate-limited ones included).
    calls_made: u64,
    calls_ratio: Option<f64>,
    /// Learn Amp writes served against the writes needed (changed employees + new teams).
    writes_ratio: Option<f64>,
    wall_seconds: f64,
    rate_limit_bound_seconds: f64,
    /// The part of the bound the team writes take: `ceil(teams / concurrency)` answers.
    team_bound_seconds: f64,
    wall_to_bound_ratio: Option<f64>,
    /// The engine's own split: reading, planning, applying.
    timings: RunTimings,
    /// The engine process's split: its start, its preparation, the run, its end.
    process_phases: child::ProcessPhases,
    /// CPU time of the engine process, on all its threads.
    process_cpu_seconds: f64,
    /// The engine process's peak resident set (`VmHWM`).
    peak_rss_mib: Option<f64>,
}

#[derive(Serialize)]
struct KomboCalls {
    /// Requests the Kombo sandbox received.
    received: u64,
    /// The sandbox's own time answering them, summed (latency not included).
    service_seconds: f64,
    /// From each request's arrival to its answer, summed (latency as slept included).
    answer_seconds: f64,
    /// The engine's own count, by endpoint.
    by_endpoint: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct LearnAmpCalls {
    /// Requests the Learn Amp sandbox received, by endpoint, rate-limited ones included.
    received: BTreeMap<String, u64>,
    received_total: u64,
    /// What got past the rate limit to the API.
    served: BTreeMap<String, u64>,
    served_total: u64,
    /// Answered 429 by the rate limit (or another injected fault).
    turned_away: u64,
    writes_served: u64,
    /// Team writes served (created or renamed).
    team_writes_served: u64,
    /// The sandbox's own time answering what it served, summed (latency not included).
    service_seconds: f64,
    /// From the arrival of each call it served to its answer, summed (latency as slept
    /// included).
    answer_seconds: f64,
}

pub async fn run(args: BenchArgs) -> u8 {
    if args.employees.is_empty() || args.employees.contains(&0) {
        eprintln!("personio-sync: --employees must list company sizes of at least 1");
        return EXIT_CONFIG;
    }
    if args.concurrency == 0 || args.concurrency > 64 {
        eprintln!("personio-sync: --concurrency must be between 1 and 64");
        return EXIT_CONFIG;
    }
    if !(args.learnamp_rate_limit >= 0.0 && args.learnamp_rate_limit.is_finite()) {
        eprintln!("personio-sync: --learnamp-rate-limit must be a number of requests per second, 0 for none");
        return EXIT_CONFIG;
    }
    if !(0.0..=0.9).contains(&args.learnamp_random_429_share) {
        eprintln!("personio-sync: --learnamp-random-429-share must be between 0 and 0.9");
        return EXIT_CONFIG;
    }
    let binary = match args
        .engine_binary
        .clone()
        .map_or_else(std::env::current_exe, Ok)
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("personio-sync: cannot find this binary to run the engine with: {e}");
            return EXIT_FAILED;
        }
    };
    let limits = Limits {
        kombo_latency_ms: args.kombo_latency_ms,
        learnamp_latency_ms: args.learnamp_latency_ms,
        learnamp_rate_limit: (args.learnamp_rate_limit > 0.0).then_some(args.learnamp_rate_limit),
        learnamp_random_429_share: args.learnamp_random_429_share,
        concurrency: args.concurrency,
    };
    let mut results = Vec::new();
    for &employees in &args.employees {
        match bench_company(&binary, employees, &args, &limits).await {
            Ok(mut r) => results.append(&mut r),
            Err(e) => {
                eprintln!("personio-sync: bench at {employees} employees failed: {e:#}");
                return EXIT_FAILED;
            }
        }
    }
    let output = BenchOutput {
        machine: Machine::this(),
        limits,
        seed: args.seed,
        results,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&output).expect("the bench output serialises")
    );
    EXIT_OK
}

/// Every scenario asked for, on one generated company of `employees`.
async fn bench_company(
    binary: &Path,
    employees: usize,
    args: &BenchArgs,
    limits: &Limits,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let today = chrono::Utc::now().date_naive();
    let company = sandbox::generate_company(employees, args.seed, today);
    let sandboxes = LocalSandboxes::start(company, 0, 0).await?;
    let kombo_faults = sandboxes.kombo.faults();
    kombo_faults.set_latency(Duration::from_millis(limits.kombo_latency_ms));
    let learnamp_faults = sandboxes.learnamp.faults();
    learnamp_faults.set_latency(Duration::from_millis(limits.learnamp_latency_ms));
    learnamp_faults.set_rate_limit(limits.learnamp_rate_limit);
    learnamp_faults.set_seed(args.seed);
    learnamp_faults.set_rate_429(limits.learnamp_random_429_share, None);
    let state = tempfile::tempdir()?;
    let mut results = Vec::new();
    for (k, &scenario) in args.scenarios.iter().enumerate() {
        let seed = args.seed.wrapping_mul(1_000).wrapping_add(k as u64);
        let mut churn = None;
        let mut drifted = None;
        let mut listing_pages = 0;
        let before = sandboxes.learnamp.snapshot();
        // A listing of users is two: every user, then the deactivated ones (by status filter).
        let deactivated = before
            .users
            .iter()
            .filter(|u| u.status == "deactivated")
            .count() as u64;
        let user_listing_pages =
            learnamp_pages(before.users.len() as u64) + learnamp_pages(deactivated);
        match scenario {
            Scenario::Import => listing_pages = user_listing_pages,
            Scenario::Resync => {}
            Scenario::Churn1 | Scenario::Churn10 => {
                let percent = if scenario == Scenario::Churn1 {
                    1.0
                } else {
                    10.0
                };
                churn = Some(changes::churn(
                    &sandboxes.kombo,
                    &sandboxes.learnamp,
                    employees,
                    percent,
                    today,
                    seed,
                ));
            }
            Scenario::Reconcile => {
                drifted = Some(changes::drift(
                    &sandboxes.kombo,
                    &sandboxes.learnamp,
                    employees,
                    1.0,
                    seed,
                ));
                listing_pages = user_listing_pages + learnamp_pages(before.teams.len() as u64);
            }
        }
        sandboxes.learnamp.reset_calls();
        sandboxes.kombo.reset_request_count();
        kombo_faults.reset_service_time();
        learnamp_faults.reset_service_time();
        let run = engine(binary, &sandboxes, scenario, args, state.path(), employees).await?;
        let after = sandboxes.learnamp.snapshot();
        let synced = |s: &sandbox::LearnAmpSnapshot| {
            s.users
                .iter()
                .filter(|u| u.integration_external_id.is_some())
                .count() as u64
        };
        let employee_writes = match scenario {
            // Every user the import left in Learn Amp needed its one write.
            Scenario::Import => synced(&after).saturating_sub(synced(&before)),
            Scenario::Resync => 0,
            Scenario::Churn1 | Scenario::Churn10 => churn.as_ref().map_or(0, Churn::total),
            Scenario::Reconcile => drifted.unwrap_or(0),
        };
        let team_writes = (after.teams.len() as u64).saturating_sub(before.teams.len() as u64);
        let kombo_employees = sandboxes.kombo.employees().len() as u64;
        let minimum = Minimum::new(kombo_employees, listing_pages, employee_writes, team_writes);
        let result = figures_of(
            scenario,
            kombo_employees,
            run,
            &sandboxes,
            limits,
            minimum,
            churn,
            drifted,
        );
        eprintln!(
            "bench: {employees} employees, {:?}: {:.1} s (bound {:.1} s), calls {} / minimum {}, {} writes served, peak RSS {:.1} MiB, planning {:.3} s CPU",
            scenario,
            result.wall_seconds,
            result.rate_limit_bound_seconds,
            result.calls_made,
            result.minimum.total,
            result.learnamp.writes_served,
            result.peak_rss_mib.unwrap_or(0.0),
            result.timings.plan_cpu_us as f64 / 1e6,
        );
        results.push(result);
    }
    sandboxes.shutdown().await;
    Ok(results)
}

/// One run of the engine, as `personio-sync sync` against the sandboxes.
async fn engine(
    binary: &Path,
    sandboxes: &LocalSandboxes,
    scenario: Scenario,
    args: &BenchArgs,
    state: &Path,
    employees: usize,
) -> anyhow::Result<EngineRun> {
    let mode = if scenario == Scenario::Reconcile {
        "reconcile"
    } else {
        "full"
    };
    let engine_args: Vec<OsString> = [
        "bench-engine",
        "--mode",
        mode,
        "--invite-policy",
        "immediately",
        "--concurrency",
        &args.concurrency.to_string(),
        "--state",
    ]
    .iter()
    .map(OsString::from)
    .chain([state.join("store").into_os_string()])
    .collect();
    let env = vec![
        (
            "KOMBO_BASE_URL".into(),
            sandboxes.kombo_server.base_url.clone(),
        ),
        ("KOMBO_API_KEY".into(), KOMBO_API_KEY.into()),
        ("KOMBO_INTEGRATION_ID".into(), INTEGRATION_ID.into()),
        (
            "LEARNAMP_BASE_URL".into(),
            sandboxes.learnamp_server.base_url.clone(),
        ),
        ("LEARNAMP_CLIENT_ID".into(), LEARNAMP_CLIENT_ID.into()),
        (
            "LEARNAMP_CLIENT_SECRET".into(),
            LEARNAMP_CLIENT_SECRET.into(),
        ),
        (
            "RUST_LOG".into(),
            match &args.engine_log_dir {
                Some(_) => std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                None => "warn".into(),
            },
        ),
    ];
    let run = EngineCommand {
        binary: binary.to_path_buf(),
        args: engine_args,
        env,
        work_dir: state.to_path_buf(),
    }
    .run()
    .await;
    if let Some(dir) = &args.engine_log_dir {
        let kept = dir.join(format!("{employees}-{scenario:?}.log").to_lowercase());
        std::fs::create_dir_all(dir)?;
        std::fs::copy(state.join("engine.log"), kept)?;
    }
    run
}

#[allow(clippy::too_many_arguments)]
fn figures_of(
    scenario: Scenario,
    kombo_employees: u64,
    run: EngineRun,
    sandboxes: &LocalSandboxes,
    limits: &Limits,
    minimum: Minimum,
    churn: Option<Churn>,
    drifted_users: Option<u64>,
) -> ScenarioResult {
    let la = sandboxes.learnamp.calls();
    let served_total: u64 = la.served_by_endpoint.values().sum();
    let kombo_received = sandboxes.kombo.request_count();
    let calls_made = kombo_received + la.total;
    let service = [sandboxes.kombo.faults(), sandboxes.learnamp.faults()].map(|f| f.service_time());
    let answered = AnswerTime {
        kombo: sandboxes.kombo.faults().answer_time(),
        learnamp: sandboxes.learnamp.faults().answer_time(),
    };
    let writes_served = la.served_writes();
    let team_writes_served = la
        .served_by_endpoint
        .iter()
        .filter(|(endpoint, _)| {
            matches!(endpoint.as_str(), "POST /v1/teams" | "PUT /v1/teams/{id}")
        })
        .map(|(_, n)| n)
        .sum();
    // A reconcile's listing overlaps Kombo's; everything else Learn Amp is asked comes after.
    let after_kombo = if scenario == Scenario::Reconcile {
        writes_served
    } else {
        served_total
    };
    let served = LearnAmpServed {
        calls: served_total,
        team_writes: team_writes_served,
        after_kombo,
    };
    let bound = rate_limit_bound(limits, served, answered);
    let writes_needed = minimum.employee_writes + minimum.team_writes;
    ScenarioResult {
        scenario,
        employees: kombo_employees,
        exit_code: run.exit_code,
        converged: run.report.converged(),
        churn,
        drifted_users,
        counts: run.report.counts.clone(),
        kombo: KomboCalls {
            received: kombo_received,
            service_seconds: round3(service[0].as_secs_f64()),
            answer_seconds: round3(answered.kombo.as_secs_f64()),
            by_endpoint: run.report.api_calls.kombo.clone(),
        },
        learnamp: LearnAmpCalls {
            received_total: la.total,
            turned_away: la.total.saturating_sub(served_total),
            served_total,
            writes_served,
            team_writes_served,
            service_seconds: round3(service[1].as_secs_f64()),
            answer_seconds: round3(answered.learnamp.as_secs_f64()),
            received: la.by_endpoint,
            served: la.served_by_endpoint,
        },
        calls_ratio: ratio(calls_made as f64, minimum.total as f64),
        writes_ratio: ratio(writes_served as f64, writes_needed as f64),
        minimum,
        calls_made,
        wall_seconds: round3(run.wall.as_secs_f64()),
        rate_limit_bound_seconds: round3(bound.total.as_secs_f64()),
        team_bound_seconds: round3(bound.teams.as_secs_f64()),
        wall_to_bound_ratio: ratio(run.wall.as_secs_f64(), bound.total.as_secs_f64()),
        timings: run.report.timings,
        process_phases: run.phases,
        process_cpu_seconds: round3(run.cpu.as_secs_f64()),
        peak_rss_mib: run
            .peak_rss_bytes
            .map(|b| round3(b as f64 / (1024.0 * 1024.0))),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
