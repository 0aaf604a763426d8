//! Per-tenant state in one DynamoDB table (`pk` = `tenant#<integration id>`, `sk` = the record):
//!
//! | sk | holds |
//! |---|---|
//! | `employee#<kombo id>` | the employee's Learn Amp id, applied hashes, invited flag; and the apply function's claim of its change in flight or last completed (`crate::ledger`): an item may hold the claim alone |
//! | `team#<kombo group id>` | the team's Learn Amp id and name hash |
//! | `cursor` | start time of the last complete read |
//! | `run#<started at>#<run id>` | a run report, expiring after `REPORT_TTL_DAYS` (`expires_at`) |
//! | `report-part#<run id>#<n>` | the actions and notes of a report too large for one item (DynamoDB's 400 KB), in order; same expiry |
//! | `failure#<run id>#<kombo id>` | a change of that run the apply function could not make, merged into the report on read; same expiry |
//! | `settings` | the tenant's configuration (secrets only by reference) |
//! | `pending-sync` | a delta sync is queued (webhook coalescing) |
//! | `run-lock` | a run is in progress, until `expires_at` |
//!
//! Webhook deliveries seen are `pk` = `webhook#<event id>`, `sk` = `event`, expiring with TTL.
//!
//! A self-service tenant bound to a Kombo integration is found from the integration's id by an
//! index item, `pk` = `integration#<integration id>`, `sk` = `tenant`, whose `data` is the tenant
//! id: written with the tenant's settings whenever they name a bound integration, and checked
//! against them on read (a stale one, left by a rebinding, is ignored).
//!
//! Records are stored as a JSON document in `data`: ids and hashes only, never names or emails.

use crate::describe;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use sync_core::coordination::{Activity, Coordination, EVENT_RETENTION, PENDING_SYNC_LAPSE};
use sync_core::error::StoreError;
use sync_core::ports::{EmployeeStates, StateStore};
use sync_core::report::{ActionRecord, ApplyOutcome, Note, RunReport, Settled};
use sync_core::state::{EmployeeState, TeamState};
use sync_core::tenants::{KomboConnection, Revision, TenantConfig, TenantEvent, TenantStore};

pub const REPORT_TTL_DAYS: i64 = 90;

/// DynamoDB refuses an item over 400 KB, its keys and attribute names included. A run report's
/// JSON is kept under this; a report over it (an import of a few thousand employees: one action
/// each) keeps its actions and notes in part items of its own, each under it too.
const REPORT_ITEM_BYTES: usize = 350 * 1024;

/// The actions and notes of a report too large for one item, a slice of each per part item.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ReportPart {
    #[serde(default)]
    actions: Vec<ActionRecord>,
    #[serde(default)]
    notes: Vec<Note>,
}

/// `report`'s actions and notes in parts whose JSON is each at most `budget` bytes (a record
/// alone over it gets a part of its own).
fn report_parts(report: &RunReport, budget: usize) -> Result<Vec<String>, StoreError> {
    // `{"actions":[],"notes":[]}`, and a comma per record.
    const ENVELOPE: usize = 32;
    let mut parts = Vec::new();
    let mut part = ReportPart::default();
    let mut size = 0usize;
    let records = report
        .actions
        .iter()
        .map(|a| (Some(a), None))
        .chain(report.notes.iter().map(|n| (None, Some(n))));
    for (action, note) in records {
        let bytes = match (action, note) {
            (Some(a), _) => to_json(a)?.len(),
            (_, Some(n)) => to_json(n)?.len(),
            _ => 0,
        };
        if size > 0 && ENVELOPE + size + bytes > budget {
            parts.push(to_json(&std::mem::take(&mut part))?);
            size = 0;
        }
        size += bytes + 1;
        part.actions.extend(action.cloned());
        part.notes.extend(note.cloned());
    }
    if size > 0 {
        parts.push(to_json(&part)?);
    }
    Ok(parts)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Clone)]
pub struct DynamoStateStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

fn pk(tenant: &str) -> AttributeValue {
    AttributeValue::S(format!("tenant#{tenant}"))
}

pub(crate) fn unavailable<E: std::error::Error>(error: E) -> StoreError {
    StoreError::Unavailable(describe(&error))
}

/// A conditional write's result, where a failed condition means there is nothing to do (not
/// ours, or not there): done either way.
pub(crate) fn unless_condition_failed<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(())
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// The record an item holds, if it holds one: an employee's item can hold the apply function's
/// claim alone (an employee claimed before any state was recorded).
fn decode_record<T: DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
) -> Result<Option<T>, StoreError> {
    match item.get("data") {
        None => Ok(None),
        Some(_) => decode(item).map(Some),
    }
}

/// An employee's state from its item, if it has one.
pub(crate) fn decode_state(
    item: &HashMap<String, AttributeValue>,
) -> Result<Option<EmployeeState>, StoreError> {
    decode_record(item)
}

pub(crate) fn decode<T: DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item without data".into()))?;
    sync_core::decode::decode_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStateStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(crate) async fn put<T: Serialize>(
        &self,
        tenant: &str,
        sk: String,
        value: &T,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.put_json(tenant, sk, to_json(value)?, expires_at).await
    }

    async fn put_json(
        &self,
        tenant: &str,
        sk: String,
        data: String,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk(tenant))
            .item("sk", AttributeValue::S(sk))
            .item("data", AttributeValue::S(data));
        if let Some(at) = expires_at {
            request = request.item("expires_at", AttributeValue::N(at.to_string()));
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        tenant: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(tenant))
            .key("sk", AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item().map(decode_record).transpose()?.flatten())
    }

    /// Every record of the tenant whose sort key starts with `prefix`, newest first if asked.
    /// A record past its `expires_at` is left out: DynamoDB's TTL deletes it some time later,
    /// and not a report and its parts at once.
    async fn query<T: DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
        newest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let now = Utc::now().timestamp();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
                .expression_attribute_values(":pk", pk(tenant))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                items.extend(decode_record(item)?);
                if limit.is_some_and(|l| items.len() >= l) {
                    return Ok(items);
                }
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl StateStore for DynamoStateStore {
    async fn employees(&self, tenant: &str) -> Result<EmployeeStates, StoreError> {
        let states: Vec<EmployeeState> = self.query(tenant, "employee#", false, None).await?;
        Ok(Arc::new(
            states
                .into_iter()
                .map(|s| (s.employee_id.clone(), s))
                .collect(),
        ))
    }

    async fn employee(
        &self,
        tenant: &str,
        employee_id: &str,
    ) -> Result<Option<EmployeeState>, StoreError> {
        self.get(tenant, &format!("employee#{employee_id}")).await
    }

    async fn put_employee(&self, tenant: &str, state: &EmployeeState) -> Result<(), StoreError> {
        // An update of `data` alone: the apply function's claim on the same item stays.
        let data = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(tenant))
            .key(
                "sk",
                AttributeValue::S(format!("employee#{}", state.employee_id)),
            )
            .update_expression("SET #data = :data")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":data", AttributeValue::S(data))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn teams(&self, tenant: &str) -> Result<HashMap<String, TeamState>, StoreError> {
        let teams: Vec<TeamState> = self.query(tenant, "team#", false, None).await?;
        Ok(teams.into_iter().map(|t| (t.group_id.clone(), t)).collect())
    }

    async fn put_team(&self, tenant: &str, state: &TeamState) -> Result<(), StoreError> {
        self.put(tenant, format!("team#{}", state.group_id), state, None)
            .await
    }

    async fn cursor(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get(tenant, "cursor").await
    }

    async fn put_cursor(
        &self,
        tenant: &str,
        read_started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put(tenant, "cursor".into(), &read_started_at, None)
            .await
    }

    async fn put_report(&self, tenant: &str, report: &RunReport) -> Result<(), StoreError> {
        let sk = format!("run#{}#{}", report.started_at.to_rfc3339(), report.run_id);
        let expires_at = (report.started_at + chrono::Duration::days(REPORT_TTL_DAYS)).timestamp();
        let whole = to_json(report)?;
        if whole.len() <= REPORT_ITEM_BYTES {
            return self.put_json(tenant, sk, whole, Some(expires_at)).await;
        }
        // The parts first: a report read back is whole, or not there yet.
        let parts = report_parts(report, REPORT_ITEM_BYTES)?;
        for (i, part) in parts.into_iter().enumerate() {
            self.put_json(
                tenant,
                format!("report-part#{}#{i:05}", report.run_id),
                part,
                Some(expires_at),
            )
            .await?;
        }
        let head = RunReport {
            actions: Vec::new(),
            notes: Vec::new(),
            ..report.clone()
        };
        self.put(tenant, sk, &head, Some(expires_at)).await
    }

    async fn reports(&self, tenant: &str, limit: usize) -> Result<Vec<RunReport>, StoreError> {
        let mut reports: Vec<RunReport> = self.query(tenant, "run#", true, Some(limit)).await?;
        for report in &mut reports {
            let prefix = format!("report-part#{}#", report.run_id);
            let parts: Vec<ReportPart> = self.query(tenant, &prefix, false, None).await?;
            for part in parts {
                report.actions.extend(part.actions);
                report.notes.extend(part.notes);
            }
            let prefix = format!("failure#{}#", report.run_id);
            let failures: Vec<ActionRecord> = self.query(tenant, &prefix, false, None).await?;
            for failure in failures {
                report.absorb_apply_failure(failure);
            }
            let prefix = format!("outcome#{}#", report.run_id);
            let outcomes: Vec<ApplyOutcome> = self.query(tenant, &prefix, false, None).await?;
            for outcome in outcomes {
                report.absorb_apply_outcome(outcome);
            }
        }
        Ok(reports)
    }

    async fn put_apply_failure(
        &self,
        tenant: &str,
        run_id: &str,
        failure: &ActionRecord,
    ) -> Result<(), StoreError> {
        // One item per failure: concurrent apply workers never rewrite the same item.
        let sk = format!("failure#{run_id}#{}", failure.employee_id);
        let expires_at = (Utc::now() + chrono::Duration::days(REPORT_TTL_DAYS)).timestamp();
        self.put(tenant, sk, failure, Some(expires_at)).await
    }

    async fn put_apply_outcome(
        &self,
        tenant: &str,
        run_id: &str,
        outcome: &ApplyOutcome,
    ) -> Result<(), StoreError> {
        // One item per employee and kind of outcome: a redelivery rewrites its own item, and
        // a skip never overwrites an application (the report counts the application).
        let kind = match outcome.settled {
            Settled::Applied(_) => "applied",
            Settled::Duplicate => "duplicate",
        };
        let sk = format!("outcome#{run_id}#{}#{kind}", outcome.employee_id);
        let expires_at = (Utc::now() + chrono::Duration::days(REPORT_TTL_DAYS)).timestamp();
        self.put(tenant, sk, outcome, Some(expires_at)).await
    }
}

impl DynamoStateStore {
    /// A PutItem that succeeds only when the item is absent or its `expires_at` passed (TTL may
    /// not have removed it yet), plus `extra_condition` alternatives. Returns whether it won.
    pub(crate) async fn put_if_free(
        &self,
        pk_value: String,
        sk: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        holder: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut condition = "attribute_not_exists(pk) OR expires_at < :now".to_string();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk_value))
            .item("sk", AttributeValue::S(sk.to_string()))
            .item(
                "expires_at",
                AttributeValue::N(expires_at.timestamp().to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()));
        if let Some(holder) = holder {
            condition.push_str(" OR holder = :holder");
            request = request
                .item("holder", AttributeValue::S(holder.to_string()))
                .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()));
        }
        match request.condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// When a coordination record (one without `data`) lapses, if it exists and has not.
    async fn live_until(
        &self,
        pk_value: String,
        sk: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk_value))
            .key("sk", AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .item()
            .and_then(|item| item.get("expires_at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|at| DateTime::<Utc>::from_timestamp(at, 0))
            .filter(|until| *until > now))
    }

    async fn delete(
        &self,
        pk_value: String,
        sk: &str,
        holder: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk_value))
            .key("sk", AttributeValue::S(sk.to_string()));
        if let Some(holder) = holder {
            request = request
                .condition_expression("holder = :holder")
                .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()));
        }
        // Someone else's lock (ours lapsed and was taken): not ours to remove.
        unless_condition_failed(request.send().await)
    }
}

#[async_trait]
impl Coordination for DynamoStateStore {
    async fn first_delivery(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.put_if_free(
            format!("webhook#{event_id}"),
            "event",
            now,
            now + EVENT_RETENTION,
            None,
        )
        .await
    }

    async fn forget_delivery(&self, event_id: &str) -> Result<(), StoreError> {
        self.delete(format!("webhook#{event_id}"), "event", None)
            .await
    }

    async fn request_sync(&self, tenant: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.put_if_free(
            format!("tenant#{tenant}"),
            "pending-sync",
            now,
            now + PENDING_SYNC_LAPSE,
            None,
        )
        .await
    }

    async fn sync_started(&self, tenant: &str) -> Result<(), StoreError> {
        self.delete(format!("tenant#{tenant}"), "pending-sync", None)
            .await
    }

    async fn lock_run(
        &self,
        tenant: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.put_if_free(
            format!("tenant#{tenant}"),
            "run-lock",
            now,
            until,
            Some(holder),
        )
        .await
    }

    async fn unlock_run(&self, tenant: &str, holder: &str) -> Result<(), StoreError> {
        self.delete(format!("tenant#{tenant}"), "run-lock", Some(holder))
            .await
    }

    async fn activity(&self, tenant: &str, now: DateTime<Utc>) -> Result<Activity, StoreError> {
        let pk = format!("tenant#{tenant}");
        Ok(Activity {
            sync_pending: self
                .live_until(pk.clone(), "pending-sync", now)
                .await?
                .is_some(),
            run_in_progress_until: self.live_until(pk, "run-lock", now).await?,
        })
    }
}

/// A tenant's settings item: the configuration in `data`, the write it is at in `revision`
/// (none on items written before revisions), and its last lifecycle event in an attribute of
/// its own, which the webhook function updates alone.
fn decode_tenant(item: &HashMap<String, AttributeValue>) -> Result<TenantConfig, StoreError> {
    let mut config: TenantConfig = decode(item)?;
    config.revision = match item.get("revision").and_then(|v| v.as_s().ok()) {
        Some(revision) => Revision(Some(revision.clone())),
        None => Revision::unversioned(),
    };
    if let Some(event) = item.get("last_event").and_then(|v| v.as_s().ok()) {
        config.last_event = Some(
            sync_core::decode::decode_str(event).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
    }
    Ok(config)
}

impl DynamoStateStore {
    /// Writes the tenant's settings item at a new revision (returned), then its integration's
    /// index item. With `read`, only over the revision the copy was read at (none: only where
    /// there is no item; unversioned: only over an item without a revision), else
    /// [`StoreError::Conflict`] and nothing is written.
    async fn write_tenant(
        &self,
        config: &TenantConfig,
        read: Option<&Revision>,
    ) -> Result<Revision, StoreError> {
        let tenant = &config.settings.tenant_id;
        let data = serde_json::to_string(config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let revision = uuid::Uuid::new_v4().to_string();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk(tenant))
            .item("sk", AttributeValue::S("settings".into()))
            .item("data", AttributeValue::S(data))
            .item("revision", AttributeValue::S(revision.clone()));
        if let Some(Revision(read)) = read {
            request = match read.as_deref() {
                None => request.condition_expression("attribute_not_exists(pk)"),
                Some("") => request
                    .condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(#revision)",
                    )
                    .expression_attribute_names("#revision", "revision"),
                Some(read) => request
                    .condition_expression("#revision = :read")
                    .expression_attribute_names("#revision", "revision")
                    .expression_attribute_values(":read", AttributeValue::S(read.to_string())),
            };
        }
        match request.send().await {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                return Err(StoreError::Conflict(tenant.clone()))
            }
            Err(e) => return Err(unavailable(e)),
        }
        if let KomboConnection::Connected { integration_id, .. } = &config.kombo {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", integration_pk(integration_id))
                .item("sk", AttributeValue::S("tenant".into()))
                .item("data", AttributeValue::S(tenant.clone()))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(Revision(Some(revision)))
    }
}

#[async_trait]
impl TenantStore for DynamoStateStore {
    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantConfig>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(tenant_id))
            .key("sk", AttributeValue::S("settings".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(decode_tenant).transpose()
    }

    async fn record_event(&self, tenant_id: &str, event: &TenantEvent) -> Result<(), StoreError> {
        let event = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(tenant_id))
            .key("sk", AttributeValue::S("settings".into()))
            .update_expression("SET last_event = :event")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":event", AttributeValue::S(event))
            .send()
            .await;
        // Not registered: nothing to record on.
        unless_condition_failed(result)
    }

    async fn tenants(&self) -> Result<Vec<TenantConfig>, StoreError> {
        // Tenants are few: a filtered scan is cheaper to run than an index to keep.
        let mut tenants = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :settings")
                .expression_attribute_values(":settings", AttributeValue::S("settings".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                tenants.push(decode_tenant(item)?);
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(tenants),
            }
        }
    }

    async fn put_tenant(&self, config: &TenantConfig) -> Result<(), StoreError> {
        self.write_tenant(config, None).await.map(|_| ())
    }

    async fn update_tenant(&self, config: &mut TenantConfig) -> Result<(), StoreError> {
        let read = config.revision.clone();
        config.revision = self.write_tenant(config, Some(&read)).await?;
        Ok(())
    }

    /// The tenant keyed by the integration (registered by an operator), else the one its index
    /// item names if that tenant is still bound to it; a scan only for records the index does
    /// not know (written before it existed).
    async fn tenant_for_integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<TenantConfig>, StoreError> {
        if let Some(keyed) = self.tenant(integration_id).await? {
            if keyed.integration_id() == Some(integration_id) {
                return Ok(Some(keyed));
            }
        }
        let indexed = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", integration_pk(integration_id))
            .key("sk", AttributeValue::S("tenant".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let tenant_id = indexed
            .item()
            .and_then(|item| item.get("data"))
            .and_then(|v| v.as_s().ok());
        if let Some(tenant_id) = tenant_id {
            let bound = self
                .tenant(tenant_id)
                .await?
                .filter(|t| t.integration_id() == Some(integration_id));
            if bound.is_some() {
                return Ok(bound);
            }
        }
        Ok(self
            .tenants()
            .await?
            .into_iter()
            .find(|tenant| tenant.integration_id() == Some(integration_id)))
    }
}

fn integration_pk(integration_id: &str) -> AttributeValue {
    AttributeValue::S(format!("integration#{integration_id}"))
}
