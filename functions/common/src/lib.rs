//! What the webhook, sync and apply functions share: their configuration from the environment,
//! secrets from SSM, and the per-tenant Kombo and Learn Amp clients (built once per tenant and
//! kept across invocations, so the Learn Amp token cache lives as long as the execution
//! environment).

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
pub use sync_clients::RetryPolicy;
use sync_clients::{KomboClient, KomboConnectClient, LearnAmpClient};
use sync_core::connect::KomboConnect;
use sync_core::ports::{HrisSource, LearnAmp};
use sync_core::tenants::TenantConfig;
use thiserror::Error;
use tokio::sync::Mutex;

pub mod config;
pub mod metrics;
#[cfg(feature = "testing")]
pub mod testing;

/// The clients a run for one tenant talks to.
#[derive(Clone)]
pub struct TenantClients {
    pub hris: Arc<dyn HrisSource>,
    pub learnamp: Arc<dyn LearnAmp>,
}

#[async_trait]
pub trait ClientFactory: Send + Sync {
    async fn clients(&self, tenant: &TenantConfig) -> Result<TenantClients, ClientsError>;

    /// Kombo's connection endpoints with the deployment's API key (to refresh a bound
    /// integration's status), if this factory reads Kombo.
    fn connect(&self) -> Option<&dyn KomboConnect> {
        None
    }
}

/// Why a tenant's clients could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientsError {
    #[error("the tenant's Learn Amp client secret: {0}")]
    LearnAmpSecret(#[from] SecretError),
    /// Onboarding on the admin page: its admin has not connected Personio yet.
    #[error("tenant {tenant} has no Kombo integration yet: its admin connects Personio on the integration page")]
    NotConnected { tenant: String },
}

impl ClientsError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::LearnAmpSecret(e) => e.is_retryable(),
            Self::NotConnected { .. } => false,
        }
    }
}

/// Why a secret could not be read. Names the parameter, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    /// No such parameter, or one without a value: an operator must create it.
    #[error("SSM parameter {reference} does not exist or holds no value")]
    Missing { reference: String },
    /// The function may not read or decrypt it (IAM, KMS): an operator must grant it.
    #[error("SSM parameter {reference} may not be read: {message}")]
    Refused { reference: String, message: String },
    /// SSM failed or could not be reached: a later attempt may succeed.
    #[error("SSM parameter {reference} could not be read: {message}")]
    Unavailable { reference: String, message: String },
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Where secrets come from. Production reads SSM SecureString parameters; tests give them.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret(&self, reference: &str) -> Result<String, SecretError>;
}

/// Secrets from SSM Parameter Store (SecureString, decrypted).
pub struct SsmSecrets(pub aws_sdk_ssm::Client);

impl SsmSecrets {
    /// A client for `config`: an `aws_config::SdkConfig`, by reference.
    pub fn new<C>(config: C) -> Self
    where
        aws_sdk_ssm::Config: From<C>,
    {
        Self(aws_sdk_ssm::Client::from_conf(config.into()))
    }
}

#[async_trait]
impl SecretSource for SsmSecrets {
    async fn secret(&self, reference: &str) -> Result<String, SecretError> {
        let out = self
            .0
            .get_parameter()
            .name(reference)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| ssm_error(reference, e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| SecretError::Missing {
                reference: reference.to_string(),
            })
    }
}

fn ssm_error(
    reference: &str,
    error: aws_sdk_ssm::error::SdkError<aws_sdk_ssm::operation::get_parameter::GetParameterError>,
) -> SecretError {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    let reference = reference.to_string();
    let missing = error
        .as_service_error()
        .is_some_and(|e| e.is_parameter_not_found() || e.is_parameter_version_not_found());
    if missing {
        return SecretError::Missing { reference };
    }
    let message = sync_aws::describe(&error);
    let refused = error
        .as_service_error()
        .is_some_and(|e| e.is_invalid_key_id())
        || error.code() == Some("AccessDeniedException");
    if refused {
        SecretError::Refused { reference, message }
    } else {
        SecretError::Unavailable { reference, message }
    }
}

/// Where the admin function writes a tenant's Learn Amp client secret: an SSM SecureString
/// parameter in production, memory locally.
#[async_trait]
pub trait SecretWriter: Send + Sync {
    /// Writes (or overwrites) the secret `name` names. The value is never logged.
    async fn put_secret(&self, name: &str, value: &str) -> Result<(), SecretError>;
}

#[async_trait]
impl SecretWriter for SsmSecrets {
    async fn put_secret(&self, name: &str, value: &str) -> Result<(), SecretError> {
        use aws_sdk_ssm::error::ProvideErrorMetadata;
        let result = self
            .0
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reference = name.to_string();
                let message = sync_aws::describe(&e);
                if e.code() == Some("AccessDeniedException")
                    || e.as_service_error().is_some_and(|s| s.is_invalid_key_id())
                {
                    Err(SecretError::Refused { reference, message })
                } else {
                    Err(SecretError::Unavailable { reference, message })
                }
            }
        }
    }
}

/// Secrets in memory, read and written: the local admin server's secret store, which the
/// clients it builds read from.
#[derive(Default)]
pub struct MemorySecrets(std::sync::Mutex<HashMap<String, String>>);

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn secret(&self, reference: &str) -> Result<String, SecretError> {
        self.0
            .lock()
            .expect("secrets lock")
            .get(reference)
            .cloned()
            .ok_or_else(|| SecretError::Missing {
                reference: reference.to_string(),
            })
    }
}

#[async_trait]
impl SecretWriter for MemorySecrets {
    async fn put_secret(&self, name: &str, value: &str) -> Result<(), SecretError> {
        self.0
            .lock()
            .expect("secrets lock")
            .insert(name.to_string(), value.to_string());
        Ok(())
    }
}

/// Fixed secrets by reference, for tests and local runs.
pub struct StaticSecrets(pub HashMap<String, String>);

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn secret(&self, reference: &str) -> Result<String, SecretError> {
        self.0
            .get(reference)
            .cloned()
            .ok_or_else(|| SecretError::Missing {
                reference: reference.to_string(),
            })
    }
}

/// The real clients: one Kombo client per tenant (the deployment's API key, the tenant's
/// integration id) and one Learn Amp client per tenant (its base URL, id and secret).
pub struct HttpClients {
    kombo_base_url: String,
    kombo_api_key: String,
    secrets: Arc<dyn SecretSource>,
    retry: RetryPolicy,
    cache: Mutex<HashMap<String, CachedClients>>,
    /// `None` without a Kombo API key.
    connect: Option<KomboConnectClient>,
}

/// A warm function keeps a tenant's clients (and so its Learn Amp token) this long, then reads
/// the secret again: a rotated secret is picked up within this time.
pub const CLIENTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

struct CachedClients {
    clients: TenantClients,
    /// The Learn Amp account the clients were built for: another one (the tenant was
    /// re-registered) means new clients.
    account: Account,
    built_at: std::time::Instant,
}

/// What the cached clients were built from: a change to any of it builds them anew.
type Account = (Option<String>, String, String, String, Option<String>);

fn account_of(tenant: &TenantConfig) -> Account {
    (
        tenant.integration_id().map(str::to_string),
        tenant.learnamp_base_url.clone(),
        tenant.learnamp_client_id.clone(),
        tenant.learnamp_client_secret_ref.clone(),
        tenant.learnamp_scope.clone(),
    )
}

impl HttpClients {
    pub fn new(
        kombo_base_url: String,
        kombo_api_key: String,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        let connect = (!kombo_api_key.is_empty())
            .then(|| KomboConnectClient::new(&kombo_base_url, &kombo_api_key));
        Self {
            kombo_base_url,
            kombo_api_key,
            secrets,
            retry: RetryPolicy::default(),
            cache: Mutex::new(HashMap::new()),
            connect,
        }
    }

    /// Clients for a function that never reads Kombo (apply): no Kombo API key is fetched, and
    /// a Kombo call would fail.
    pub fn without_kombo(secrets: Arc<dyn SecretSource>) -> Self {
        Self::new(String::new(), String::new(), secrets)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.connect = self.connect.map(|c| c.with_retry(retry.clone()));
        self.retry = retry;
        self
    }
}

#[async_trait]
impl ClientFactory for HttpClients {
    async fn clients(&self, tenant: &TenantConfig) -> Result<TenantClients, ClientsError> {
        let id = &tenant.settings.tenant_id;
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(id) {
            if cached.account == account_of(tenant) && cached.built_at.elapsed() < CLIENTS_MAX_AGE {
                return Ok(cached.clients.clone());
            }
        }
        // Without a Kombo API key this factory serves a function that never reads Kombo.
        let integration_id = match tenant.integration_id() {
            Some(integration_id) => integration_id,
            None if self.kombo_api_key.is_empty() => "",
            None => return Err(ClientsError::NotConnected { tenant: id.clone() }),
        };
        let secret = self
            .secrets
            .secret(&tenant.learnamp_client_secret_ref)
            .await?;
        let clients = TenantClients {
            hris: Arc::new(
                KomboClient::new(&self.kombo_base_url, &self.kombo_api_key, integration_id)
                    .with_retry(self.retry.clone()),
            ),
            learnamp: Arc::new(
                LearnAmpClient::new(
                    &tenant.learnamp_base_url,
                    &tenant.learnamp_client_id,
                    &secret,
                )
                .with_scope(tenant.learnamp_scope.clone())
                .with_retry(self.retry.clone()),
            ),
        };
        cache.insert(
            id.clone(),
            CachedClients {
                clients: clients.clone(),
                account: account_of(tenant),
                built_at: std::time::Instant::now(),
            },
        );
        Ok(clients)
    }

    fn connect(&self) -> Option<&dyn KomboConnect> {
        self.connect.as_ref().map(|c| c as &dyn KomboConnect)
    }
}

/// Logs as JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), ids only.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // With a timestamp: Lambda's log-level filtering gives a line without one (or without a
    // level, as the metric lines are) the level INFO.
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::TenantSettings;

    fn tenant(client_id: &str) -> TenantConfig {
        TenantConfig {
            settings: TenantSettings::new("personio:cache"),
            learnamp_base_url: "https://api.learnamp.com".into(),
            learnamp_client_id: client_id.into(),
            learnamp_client_secret_ref: "/personio-sync/tenants/cache/secret".into(),
            learnamp_scope: None,
            personio_company_id: None,
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo: Default::default(),
        }
    }

    #[tokio::test]
    async fn clients_are_reused_until_the_tenant_names_another_account() {
        let secrets = StaticSecrets(HashMap::from([(
            "/personio-sync/tenants/cache/secret".to_string(),
            "s".to_string(),
        )]));
        let clients = HttpClients::new("https://kombo".into(), "k".into(), Arc::new(secrets));
        let first = clients.clients(&tenant("a")).await.unwrap();
        let again = clients.clients(&tenant("a")).await.unwrap();
        assert!(Arc::ptr_eq(&first.learnamp, &again.learnamp), "reused");
        let other = clients.clients(&tenant("b")).await.unwrap();
        assert!(
            !Arc::ptr_eq(&first.learnamp, &other.learnamp),
            "a re-registered tenant gets new clients"
        );
    }
}
