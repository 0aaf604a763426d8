//! Idempotency records, after Powertools for AWS Lambda: one conditional write claims a key as
//! IN_PROGRESS until the claimant's deadline; a COMPLETED record short-circuits duplicates until
//! it expires; a failed attempt releases its claim so that a retry runs again. Expiry is checked
//! here, in code: a store's TTL only cleans up, possibly days late.

use crate::error::StoreError;
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
