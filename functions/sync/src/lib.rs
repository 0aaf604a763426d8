//! The sync function: reads Kombo, plans, creates or renames teams, and queues one change
//! message per employee that differs for the apply function. Three triggers:
//!
//! - the EventBridge schedule (`rate(3 hours)`): queues one full-sync request per enabled tenant
//!   on the sync-request queue, so that each tenant's run has an invocation of its own;
//! - the sync-request queue: one tenant's run per message, a full sync from the schedule or a
//!   delta sync from the webhook function (reading `updated_after` the start of the previous
//!   complete read, deleted records included);
//! - a direct invoke, `{"tenant": "...", "mode": "full"|"delta"|"reconcile", "dry_run": bool,
//!   "employee_id": "...", "allow_mass_deactivation": bool, "today": "YYYY-MM-DD"}`, for "Import
//!   all from Personio", dry runs and single employees; it returns the run report. With
//!   `"status": true` it runs nothing and returns the tenant's status instead.
//!
//! A self-service tenant is synced only once it is ready
//! ([`sync_core::onboarding::check_runnable`]): a tenant with no integration bound is skipped
//! ("not connected yet", and the schedule does not ask for it); one whose integration's setup is
//! not `COMPLETED` is first refreshed from Kombo, then skipped if it still waits ("waiting for
//! Kombo's first sync"); one without its Learn Amp account waits for it; and the schedule's and
//! webhooks' runs wait for its admin to start the first import (previews and the admin's import
//! go ahead). A skip is an outcome: the queued request is consumed, a direct invoke answers
//! `{"tenant", "skipped"}`.
//!
//! At most one run per tenant is in progress: a run takes the tenant's lock until its Lambda
//! deadline. A request for a busy tenant is sent again with a delay of `BUSY_RETRY_SECONDS`
//! (returning it to SQS would hide it for the queue's whole visibility timeout).
//!
//! Each queued request is decoded on its own ([`sync_request_of`]): one this build cannot read
//! (a version it does not know, a body that is no request) is handed back alone, and after the
//! queue's `maxReceiveCount` it waits in the dead-letter queue.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, NaiveDate, Utc};
use fn_common::metrics::Record;
use fn_common::{ClientFactory, ClientsError};
use serde::{Deserialize, Serialize};
use sync_core::coordination::Coordination;
use sync_core::decode::DecodeProblem;
use sync_core::error::{QueueError, SourceError, StoreError};
use sync_core::messages::{ChangeMessage, MessageError, SyncRequest};
use sync_core::onboarding::{check_runnable, Readiness, ReadinessError};
use sync_core::ports::{Queue, StateStore};
use sync_core::report::{RunReport, RunTrigger, SyncMode};
use sync_core::status::{tenant_status, DEFAULT_RUNS};
use sync_core::tenants::TenantStore;
use sync_core::{Engine, EngineError, RunOptions};
use thiserror::Error;

mod config;
pub use config::Config;

pub struct SyncDeps<'a> {
    pub tenants: &'a dyn TenantStore,
    pub store: &'a dyn StateStore,
    pub coordination: &'a dyn Coordination,
    pub changes: &'a dyn Queue<ChangeMessage>,
    /// Where the schedule queues its per-tenant runs, and busy tenants' requests go back.
    pub sync_requests: &'a dyn Queue<SyncRequest>,
    pub clients: &'a dyn ClientFactory,
}

/// A request for a tenant whose run is in progress is sent again this much later.
pub const BUSY_RETRY_SECONDS: u32 = 60;

/// The direct-invoke payload.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InvokeRequest {
    pub tenant: String,
    #[serde(default)]
    pub mode: Option<SyncMode>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub allow_mass_deactivation: bool,
    #[serde(default)]
    pub today: Option<NaiveDate>,
    /// Returns the tenant's status (last runs, activity, employees in error) instead of running.
    #[serde(default)]
    pub status: bool,
}

#[derive(Debug)]
pub enum Trigger {
    /// The EventBridge schedule; its event id names the requests it queues.
    Schedule {
        event_id: String,
    },
    /// A batch of the sync-request queue; each record is read by [`sync_request_of`].
    Queue(SqsEvent),
    Invoke(InvokeRequest),
}

/// Which of the three triggers an event is.
pub fn trigger_of(event: serde_json::Value) -> Result<Trigger, SyncError> {
    if event.get("Records").is_some() {
        return sync_core::decode::from_value(event)
            .map(Trigger::Queue)
            .map_err(SyncError::NotABatch);
    }
    if event.get("source").and_then(|s| s.as_str()) == Some("aws.events")
        || event.get("detail-type").and_then(|s| s.as_str()) == Some("Scheduled Event")
    {
        let event_id = event.get("id").and_then(|i| i.as_str()).map_or_else(
            || format!("schedule:{}", Utc::now().to_rfc3339()),
            |i| format!("schedule:{i}"),
        );
        return Ok(Trigger::Schedule { event_id });
    }
    sync_core::decode::from_value(event)
        .map(Trigger::Invoke)
        .map_err(SyncError::NotAnInvoke)
}

/// A record of the sync-request queue as the contract reads it ([`sync_core::messages`]): a
/// missing version is version 1, a version this build does not read is refused by name.
pub fn sync_request_of(record: &SqsMessage) -> Result<SyncRequest, MessageError> {
    sync_core::messages::decode(record.body.as_deref().unwrap_or_default())
}

/// Why one tenant's run did not happen, or failed.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("unknown tenant {0}: register it first")]
    UnknownTenant(String),
    #[error("tenant {0} is disabled")]
    Disabled(String),
    /// Another run of this tenant holds the lock: asked again later.
    #[error("a run of tenant {0} is in progress")]
    Busy(String),
    /// A self-service tenant that cannot be synced yet (the reasons of
    /// [`sync_core::onboarding::Readiness`]). An outcome, not a failure: the admin's import, or
    /// the webhook that completes the setup of an import the admin started, runs it later.
    #[error("tenant {tenant} is not synced yet: {reason}")]
    NotReady {
        tenant: String,
        reason: &'static str,
    },
    /// The integration's status could not be refreshed from Kombo.
    #[error(transparent)]
    Readiness(#[from] ReadinessError),
    /// The tenant's record, or the run lock, could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Clients(#[from] ClientsError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A busy tenant's request could not be sent again.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl RunError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::UnknownTenant(_) | Self::Disabled(_) | Self::NotReady { .. } => false,
            Self::Busy(_) | Self::Store(_) | Self::Queue(_) => true,
            Self::Readiness(e) => e.is_retryable(),
            Self::Clients(e) => e.is_retryable(),
            Self::Engine(e) => e.is_retryable(),
        }
    }
}

/// Why the sync function failed an invocation (a queued request's failure is reported per
/// record instead, in `batchItemFailures`).
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("not a sync-request batch: {0}")]
    NotABatch(DecodeProblem),
    #[error("expected {{\"tenant\": ..., \"mode\": \"full\"|\"delta\"|\"reconcile\", \"dry_run\": bool}}: {0}")]
    NotAnInvoke(DecodeProblem),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The schedule's tenants, or a tenant's status, could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The schedule's requests could not be queued.
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the answer could not be serialized: {0}")]
    Answer(#[from] serde_json::Error),
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotABatch(_) | Self::NotAnInvoke(_) | Self::Answer(_) => false,
            Self::Run(e) => e.is_retryable(),
            Self::Store(_) | Self::Queue(_) => true,
        }
    }
}

/// One tenant's run, under the tenant's run lock, counted in the metrics: every failure (the
/// tenant unknown or unreadable, its secret, the lock, Kombo, Learn Amp, the stores), but not a
/// busy tenant (asked again later) or a disabled one (nothing to run).
pub async fn run_tenant(
    tenant: &str,
    options: &RunOptions,
    deadline: DateTime<Utc>,
    deps: &SyncDeps<'_>,
) -> Result<RunReport, RunError> {
    let result = run_under_lock(tenant, options, deadline, deps).await;
    if !matches!(
        result,
        Err(RunError::Busy(_) | RunError::Disabled(_) | RunError::NotReady { .. })
    ) {
        run_metrics(tenant, options, &result).emit();
    }
    result
}

async fn run_under_lock(
    tenant: &str,
    options: &RunOptions,
    deadline: DateTime<Utc>,
    deps: &SyncDeps<'_>,
) -> Result<RunReport, RunError> {
    let config = deps
        .tenants
        .tenant(tenant)
        .await?
        .ok_or_else(|| RunError::UnknownTenant(tenant.to_string()))?;
    if !config.enabled {
        return Err(RunError::Disabled(tenant.to_string()));
    }
    let connect = deps.clients.connect();
    let config = match check_runnable(config, options, connect, deps.tenants, Utc::now()).await? {
        Readiness::Ready(config) => *config,
        waiting => {
            return Err(RunError::NotReady {
                tenant: tenant.to_string(),
                reason: waiting.reason(),
            })
        }
    };
    let clients = deps.clients.clients(&config).await?;
    let holder = uuid::Uuid::new_v4().to_string();
    let locked = options.dry_run
        || deps
            .coordination
            .lock_run(tenant, &holder, Utc::now(), deadline)
            .await?;
    if !locked {
        return Err(RunError::Busy(tenant.to_string()));
    }
    let engine = Engine {
        hris: clients.hris.as_ref(),
        learnamp: clients.learnamp.as_ref(),
        store: deps.store,
        queue: deps.changes,
        settings: &config.settings,
        // Learn Amp calls in flight while draining a queue: `plan_and_enqueue` queues the
        // changes and drains nothing, so nothing here reads it. The apply function applies
        // them, `APPLY_CHANGES_IN_FLIGHT` at once.
        concurrency: 8,
        progress: &sync_core::NoProgress,
    };
    let result = engine.plan_and_enqueue(options).await;
    if !options.dry_run {
        if let Err(e) = deps.coordination.unlock_run(tenant, &holder).await {
            tracing::warn!(tenant, error = %e, "run lock not released; it lapses at the deadline");
        }
    }
    record_connection(tenant, &config, &result, deps).await;
    Ok(result?)
}

/// One run, as metrics: the template alarms on `HaltedRuns` and `RunFailures`.
fn run_metrics(tenant: &str, options: &RunOptions, result: &Result<RunReport, RunError>) -> Record {
    let record = Record::new()
        .property("tenant", tenant)
        .property("trigger", options.trigger.as_str())
        .property("dry_run", options.dry_run)
        .count("Runs", 1);
    match result {
        Ok(report) => record
            .property("run_id", report.run_id.as_str())
            // A dry run changes nothing, so it halts nothing: no page for a preview.
            .count(
                "HaltedRuns",
                u64::from(report.halted.is_some() && !report.dry_run),
            )
            .count("RunFailures", 0)
            .count("ChangesQueued", report.queued)
            .count("EmployeesFailed", report.counts.failed)
            .milliseconds("RunDuration", report.duration_ms),
        Err(_) => record.count("HaltedRuns", 0).count("RunFailures", 1),
    }
}

/// The tenant's record says whether the customer's Personio connection works: a run that Kombo
/// refused for a broken connection records `connection-broken` (shown by `status`), and the
/// first run that reads Kombo again after it records `connection-restored`. Nothing is written
/// otherwise.
async fn record_connection(
    tenant: &str,
    config: &sync_core::tenants::TenantConfig,
    result: &Result<RunReport, sync_core::EngineError>,
    deps: &SyncDeps<'_>,
) {
    let was_broken = config
        .last_event
        .as_ref()
        .is_some_and(|e| e.event_type == CONNECTION_BROKEN);
    let event = match result {
        Err(sync_core::EngineError::Source(SourceError::ConnectionBroken { code })) => {
            tracing::error!(tenant, code = %code, "the customer's Personio connection is broken: they must reconnect it in Kombo");
            Some((CONNECTION_BROKEN, serde_json::json!({ "code": code })))
        }
        Ok(_) if was_broken => Some((CONNECTION_RESTORED, serde_json::json!({}))),
        _ => None,
    };
    if let Some((event_type, data)) = event {
        let event = sync_core::tenants::TenantEvent {
            event_type: event_type.to_string(),
            received_at: Utc::now(),
            data,
        };
        if let Err(e) = deps.tenants.record_event(tenant, &event).await {
            tracing::warn!(tenant, error = %e, "the connection's state was not recorded on the tenant");
        }
    }
}

/// The tenant's `last_event` when Kombo refused a run for the customer's broken connection.
pub const CONNECTION_BROKEN: &str = "connection-broken";
/// ... and when a run read Kombo again after that.
pub const CONNECTION_RESTORED: &str = "connection-restored";

/// One queued request: its run, or its return to the queue. An error hands the message back.
async fn run_requested(
    request: &SyncRequest,
    deadline: DateTime<Utc>,
    deps: &SyncDeps<'_>,
) -> Result<(), RunError> {
    // Webhooks that arrive from here on need a sync of their own.
    if let Err(e) = deps.coordination.sync_started(&request.tenant).await {
        tracing::warn!(tenant = %request.tenant, error = %e, "pending marker not cleared");
    }
    let options = RunOptions {
        mode: request.mode,
        trigger: request.trigger,
        ..RunOptions::default()
    };
    match run_tenant(&request.tenant, &options, deadline, deps).await {
        Ok(_) => Ok(()),
        Err(RunError::NotReady { reason, .. }) => {
            tracing::info!(tenant = %request.tenant, reason, "tenant skipped: not synced yet");
            Ok(())
        }
        Err(RunError::Busy(_)) => {
            tracing::info!(tenant = %request.tenant, delay_seconds = BUSY_RETRY_SECONDS, "tenant busy: sync request sent again");
            Ok(deps
                .sync_requests
                .send_delayed(vec![request.clone()], BUSY_RETRY_SECONDS)
                .await?)
        }
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            tracing::error!(tenant = %request.tenant, error = %e, "sync request dropped");
            Ok(())
        }
    }
}

pub async fn handle(
    event: serde_json::Value,
    deadline: DateTime<Utc>,
    deps: &SyncDeps<'_>,
) -> Result<serde_json::Value, SyncError> {
    match trigger_of(event)? {
        Trigger::Schedule { event_id } => {
            let tenants = deps.tenants.tenants().await?;
            // A tenant with no integration yet has nothing to read; one whose integration's
            // setup is not finished is asked for, so that its run refreshes the status.
            let requests: Vec<SyncRequest> = tenants
                .iter()
                .filter(|t| t.enabled && t.integration_id().is_some())
                .map(|t| SyncRequest::scheduled(&t.settings.tenant_id, &event_id))
                .collect();
            let queued: Vec<String> = requests.iter().map(|r| r.tenant.clone()).collect();
            deps.sync_requests.send_batch(requests).await?;
            tracing::info!(tenants = queued.len(), "scheduled full syncs queued");
            Ok(serde_json::json!({ "queued": queued }))
        }
        Trigger::Queue(batch) => {
            let mut response = SqsBatchResponse::default();
            for record in batch.records {
                let id = record.message_id.clone().unwrap_or_default();
                let handed_back = match sync_request_of(&record) {
                    Ok(request) => match run_requested(&request, deadline, deps).await {
                        Ok(()) => false,
                        Err(e) => {
                            tracing::warn!(tenant = %request.tenant, error = %e, "sync request will be retried");
                            true
                        }
                    },
                    // Never dropped: after the queue's maxReceiveCount it waits in the
                    // dead-letter queue for a build that reads it.
                    Err(e) => {
                        tracing::error!(message_id = %id, error = %e, "sync request not readable: handed back");
                        true
                    }
                };
                if handed_back {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
            Ok(serde_json::to_value(response)?)
        }
        Trigger::Invoke(request) if request.status => {
            let status = tenant_status(
                &request.tenant,
                DEFAULT_RUNS,
                deps.store,
                deps.coordination,
                Utc::now(),
            )
            .await?;
            Ok(serde_json::to_value(status)?)
        }
        Trigger::Invoke(request) => {
            let options = RunOptions {
                mode: request.mode.unwrap_or(SyncMode::Full),
                dry_run: request.dry_run,
                today: request.today,
                employee_id: request.employee_id.clone(),
                allow_mass_deactivation: request.allow_mass_deactivation,
                trigger: RunTrigger::Invoke,
            };
            match run_tenant(&request.tenant, &options, deadline, deps).await {
                Ok(report) => Ok(serde_json::to_value(report)?),
                Err(RunError::NotReady { tenant, reason }) => {
                    Ok(serde_json::json!({ "tenant": tenant, "skipped": reason }))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halted_run_and_a_failed_run_are_counted() {
        let halted: RunReport = serde_json::from_value(serde_json::json!({
            "run_id": "r1", "tenant": "personio:T", "trigger": "schedule", "mode": "full",
            "dry_run": false, "today": "2026-12-01", "started_at": "2026-12-01T09:00:00Z",
            "finished_at": "2026-12-01T09:00:05Z", "duration_ms": 5000,
            "counts": {"created": 0, "updated": 0, "deactivated": 0, "reactivated": 0,
                       "unchanged": 10, "deferred": 0, "failed": 2},
            "halted": "too many deactivations", "actions": [], "notes": [],
            "teams": {"created": 0, "renamed": 0, "failed": 0}, "queued": 3,
            "api_calls": {"kombo": {}, "learnamp": {}}
        }))
        .unwrap();
        let options = RunOptions {
            trigger: RunTrigger::Schedule,
            ..RunOptions::default()
        };
        let json = run_metrics("personio:T", &options, &Ok(halted)).to_json(0);
        assert_eq!(json["HaltedRuns"], 1.0);
        assert_eq!(json["ChangesQueued"], 3.0);
        assert_eq!(json["EmployeesFailed"], 2.0);
        assert_eq!(json["trigger"], "schedule");
        let failed = Err(RunError::Engine(EngineError::Source(
            SourceError::Transient {
                code: "503".into(),
                message: "Service Unavailable".into(),
            },
        )));
        let json = run_metrics("personio:T", &options, &failed).to_json(0);
        assert_eq!(
            (json["RunFailures"].as_f64(), json["HaltedRuns"].as_f64()),
            (Some(1.0), Some(0.0))
        );
    }
}
