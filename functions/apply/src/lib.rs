//! The apply function: drains the changes queue. Each tenant's settings are read once per
//! invocation, not per record. Each record is processed concurrently, under its idempotency
//! key (tenant + employee + hash of the desired state, and the run for a reconcile's repair)
//! and its employee's claim ([`sync_core::worker`]: two DynamoDB writes in series, the state
//! read with the first), with its errors, and its panics, caught per message; only retryable
//! failures are returned in `batchItemFailures`. A permanent Learn Amp rejection is recorded on
//! the employee's state (and reported by the run) and acknowledged, so it is not retried
//! forever. What became of each change (applied, or skipped as a duplicate) is recorded against
//! its run, so the run's report says what was done, not only what was planned.
//!
//! A record is read as the contract says ([`sync_core::messages`]): one of a version this build
//! does not read, or that is no change message, is handed back every time, and after the queue's
//! `maxReceiveCount` it waits in the dead-letter queue for a build that reads it.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use fn_common::metrics::Record;
use fn_common::{ClientFactory, TenantClients};
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use sync_core::applier::Applier;
use sync_core::idempotency::ChangeLedger;
use sync_core::messages::{ChangeMessage, MessageError};
use sync_core::ports::StateStore;
use sync_core::report::{ActionKind, ApplyOutcome, Settled as ReportSettled};
use sync_core::tenants::{TenantConfig, TenantStore};
use sync_core::worker::{process_change, Processed};

mod config;
pub use config::Config;

pub struct ApplyDeps<'a> {
    pub tenants: &'a dyn TenantStore,
    pub store: &'a dyn StateStore,
    /// The changes' claims and completions (the DynamoDB state store, on the employee's item).
    pub ledger: &'a dyn ChangeLedger,
    pub clients: &'a dyn ClientFactory,
    /// Records in flight at once.
    pub concurrency: usize,
}

/// Why a record is handed back to SQS.
type Failure = String;

/// What became of a record that is not handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Applied,
    /// Learn Amp refused it for good: recorded, acknowledged.
    Rejected,
    Duplicate,
}

/// A record of the changes queue as the contract reads it ([`sync_core::messages`]): a missing
/// version is version 1, a version this build does not read is refused by name.
pub fn change_message_of(record: &SqsMessage) -> Result<ChangeMessage, MessageError> {
    sync_core::messages::decode(record.body.as_deref().unwrap_or_default())
}

/// A tenant's settings and clients, or why its records are handed back.
type Tenant = Result<(TenantConfig, TenantClients), Failure>;

/// The settings and clients of every tenant a batch names, each read once.
async fn tenants_of(records: &[SqsMessage], deps: &ApplyDeps<'_>) -> HashMap<String, Tenant> {
    let ids: BTreeSet<String> = records
        .iter()
        .filter_map(|r| change_message_of(r).ok())
        .map(|m| m.tenant)
        .collect();
    stream::iter(ids)
        .map(|id| async move {
            let tenant = async {
                let config = deps
                    .tenants
                    .tenant(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("unknown tenant {id}"))?;
                let clients = deps
                    .clients
                    .clients(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((config, clients))
            };
            // A panic here fails the tenant's records only, as a panic of a record does.
            let tenant = AssertUnwindSafe(tenant)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the handler panicked loading this tenant".into()));
            (id, tenant)
        })
        .buffer_unordered(4)
        .collect()
        .await
}

async fn process_record(
    record: &SqsMessage,
    tenants: &HashMap<String, Tenant>,
    deadline_ms: i64,
    deps: &ApplyDeps<'_>,
) -> Result<Settled, Failure> {
    let message = change_message_of(record).map_err(|e| e.to_string())?;
    let (config, clients) = match tenants.get(&message.tenant) {
        Some(Ok(tenant)) => tenant,
        Some(Err(e)) => return Err(e.clone()),
        None => return Err(format!("unknown tenant {}", message.tenant)),
    };
    let applier = Applier {
        learnamp: clients.learnamp.as_ref(),
        store: deps.store,
        settings: &config.settings,
        known: None,
        manager_state: None,
    };
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let now_ms = Utc::now().timestamp_millis();
    match process_change(
        &applier,
        deps.ledger,
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
        Ok(
            Processed::Done(record)
            | Processed::Redelivered(record)
            | Processed::Duplicate(Some(record)),
        ) if record.action == ActionKind::Failed => {
            tracing::error!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %record.employee_id, learnamp_user_id = record.learnamp_user_id, "change rejected by Learn Amp");
            deps.store
                .put_apply_failure(&message.tenant, &message.run_id, &record)
                .await
                .map(|()| Settled::Rejected)
                .map_err(|e| e.to_string())
        }
        // The outcome is recorded against the run, so that its report says what was done and
        // never counts a skipped change as made. If that record cannot be written, the message
        // is handed back: its redelivery finds the change completed and records it then.
        Ok(Processed::Done(record)) => {
            tracing::info!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %record.employee_id, learnamp_user_id = record.learnamp_user_id, action = record.action.as_str(), "change applied");
            record_outcome(deps, &message, ReportSettled::Applied(record.action)).await?;
            Ok(Settled::Applied)
        }
        Ok(Processed::Redelivered(record)) => {
            tracing::info!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %record.employee_id, "change already applied: redelivery skipped");
            record_outcome(deps, &message, ReportSettled::Applied(record.action)).await?;
            Ok(Settled::Duplicate)
        }
        Ok(Processed::Duplicate(_)) => {
            tracing::info!(tenant = %message.tenant, run_id = %message.run_id, employee_id = %message.desired.employee_id, "duplicate change skipped");
            record_outcome(deps, &message, ReportSettled::Duplicate).await?;
            Ok(Settled::Duplicate)
        }
        Ok(Processed::Retry(reason)) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

async fn record_outcome(
    deps: &ApplyDeps<'_>,
    message: &ChangeMessage,
    settled: ReportSettled,
) -> Result<(), Failure> {
    let outcome = ApplyOutcome {
        employee_id: message.desired.employee_id.clone(),
        settled,
    };
    deps.store
        .put_apply_outcome(&message.tenant, &message.run_id, &outcome)
        .await
        .map_err(|e| e.to_string())
}

pub async fn handle(event: SqsEvent, deadline_ms: i64, deps: &ApplyDeps<'_>) -> SqsBatchResponse {
    let now_ms = Utc::now().timestamp_millis();
    let oldest_ms = event
        .records
        .iter()
        .filter_map(|r| r.attributes.get("SentTimestamp")?.parse::<i64>().ok())
        .min();
    let tenants = &tenants_of(&event.records, deps).await;
    let results: Vec<(String, Result<Settled, Failure>)> = stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let outcome = AssertUnwindSafe(process_record(&record, tenants, deadline_ms, deps))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the handler panicked on this message".into()));
            (id, outcome)
        })
        .buffer_unordered(deps.concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    let mut tally = Tally::default();
    for (id, outcome) in results {
        tally.add(&outcome);
        if let Err(reason) = outcome {
            tracing::warn!(message_id = %id, reason = %reason, "change returned to the queue");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    tally
        .record(oldest_ms.map(|sent| (now_ms - sent).max(0) as u64))
        .emit();
    response
}

/// A batch's outcomes, as metrics.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    applied: u64,
    rejected: u64,
    duplicate: u64,
    retried: u64,
}

impl Tally {
    fn add(&mut self, outcome: &Result<Settled, Failure>) {
        match outcome {
            Ok(Settled::Applied) => self.applied += 1,
            Ok(Settled::Rejected) => self.rejected += 1,
            Ok(Settled::Duplicate) => self.duplicate += 1,
            Err(_) => self.retried += 1,
        }
    }

    /// `queue_age_ms`: how long the batch's oldest record waited in the queue.
    fn record(&self, queue_age_ms: Option<u64>) -> Record {
        let record = Record::new()
            .count("ChangesApplied", self.applied)
            .count("ChangesRejected", self.rejected)
            .count("ChangesDuplicate", self.duplicate)
            .count("ChangesRetried", self.retried);
        match queue_age_ms {
            Some(age) => record.milliseconds("ChangeQueueAge", age),
            None => record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_tallied_into_its_metrics() {
        let mut tally = Tally::default();
        for outcome in [
            Ok(Settled::Applied),
            Ok(Settled::Applied),
            Ok(Settled::Rejected),
            Ok(Settled::Duplicate),
            Err("HTTP 503".to_string()),
        ] {
            tally.add(&outcome);
        }
        let json = tally.record(Some(2500)).to_json(0);
        assert_eq!(json["ChangesApplied"], 2.0);
        assert_eq!(json["ChangesRejected"], 1.0);
        assert_eq!(json["ChangesDuplicate"], 1.0);
        assert_eq!(json["ChangesRetried"], 1.0);
        assert_eq!(json["ChangeQueueAge"], 2500.0);
    }
}
