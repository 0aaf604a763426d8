//! Idempotency records, after Powertools for AWS Lambda: one conditional write claims a key as
//! IN_PROGRESS until the claimant's deadline; a COMPLETED record short-circuits duplicates until
//! it expires; a failed attempt releases its claim so that a retry runs again. Expiry is checked
//! here, in code: a store's TTL only cleans up, possibly days late.

use crate::error::StoreError;
use crate::messages::{ChangeMessage, ChangeReason};
use crate::ports::StateStore;
use crate::state::EmployeeState;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a COMPLETED record short-circuits its key (Powertools' default).
pub const COMPLETED_FOR_SECONDS: i64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key and must complete or release it.
    Acquired,
    /// Already done; the stored result.
    Completed(String),
    /// Someone else holds the key, within its deadline: try again later.
    InProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordStatus {
    InProgress,
    Completed,
}

/// A stored record, as the claim condition sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub status: RecordStatus,
    /// Epoch seconds after which the record no longer counts.
    pub expiration: i64,
    /// Epoch milliseconds after which an IN_PROGRESS claim may be taken over.
    pub in_progress_expiration: Option<i64>,
    pub data: Option<String>,
}

impl Record {
    /// Whether a new claim may overwrite this record at `now_ms`: the condition of the claim
    /// write, in one place for every store.
    pub fn is_claimable(&self, now_ms: i64) -> bool {
        self.expiration < now_ms / 1000
            || (self.status == RecordStatus::InProgress
                && self.in_progress_expiration.is_some_and(|t| t < now_ms))
    }

    /// What a failed claim means to the caller.
    pub fn as_claim(&self) -> Claim {
        match self.status {
            RecordStatus::Completed => Claim::Completed(self.data.clone().unwrap_or_default()),
            RecordStatus::InProgress => Claim::InProgress,
        }
    }
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` as IN_PROGRESS until `in_progress_until_ms` (the claimant's deadline).
    async fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<Claim, StoreError>;
    /// Marks the key COMPLETED with `data`, for `COMPLETED_FOR_SECONDS` from `now_ms`.
    async fn complete(&self, key: &str, now_ms: i64, data: &str) -> Result<(), StoreError>;
    /// Gives the key up after a failure, so that a retry runs again.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

/// What claiming one change of one employee found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeClaim {
    /// The caller holds the change and the employee until its deadline, and must complete or
    /// release it: the employee's state as the claim found it.
    Acquired(Option<Box<EmployeeState>>),
    /// This very change (its idempotency key) was the employee's last, completed within
    /// `COMPLETED_FOR_SECONDS`: the stored result.
    Completed(String),
    /// Another worker holds the employee (this change or another), within its deadline.
    Busy,
}

/// What names a change to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeKey {
    pub tenant: String,
    pub employee_id: String,
    /// [`ChangeMessage::idempotency_key`].
    pub key: String,
    pub desired_hash: String,
    /// A reconcile's repair: never a duplicate of a completion under another key.
    pub repair: bool,
}

impl ChangeKey {
    pub fn of(message: &ChangeMessage) -> Self {
        Self {
            tenant: message.tenant.clone(),
            employee_id: message.desired.employee_id.clone(),
            key: message.idempotency_key(),
            desired_hash: message.desired_hash.clone(),
            repair: message.reason == ChangeReason::Repair,
        }
    }

    /// Whether a live completion of (`key`, `hash`) short-circuits this change: its own, or, for
    /// a source change, one of the same desired state (a repair's, since).
    pub fn is_duplicate_of(&self, key: &str, hash: Option<&str>) -> bool {
        key == self.key || (!self.repair && hash == Some(self.desired_hash.as_str()))
    }
}

/// The apply function's record of each employee's change in flight and last completed: the
/// idempotency key, the employee's lease and its state in one record, so that a change costs one
/// write to claim (the state read with it), and one to complete (state, completion and lease
/// release together). A change is a duplicate when it is the employee's last completed change:
/// a change completed and then overtaken by another (A, B, A) is applied again, as it must be.
#[async_trait]
pub trait ChangeLedger: Send + Sync {
    /// Claims the employee for the change `key` until `in_progress_until_ms` (the claimant's
    /// deadline), unless it holds an unexpired completion of `key` or another live claim.
    async fn claim_change(
        &self,
        change: &ChangeKey,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<ChangeClaim, StoreError>;
    /// Completes the claimed change with `data`, writing the employee's new `state` (none: it is
    /// unchanged) and giving the employee back, in one write.
    async fn complete_change(
        &self,
        change: &ChangeKey,
        state: Option<&EmployeeState>,
        now_ms: i64,
        data: &str,
    ) -> Result<(), StoreError>;
    /// Gives a claim of `key` up after a failure, so that a retry runs again; the state stays.
    async fn release_change(&self, change: &ChangeKey) -> Result<(), StoreError>;
}

/// The embedded ledger's claims, by tenant and employee: kept by whoever keeps the store, so
/// that a ledger can be made of both whenever it is needed.
#[derive(Default)]
pub struct LedgerClaims(Mutex<ClaimMap>);

/// By (tenant, employee): the key, the desired-state hash and the record of its claim.
type ClaimMap = HashMap<(String, String), (String, String, Record)>;

impl LedgerClaims {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ClaimMap>, StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))
    }
}

/// The embedded ledger: the claims in a map, the states in any [`StateStore`].
pub struct InMemoryLedger<'a> {
    pub store: &'a dyn StateStore,
    pub claims: &'a LedgerClaims,
}

#[async_trait]
impl ChangeLedger for InMemoryLedger<'_> {
    async fn claim_change(
        &self,
        change: &ChangeKey,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<ChangeClaim, StoreError> {
        {
            let mut claims = self.claims.lock()?;
            let id = (change.tenant.clone(), change.employee_id.clone());
            if let Some((key, hash, record)) = claims.get(&id) {
                if !record.is_claimable(now_ms) {
                    match record.status {
                        RecordStatus::InProgress => return Ok(ChangeClaim::Busy),
                        RecordStatus::Completed if change.is_duplicate_of(key, Some(hash)) => {
                            return Ok(ChangeClaim::Completed(
                                record.data.clone().unwrap_or_default(),
                            ))
                        }
                        RecordStatus::Completed => {}
                    }
                }
            }
            let record = Record {
                status: RecordStatus::InProgress,
                expiration: now_ms / 1000 + COMPLETED_FOR_SECONDS,
                in_progress_expiration: Some(in_progress_until_ms),
                data: None,
            };
            claims.insert(
                id,
                (change.key.clone(), change.desired_hash.clone(), record),
            );
        }
        let state = self
            .store
            .employee(&change.tenant, &change.employee_id)
            .await?;
        Ok(ChangeClaim::Acquired(state.map(Box::new)))
    }

    async fn complete_change(
        &self,
        change: &ChangeKey,
        state: Option<&EmployeeState>,
        now_ms: i64,
        data: &str,
    ) -> Result<(), StoreError> {
        let id = (change.tenant.clone(), change.employee_id.clone());
        // Only our own claim: one taken over is its new holder's, as in the DynamoDB ledger.
        let ours =
            self.claims.lock()?.get(&id).is_some_and(|(key, _, r)| {
                *key == change.key && r.status == RecordStatus::InProgress
            });
        if !ours {
            return Ok(());
        }
        if let Some(state) = state {
            self.store.put_employee(&change.tenant, state).await?;
        }
        let record = Record {
            status: RecordStatus::Completed,
            expiration: now_ms / 1000 + COMPLETED_FOR_SECONDS,
            in_progress_expiration: None,
            data: Some(data.to_string()),
        };
        self.claims.lock()?.insert(
            id,
            (change.key.clone(), change.desired_hash.clone(), record),
        );
        Ok(())
    }

    async fn release_change(&self, change: &ChangeKey) -> Result<(), StoreError> {
        let mut claims = self.claims.lock()?;
        let id = (change.tenant.clone(), change.employee_id.clone());
        let ours = claims
            .get(&id)
            .is_some_and(|(key, _, r)| *key == change.key && r.status == RecordStatus::InProgress);
        if ours {
            claims.remove(&id);
        }
        Ok(())
    }
}

/// The embedded store: one process, one map.
#[derive(Default)]
pub struct InMemoryIdempotency {
    records: Mutex<HashMap<String, Record>>,
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotency {
    async fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<Claim, StoreError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        if let Some(existing) = records.get(key) {
            if !existing.is_claimable(now_ms) {
                return Ok(existing.as_claim());
            }
        }
        records.insert(
            key.to_string(),
            Record {
                status: RecordStatus::InProgress,
                expiration: now_ms / 1000 + COMPLETED_FOR_SECONDS,
                in_progress_expiration: Some(in_progress_until_ms),
                data: None,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(&self, key: &str, now_ms: i64, data: &str) -> Result<(), StoreError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        records.insert(
            key.to_string(),
            Record {
                status: RecordStatus::Completed,
                expiration: now_ms / 1000 + COMPLETED_FOR_SECONDS,
                in_progress_expiration: None,
                data: Some(data.to_string()),
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.records
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?
            .remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_complete_release_and_expire() {
        let store = InMemoryIdempotency::default();
        let now = 1_700_000_000_000;
        assert_eq!(
            store.claim("k", now, now + 5_000).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.claim("k", now + 1, now + 5_000).await.unwrap(),
            Claim::InProgress
        );
        // The holder's deadline passed: the claim can be taken over.
        assert_eq!(
            store.claim("k", now + 6_000, now + 9_000).await.unwrap(),
            Claim::Acquired
        );
        store.complete("k", now + 7_000, "done").await.unwrap();
        assert_eq!(
            store.claim("k", now + 8_000, now + 9_000).await.unwrap(),
            Claim::Completed("done".into())
        );
        // A completed record counts for an hour, no longer.
        let later = now + (COMPLETED_FOR_SECONDS + 10) * 1000;
        assert_eq!(
            store.claim("k", later, later + 1).await.unwrap(),
            Claim::Acquired
        );
        store.release("k").await.unwrap();
        assert_eq!(
            store.claim("k", later, later + 1).await.unwrap(),
            Claim::Acquired
        );
    }
}
