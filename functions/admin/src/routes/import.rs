//! The preview of an import (the engine's plan, read live, nothing written) and "Import all from
//! Personio" (a full sync queued as the schedule queues it).

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::routes::status::live_names;
use crate::views;
use crate::{random, AdminDeps};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sync_core::messages::{ChangeMessage, SyncRequest};
use sync_core::queue::InProcessQueue;
use sync_core::report::{ActionKind, RunTrigger, SyncMode};
use sync_core::settings::InvitePolicy;
use sync_core::tenants::{change_tenant, FirstImport, TenantConfig};
use sync_core::{Engine, EngineError, NoProgress, RunOptions};

/// The preview lists this many employees at most.
pub const PREVIEW_ITEMS: usize = 500;

async fn ready(
    tenant: &str,
    deps: &AdminDeps<'_>,
    now: DateTime<Utc>,
) -> Result<TenantConfig, ApiError> {
    let config = views::refreshed(tenant, deps, now).await?;
    if let Some(reason) = views::not_ready_reason(config.as_ref()) {
        return Err(ApiError::new(409, reason));
    }
    Ok(config.expect("a ready tenant has a record"))
}

fn action_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Create => "create",
        ActionKind::Adopt => "adopt",
        ActionKind::Update => "update",
        ActionKind::Deactivate => "deactivate",
        ActionKind::Reactivate => "reactivate",
        ActionKind::Unchanged => "unchanged",
        ActionKind::Deferred => "defer",
        ActionKind::Failed => "failed",
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Source(e) => e.into(),
        EngineError::Store(e) => e.into(),
        EngineError::Queue(e) => {
            tracing::error!(error = %e, "admin: preview queue failed");
            ApiError::new(
                503,
                "The preview could not be made just now: try again in a minute.",
            )
        }
        EngineError::Target(e) => {
            tracing::warn!(error = %e, retryable = e.is_retryable(), "admin: Learn Amp failed during the preview");
            ApiError::new(502, "Learn Amp could not be read: check the Learn Amp credentials, or try again in a minute.")
        }
    }
}

pub async fn preview(tenant: &str, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> ApiResult {
    let config = ready(tenant, deps, now).await?;
    let clients = deps.clients.clients(&config).await.map_err(|e| {
        tracing::error!(tenant, error = %e, retryable = e.is_retryable(), "admin: clients not built for the preview");
        ApiError::new(503, "The preview could not be made just now: try again in a minute.")
    })?;
    // The plan sends nothing: this queue stays empty.
    let queue = InProcessQueue::<ChangeMessage>::new();
    let engine = Engine {
        hris: clients.hris.as_ref(),
        learnamp: clients.learnamp.as_ref(),
        store: deps.store,
        queue: &queue,
        settings: &config.settings,
        concurrency: 1,
        progress: &NoProgress,
    };
    let options = RunOptions {
        mode: SyncMode::Full,
        dry_run: true,
        trigger: RunTrigger::Invoke,
        ..RunOptions::default()
    };
    let planned = engine.plan(&options).await.map_err(engine_error)?;
    let plan = planned.plan;
    let invites = |kind: ActionKind, detail: &str| {
        kind == ActionKind::Create
            && config.settings.invite_policy != InvitePolicy::Manual
            && detail.contains("with invitation")
    };
    let mut counts = serde_json::Map::new();
    for name in [
        "create",
        "invite",
        "adopt",
        "update",
        "deactivate",
        "reactivate",
        "defer",
        "unchanged",
        "failed",
    ] {
        counts.insert(name.into(), 0.into());
    }
    let mut bump = |name: &str| {
        let n = counts[name].as_u64().unwrap_or(0) + 1;
        counts.insert(name.into(), n.into());
    };
    let mut items: Vec<Value> = Vec::new();
    let mut truncated = false;
    for change in &plan.changes {
        let kind = change.decision.kind;
        bump(action_name(kind));
        let invite = invites(kind, &change.decision.detail);
        if invite {
            bump("invite");
        }
        if items.len() >= PREVIEW_ITEMS {
            truncated = true;
            continue;
        }
        let d = &change.desired;
        let name = [d.first_name.as_deref(), d.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        items.push(json!({
            "employee_id": d.employee_id,
            "action": action_name(kind),
            "invite": invite,
            "reason": change.decision.detail,
            "name": Some(name).filter(|n| !n.is_empty()),
            "email": d.email,
        }));
    }
    // Deferred and failed employees carry no desired user: their names are read live.
    let mut settled = Vec::new();
    for record in &plan.settled {
        bump(action_name(record.action));
        if record.action == ActionKind::Unchanged {
            continue;
        }
        if items.len() + settled.len() >= PREVIEW_ITEMS {
            truncated = true;
            continue;
        }
        settled.push(record);
    }
    let ids = settled.iter().map(|r| r.employee_id.clone()).collect();
    let names = live_names(&config, ids, deps).await;
    for record in settled {
        let (name, email) = names.get(&record.employee_id).cloned().unwrap_or_default();
        items.push(json!({
            "employee_id": record.employee_id,
            "action": action_name(record.action),
            "invite": false,
            "reason": record.detail,
            "name": name,
            "email": email,
        }));
    }
    tracing::info!(tenant, changes = plan.changes.len(), "admin: preview made");
    Ok(Response::json(
        200,
        &json!({"counts": counts, "halted": plan.halted, "items": items, "truncated": truncated}),
    ))
}

pub async fn import(tenant: &str, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> ApiResult {
    let config = ready(tenant, deps, now).await?;
    let event_id = format!("admin-import-{}", random::token(12));
    deps.sync_requests
        .send_batch(vec![SyncRequest::import_all(tenant, &event_id)])
        .await
        .map_err(|e| {
            tracing::error!(tenant, error = %e, "admin: import not queued");
            ApiError::new(
                503,
                "The import could not be started just now: try again in a minute.",
            )
        })?;
    if config.first_import == FirstImport::AwaitingAdmin {
        // Marked once the import is queued, not before: an import that could not be queued
        // must not let the schedule and webhooks write either. From now on they keep the
        // tenant in step.
        let start = |stored: Option<TenantConfig>| {
            Ok::<_, ApiError>(stored.map(|mut config| {
                config.first_import = FirstImport::Started;
                config
            }))
        };
        change_tenant(deps.tenants, tenant, start).await?;
        tracing::info!(tenant, "admin: first import started");
    }
    deps.sessions.note_import(tenant, now).await?;
    tracing::info!(tenant, event_id = %event_id, "admin: import queued");
    Ok(Response::json(202, &json!({ "queued": true })))
}
