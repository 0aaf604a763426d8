//! `GET /api/status`: the connection, the Learn Amp account, whether an import can start, the
//! run in progress, the last runs, and the employees in error (their names read live).

use crate::error::ApiResult;
use crate::http::Response;
use crate::views;
use crate::AdminDeps;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use sync_core::ports::ListQuery;
use sync_core::report::{ActionKind, RunReport, SyncMode};
use sync_core::tenants::{FirstImport, TenantConfig};

/// How many runs the page shows.
pub const RUNS_SHOWN: usize = 10;
/// How many employees in error the page shows (their names are read live, one Kombo listing).
pub const ERRORS_SHOWN: usize = 100;
/// An import asked for on the page shows as queued this long at most, if no run starts.
const QUEUED_SHOWN_FOR: Duration = Duration::minutes(15);
/// A run whose queued changes have not all settled shows as applying this long at most.
const APPLYING_SHOWN_FOR: Duration = Duration::hours(1);

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How many users a run's creates invited (its plan's records say so).
fn invited(report: &RunReport) -> u64 {
    report
        .actions
        .iter()
        .filter(|a| a.action == ActionKind::Create && a.detail.contains("with invitation"))
        .count() as u64
}

fn run_view(report: &RunReport) -> Value {
    let settled = report.applied.as_ref().map_or(0, |a| a.employees.len()) as u64
        + report.apply_failures.len() as u64;
    let applying = report.queued > 0 && settled < report.queued && !report.dry_run;
    let outcome = if report.halted.is_some() {
        "halted"
    } else if report.stopped.is_some() {
        "stopped"
    } else if applying {
        "applying"
    } else if report.counts.failed > 0 {
        "completed_with_errors"
    } else {
        "succeeded"
    };
    // On AWS the counts are the plan until the apply function settles the changes.
    let mut counts = report.counts.clone();
    if let Some(applied) = report.applied.as_ref().filter(|_| !applying) {
        let failed = counts.failed;
        counts = applied.counts.clone();
        counts.failed = failed;
    }
    json!({
        "run_id": report.run_id,
        "started_at": time(report.started_at),
        "finished_at": time(report.finished_at),
        "kind": if report.dry_run { "dry_run" } else { match report.mode { SyncMode::Full => "full", SyncMode::Delta => "delta", SyncMode::Reconcile => "reconcile" } },
        "trigger": report.trigger.as_str(),
        "outcome": outcome,
        "halted": report.halted,
        "counts": {
            "created": counts.created, "adopted": counts.adopted, "updated": counts.updated,
            "deactivated": counts.deactivated, "reactivated": counts.reactivated,
            "invited": invited(report), "deferred": counts.deferred, "failed": counts.failed,
            "unchanged": counts.unchanged,
        },
    })
}

async fn run_in_progress(
    tenant: &str,
    reports: &[RunReport],
    deps: &AdminDeps<'_>,
    now: DateTime<Utc>,
) -> Result<Value, crate::error::ApiError> {
    let activity = deps.coordination.activity(tenant, now).await?;
    let requested = deps.sessions.import_requested(tenant).await?;
    let newest = reports.iter().find(|r| !r.dry_run);
    if activity.run_in_progress_until.is_some() {
        return Ok(
            json!({"phase": "reading", "started_at": requested.map(time), "done": null, "total": null}),
        );
    }
    if let Some(run) = newest.filter(|r| r.started_at + APPLYING_SHOWN_FOR > now) {
        let settled = run.applied.as_ref().map_or(0, |a| a.employees.len()) as u64
            + run.apply_failures.len() as u64;
        if run.queued > 0 && settled < run.queued {
            return Ok(
                json!({"phase": "applying", "started_at": time(run.started_at), "done": settled, "total": run.queued}),
            );
        }
    }
    if let Some(at) = requested.filter(|at| *at + QUEUED_SHOWN_FOR > now) {
        if newest.is_none_or(|r| r.started_at < at) {
            return Ok(
                json!({"phase": "queued", "started_at": time(at), "done": null, "total": null}),
            );
        }
    }
    Ok(Value::Null)
}

/// Names and emails of these employees, read live from Kombo; empty when it cannot be read.
pub async fn live_names(
    config: &TenantConfig,
    ids: Vec<String>,
    deps: &AdminDeps<'_>,
) -> HashMap<String, (Option<String>, Option<String>)> {
    if ids.is_empty() || config.integration_id().is_none() {
        return HashMap::new();
    }
    let tenant = config.settings.tenant_id.as_str();
    let clients = match deps.clients.clients(config).await {
        Ok(clients) => clients,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "admin: names not read (no clients)");
            return HashMap::new();
        }
    };
    let query = ListQuery {
        updated_after: None,
        ids: Some(ids),
    };
    match clients.hris.list_employees(&query).await {
        Ok(employees) => employees
            .into_iter()
            .map(|e| {
                let name = [e.first_name.as_deref(), e.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let name = Some(name).filter(|n| !n.is_empty());
                (e.id, (name, e.work_email))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(tenant, error = %e, "admin: names not read from Kombo");
            HashMap::new()
        }
    }
}

pub async fn status(tenant: &str, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> ApiResult {
    let config = views::refreshed(tenant, deps, now).await?;
    let reports = deps.store.reports(tenant, RUNS_SHOWN).await?;
    let in_progress = run_in_progress(tenant, &reports, deps, now).await?;
    let states = deps.store.employees(tenant).await?;
    let mut in_error: Vec<_> = states
        .values()
        .filter_map(|s| s.last_error.as_ref().map(|e| (s, e)))
        .collect();
    in_error.sort_by(|(a, _), (b, _)| {
        (a.updated_at, &a.employee_id).cmp(&(b.updated_at, &b.employee_id))
    });
    in_error.truncate(ERRORS_SHOWN);
    let names = match &config {
        Some(config) => {
            let ids = in_error
                .iter()
                .map(|(s, _)| s.employee_id.clone())
                .collect();
            live_names(config, ids, deps).await
        }
        None => HashMap::new(),
    };
    let errors: Vec<Value> = in_error
        .iter()
        .map(|(s, message)| {
            let (name, email) = names.get(&s.employee_id).cloned().unwrap_or_default();
            json!({
                "employee_id": s.employee_id,
                "learnamp_user_id": s.learnamp_user_id,
                "message": message,
                "at": time(s.updated_at),
                "name": name,
                "email": email,
            })
        })
        .collect();
    let reason = views::not_ready_reason(config.as_ref());
    Ok(Response::json(
        200,
        &json!({
            "connection": views::connection(config.as_ref()),
            "learnamp": views::learnamp(config.as_ref()),
            "ready_to_import": reason.is_none(),
            "not_ready_reason": reason,
            // Until the admin starts it, nothing is written to Learn Amp by itself.
            "first_import_started": config
                .as_ref()
                .is_some_and(|c| c.first_import == FirstImport::Started),
            "run_in_progress": in_progress,
            "last_runs": reports.iter().map(run_view).collect::<Vec<_>>(),
            "errors": errors,
        }),
    ))
}
