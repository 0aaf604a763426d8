//! `personio-sync tenants add|list|show|disable`: the tenants of an AWS deployment, in its
//! DynamoDB state table. The Learn Amp client secret goes to an SSM SecureString parameter;
//! the table holds only its name.

use crate::settings_args::{learnamp_account, required, ConfigError, SettingsArgs};
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use clap::{Args, Subcommand};
use sync_aws::DynamoStateStore;
use sync_core::tenants::{TenantConfig, TenantStore};
use sync_core::InvitePolicy;

#[derive(Args)]
pub struct TenantsArgs {
    #[command(subcommand)]
    command: TenantsCommand,
    /// The deployment's state table (the stack output StateTableName)
    #[arg(long, env = "STATE_TABLE", global = true)]
    table: Option<String>,
    /// Another endpoint for DynamoDB and SSM, e.g. a moto server: http://127.0.0.1:5000
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Registers a tenant, or replaces its settings (enabled).
    Add(Box<AddArgs>),
    /// Lists the tenants, one line each.
    List,
    /// Prints one tenant's settings as JSON.
    Show { integration_id: String },
    /// Stops syncing a tenant: the schedule skips it and its webhooks are not queued.
    Disable { integration_id: String },
    /// Syncs a disabled tenant again.
    Enable { integration_id: String },
    /// Writes a new Learn Amp client secret (from LEARNAMP_CLIENT_SECRET) to the tenant's SSM
    /// parameter; nothing else of the tenant changes. Warm functions use it within 15 minutes.
    SetSecret {
        integration_id: String,
        #[arg(long, env = "LEARNAMP_CLIENT_SECRET", hide_env_values = true)]
        learnamp_client_secret: Option<String>,
    },
    /// Changes when new users are invited: immediately, on_hire_date or manual. Users already
    /// created keep their invitation state; the policy applies to joiners from now on.
    SetInvitePolicy {
        integration_id: String,
        policy: String,
    },
    /// Changes the scopes the Learn Amp token is asked for (space-separated, quoted), or
    /// `default` for the scopes the sync needs (none for legacy credentials that refuse them).
    SetScope {
        integration_id: String,
        scope: String,
    },
}

#[derive(Args)]
struct AddArgs {
    /// The tenant's Kombo integration id, e.g. personio:CBNMt7dSNCzBdnRTx87dev4E
    #[arg(long, env = "KOMBO_INTEGRATION_ID")]
    integration_id: Option<String>,
    /// The Learn Amp account's API Base URL, e.g. https://api.learnamp.com
    #[arg(long, env = "LEARNAMP_BASE_URL")]
    learnamp_url: Option<String>,
    #[arg(long, env = "LEARNAMP_CLIENT_ID")]
    learnamp_client_id: Option<String>,
    /// The SSM parameter that holds the client secret, under the stack's SecretPrefix, e.g.
    /// /personio-sync/tenants/acme/learnamp-client-secret
    #[arg(long)]
    learnamp_client_secret_param: Option<String>,
    /// Given, the secret is written to that parameter as a SecureString (never to the table)
    #[arg(long, env = "LEARNAMP_CLIENT_SECRET", hide_env_values = true)]
    learnamp_client_secret: Option<String>,
    /// Personio's company id, for Personio's own webhooks
    #[arg(long)]
    personio_company_id: Option<String>,
    /// The scopes the Learn Amp token is asked for, space-separated; default: the scopes the
    /// sync needs (none for legacy credentials that refuse them)
    #[arg(long, env = "LEARNAMP_SCOPE")]
    learnamp_scope: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
}

impl AddArgs {
    fn into_config(self) -> Result<(TenantConfig, Option<String>), ConfigError> {
        let integration_id = required(
            self.integration_id,
            "--integration-id",
            "KOMBO_INTEGRATION_ID",
        )?;
        if !integration_id.contains(':') {
            return Err(ConfigError(format!(
                "--integration-id must be a Kombo integration id such as personio:CBNMt7dSNCzBdnRTx87dev4E, got '{integration_id}'"
            )));
        }
        let (learnamp_base_url, learnamp_client_id) =
            learnamp_account(self.learnamp_url, self.learnamp_client_id)?;
        let secret_ref = self
            .learnamp_client_secret_param
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| ConfigError("missing --learnamp-client-secret-param".into()))?;
        if !secret_ref.starts_with('/') {
            return Err(ConfigError(format!(
                "--learnamp-client-secret-param must be an SSM parameter path starting with /, got '{secret_ref}'"
            )));
        }
        let config = TenantConfig {
            settings: self.settings.into_settings(integration_id)?,
            learnamp_base_url,
            learnamp_client_id,
            learnamp_client_secret_ref: secret_ref,
            learnamp_scope: self.learnamp_scope.and_then(scope_setting),
            personio_company_id: self.personio_company_id.filter(|c| !c.trim().is_empty()),
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo: Default::default(),
        };
        Ok((config, self.learnamp_client_secret))
    }
}

/// A scope as given: space-separated scopes, or `default` (or nothing) for the default.
fn scope_setting(scope: String) -> Option<String> {
    let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
    (!scope.is_empty() && scope != "default").then_some(scope)
}

pub async fn sdk_config(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

pub async fn run(args: TenantsArgs) -> u8 {
    let table = match required(args.table, "--table", "STATE_TABLE") {
        Ok(t) => t,
        Err(ConfigError(m)) => {
            eprintln!("personio-sync: {m}");
            return EXIT_CONFIG;
        }
    };
    // Validate before touching AWS: a typo costs nothing.
    let action = match args.command {
        TenantsCommand::Add(add) => match add.into_config() {
            Ok((tenant, secret)) => Action::Add(Box::new(tenant), secret),
            Err(ConfigError(m)) => {
                eprintln!("personio-sync: {m}");
                return EXIT_CONFIG;
            }
        },
        TenantsCommand::List => Action::List,
        TenantsCommand::Show { integration_id } => Action::Show(integration_id),
        TenantsCommand::Disable { integration_id } => Action::Enabled(integration_id, false),
        TenantsCommand::Enable { integration_id } => Action::Enabled(integration_id, true),
        TenantsCommand::SetSecret {
            integration_id,
            learnamp_client_secret,
        } => match required(
            learnamp_client_secret,
            "--learnamp-client-secret",
            "LEARNAMP_CLIENT_SECRET",
        ) {
            Ok(secret) => Action::Secret(integration_id, secret),
            Err(ConfigError(m)) => {
                eprintln!("personio-sync: {m}");
                return EXIT_CONFIG;
            }
        },
        TenantsCommand::SetScope {
            integration_id,
            scope,
        } => Action::Scope(integration_id, scope_setting(scope)),
        TenantsCommand::SetInvitePolicy {
            integration_id,
            policy,
        } => match policy.parse::<InvitePolicy>() {
            Ok(policy) => Action::InvitePolicy(integration_id, policy),
            Err(e) => {
                eprintln!("personio-sync: invite policy: {e}");
                return EXIT_CONFIG;
            }
        },
    };
    let config = sdk_config(args.endpoint_url.as_deref()).await;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let result = match action {
        Action::Add(tenant, secret) => add_tenant(&store, &config, *tenant, secret).await,
        Action::List => list(&store).await,
        Action::Show(id) => show(&store, &id).await,
        Action::Secret(id, secret) => match existing(&store, &id).await {
            Ok(tenant) => put_secret(&config, &tenant.learnamp_client_secret_ref, secret)
                .await
                .map(|()| {
                    println!(
                        "tenant {id}: secret written to {}",
                        tenant.learnamp_client_secret_ref
                    )
                }),
            Err(e) => Err(e),
        },
        Action::Enabled(id, enabled) => {
            change(
                &store,
                &id,
                |t| t.enabled = enabled,
                if enabled { "enabled" } else { "disabled" },
            )
            .await
        }
        Action::Scope(id, scope) => {
            let said = format!(
                "learn amp scope {}",
                scope.as_deref().unwrap_or("default (the sync's scopes)")
            );
            change(&store, &id, |t| t.learnamp_scope = scope, &said).await
        }
        Action::InvitePolicy(id, policy) => {
            change(
                &store,
                &id,
                |t| t.settings.invite_policy = policy,
                &format!("invite policy {}", policy.as_str()),
            )
            .await
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(Failure::Config(m)) => {
            eprintln!("personio-sync: {m}");
            EXIT_CONFIG
        }
        Err(Failure::Aws(m)) => {
            eprintln!("personio-sync: {m}");
            EXIT_FAILED
        }
    }
}

enum Action {
    Add(Box<TenantConfig>, Option<String>),
    List,
    Show(String),
    Enabled(String, bool),
    Secret(String, String),
    InvitePolicy(String, InvitePolicy),
    Scope(String, Option<String>),
}

enum Failure {
    Config(String),
    Aws(String),
}

async fn add_tenant(
    store: &DynamoStateStore,
    config: &aws_config::SdkConfig,
    tenant: TenantConfig,
    secret: Option<String>,
) -> Result<(), Failure> {
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        put_secret(config, &tenant.learnamp_client_secret_ref, secret).await?;
    }
    store
        .put_tenant(&tenant)
        .await
        .map_err(|e| Failure::Aws(format!("cannot write the tenant: {e}")))?;
    println!(
        "tenant {} registered (enabled, invite policy {})",
        tenant.settings.tenant_id,
        tenant.settings.invite_policy.as_str()
    );
    Ok(())
}

/// The secret, as an SSM SecureString: never the table, never a log.
async fn put_secret(
    config: &aws_config::SdkConfig,
    name: &str,
    secret: String,
) -> Result<(), Failure> {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(name)
        .value(secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| {
            Failure::Aws(format!(
                "cannot write SSM parameter {name}: {}",
                sync_aws::describe(&e)
            ))
        })?;
    Ok(())
}

async fn list(store: &DynamoStateStore) -> Result<(), Failure> {
    let mut tenants = store
        .tenants()
        .await
        .map_err(|e| Failure::Aws(format!("cannot read the tenants: {e}")))?;
    tenants.sort_by(|a, b| a.settings.tenant_id.cmp(&b.settings.tenant_id));
    for t in tenants {
        println!(
            "{}\t{}\t{}\t{}",
            t.settings.tenant_id,
            if t.enabled { "enabled" } else { "disabled" },
            t.settings.invite_policy.as_str(),
            t.learnamp_base_url
        );
    }
    Ok(())
}

async fn existing(store: &DynamoStateStore, id: &str) -> Result<TenantConfig, Failure> {
    store
        .tenant(id)
        .await
        .map_err(|e| Failure::Aws(format!("cannot read tenant {id}: {e}")))?
        .ok_or_else(|| {
            Failure::Config(format!(
                "no tenant {id}: `personio-sync tenants list` shows the registered ones"
            ))
        })
}

async fn show(store: &DynamoStateStore, id: &str) -> Result<(), Failure> {
    let tenant = existing(store, id).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&tenant).expect("settings serialize")
    );
    Ok(())
}

async fn change(
    store: &DynamoStateStore,
    id: &str,
    edit: impl FnOnce(&mut TenantConfig),
    what: &str,
) -> Result<(), Failure> {
    let mut tenant = existing(store, id).await?;
    edit(&mut tenant);
    // Only over the record as read: a webhook's or the admin page's write in between is not
    // undone (the error says to run the command again).
    store.update_tenant(&mut tenant).await.map_err(|e| {
        Failure::Aws(format!(
            "cannot write tenant {id}: {e}; run the command again"
        ))
    })?;
    println!("tenant {id}: {what}");
    Ok(())
}
