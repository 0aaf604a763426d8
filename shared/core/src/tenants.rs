//! Tenants as the deployment knows them: per tenant id, the Kombo integration to read, the Learn
//! Amp account to write to and the sync settings. Secrets are references (an SSM parameter or
//! Secrets Manager name), never the secret itself.
//!
//! A tenant registered by an operator (`personio-sync tenants add`) is keyed by its Kombo
//! integration id. A tenant that onboards itself on the admin page is keyed by the id Learn Amp
//! gives it (the admin link's tenant), and is bound to the integration its admin connects.

use crate::connect::{IntegrationInfo, IntegrationStatus, SetupStatus};
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
    /// Which Kombo integration the tenant reads. Records written before self-service have none:
    /// their tenant id is the integration id.
    #[serde(default)]
    pub kombo: KomboConnection,
    /// Whether runs the admin did not ask for (the schedule's, webhooks') may write. A tenant
    /// that onboards itself waits for its admin to preview and start the first import: until
    /// then nothing is written to its Learn Amp account (the invite policy, scope and custom
    /// fields are still being chosen).
    #[serde(default)]
    pub first_import: FirstImport,
    /// The write of the record this copy was read at (none: not read from the store).
    #[serde(skip)]
    pub revision: Revision,
}

/// Which write of a tenant's record a copy was read at, so that a write made from the copy
/// replaces the record only if no other write came in between ([`TenantStore::update_tenant`]):
/// a webhook's statuses, an admin's settings and a run's refresh each change the record read
/// whole, and none may undo another's. Not part of the record's value: copies compare equal
/// whatever their revisions.
#[derive(Debug, Clone, Default)]
pub struct Revision(pub Option<String>);

impl Revision {
    /// The revision of a record written before records had revisions.
    pub fn unversioned() -> Self {
        Self(Some(String::new()))
    }
}

impl PartialEq for Revision {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Whether a tenant's first import was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FirstImport {
    /// Started by the admin ("Import all from Personio"), or the tenant was registered by an
    /// operator (records written before self-service read as this).
    #[default]
    Started,
    /// Onboarding: only the admin's own import, and previews, may run.
    AwaitingAdmin,
}

/// How a tenant reaches its Personio through Kombo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KomboConnection {
    /// Registered by an operator: the tenant id is the Kombo integration id.
    #[default]
    TenantIdIsIntegration,
    /// Onboarding on the admin page, no integration bound yet.
    NotConnected,
    /// Bound through Kombo's connection flow (or its `integration-created` webhook) to the
    /// integration whose `end_user_origin_id` is this tenant.
    Connected {
        integration_id: String,
        status: IntegrationStatus,
        setup_status: SetupStatus,
        /// When Kombo last told us the statuses (a webhook or a status read).
        checked_at: DateTime<Utc>,
    },
}

/// Why an integration was not bound to a tenant. The messages are the admin's: they say what to
/// do, and name integrations by id only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindRefusal {
    /// The integration was connected for another tenant (or for none).
    #[error("this Personio connection was made for another Learn Amp account: start the connection again from this page")]
    OtherTenant,
    #[error("the connection is to {tool}, not Personio: connect Personio")]
    NotPersonio { tool: String },
    /// The tenant already reads another integration, which still exists at Kombo.
    #[error("Personio is already connected (integration {integration_id}){}", if *.relink { ": its connection broke, reconnect it instead of adding another" } else { ": disconnect it first to connect another" })]
    AlreadyConnected {
        integration_id: String,
        /// Its credentials broke (`INVALID`): the admin relinks it.
        relink: bool,
    },
}

impl TenantConfig {
    /// The Kombo integration to read, if the tenant has one.
    pub fn integration_id(&self) -> Option<&str> {
        match &self.kombo {
            KomboConnection::TenantIdIsIntegration => Some(&self.settings.tenant_id),
            KomboConnection::NotConnected => None,
            KomboConnection::Connected { integration_id, .. } => Some(integration_id),
        }
    }

    /// Binds the integration an admin connected (its token, or Kombo's `integration-created`
    /// webhook, named it) to this tenant, or says why not. Binding the integration already bound
    /// refreshes its statuses. Kombo does not deduplicate integrations, so a second one is refused
    /// while the first still works; one whose credentials broke (`INVALID`) is relinked instead.
    pub fn bind_integration(
        &self,
        integration: &IntegrationInfo,
        now: DateTime<Utc>,
    ) -> Result<KomboConnection, BindRefusal> {
        if integration.end_user_origin_id.as_deref() != Some(self.settings.tenant_id.as_str()) {
            return Err(BindRefusal::OtherTenant);
        }
        if integration.tool != "personio" {
            return Err(BindRefusal::NotPersonio {
                tool: integration.tool.clone(),
            });
        }
        let bound = KomboConnection::Connected {
            integration_id: integration.integration_id.clone(),
            status: integration.status.clone(),
            setup_status: integration.setup_status.clone(),
            checked_at: now,
        };
        match &self.kombo {
            KomboConnection::NotConnected => Ok(bound),
            KomboConnection::Connected { integration_id, .. }
                if *integration_id == integration.integration_id =>
            {
                Ok(bound)
            }
            // The old one was deleted or paused at Kombo: the new one replaces it.
            KomboConnection::Connected {
                status: IntegrationStatus::Inactive,
                ..
            } => Ok(bound),
            KomboConnection::Connected {
                integration_id,
                status,
                ..
            } => Err(BindRefusal::AlreadyConnected {
                integration_id: integration_id.clone(),
                relink: *status == IntegrationStatus::Invalid,
            }),
            KomboConnection::TenantIdIsIntegration => Err(BindRefusal::AlreadyConnected {
                integration_id: self.settings.tenant_id.clone(),
                relink: false,
            }),
        }
    }

    /// Reads Personio through `connection` from now on. A connection to another integration
    /// than the one read so far (or to none) may read another Personio: its first import waits
    /// for the admin's preview and start again, as the tenant's very first one did.
    pub fn set_connection(&mut self, connection: KomboConnection) {
        let before = self.integration_id().map(str::to_string);
        self.kombo = connection;
        if self.integration_id() != before.as_deref() {
            self.first_import = FirstImport::AwaitingAdmin;
        }
    }

    /// Whether the tenant's Learn Amp account was entered: its API Base URL, client id and the
    /// name of its secret.
    pub fn learnamp_configured(&self) -> bool {
        !self.learnamp_base_url.is_empty()
            && !self.learnamp_client_id.is_empty()
            && !self.learnamp_client_secret_ref.is_empty()
    }

    /// Whether a sync may read Kombo for this tenant: it has an integration, and Kombo finished
    /// the integration's setup (before it, Kombo's data is partial and would read as leavers).
    pub fn ready_to_sync(&self) -> bool {
        match &self.kombo {
            KomboConnection::TenantIdIsIntegration => true,
            KomboConnection::NotConnected => false,
            KomboConnection::Connected { setup_status, .. } => {
                *setup_status == SetupStatus::Completed
            }
        }
    }
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
    /// Writes the tenant's record whatever it holds (an operator registering a tenant).
    async fn put_tenant(&self, config: &TenantConfig) -> Result<(), StoreError>;
    /// Writes `config` back only if the record is still at the revision `config` was read at
    /// (a copy not read from the store: only if there is no record yet), and moves `config` to
    /// the new revision. Otherwise [`StoreError::Conflict`] and nothing is written: read the
    /// record again and make the change again.
    async fn update_tenant(&self, config: &mut TenantConfig) -> Result<(), StoreError>;
    /// Records a lifecycle event on a registered tenant, touching nothing else of it (so that a
    /// concurrent `tenants disable` is not undone). An unknown tenant is left alone.
    async fn record_event(&self, tenant_id: &str, event: &TenantEvent) -> Result<(), StoreError>;

    /// The tenant that reads this Kombo integration: the one keyed by it, or the one bound to
    /// it. Stores with an index of bindings override this scan.
    async fn tenant_for_integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<TenantConfig>, StoreError> {
        if let Some(keyed) = self.tenant(integration_id).await? {
            if keyed.integration_id() == Some(integration_id) {
                return Ok(Some(keyed));
            }
        }
        Ok(self
            .tenants()
            .await?
            .into_iter()
            .find(|tenant| tenant.integration_id() == Some(integration_id)))
    }
}

/// How many times [`change_tenant`] makes its change again over a newer record before it gives
/// up with [`StoreError::Conflict`].
pub const TENANT_WRITE_ATTEMPTS: usize = 5;

/// Makes `change` to the tenant's record as it is stored now, and stores the result over exactly
/// that record; when another write came in between, reads the record again and makes the change
/// again, so that neither write undoes the other. `change` gets the record (none: not stored
/// yet) and returns the record to store, or none to store nothing. Answers the record as stored
/// after the change (as read, when nothing was stored).
pub async fn change_tenant<E: From<StoreError>>(
    tenants: &dyn TenantStore,
    tenant_id: &str,
    mut change: impl FnMut(Option<TenantConfig>) -> Result<Option<TenantConfig>, E>,
) -> Result<Option<TenantConfig>, E> {
    for _ in 0..TENANT_WRITE_ATTEMPTS {
        let read = tenants.tenant(tenant_id).await?;
        let Some(mut changed) = change(read.clone())? else {
            return Ok(read);
        };
        match tenants.update_tenant(&mut changed).await {
            Ok(()) => return Ok(Some(changed)),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict(tenant_id.to_string()).into())
}

/// The embedded tenant list, for tests and local runs.
#[derive(Default)]
pub struct InMemoryTenants {
    records: Mutex<BTreeMap<String, TenantConfig>>,
    writes: std::sync::atomic::AtomicU64,
}

impl InMemoryTenants {
    fn next_revision(&self) -> Revision {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Revision(Some((n + 1).to_string()))
    }
}

#[async_trait]
impl TenantStore for InMemoryTenants {
    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantConfig>, StoreError> {
        Ok(self.records.lock().expect("lock").get(tenant_id).cloned())
    }

    async fn tenants(&self) -> Result<Vec<TenantConfig>, StoreError> {
        Ok(self
            .records
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect())
    }

    async fn put_tenant(&self, config: &TenantConfig) -> Result<(), StoreError> {
        let mut stored = config.clone();
        stored.revision = self.next_revision();
        let mut records = self.records.lock().expect("lock");
        records.insert(config.settings.tenant_id.clone(), stored);
        Ok(())
    }

    async fn update_tenant(&self, config: &mut TenantConfig) -> Result<(), StoreError> {
        let mut records = self.records.lock().expect("lock");
        let tenant = &config.settings.tenant_id;
        let unchanged = match (records.get(tenant), &config.revision.0) {
            (None, None) => true,
            (Some(current), Some(read)) => current.revision.0.as_ref() == Some(read),
            _ => false,
        };
        if !unchanged {
            return Err(StoreError::Conflict(tenant.clone()));
        }
        config.revision = self.next_revision();
        records.insert(tenant.clone(), config.clone());
        Ok(())
    }

    async fn record_event(&self, tenant_id: &str, event: &TenantEvent) -> Result<(), StoreError> {
        if let Some(config) = self.records.lock().expect("lock").get_mut(tenant_id) {
            config.last_event = Some(event.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::TenantSettings;

    fn tenant(kombo: KomboConnection) -> TenantConfig {
        TenantConfig {
            settings: TenantSettings::new("tenant-a"),
            learnamp_base_url: String::new(),
            learnamp_client_id: String::new(),
            learnamp_client_secret_ref: String::new(),
            learnamp_scope: None,
            personio_company_id: None,
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo,
        }
    }

    fn integration(id: &str, origin: Option<&str>) -> IntegrationInfo {
        IntegrationInfo {
            integration_id: id.into(),
            tool: "personio".into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::Incomplete,
            end_user_origin_id: origin.map(str::to_string),
        }
    }

    fn connected(id: &str, status: IntegrationStatus) -> KomboConnection {
        KomboConnection::Connected {
            integration_id: id.into(),
            status,
            setup_status: SetupStatus::Completed,
            checked_at: Utc::now(),
        }
    }

    #[test]
    fn an_integration_binds_only_to_the_tenant_it_was_made_for() {
        let now = Utc::now();
        let waiting = tenant(KomboConnection::NotConnected);
        assert!(!waiting.ready_to_sync());
        assert_eq!(waiting.integration_id(), None);
        let bound = waiting
            .bind_integration(&integration("personio:1", Some("tenant-a")), now)
            .unwrap();
        let mut now_bound = waiting.clone();
        now_bound.kombo = bound;
        assert_eq!(now_bound.integration_id(), Some("personio:1"));
        assert!(
            !now_bound.ready_to_sync(),
            "the first import waits for COMPLETED"
        );

        for origin in [Some("tenant-b"), None] {
            assert_eq!(
                waiting.bind_integration(&integration("personio:2", origin), now),
                Err(BindRefusal::OtherTenant)
            );
        }
        let mut other_tool = integration("bamboohr:1", Some("tenant-a"));
        other_tool.tool = "bamboohr".into();
        assert!(matches!(
            waiting.bind_integration(&other_tool, now),
            Err(BindRefusal::NotPersonio { .. })
        ));
    }

    /// A write that came in between a change's read and its write is not undone: the change is
    /// made again over it.
    #[tokio::test]
    async fn a_change_is_made_again_over_a_write_that_came_in_between() {
        let tenants = InMemoryTenants::default();
        tenants
            .put_tenant(&tenant(KomboConnection::NotConnected))
            .await
            .unwrap();
        let mut calls = 0;
        let changed = change_tenant(&tenants, "tenant-a", |stored| {
            calls += 1;
            if calls == 1 {
                // Another writer, between this change's read and its write.
                let mut records = tenants.records.lock().unwrap();
                let other = records.get_mut("tenant-a").unwrap();
                other.learnamp_client_id = "the other writer's".into();
                other.revision = tenants.next_revision();
            }
            Ok::<_, StoreError>(stored.map(|mut c| {
                c.enabled = false;
                c
            }))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(calls, 2);
        let stored = tenants.tenant("tenant-a").await.unwrap().unwrap();
        assert_eq!(stored, changed);
        assert_eq!(
            (stored.learnamp_client_id.as_str(), stored.enabled),
            ("the other writer's", false)
        );
        // A copy not read from the store creates only.
        let mut fresh = tenant(KomboConnection::NotConnected);
        assert!(matches!(
            tenants.update_tenant(&mut fresh).await,
            Err(StoreError::Conflict(_))
        ));
    }

    /// Another integration may read another Personio: its first import waits for the admin,
    /// whatever the tenant's imports before. The same integration (a relink) changes nothing.
    #[test]
    fn a_connection_to_another_integration_waits_for_the_admins_first_import_again() {
        let mut imported = tenant(connected("personio:1", IntegrationStatus::Active));
        imported.first_import = FirstImport::Started;
        let mut relinked = imported.clone();
        relinked.set_connection(connected("personio:1", IntegrationStatus::Active));
        assert_eq!(relinked.first_import, FirstImport::Started);
        for connection in [
            connected("personio:2", IntegrationStatus::Active),
            KomboConnection::NotConnected,
        ] {
            let mut changed = imported.clone();
            changed.set_connection(connection.clone());
            assert_eq!(changed.kombo, connection);
            assert_eq!(changed.first_import, FirstImport::AwaitingAdmin);
        }
    }

    #[test]
    fn a_second_integration_is_refused_while_the_first_exists() {
        let now = Utc::now();
        let second = integration("personio:2", Some("tenant-a"));
        let active = tenant(connected("personio:1", IntegrationStatus::Active));
        assert_eq!(
            active.bind_integration(&second, now),
            Err(BindRefusal::AlreadyConnected {
                integration_id: "personio:1".into(),
                relink: false
            })
        );
        let broken = tenant(connected("personio:1", IntegrationStatus::Invalid));
        assert_eq!(
            broken.bind_integration(&second, now),
            Err(BindRefusal::AlreadyConnected {
                integration_id: "personio:1".into(),
                relink: true
            })
        );
        let deleted = tenant(connected("personio:1", IntegrationStatus::Inactive));
        assert!(deleted.bind_integration(&second, now).is_ok());
        // The same integration again (the webhook after the token): its statuses refreshed.
        let same = integration("personio:1", Some("tenant-a"));
        assert!(active.bind_integration(&same, now).is_ok());
        // An operator-registered tenant reads its own id.
        let legacy = tenant(KomboConnection::TenantIdIsIntegration);
        assert_eq!(legacy.integration_id(), Some("tenant-a"));
        assert!(legacy.ready_to_sync());
        assert!(legacy.bind_integration(&second, now).is_err());
    }
}
