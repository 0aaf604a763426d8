//! The apply function's work for one change message, without Lambda: claim the idempotency key,
//! apply, then complete the record (or release it, so a retry runs again).

use crate::applier::{Applier, ApplyError, ChangeMessage};
use crate::error::StoreError;
use crate::idempotency::{Claim, IdempotencyStore};
use crate::report::{ActionKind, ActionRecord};

#[derive(Debug)]
pub enum Processed {
    /// Applied now (the record says how), or failed permanently (recorded on the employee).
    Done(ActionRecord),
    /// The same change was completed before: nothing done.
    Duplicate,
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
    match idempotency.claim(&key, now_ms, deadline_ms).await? {
        Claim::Completed(_) => return Ok(Processed::Duplicate),
        Claim::InProgress => {
            return Ok(Processed::Retry("another worker holds this change".into()))
        }
        Claim::Acquired => {}
    }
    if message.wave > 0 && receive_count < MANAGER_WAIT_DELIVERIES {
        if let Some(manager) = &message.desired.manager_employee_id {
            let ready = applier
                .store
                .employee(&message.tenant, manager)
                .await?
                .is_some_and(|s| s.active && s.is_linked());
            if !ready {
                idempotency.release(&key).await?;
                return Ok(Processed::Retry(format!(
                    "manager {manager} is not applied yet"
                )));
            }
        }
    }
    match applier.apply(message).await {
        Ok(record) => {
            let data = serde_json::to_string(&record).unwrap_or_default();
            idempotency.complete(&key, now_ms, &data).await?;
            Ok(Processed::Done(record))
        }
        Err(ApplyError::Store(e)) => {
            idempotency.release(&key).await?;
            Err(e)
        }
        Err(e) => {
            idempotency.release(&key).await?;
            Ok(Processed::Retry(e.to_string()))
        }
    }
}

impl Processed {
    pub fn failed_permanently(&self) -> bool {
        matches!(self, Self::Done(r) if r.action == ActionKind::Failed)
    }
}
