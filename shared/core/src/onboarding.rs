//! How Kombo's integration lifecycle reaches a tenant: `integration-created` binds the new
//! integration to the tenant its `end_user.origin_id` names, `integration-state-changed` and
//! `integration-deleted` refresh the bound integration's statuses, and a tenant whose setup is
//! not `COMPLETED` is refreshed from Kombo before a scheduled run decides to wait.
//!
//! The webhook function and the local runner both use this; neither calls Kombo while
//! answering a webhook (a webhook's statuses are Kombo's word), only the sync does.

use crate::connect::{IntegrationInfo, IntegrationStatus, KomboConnect, SetupStatus};
use crate::error::{SourceError, StoreError};
use crate::kombo::WebhookEvent;
use crate::report::RunTrigger;
use crate::tenants::{
    BindRefusal, FirstImport, KomboConnection, TenantConfig, TenantEvent, TenantStore,
};
use crate::RunOptions;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Why a run skips a tenant whose admin has not entered its Learn Amp account yet (a scheduled
/// run can come before it).
pub const NO_LEARNAMP_ACCOUNT: &str = "no Learn Amp account entered yet";

/// Why a run the admin did not ask for skips a tenant that onboarded itself, until its admin
/// starts the first import on the integration page.
pub const AWAITING_FIRST_IMPORT: &str = "waiting for the admin to start the first import";

/// The `last_event` of a tenant that was offered an integration it refused.
pub const INTEGRATION_REFUSED: &str = "integration-refused";

/// What a lifecycle webhook did to the tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// `integration-created` bound the integration to this tenant.
    Bound { tenant: String },
    /// The tenant refused it (recorded as its last event); no tenant was changed.
    Refused {
        tenant: String,
        refusal: BindRefusal,
    },
    /// The bound integration's statuses were refreshed. `setup_completed`: its setup became
    /// `COMPLETED` with this event: a tenant whose admin started its imports (`first_import`)
    /// is synced in full now; for the others the admin's preview and import are ready.
    Refreshed {
        tenant: String,
        setup_completed: bool,
        first_import: FirstImport,
    },
    /// The event is about a tenant's integration, but changes nothing stored (a tenant keyed
    /// by its integration id, or the binding the admin page already made): record it.
    Record { tenant: String },
    /// No tenant of ours: the origin id names none, or no tenant reads the integration.
    NoTenant,
}

/// The origin id of a lifecycle event: `data.end_user.origin_id`, non-empty.
pub fn origin_id(event: &WebhookEvent) -> Option<&str> {
    event
        .data
        .get("end_user")
        .and_then(|u| u.get("origin_id"))
        .and_then(|o| o.as_str())
        .filter(|o| !o.is_empty())
}

fn text<'a>(event: &'a WebhookEvent, field: &str) -> Option<&'a str> {
    event.data.get(field).and_then(|v| v.as_str())
}

/// Applies a verified `integration-created`, `integration-state-changed` or
/// `integration-deleted` event to the tenants. Other events are `NoTenant`.
pub async fn apply_lifecycle(
    event: &WebhookEvent,
    tenants: &dyn TenantStore,
    now: DateTime<Utc>,
) -> Result<Lifecycle, StoreError> {
    let Some(integration_id) = event.integration_id() else {
        return Ok(Lifecycle::NoTenant);
    };
    if event.event_type == "integration-created" {
        if let Some(origin) = origin_id(event) {
            if let Some(tenant) = tenants.tenant(origin).await? {
                if tenant.kombo != KomboConnection::TenantIdIsIntegration {
                    return bind(event, integration_id, tenant, tenants, now).await;
                }
            }
        }
    }
    let Some(mut tenant) = tenants.tenant_for_integration(integration_id).await? else {
        return Ok(Lifecycle::NoTenant);
    };
    let tenant_id = tenant.settings.tenant_id.clone();
    let KomboConnection::Connected {
        status,
        setup_status,
        checked_at,
        ..
    } = &mut tenant.kombo
    else {
        return Ok(Lifecycle::Record { tenant: tenant_id });
    };
    let was_completed = *setup_status == SetupStatus::Completed;
    match event.event_type.as_str() {
        "integration-state-changed" => {
            if let Some(state) = text(event, "state") {
                *status = IntegrationStatus::from(state.to_string());
            }
            if let Some(setup) = text(event, "setup_status") {
                *setup_status = SetupStatus::from(setup.to_string());
            }
        }
        "integration-deleted" => *status = IntegrationStatus::Inactive,
        _ => return Ok(Lifecycle::Record { tenant: tenant_id }),
    }
    *checked_at = now;
    let setup_completed = !was_completed && *setup_status == SetupStatus::Completed;
    tenant.last_event = Some(lifecycle_event(event, now));
    tenants.update_tenant(&mut tenant).await?;
    Ok(Lifecycle::Refreshed {
        tenant: tenant_id,
        setup_completed,
        first_import: tenant.first_import,
    })
}

/// `integration-created` for a self-service tenant: bound by the rules of
/// [`TenantConfig::bind_integration`]. The event carries no statuses: a new integration is
/// `ACTIVE`, and its setup is taken as not finished until Kombo says otherwise.
async fn bind(
    event: &WebhookEvent,
    integration_id: &str,
    mut tenant: TenantConfig,
    tenants: &dyn TenantStore,
    now: DateTime<Utc>,
) -> Result<Lifecycle, StoreError> {
    let tenant_id = tenant.settings.tenant_id.clone();
    if tenant.integration_id() == Some(integration_id) {
        // The admin page bound it from the token first: its statuses are fresher.
        return Ok(Lifecycle::Record { tenant: tenant_id });
    }
    let info = IntegrationInfo {
        integration_id: integration_id.to_string(),
        tool: text(event, "tool").unwrap_or_default().to_string(),
        status: IntegrationStatus::Active,
        setup_status: SetupStatus::Incomplete,
        end_user_origin_id: origin_id(event).map(str::to_string),
    };
    match tenant.bind_integration(&info, now) {
        Ok(connection) => {
            tenant.set_connection(connection);
            tenant.last_event = Some(lifecycle_event(event, now));
            tenants.update_tenant(&mut tenant).await?;
            Ok(Lifecycle::Bound { tenant: tenant_id })
        }
        Err(refusal) => {
            let refused = TenantEvent {
                event_type: INTEGRATION_REFUSED.into(),
                received_at: now,
                data: json!({
                    "integration_id": integration_id,
                    "event_id": event.id,
                    "reason": refusal.to_string(),
                }),
            };
            tenants.record_event(&tenant_id, &refused).await?;
            Ok(Lifecycle::Refused {
                tenant: tenant_id,
                refusal,
            })
        }
    }
}

/// A lifecycle event as a tenant's `last_event`: without `end_user`, which names the person who
/// connected the integration.
pub fn lifecycle_event(event: &WebhookEvent, now: DateTime<Utc>) -> TenantEvent {
    let mut data = event.data.clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("end_user");
    }
    TenantEvent {
        event_type: event.event_type.clone(),
        received_at: now,
        data,
    }
}

/// Whether a run may read Kombo for a tenant, and if not, why it waits.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Ready: the tenant's record, refreshed if Kombo was asked.
    Ready(Box<TenantConfig>),
    /// No integration bound yet: the admin has not connected Personio.
    NotConnected,
    /// Kombo's setup (its first sync of the customer's Personio) has not finished.
    WaitingForKombo { setup_status: SetupStatus },
    /// The admin has not entered the Learn Amp account yet.
    NoLearnAmpAccount,
    /// The admin has not started the first import, and this run is not theirs.
    AwaitingFirstImport,
}

impl Readiness {
    /// The outcome's words, for reports and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Ready(_) => "ready",
            Self::NotConnected => "not connected yet",
            Self::WaitingForKombo { .. } => "waiting for Kombo's first sync",
            Self::NoLearnAmpAccount => NO_LEARNAMP_ACCOUNT,
            Self::AwaitingFirstImport => AWAITING_FIRST_IMPORT,
        }
    }
}

/// Whether `tenant` may be synced. A bound tenant whose setup is not `COMPLETED` is first
/// refreshed from Kombo (`GET /integrations/{id}`), so that a missed webhook cannot keep it
/// waiting; what Kombo says is stored. An integration Kombo no longer knows is stored as
/// `INACTIVE` and waits. Without `connect`, the stored statuses decide.
pub async fn check_ready(
    tenant: TenantConfig,
    connect: Option<&dyn KomboConnect>,
    tenants: &dyn TenantStore,
    now: DateTime<Utc>,
) -> Result<Readiness, ReadinessError> {
    let mut tenant = tenant;
    if tenant.ready_to_sync() {
        return Ok(Readiness::Ready(Box::new(tenant)));
    }
    let KomboConnection::Connected {
        integration_id,
        status,
        setup_status,
        checked_at,
    } = &mut tenant.kombo
    else {
        return Ok(Readiness::NotConnected);
    };
    let Some(connect) = connect else {
        let setup_status = setup_status.clone();
        return Ok(Readiness::WaitingForKombo { setup_status });
    };
    match connect.integration(integration_id).await? {
        Some(info) => {
            *status = info.status;
            *setup_status = info.setup_status;
        }
        None => *status = IntegrationStatus::Inactive,
    }
    *checked_at = now;
    let setup_status = setup_status.clone();
    tenants.update_tenant(&mut tenant).await?;
    Ok(if tenant.ready_to_sync() {
        Readiness::Ready(Box::new(tenant))
    } else {
        Readiness::WaitingForKombo { setup_status }
    })
}

/// Whether `run` may go ahead for `tenant`: Kombo's side first ([`check_ready`], which may
/// refresh the stored statuses), then the Learn Amp account entered, then the first import: a
/// tenant that onboarded itself is written to only once its admin started the first import, so
/// the schedule's and webhooks' runs skip it until then. Previews, the admin's import (an
/// invoke through the queue), an operator's invoke and the local runner go ahead.
pub async fn check_runnable(
    tenant: TenantConfig,
    run: &RunOptions,
    connect: Option<&dyn KomboConnect>,
    tenants: &dyn TenantStore,
    now: DateTime<Utc>,
) -> Result<Readiness, ReadinessError> {
    let tenant = match check_ready(tenant, connect, tenants, now).await? {
        Readiness::Ready(tenant) => tenant,
        waiting => return Ok(waiting),
    };
    if !tenant.learnamp_configured() {
        return Ok(Readiness::NoLearnAmpAccount);
    }
    // Allowed by name, so that a trigger added later waits until it is allowed here.
    let asked_by_hand = matches!(run.trigger, RunTrigger::Invoke | RunTrigger::Local);
    if tenant.first_import == FirstImport::AwaitingAdmin && !asked_by_hand && !run.dry_run {
        return Ok(Readiness::AwaitingFirstImport);
    }
    Ok(Readiness::Ready(tenant))
}

/// Why readiness could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error("the integration's status could not be read from Kombo: {0}")]
    Kombo(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReadinessError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Kombo(e) => e.is_retryable(),
            Self::Store(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::connect::InMemoryKomboConnect;
    use crate::settings::TenantSettings;
    use crate::tenants::InMemoryTenants;

    fn tenant(kombo: KomboConnection) -> TenantConfig {
        TenantConfig {
            settings: TenantSettings::new("acme"),
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

    fn waiting(id: &str) -> KomboConnection {
        KomboConnection::Connected {
            integration_id: id.into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::Incomplete,
            checked_at: Utc::now(),
        }
    }

    /// Who may write to a tenant whose admin has not started the first import: previews, the
    /// admin's and operators' invokes and the local runner; not the schedule, not webhooks, nor
    /// a trigger this check does not know to allow. Operators' tenants are never held back.
    #[tokio::test]
    async fn runs_nobody_asked_for_wait_for_the_admins_first_import() {
        let tenants = InMemoryTenants::default();
        let mut ready = tenant(KomboConnection::TenantIdIsIntegration);
        ready.learnamp_base_url = "https://api.learnamp.com".into();
        ready.learnamp_client_id = "id".into();
        ready.learnamp_client_secret_ref = "/secret".into();
        let awaiting = TenantConfig {
            first_import: FirstImport::AwaitingAdmin,
            ..ready.clone()
        };
        let triggers = [
            RunTrigger::Schedule,
            RunTrigger::Webhook,
            RunTrigger::Invoke,
            RunTrigger::Local,
        ];
        for trigger in triggers {
            for dry_run in [false, true] {
                let run = RunOptions {
                    trigger,
                    dry_run,
                    ..RunOptions::default()
                };
                let check =
                    |t: &TenantConfig| check_runnable(t.clone(), &run, None, &tenants, Utc::now());
                let held =
                    matches!(trigger, RunTrigger::Schedule | RunTrigger::Webhook) && !dry_run;
                let expected = if held {
                    Readiness::AwaitingFirstImport
                } else {
                    Readiness::Ready(Box::new(awaiting.clone()))
                };
                assert_eq!(
                    check(&awaiting).await.unwrap(),
                    expected,
                    "{trigger:?} {dry_run}"
                );
                assert_eq!(
                    check(&ready).await.unwrap(),
                    Readiness::Ready(Box::new(ready.clone())),
                    "{trigger:?} {dry_run}"
                );
            }
        }
        let no_account = tenant(KomboConnection::TenantIdIsIntegration);
        let run = RunOptions::default();
        assert_eq!(
            check_runnable(no_account, &run, None, &tenants, Utc::now())
                .await
                .unwrap(),
            Readiness::NoLearnAmpAccount
        );
    }

    #[tokio::test]
    async fn a_waiting_tenant_is_refreshed_from_kombo_before_it_is_skipped() {
        let kombo = InMemoryKomboConnect::new();
        let tenants = InMemoryTenants::default();
        let now = Utc::now();
        let not_connected = tenant(KomboConnection::NotConnected);
        let readiness = check_ready(not_connected, Some(&kombo), &tenants, now).await;
        assert_eq!(readiness.unwrap(), Readiness::NotConnected);

        kombo.put_integration(IntegrationInfo {
            integration_id: "personio:1".into(),
            tool: "personio".into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::FinalSyncPending,
            end_user_origin_id: Some("acme".into()),
        });
        tenants
            .put_tenant(&tenant(waiting("personio:1")))
            .await
            .unwrap();
        // Each check reads the record as stored, as a run does.
        let bound = || async { tenants.tenant("acme").await.unwrap().unwrap() };
        let readiness = check_ready(bound().await, Some(&kombo), &tenants, now).await;
        assert_eq!(
            readiness.unwrap(),
            Readiness::WaitingForKombo {
                setup_status: SetupStatus::FinalSyncPending
            }
        );
        // Without the connection endpoints, what is stored decides.
        let readiness = check_ready(bound().await, None, &tenants, now).await;
        assert_eq!(
            readiness.unwrap().reason(),
            "waiting for Kombo's first sync"
        );

        kombo.set_setup_status("personio:1", SetupStatus::Completed);
        let Readiness::Ready(ready) = check_ready(bound().await, Some(&kombo), &tenants, now)
            .await
            .unwrap()
        else {
            panic!("Kombo finished");
        };
        assert!(ready.ready_to_sync());
        assert_eq!(tenants.tenant("acme").await.unwrap(), Some(*ready));

        // An integration whose setup had not finished is deleted at Kombo.
        tenants
            .put_tenant(&tenant(waiting("personio:1")))
            .await
            .unwrap();
        kombo.delete_integration("personio:1").await.unwrap();
        let readiness = check_ready(bound().await, Some(&kombo), &tenants, now).await;
        assert!(matches!(
            readiness.unwrap(),
            Readiness::WaitingForKombo { .. }
        ));
        assert!(matches!(
            tenants.tenant("acme").await.unwrap().unwrap().kombo,
            KomboConnection::Connected {
                status: IntegrationStatus::Inactive,
                ..
            }
        ));
    }
}
