//! `personio-sync admin-link` mints a signed admin link (functions/admin/API.md); `personio-sync
//! admin serve` serves the admin function's very handler on 127.0.0.1, over the embedded store
//! and both sandboxes (connecting Personio goes through the Kombo sandbox's connection flow and
//! its webhooks), with an in-process sync that runs what "Import all" queues: the whole admin
//! journey with no AWS account.

use crate::admin_local::{serve_local, LocalAdmin};
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Where the local admin server listens unless told otherwise.
pub const DEFAULT_PORT: u16 = 8787;
/// The local link key's file, in the state directory.
const KEY_FILE: &str = "admin-link-key";

#[derive(Args)]
pub struct AdminLinkArgs {
    /// The tenant the link opens (1 to 64 of A-Z a-z 0-9 _ . - :)
    #[arg(long)]
    tenant: String,
    /// The admin function's URL (the stack's AdminUrl output), or the local server's
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    base_url: String,
    /// Minutes the link works (at most 15)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=15))]
    valid_minutes: u16,
    /// The SSM parameter holding the link key (the stack's AdminLinkKeyParameter); unset, the
    /// local server's key file in --state
    #[arg(long)]
    key_param: Option<String>,
    /// AWS endpoint (moto) for --key-param
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Directory of the embedded state store (holds the local key file)
    #[arg(long, env = "PERSONIO_SYNC_STATE", default_value = ".personio-sync/")]
    state: PathBuf,
}

#[derive(Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Serves the integration page and its API on 127.0.0.1, with both sandboxes
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 = any free port)
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Print a fresh admin link for --tenant once the server listens
    #[arg(long, requires = "tenant")]
    print_link: bool,
    /// The tenant of the printed link
    #[arg(long)]
    tenant: Option<String>,
    /// Employees of the sandbox's generated company
    #[arg(long, default_value_t = 60)]
    employees: usize,
    /// Seed of the generated company
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory of the embedded state store (and of the local link key)
    #[arg(long, env = "PERSONIO_SYNC_STATE", default_value = ".personio-sync/")]
    state: PathBuf,
}

/// The local link key: read from the state directory, made there on first use.
pub fn local_key(state: &Path) -> Result<Vec<u8>, String> {
    let path = state.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => admin_fn::link::parse_keys(&text)
            .map(|keys| keys[0].clone())
            .map_err(|problem| format!("{} {problem}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(state)
                .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
            let key = admin_fn::random::token(48);
            write_private(&path, &key)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(key.into_bytes())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

async fn key_from_ssm(param: &str, endpoint: Option<&str>) -> Result<Vec<u8>, String> {
    let sdk = crate::tenants_cmd::sdk_config(endpoint).await;
    let value = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name(param)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read SSM parameter {param}: {}",
                sync_aws::describe(&e)
            )
        })?
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| format!("SSM parameter {param} holds no value"))?;
    admin_fn::link::parse_keys(&value)
        .map(|keys| keys[0].clone())
        .map_err(|problem| format!("SSM parameter {param} {problem}"))
}

pub async fn run_link(args: AdminLinkArgs) -> u8 {
    if !admin_fn::link::valid_tenant_id(&args.tenant) {
        eprintln!("personio-sync: --tenant must be 1 to 64 of A-Z a-z 0-9 _ . - :");
        return EXIT_CONFIG;
    }
    let key = match &args.key_param {
        Some(param) => key_from_ssm(param, args.endpoint_url.as_deref()).await,
        None => local_key(&args.state),
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            eprintln!("personio-sync: {e}");
            return EXIT_CONFIG;
        }
    };
    println!(
        "{}",
        admin_fn::link::mint(
            &key,
            &args.base_url,
            &args.tenant,
            chrono::Duration::minutes(i64::from(args.valid_minutes)),
            chrono::Utc::now(),
        )
    );
    EXIT_OK
}

pub async fn run(args: AdminArgs) -> u8 {
    match args.command {
        AdminCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> u8 {
    if let Some(tenant) = args
        .tenant
        .as_deref()
        .filter(|t| !admin_fn::link::valid_tenant_id(t))
    {
        eprintln!("personio-sync: --tenant '{tenant}' must be 1 to 64 of A-Z a-z 0-9 _ . - :");
        return EXIT_CONFIG;
    }
    let key = match local_key(&args.state) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("personio-sync: {e}");
            return EXIT_CONFIG;
        }
    };
    let company =
        sandbox::generate_company(args.employees, args.seed, chrono::Utc::now().date_naive());
    let local = match LocalAdmin::start(company, &args.state, key.clone()).await {
        Ok(local) => local,
        Err(e) => {
            eprintln!("personio-sync: {e}");
            return EXIT_FAILED;
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "personio-sync: cannot listen on 127.0.0.1:{}: {e} (try another --port)",
                args.port
            );
            return EXIT_FAILED;
        }
    };
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    println!("Admin page       {base_url}/  (open it through an admin link)");
    println!("Kombo sandbox    {}", local.sandboxes.kombo_server.base_url);
    println!(
        "Learn Amp sandbox {}  (client id {}, secret {})",
        local.sandboxes.learnamp_server.base_url,
        crate::local::LEARNAMP_CLIENT_ID,
        crate::local::LEARNAMP_CLIENT_SECRET
    );
    println!(
        "Links: personio-sync admin-link --tenant T --base-url {base_url} --state {}",
        args.state.display()
    );
    if let (true, Some(tenant)) = (args.print_link, &args.tenant) {
        let link = admin_fn::link::mint(
            &key,
            &base_url,
            tenant,
            chrono::Duration::minutes(15),
            chrono::Utc::now(),
        );
        println!("\n{link}\n");
    }
    println!("Press Ctrl-C to stop.");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve_local(listener, local, &base_url, shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("personio-sync: the admin server stopped: {e}");
            EXIT_FAILED
        }
    }
}
