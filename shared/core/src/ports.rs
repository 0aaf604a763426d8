//! The narrow interfaces the engine runs against. Each has a real adapter (HTTP clients,
//! DynamoDB, SQS) and an embedded one (files, in-process), and the engine sees neither.

use crate::error::{QueueError, SourceError, StoreError, TargetError};
use crate::kombo::{Employee, Group, Location};
use crate::learnamp::{Team, User, UserWrite};
use crate::report::{ActionRecord, ApplyOutcome, RunReport};
use crate::state::{EmployeeState, TeamState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What to read from the HRIS. Deleted records are always included, so deletions are seen.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub updated_after: Option<DateTime<Utc>>,
    pub ids: Option<Vec<String>>,
}

/// Listings hand over the records they could not decode (see [`EmployeePage`], [`UserListing`]).
pub use crate::decode::MalformedRecord;

/// Counts of API calls, by endpoint ("GET /hris/employees", "POST /v1/users", ...).
pub type CallStats = BTreeMap<String, u64>;

/// One page of employees: those that decoded, and those that did not.
#[derive(Debug, Default)]
pub struct EmployeePage {
    pub employees: Vec<Employee>,
    pub malformed: Vec<MalformedRecord>,
}

/// The HR system, read through Kombo. Every listing is complete or an error, except that an
/// employee record that does not decode is handed over as malformed rather than failing the
/// company's sync.
#[async_trait]
pub trait HrisSource: Send + Sync {
    /// Every employee; a malformed record fails the listing.
    async fn list_employees(&self, query: &ListQuery) -> Result<Vec<Employee>, SourceError>;
    /// The same listing, handed over page by page as it arrives, so that an adapter that pages
    /// (Kombo's) never holds a large company whole: the engine keeps what it needs of each
    /// record and drops the rest. Malformed records are handed over with their page. This
    /// default hands the whole listing over as one page. On an error, the pages handed over so
    /// far are of a failed listing and must be thrown away.
    async fn each_employee_page(
        &self,
        query: &ListQuery,
        on_page: &mut (dyn FnMut(EmployeePage) + Send),
    ) -> Result<(), SourceError> {
        on_page(EmployeePage {
            employees: self.list_employees(query).await?,
            malformed: Vec::new(),
        });
        Ok(())
    }
    async fn list_groups(&self, query: &ListQuery) -> Result<Vec<Group>, SourceError>;
    async fn list_locations(&self, query: &ListQuery) -> Result<Vec<Location>, SourceError>;
    fn call_stats(&self) -> CallStats {
        CallStats::new()
    }
}

/// How much of each user a listing asks Learn Amp for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDetail {
    /// Ids, names, email, external id, status: enough to link and adopt.
    Basic,
    /// With teams, manager, location and custom fields: what a reconcile compares.
    Expanded,
}

/// Every user of a listing that could be read, and those that could not (named by id when
/// their id could be read): one odd user never fails the listing.
#[derive(Debug, Default)]
pub struct UserListing {
    pub users: Vec<User>,
    pub skipped: Vec<MalformedRecord>,
}

/// Learn Amp's users and teams.
#[async_trait]
pub trait LearnAmp: Send + Sync {
    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, TargetError>;
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, TargetError>;
    /// Every user, with whether each is deactivated.
    async fn list_users(&self, detail: UserDetail) -> Result<UserListing, TargetError>;
    /// The same listing, handed over page by page as it arrives, so that a run never holds a
    /// large company's users whole: the caller keeps what it needs of each and drops the rest
    /// (a reconcile at 50,000 users would otherwise hold every expanded user at once). Each
    /// user comes with whether it is deactivated. This default hands the whole listing over
    /// as one page. On an error, the pages handed over so far are of a failed listing and must
    /// be thrown away.
    async fn each_user_page(
        &self,
        detail: UserDetail,
        on_page: &mut (dyn FnMut(UserListing) + Send),
    ) -> Result<(), TargetError> {
        on_page(self.list_users(detail).await?);
        Ok(())
    }
    async fn list_teams(&self) -> Result<Vec<Team>, TargetError>;
    /// Creates a user; its new id. Nothing else is read from the answer.
    async fn create_user(&self, write: &UserWrite) -> Result<u64, TargetError>;
    async fn update_user(&self, user_id: u64, write: &UserWrite) -> Result<(), TargetError>;
    async fn deactivate_user(&self, user_id: u64) -> Result<(), TargetError>;
    async fn reactivate_user(&self, user_id: u64) -> Result<(), TargetError>;
    async fn team_by_external_id(&self, external_id: &str) -> Result<Option<Team>, TargetError>;
    async fn create_team(&self, name: &str, external_id: &str) -> Result<Team, TargetError>;
    async fn rename_team(&self, team_id: u64, name: &str) -> Result<Team, TargetError>;
    /// Gets what the first call will need before it is made (a client's access token), so
    /// that a run which knows writes are coming does not wait for it in series with them.
    /// Nothing is read or written in Learn Amp. An error here is the first call's to report:
    /// callers may ignore it.
    async fn prepare_calls(&self) -> Result<(), TargetError> {
        Ok(())
    }
    fn call_stats(&self) -> CallStats {
        CallStats::new()
    }
}

/// Every employee's state of one tenant, by Kombo employee id. Shared rather than copied: at
/// 50,000 employees a copy is tens of megabytes.
pub type EmployeeStates = Arc<HashMap<String, EmployeeState>>;

/// Per-tenant memory of what was applied, sync cursors and run reports.
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn employees(&self, tenant: &str) -> Result<EmployeeStates, StoreError>;
    async fn employee(
        &self,
        tenant: &str,
        employee_id: &str,
    ) -> Result<Option<EmployeeState>, StoreError>;
    async fn put_employee(&self, tenant: &str, state: &EmployeeState) -> Result<(), StoreError>;
    async fn teams(&self, tenant: &str) -> Result<HashMap<String, TeamState>, StoreError>;
    async fn put_team(&self, tenant: &str, state: &TeamState) -> Result<(), StoreError>;
    /// The start time of the last read that completed, for the next delta's `updated_after`.
    async fn cursor(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn put_cursor(
        &self,
        tenant: &str,
        read_started_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn put_report(&self, tenant: &str, report: &RunReport) -> Result<(), StoreError>;
    /// The newest reports first, with their apply failures merged in.
    async fn reports(&self, tenant: &str, limit: usize) -> Result<Vec<RunReport>, StoreError>;
    /// Records a change of run `run_id` that failed permanently when applied after the run.
    async fn put_apply_failure(
        &self,
        tenant: &str,
        run_id: &str,
        failure: &ActionRecord,
    ) -> Result<(), StoreError>;
    /// Records what the apply function made of a change of run `run_id` (applied, or skipped
    /// as a duplicate), after the run returned; merged in when the report is read.
    async fn put_apply_outcome(
        &self,
        tenant: &str,
        run_id: &str,
        outcome: &ApplyOutcome,
    ) -> Result<(), StoreError>;
    /// Makes everything written so far durable (a no-op where every write already is).
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A message taken from a queue, with the handle that settles it.
#[derive(Debug, Clone)]
pub struct Delivery<M> {
    pub receipt: String,
    pub message: M,
    pub receive_count: u32,
}

/// At-least-once delivery of messages.
#[async_trait]
pub trait Queue<M: Send + 'static>: Send + Sync {
    async fn send_batch(&self, messages: Vec<M>) -> Result<(), QueueError>;
    /// Sends messages that become visible only after `delay_seconds` (where the queue can).
    async fn send_delayed(&self, messages: Vec<M>, delay_seconds: u32) -> Result<(), QueueError> {
        let _ = delay_seconds;
        self.send_batch(messages).await
    }
    /// Up to `max` messages; an empty batch means the queue is drained for now.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError>;
    /// The message was handled: it will not be delivered again.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// The message failed in a way worth retrying: deliver it again later.
    async fn retry_later(&self, receipt: &str) -> Result<(), QueueError>;
}
