//! The apply function's work for one change message, without Lambda: claim the idempotency key
//! (tenant + employee + desired-state hash), take the employee's in-flight lease, apply, then
//! complete the record (or release it, so a retry runs again) and give the lease back.

use crate::applier::{Applier, ApplyError, ChangeMessage};
use crate::error::StoreError;
use crate::idempotency::{Claim, IdempotencyStore};
use crate::report::{ActionKind, ActionRecord};

#[derive(Debug)]
pub enum Processed {
    /// Applied now (the record says how), or failed permanently (recorded on the employee).
    Done(ActionRecord),
    /// The same change was completed before: nothing done. The first attempt's record, when
    /// it can be read.
    Duplicate(Option<ActionRecord>),
    /// Try again later: another worker holds the change, or a retryable error occurred.
    Retry(String),
}

/// A change whose manager is being created in the same run waits for it this many deliveries,
/// then is applied without the manager (the next run sets it).
pub const MANAGER_WAIT_DELIVERIES: u32 = 3;

pub async fn process_change(
    applier: &Applier<'_>,
    idempotency: &dyn IdempotencyStore,
    message: &ChangeMessage,
    receive_count: u32,
    now_ms: i64,
    deadline_ms: i64,
) -> Result<Processed, StoreError> {
    let key = message.idempotency_key();
    let mut claim = idempotency.claim(&key, now_ms, deadline_ms).await?;
    if let Claim::Completed(data) = &claim {
        if !superseded(applier, message, data).await? {
            return Ok(Processed::Duplicate(serde_json::from_str(data).ok()));
        }
        // This state was applied, then another one, and now this one is wanted again (A, B,
        // A within the record's life): the old completion must not hide the change.
        idempotency.release(&key).await?;
        claim = idempotency.claim(&key, now_ms, deadline_ms).await?;
    }
    match claim {
        Claim::Acquired => {}
        Claim::Completed(data) => {
            return Ok(Processed::Duplicate(serde_json::from_str(&data).ok()))
        }
        Claim::InProgress => {
            return Ok(Processed::Retry("another worker holds this change".into()))
        }
    }
    // One change per employee in flight: two versions applied at once could leave Learn Amp
    // with the older one's fields and the state with the newer one's hashes. The lease is a
    // claim like any other, so it lapses at its holder's deadline if the holder dies.
    let lease = message.employee_lease_key();
    if idempotency.claim(&lease, now_ms, deadline_ms).await? != Claim::Acquired {
        idempotency.release(&key).await?;
        return Ok(Processed::Retry(format!(
            "another change of employee {} is being applied",
            message.desired.employee_id
        )));
    }
    let outcome = apply_claimed(applier, idempotency, message, &key, receive_count, now_ms).await;
    idempotency.release(&lease).await?;
    outcome
}

/// Whether a completed record of this change was overtaken: the employee's state now holds
/// another applied state. A completion that failed permanently is never overtaken: its
/// duplicates stay acknowledged, and the next run retries the employee.
async fn superseded(
    applier: &Applier<'_>,
    message: &ChangeMessage,
    completed: &str,
) -> Result<bool, StoreError> {
    let failed = serde_json::from_str::<ActionRecord>(completed)
        .is_ok_and(|record| record.action == ActionKind::Failed);
    if failed {
        return Ok(false);
    }
    let state = applier
        .store
        .employee(&message.tenant, &message.desired.employee_id)
        .await?;
    Ok(state
        .and_then(|s| s.applied_hash)
        .is_some_and(|applied| applied != message.desired_hash))
}

/// The work under both claims: the manager wait, the Learn Amp calls, the record's outcome.
async fn apply_claimed(
    applier: &Applier<'_>,
    idempotency: &dyn IdempotencyStore,
    message: &ChangeMessage,
    key: &str,
    receive_count: u32,
    now_ms: i64,
) -> Result<Processed, StoreError> {
    if message.wave > 0 && receive_count < MANAGER_WAIT_DELIVERIES {
        if let Some(manager) = &message.desired.manager_employee_id {
            let ready = applier
                .store
                .employee(&message.tenant, manager)
                .await?
                .is_some_and(|s| s.active && s.is_linked());
            if !ready {
                idempotency.release(key).await?;
                return Ok(Processed::Retry(format!(
                    "manager {manager} is not applied yet"
                )));
            }
        }
    }
    match applier.apply(message).await {
        Ok(record) => {
            let data = serde_json::to_string(&record).unwrap_or_default();
            idempotency.complete(key, now_ms, &data).await?;
            Ok(Processed::Done(record))
        }
        Err(ApplyError::Store(e)) => {
            idempotency.release(key).await?;
            Err(e)
        }
        Err(e) => {
            idempotency.release(key).await?;
            Ok(Processed::Retry(e.to_string()))
        }
    }
}
