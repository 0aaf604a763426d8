//! The apply function: drains the changes queue. Each record is processed concurrently, under
//! its idempotency key (tenant + employee + hash of the desired state), with its errors, and
//! its panics, caught per message; only retryable failures are returned in
//! `batchItemFailures`. A permanent Learn Amp rejection is recorded on the employee's state (and
//! reported by the run) and acknowledged, so it is not retried forever.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use fn_common::ClientFactory;
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use sync_core::applier::{Applier, ChangeMessage};
use sync_core::idempotency::IdempotencyStore;
use sync_core::ports::StateStore;
use sync_core::report::ActionKind;
use sync_core::tenants::TenantStore;
use sync_core::worker::{process_change, Processed};

pub struct ApplyDeps<'a> {
    pub tenants: &'a dyn TenantStore,
    pub store: &'a dyn StateStore,
    pub idempotency: &'a dyn IdempotencyStore,
    pub clients: &'a dyn ClientFactory,
    /// Records in flight at once.
    pub concurrency: usize,
}

/// Why a record is handed back to SQS.
type Failure = String;

async fn process_record(
    record: &SqsMessage,
    deadline_ms: i64,
    deps: &ApplyDeps<'_>,
) -> Result<(), Failure> {
    let body = record.body.as_deref().ok_or("message without a body")?;
    let message: ChangeMessage =
        serde_json::from_str(body).map_err(|e| format!("undecodable change message: {e}"))?;
    let config = deps
        .tenants
        .tenant(&message.tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("unknown tenant {}", message.tenant))?;
    let clients = deps.clients.clients(&config).await?;
    let applier = Applier {
        learnamp: clients.learnamp.as_ref(),
        store: deps.store,
        settings: &config.settings,
        known: None,
    };
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let now_ms = Utc::now().timestamp_millis();
    match process_change(
        &applier,
        deps.idempotency,
        &message,
        receive_count,
        now_ms,
        deadline_ms,
    )
    .await
    {
        // A permanent failure is acknowledged, so it is not retried forever: the employee's
        // state holds the error, and the run's report shows it. A redelivery records it again
        // (one item per run and employee), in case the first record did not make it.
        Ok(Processed::Done(record) | Processed::Duplicate(Some(record)))
            if record.action == ActionKind::Failed =>
        {
            tracing::error!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %record.employee_id, learnamp_user_id = ?record.learnamp_user_id, "change rejected by Learn Amp");
            deps.store
                .put_apply_failure(&message.tenant, &message.run_id, &record)
                .await
                .map_err(|e| e.to_string())
        }
        Ok(Processed::Done(record)) => {
            tracing::info!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %record.employee_id, learnamp_user_id = ?record.learnamp_user_id, action = record.action.as_str(), "change applied");
            Ok(())
        }
        Ok(Processed::Duplicate(_)) => {
            tracing::info!(tenant = %message.tenant, employee_id = %message.desired.employee_id, "duplicate change skipped");
            Ok(())
        }
        Ok(Processed::Retry(reason)) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn handle(event: SqsEvent, deadline_ms: i64, deps: &ApplyDeps<'_>) -> SqsBatchResponse {
    let results: Vec<(String, Result<(), Failure>)> = stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let outcome = AssertUnwindSafe(process_record(&record, deadline_ms, deps))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the handler panicked on this message".into()));
            (id, outcome)
        })
        .buffer_unordered(deps.concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in results {
        if let Err(reason) = outcome {
            tracing::warn!(message_id = %id, reason = %reason, "change returned to the queue");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
