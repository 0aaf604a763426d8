//! Tenants as the deployment knows them: per Kombo integration id, the Learn Amp account to
//! write to and the sync settings. Secrets are references (an SSM parameter or Secrets Manager
//! name), never the secret itself.

use crate::error::StoreError;
use crate::settings::TenantSettings;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantConfig {
    pub settings: TenantSettings,
    pub learnamp_base_url: String,
    pub learnamp_client_id: String,
    /// Where the Learn Amp client secret lives: an SSM SecureString parameter name.
    pub learnamp_client_secret_ref: String,
    /// The scopes the Learn Amp token is asked for (space-separated). `None`: the scopes the
    /// sync needs, which credentials provisioned with granular scopes require, or none for
    /// legacy credentials that refuse them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learnamp_scope: Option<String>,
    /// For Personio's own webhooks, which name the company, not the integration.
    #[serde(default)]
    pub personio_company_id: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The last integration lifecycle event Kombo sent (created, deleted, state changed).
    #[serde(default)]
    pub last_event: Option<TenantEvent>,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEvent {
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantConfig>, StoreError>;
    async fn tenants(&self) -> Result<Vec<TenantConfig>, StoreError>;
    async fn put_tenant(&self, config: &TenantConfig) -> Result<(), StoreError>;
    /// Records a lifecycle event on a registered tenant, touching nothing else of it (so that a
    /// concurrent `tenants disable` is not undone). An unknown tenant is left alone.
    async fn record_event(&self, tenant_id: &str, event: &TenantEvent) -> Result<(), StoreError>;
}

/// The embedded tenant list, for tests and local runs.
#[derive(Default)]
pub struct InMemoryTenants(Mutex<BTreeMap<String, TenantConfig>>);

#[async_trait]
impl TenantStore for InMemoryTenants {
    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantConfig>, StoreError> {
        Ok(self.0.lock().expect("lock").get(tenant_id).cloned())
    }

    async fn tenants(&self) -> Result<Vec<TenantConfig>, StoreError> {
        Ok(self.0.lock().expect("lock").values().cloned().collect())
    }

    async fn put_tenant(&self, config: &TenantConfig) -> Result<(), StoreError> {
        self.0
            .lock()
            .expect("lock")
            .insert(config.settings.tenant_id.clone(), config.clone());
        Ok(())
    }

    async fn record_event(&self, tenant_id: &str, event: &TenantEvent) -> Result<(), StoreError> {
        if let Some(config) = self.0.lock().expect("lock").get_mut(tenant_id) {
            config.last_event = Some(event.clone());
        }
        Ok(())
    }
}
