//! What the webhook and sync functions coordinate on, across concurrent invocations: webhook
//! deliveries seen (deduplication on the event id), one pending delta sync per tenant (a burst
//! of webhooks coalesces into it), and one run in progress per tenant.

use crate::error::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long an event id is remembered (Personio retries for up to 3 days).
pub const EVENT_RETENTION: Duration = Duration::days(7);
/// A pending-sync marker the sync function never cleared (it crashed) lapses after this.
pub const PENDING_SYNC_LAPSE: Duration = Duration::minutes(15);

#[async_trait]
pub trait Coordination: Send + Sync {
    /// True the first time this webhook event id is seen.
    async fn first_delivery(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Forgets a delivery that could not be handled, so that the sender's retry is.
    async fn forget_delivery(&self, event_id: &str) -> Result<(), StoreError>;
    /// True when no delta sync was pending for the tenant: the caller queues one.
    async fn request_sync(&self, tenant: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The delta sync started reading: later webhooks need a new one.
    async fn sync_started(&self, tenant: &str) -> Result<(), StoreError>;
    /// Takes the tenant's run lock until `until`, unless another run holds it.
    async fn lock_run(
        &self,
        tenant: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn unlock_run(&self, tenant: &str, holder: &str) -> Result<(), StoreError>;
    /// What is going on for the tenant at `now`, for operators.
    async fn activity(&self, tenant: &str, now: DateTime<Utc>) -> Result<Activity, StoreError>;
}

/// A tenant's coordination records as an operator sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    /// A webhook asked for a delta sync that has not started yet.
    pub sync_pending: bool,
    /// A run holds the tenant's lock until then.
    pub run_in_progress_until: Option<DateTime<Utc>>,
}

/// The embedded coordination, for one process.
#[derive(Default)]
pub struct InMemoryCoordination {
    events: Mutex<HashMap<String, DateTime<Utc>>>,
    pending: Mutex<HashMap<String, DateTime<Utc>>>,
    locks: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

#[async_trait]
impl Coordination for InMemoryCoordination {
    async fn first_delivery(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut events = self.events.lock().expect("lock");
        match events.get(event_id) {
            Some(until) if *until > now => Ok(false),
            _ => {
                events.insert(event_id.to_string(), now + EVENT_RETENTION);
                Ok(true)
            }
        }
    }

    async fn forget_delivery(&self, event_id: &str) -> Result<(), StoreError> {
        self.events.lock().expect("lock").remove(event_id);
        Ok(())
    }

    async fn request_sync(&self, tenant: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut pending = self.pending.lock().expect("lock");
        match pending.get(tenant) {
            Some(until) if *until > now => Ok(false),
            _ => {
                pending.insert(tenant.to_string(), now + PENDING_SYNC_LAPSE);
                Ok(true)
            }
        }
    }

    async fn sync_started(&self, tenant: &str) -> Result<(), StoreError> {
        self.pending.lock().expect("lock").remove(tenant);
        Ok(())
    }

    async fn lock_run(
        &self,
        tenant: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().expect("lock");
        match locks.get(tenant) {
            Some((other, expires)) if other != holder && *expires > now => Ok(false),
            _ => {
                locks.insert(tenant.to_string(), (holder.to_string(), until));
                Ok(true)
            }
        }
    }

    async fn unlock_run(&self, tenant: &str, holder: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().expect("lock");
        if locks.get(tenant).is_some_and(|(h, _)| h == holder) {
            locks.remove(tenant);
        }
        Ok(())
    }

    async fn activity(&self, tenant: &str, now: DateTime<Utc>) -> Result<Activity, StoreError> {
        let pending = self.pending.lock().expect("lock");
        let locks = self.locks.lock().expect("lock");
        Ok(Activity {
            sync_pending: pending.get(tenant).is_some_and(|until| *until > now),
            run_in_progress_until: locks
                .get(tenant)
                .map(|(_, until)| *until)
                .filter(|until| *until > now),
        })
    }
}
