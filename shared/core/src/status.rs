//! A tenant's status for operators: its last runs, what is going on now, and the employees whose
//! last change Learn Amp refused, with Learn Amp's message. The same data for `personio-sync
//! status` and for the sync function's `{"tenant": …, "status": true}` invoke.

use crate::coordination::{Activity, Coordination};
use crate::error::StoreError;
use crate::ports::StateStore;
use crate::report::{Counts, RunReport, RunTrigger, SyncMode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many runs a status shows unless asked otherwise.
pub const DEFAULT_RUNS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub trigger: RunTrigger,
    pub mode: SyncMode,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub counts: Counts,
    /// Change messages handed to the apply function.
    pub queued: u64,
    pub halted: Option<String>,
    /// AWS runs: the queued changes the apply function applied, by the action made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Counts>,
    /// AWS runs: the queued changes skipped as duplicates (nothing written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicates: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<&RunReport> for RunSummary {
    fn from(r: &RunReport) -> Self {
        Self {
            run_id: r.run_id.clone(),
            trigger: r.trigger,
            mode: r.mode,
            dry_run: r.dry_run,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            counts: r.counts.clone(),
            queued: r.queued,
            halted: r.halted.clone(),
            applied: r.applied.as_ref().map(|a| a.counts.clone()),
            duplicates: r.applied.as_ref().map_or(0, |a| a.duplicates),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeInError {
    pub employee_id: String,
    pub learnamp_user_id: Option<u64>,
    /// Learn Amp's message.
    pub error: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    pub tenant: String,
    /// Newest first.
    pub runs: Vec<RunSummary>,
    #[serde(flatten)]
    pub activity: Activity,
    /// Employees whose last change failed permanently, oldest failure first.
    pub employees_in_error: Vec<EmployeeInError>,
    /// Employees known to the state, linked to a Learn Amp user or not.
    pub employees_known: usize,
}

pub async fn tenant_status(
    tenant: &str,
    runs: usize,
    store: &dyn StateStore,
    coordination: &dyn Coordination,
    now: DateTime<Utc>,
) -> Result<TenantStatus, StoreError> {
    let reports = store.reports(tenant, runs).await?;
    let employees = store.employees(tenant).await?;
    let mut employees_in_error: Vec<EmployeeInError> = employees
        .values()
        .filter_map(|s| {
            s.last_error.as_ref().map(|error| EmployeeInError {
                employee_id: s.employee_id.clone(),
                learnamp_user_id: s.learnamp_user_id,
                error: error.clone(),
                since: s.updated_at,
            })
        })
        .collect();
    employees_in_error.sort_by(|a, b| (a.since, &a.employee_id).cmp(&(b.since, &b.employee_id)));
    Ok(TenantStatus {
        tenant: tenant.to_string(),
        runs: reports.iter().map(RunSummary::from).collect(),
        activity: coordination.activity(tenant, now).await?,
        employees_in_error,
        employees_known: employees.len(),
    })
}

impl TenantStatus {
    /// The status as an operator reads it in a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!("tenant {}\n", self.tenant);
        if let Some(until) = self.activity.run_in_progress_until {
            out.push_str(&format!("  a run is in progress (lock until {until})\n"));
        }
        if self.activity.sync_pending {
            out.push_str("  a delta sync is queued (webhook)\n");
        }
        out.push_str(&format!(
            "  {} employees known\n\nlast runs:\n",
            self.employees_known
        ));
        if self.runs.is_empty() {
            out.push_str("  none yet\n");
        }
        for r in &self.runs {
            let c = &r.counts;
            out.push_str(&format!(
                "  {} {:<8} {:<9}{} {:>7} ms  created {} adopted {} updated {} deactivated {} reactivated {} deferred {} failed {} queued {}{}\n",
                r.started_at.format("%Y-%m-%d %H:%M:%S"),
                r.trigger.as_str(),
                format!("{:?}", r.mode).to_lowercase(),
                if r.dry_run { " dry-run" } else { "" },
                r.duration_ms,
                c.created,
                c.adopted,
                c.updated,
                c.deactivated,
                c.reactivated,
                c.deferred,
                c.failed,
                r.queued,
                r.halted
                    .as_ref()
                    .map(|h| format!("\n      HALTED: {h}"))
                    .unwrap_or_default(),
            ));
            if let Some(a) = &r.applied {
                out.push_str(&format!(
                    "      applied: created {} adopted {} updated {} deactivated {} reactivated {} unchanged {}; skipped as duplicates {}\n",
                    a.created, a.adopted, a.updated, a.deactivated, a.reactivated, a.unchanged, r.duplicates
                ));
            }
        }
        out.push_str(&format!(
            "\nemployees in error: {}\n",
            self.employees_in_error.len()
        ));
        for e in &self.employees_in_error {
            out.push_str(&format!(
                "  {} (Learn Amp user {}) since {}: {}\n",
                e.employee_id,
                e.learnamp_user_id
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "none".into()),
                e.since.format("%Y-%m-%d %H:%M:%S"),
                e.error
            ));
        }
        out
    }
}
