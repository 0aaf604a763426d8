//! The tenant as the admin page sees it: its connection and Learn Amp account as JSON, whether
//! it is ready to import, and the tenant record a self-service tenant starts with.

use crate::error::ApiError;
use crate::AdminDeps;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sync_core::connect::{IntegrationStatus, SetupStatus};
use sync_core::error::StoreError;
use sync_core::tenants::{FirstImport, KomboConnection, TenantConfig};
use sync_core::TenantSettings;

/// The tenant's record, if it has one.
pub async fn tenant(
    tenant_id: &str,
    deps: &AdminDeps<'_>,
) -> Result<Option<TenantConfig>, ApiError> {
    Ok(deps.tenants.tenant(tenant_id).await?)
}

/// The tenant's record, or the one a self-service tenant starts with: not connected, no Learn
/// Amp account, default settings, and no run writing to Learn Amp before its admin starts the
/// first import. Stored only once something is saved.
pub async fn tenant_or_new(
    tenant_id: &str,
    deps: &AdminDeps<'_>,
) -> Result<TenantConfig, ApiError> {
    Ok(tenant(tenant_id, deps)
        .await?
        .unwrap_or_else(|| new_tenant(tenant_id)))
}

pub fn new_tenant(tenant_id: &str) -> TenantConfig {
    TenantConfig {
        settings: TenantSettings::new(tenant_id),
        learnamp_base_url: String::new(),
        learnamp_client_id: String::new(),
        learnamp_client_secret_ref: String::new(),
        learnamp_scope: None,
        personio_company_id: None,
        enabled: true,
        last_event: None,
        first_import: FirstImport::AwaitingAdmin,
        revision: Default::default(),
        kombo: KomboConnection::NotConnected,
    }
}

/// The tenant with its integration's statuses as Kombo gives them now, stored when they
/// changed. Kombo not answering leaves the last known ones.
pub async fn refreshed(
    tenant_id: &str,
    deps: &AdminDeps<'_>,
    now: DateTime<Utc>,
) -> Result<Option<TenantConfig>, ApiError> {
    let Some(mut config) = tenant(tenant_id, deps).await? else {
        return Ok(None);
    };
    let KomboConnection::Connected {
        integration_id,
        status,
        setup_status,
        ..
    } = &config.kombo
    else {
        return Ok(Some(config));
    };
    let (new_status, new_setup) = match deps.connect.integration(integration_id).await {
        Ok(Some(info)) => (info.status, info.setup_status),
        // Deleted at Kombo: a new connection may replace it.
        Ok(None) => (IntegrationStatus::Inactive, setup_status.clone()),
        Err(e) => {
            tracing::warn!(tenant = tenant_id, integration_id = %integration_id, error = %e, "admin: integration status not read; showing the last known");
            return Ok(Some(config));
        }
    };
    if new_status != *status || new_setup != *setup_status {
        config.kombo = KomboConnection::Connected {
            integration_id: integration_id.clone(),
            status: new_status,
            setup_status: new_setup,
            checked_at: now,
        };
        match deps.tenants.update_tenant(&mut config).await {
            Ok(()) => {}
            // Someone else wrote the record meanwhile (a webhook with fresher statuses, the
            // admin's own save): theirs stands, and is what the page shows.
            Err(StoreError::Conflict(_)) => return tenant(tenant_id, deps).await,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(config))
}

pub fn connection(config: Option<&TenantConfig>) -> Value {
    let none = json!({"state": "not_connected", "integration_id": null, "status": null, "setup_status": null});
    let Some(config) = config else { return none };
    match &config.kombo {
        KomboConnection::NotConnected => none,
        KomboConnection::TenantIdIsIntegration => json!({
            "state": "operator_managed",
            "integration_id": config.settings.tenant_id,
            "status": null,
            "setup_status": null,
        }),
        KomboConnection::Connected {
            integration_id,
            status,
            setup_status,
            ..
        } => json!({
            "state": "connected",
            "integration_id": integration_id,
            "status": status.as_str(),
            "setup_status": setup_status.as_str(),
        }),
    }
}

pub fn learnamp_configured(config: &TenantConfig) -> bool {
    config.learnamp_configured()
}

/// The Learn Amp account, never its secret.
pub fn learnamp(config: Option<&TenantConfig>) -> Value {
    match config.filter(|c| learnamp_configured(c)) {
        Some(c) => {
            json!({"configured": true, "base_url": c.learnamp_base_url, "client_id": c.learnamp_client_id})
        }
        None => json!({"configured": false, "base_url": null, "client_id": null}),
    }
}

/// Why an import cannot start now, in the admin's words; `None` when it can.
pub fn not_ready_reason(config: Option<&TenantConfig>) -> Option<String> {
    let Some(config) = config else {
        return Some("Connect Personio first.".into());
    };
    match &config.kombo {
        KomboConnection::NotConnected => return Some("Connect Personio first.".into()),
        KomboConnection::Connected {
            status: IntegrationStatus::Invalid,
            ..
        } => {
            return Some(
                "The Personio connection no longer works: reconnect Personio first.".into(),
            )
        }
        KomboConnection::Connected {
            status: IntegrationStatus::Inactive,
            ..
        } => return Some("The Personio connection was removed: connect Personio again.".into()),
        KomboConnection::Connected { setup_status, .. } if *setup_status != SetupStatus::Completed => {
            return Some(format!("Kombo is still reading your Personio (setup {setup_status}): the first import can start once it has finished."))
        }
        _ => {}
    }
    if !learnamp_configured(config) {
        return Some("Enter the Learn Amp API credentials first.".into());
    }
    if !config.enabled {
        return Some("This integration is paused by our team: contact support.".into());
    }
    debug_assert!(config.ready_to_sync());
    None
}
