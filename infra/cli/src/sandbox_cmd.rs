//! `personio-sync sandbox`: both sandboxes on 127.0.0.1 until Ctrl-C.

use crate::local::{
    LocalSandboxes, INTEGRATION_ID, KOMBO_API_KEY, LEARNAMP_CLIENT_ID, LEARNAMP_CLIENT_SECRET,
};
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SandboxArgs {
    /// Employees of the generated company
    #[arg(long, default_value_t = 200)]
    employees: usize,
    /// Seed of the generated company (same seed, same company)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve this company instead: a JSON file in Kombo's /hris/employees response shape
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Port of the Kombo sandbox (0 = any free port)
    #[arg(long, default_value_t = 0)]
    kombo_port: u16,
    /// Port of the Learn Amp sandbox (0 = any free port)
    #[arg(long, default_value_t = 0)]
    learnamp_port: u16,
}

pub async fn run(args: SandboxArgs) -> u8 {
    let company = match &args.fixture {
        Some(path) => match sandbox::load_fixture(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("personio-sync: --fixture: {e}");
                return EXIT_CONFIG;
            }
        },
        None => {
            sandbox::generate_company(args.employees, args.seed, chrono::Utc::now().date_naive())
        }
    };
    let employees = company.employees.len();
    let sandboxes = match LocalSandboxes::start(company, args.kombo_port, args.learnamp_port).await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("personio-sync: cannot bind the sandboxes on 127.0.0.1: {e} (try other --kombo-port / --learnamp-port)");
            return EXIT_FAILED;
        }
    };
    let kombo = &sandboxes.kombo_server.base_url;
    let learnamp = &sandboxes.learnamp_server.base_url;
    println!("Kombo sandbox      {kombo}  ({employees} employees)");
    println!("Learn Amp sandbox  {learnamp}");
    println!();
    println!("Credentials, for `personio-sync sync` in another shell:");
    println!("  export KOMBO_BASE_URL={kombo}");
    println!("  export KOMBO_API_KEY={KOMBO_API_KEY}");
    println!("  export KOMBO_INTEGRATION_ID={INTEGRATION_ID}");
    println!("  export LEARNAMP_BASE_URL={learnamp}");
    println!("  export LEARNAMP_CLIENT_ID={LEARNAMP_CLIENT_ID}");
    println!("  export LEARNAMP_CLIENT_SECRET={LEARNAMP_CLIENT_SECRET}");
    println!();
    println!("Learn Amp users and teams as JSON:  curl -s {learnamp}/_sandbox/state");
    println!(
        "Kombo data as JSON:                 curl -s {}/_sandbox/state",
        kombo.trim_end_matches("/v1")
    );
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    sandboxes.shutdown().await;
    EXIT_OK
}
