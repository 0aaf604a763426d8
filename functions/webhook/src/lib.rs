//! The webhook function: verifies Kombo and Personio webhooks behind a Function URL and turns a
//! relevant change into one pending delta sync per tenant. It answers within milliseconds (no
//! Kombo or Learn Amp call is made here), well inside Personio's 3 s limit.
//!
//! | request | answer |
//! |---|---|
//! | `POST …/kombo` with a valid `X-Kombo-Signature` | 200 (`queued`, `coalesced`, `duplicate`, `recorded`, `bound`, `refused`, `ignored` or `unknown_tenant`) |
//! | `POST …/personio` with the configured token | 200, likewise |
//! | a bad or missing signature or token | 401 |
//! | JSON that does not parse | 400 |
//! | a body over the limit | 413 |
//! | another method or path | 405 / 404 |
//!
//! The content type is not checked: whatever it says, a verified body is read as JSON.
//!
//! Kombo's events find their tenant by the integration they name (`tenant_for_integration`:
//! the tenant keyed by it, or the one bound to it), except `integration-created`, which names
//! the tenant in `end_user.origin_id` and binds the new integration to it if the binding rules
//! allow ([`sync_core::onboarding`]). When Kombo reports the setup `COMPLETED`, a full sync is
//! queued only for a tenant whose admin already started its first import: nothing is written
//! to a new tenant's Learn Amp before its admin has seen the preview.
//!
//! Nothing is queued for a rejected request.

use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
#[cfg(feature = "bench")]
pub mod bench;
mod config;
pub use config::{Config, KomboWebhookSecrets, Secrets};

use fn_common::metrics::Record;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use sync_core::coordination::Coordination;
use sync_core::intake::{classify, Intake};
use sync_core::messages::SyncRequest;
use sync_core::onboarding::{apply_lifecycle, lifecycle_event, Lifecycle};
use sync_core::ports::Queue;
use sync_core::tenants::{BindRefusal, FirstImport, TenantStore};
use sync_core::webhook::{parse_kombo_webhook, WebhookError, KOMBO_SIGNATURE_HEADER};

/// Kombo's and Personio's events are small; anything this large is not one of them.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a Personio webhook's delta waits unless `PERSONIO_DELTA_DELAY_SECONDS` says
/// otherwise: Kombo learns of a Personio change only from its own sync of Personio, so a delta
/// started at once usually finds nothing.
pub const DEFAULT_PERSONIO_DELTA_DELAY_SECONDS: u32 = 120;
/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECONDS: u32 = 900;

pub struct WebhookDeps<'a> {
    /// Accepted Kombo webhook secrets: the current one, and during a rotation the previous one
    /// ([`KomboWebhookSecrets::accepted`]).
    pub kombo_secrets: Vec<Vec<u8>>,
    /// The static token Personio sends, if Personio webhooks are configured.
    pub personio_token: Option<String>,
    /// The header Personio puts it in (`authorization` unless configured otherwise).
    pub personio_header: String,
    /// How long the delta a Personio webhook asks for waits before it runs: Kombo sees the
    /// change only after its own sync of Personio (see [`Config::personio_delta_delay_seconds`]).
    pub personio_delta_delay_seconds: u32,
    pub tenants: &'a dyn TenantStore,
    pub coordination: &'a dyn Coordination,
    pub sync_requests: &'a dyn Queue<SyncRequest>,
}

/// Every answer goes through here, and is counted: accepted (2xx), rejected (4xx; a bad
/// signature or token also as `WebhookUnauthorized`, which the template alarms on), or failed
/// (5xx, the sender retries).
fn respond(status: i64, outcome: &str) -> LambdaFunctionUrlResponse {
    webhook_metrics(status, outcome).emit();
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(serde_json::json!({ "status": outcome }).to_string());
    response
}

fn webhook_metrics(status: i64, outcome: &str) -> Record {
    let record = Record::new().property("outcome", outcome);
    match status {
        200..=299 => record.count("WebhookAccepted", 1),
        401 => record
            .count("WebhookRejected", 1)
            .count("WebhookUnauthorized", 1),
        400..=499 => record.count("WebhookRejected", 1),
        _ => record.count("WebhookFailed", 1),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The raw body bytes, as sent: a Function URL base64-encodes bodies it deems binary.
fn raw_body(request: &LambdaFunctionUrlRequest) -> Result<Vec<u8>, ()> {
    let body = request.body.as_deref().unwrap_or_default();
    if request.is_base64_encoded {
        STANDARD.decode(body).map_err(|_| ())
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

pub async fn handle(
    request: LambdaFunctionUrlRequest,
    deps: &WebhookDeps<'_>,
) -> LambdaFunctionUrlResponse {
    let method = request
        .request_context
        .http
        .method
        .as_deref()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let path = request
        .raw_path
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let source = if path.ends_with("/kombo") {
        "kombo"
    } else if path.ends_with("/personio") {
        "personio"
    } else {
        return respond(404, "not_found");
    };
    if method != "POST" {
        return respond(405, "method_not_allowed");
    }
    if request.body.as_ref().map_or(0, String::len) > MAX_BODY_BYTES * 4 / 3 + 4 {
        return respond(413, "too_large");
    }
    let Ok(body) = raw_body(&request) else {
        return respond(400, "malformed");
    };
    if body.len() > MAX_BODY_BYTES {
        return respond(413, "too_large");
    }
    // The content type is not checked: Personio documents none and retries only timeouts and
    // 5xx, so a 415 would lose the event. The body is verified, then read as JSON whatever the
    // header says; what does not parse is a 400.
    let result = match source {
        "kombo" => kombo(&request.headers, &body, deps).await,
        _ => personio(&request.headers, &body, deps).await,
    };
    match result {
        Ok(outcome) => respond(200, outcome),
        Err(Rejection::Unauthorized) => {
            tracing::warn!(source, "webhook rejected: bad signature or token");
            respond(401, "unauthorized")
        }
        Err(Rejection::Malformed) => respond(400, "malformed"),
        Err(Rejection::Unavailable(e)) => {
            // 5xx: the sender retries, and nothing was queued.
            tracing::error!(source, error = %e, "webhook could not be recorded");
            respond(503, "unavailable")
        }
    }
}

enum Rejection {
    Unauthorized,
    Malformed,
    Unavailable(String),
}

impl From<sync_core::error::StoreError> for Rejection {
    fn from(e: sync_core::error::StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Deduplicates on the event id, then coalesces: one pending delta sync per tenant, which
/// becomes visible on the queue after `delay_seconds`. The pending marker is set at once, so a
/// later webhook coalesces into a delayed request as into any other, until the sync starts.
async fn queue_sync(
    request: SyncRequest,
    delay_seconds: u32,
    deps: &WebhookDeps<'_>,
) -> Result<&'static str, Rejection> {
    let now = Utc::now();
    if !deps
        .coordination
        .first_delivery(&request.event_id, now)
        .await?
    {
        return Ok("duplicate");
    }
    if !deps.coordination.request_sync(&request.tenant, now).await? {
        tracing::info!(tenant = %request.tenant, event_id = %request.event_id, "sync already pending: coalesced");
        return Ok("coalesced");
    }
    let tenant = request.tenant.clone();
    let event_id = request.event_id.clone();
    let sent = if delay_seconds == 0 {
        deps.sync_requests.send_batch(vec![request]).await
    } else {
        deps.sync_requests
            .send_delayed(vec![request], delay_seconds)
            .await
    };
    if let Err(e) = sent {
        // Nothing was queued: undo what would make the sender's retry a duplicate, or coalesce
        // it into a sync that will never run. If the undo fails too, the pending marker lapses
        // and the schedule's full sync catches the change.
        let undone = deps.coordination.forget_delivery(&event_id).await;
        let cleared = deps.coordination.sync_started(&tenant).await;
        if let Some(undo_error) = undone.err().or(cleared.err()) {
            tracing::error!(tenant = %tenant, event_id = %event_id, error = %undo_error, "webhook bookkeeping not undone");
        }
        return Err(Rejection::Unavailable(e.to_string()));
    }
    tracing::info!(tenant = %tenant, delay_seconds, "delta sync queued");
    Ok("queued")
}

async fn kombo(
    headers: &HeaderMap,
    body: &[u8],
    deps: &WebhookDeps<'_>,
) -> Result<&'static str, Rejection> {
    let secrets: Vec<&[u8]> = deps.kombo_secrets.iter().map(Vec::as_slice).collect();
    let event = parse_kombo_webhook(&secrets, body, header(headers, KOMBO_SIGNATURE_HEADER))
        .map_err(|e| match e {
            WebhookError::BadSignature => Rejection::Unauthorized,
            WebhookError::Malformed(_) => Rejection::Malformed,
        })?;
    if matches!(
        event.event_type.as_str(),
        "integration-created" | "integration-state-changed" | "integration-deleted"
    ) {
        return lifecycle(&event, deps).await;
    }
    // The tenant that reads the integration: keyed by it (registered by an operator), or bound
    // to it (self-service).
    let tenant = match event.integration_id() {
        Some(id) => deps
            .tenants
            .tenant_for_integration(id)
            .await?
            .filter(|t| t.enabled),
        None => None,
    };
    match classify(&event, |_| tenant.is_some()) {
        Intake::Sync(mut request) => {
            if let Some(tenant) = tenant {
                request.tenant = tenant.settings.tenant_id;
            }
            queue_sync(request, 0, deps).await
        }
        Intake::UnknownTenant { tenant } => {
            tracing::warn!(tenant = %tenant, event_id = %event.id, "webhook for an unknown tenant: acknowledged, not queued");
            Ok("unknown_tenant")
        }
        Intake::TenantEvent { event_type, .. } | Intake::Ignored { event_type } => {
            tracing::debug!(event_type = %event_type, "webhook type ignored");
            Ok("ignored")
        }
    }
}

/// An integration's lifecycle: `integration-created` binds it to the tenant its origin id
/// names (or is refused there, and recorded as the tenant's last event), a state change or a
/// deletion refreshes the bound integration's statuses, and a setup that became `COMPLETED`
/// queues a full sync if the tenant's admin already started its first import (otherwise the
/// admin previews and starts it on the page). Logs carry ids only.
async fn lifecycle(
    event: &sync_core::kombo::WebhookEvent,
    deps: &WebhookDeps<'_>,
) -> Result<&'static str, Rejection> {
    let now = Utc::now();
    if !deps.coordination.first_delivery(&event.id, now).await? {
        return Ok("duplicate");
    }
    let applied = match apply_lifecycle(event, deps.tenants, now).await {
        Ok(applied) => applied,
        Err(e) => {
            // Kombo sends it again: it must not read as a duplicate then.
            if let Err(undo) = deps.coordination.forget_delivery(&event.id).await {
                tracing::error!(event_id = %event.id, error = %undo, "webhook bookkeeping not undone");
            }
            return Err(e.into());
        }
    };
    let integration_id = event.integration_id().unwrap_or_default();
    let event_type = event.event_type.as_str();
    match applied {
        Lifecycle::Bound { tenant } => {
            tracing::info!(tenant = %tenant, integration_id, event_id = %event.id, "integration bound to its tenant");
            Ok("bound")
        }
        Lifecycle::Refused { tenant, refusal } => {
            let reason = match refusal {
                BindRefusal::OtherTenant => "other_tenant",
                BindRefusal::NotPersonio { .. } => "not_personio",
                BindRefusal::AlreadyConnected { .. } => "already_connected",
            };
            tracing::warn!(tenant = %tenant, integration_id, event_id = %event.id, reason, "integration not bound: refused");
            Ok("refused")
        }
        Lifecycle::Refreshed {
            tenant,
            setup_completed: true,
            first_import: FirstImport::Started,
        } => {
            tracing::info!(tenant = %tenant, integration_id, "Kombo finished the integration's setup again: a full sync queued (the admin started imports before)");
            let request = SyncRequest::first_import(tenant, format!("{}:first-import", event.id));
            queue_sync(request, 0, deps).await
        }
        Lifecycle::Refreshed {
            tenant,
            setup_completed: true,
            first_import: FirstImport::AwaitingAdmin,
        } => {
            // Nothing is written before the admin has seen the preview and started the import.
            tracing::info!(tenant = %tenant, integration_id, "Kombo finished the integration's setup: the admin's preview and first import are ready");
            Ok("recorded")
        }
        Lifecycle::Refreshed { tenant, .. } => {
            tracing::info!(tenant = %tenant, integration_id, event_type, "integration statuses refreshed");
            Ok("recorded")
        }
        Lifecycle::Record { tenant } => {
            deps.tenants
                .record_event(&tenant, &lifecycle_event(event, now))
                .await?;
            tracing::info!(tenant = %tenant, event_type, "integration event recorded");
            Ok("recorded")
        }
        Lifecycle::NoTenant => {
            tracing::warn!(integration_id, event_id = %event.id, event_type, "lifecycle event for no tenant of ours: acknowledged");
            Ok("unknown_tenant")
        }
    }
}

/// Personio's v2 envelope: dataless notifications. It has no event id of its own.
#[derive(Deserialize)]
struct PersonioEvent {
    company_id: serde_json::Value,
    event_name: String,
    #[serde(default)]
    occurred_at: serde_json::Value,
    #[serde(default)]
    payload: serde_json::Value,
}

impl PersonioEvent {
    /// The event's identity for deduplication: a hash of what says which event it is
    /// (`company_id`, `event_name`, `occurred_at`, `payload`), with object keys sorted, so a
    /// redelivery counts as the same event however it is serialised and whatever its `meta`
    /// (delivery details) says.
    fn dedupe_key(&self) -> String {
        let mut canonical = Vec::new();
        for part in [
            &self.company_id,
            &serde_json::Value::String(self.event_name.clone()),
            &self.occurred_at,
            &self.payload,
        ] {
            write_canonical(part, &mut canonical);
            canonical.push(b'\n');
        }
        format!("personio:{:x}", Sha256::digest(&canonical))
    }
}

/// `value` as JSON with every object's keys in order, whatever order they came in.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&serde_json::Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(&fields[key], out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

async fn personio(
    headers: &HeaderMap,
    body: &[u8],
    deps: &WebhookDeps<'_>,
) -> Result<&'static str, Rejection> {
    let Some(expected) = deps.personio_token.as_deref() else {
        return Err(Rejection::Unauthorized);
    };
    let sent = header(headers, &deps.personio_header).unwrap_or_default();
    if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) || expected.is_empty() {
        return Err(Rejection::Unauthorized);
    }
    let event: PersonioEvent = serde_json::from_slice(body).map_err(|_| Rejection::Malformed)?;
    if !(event.event_name.starts_with("person.") || event.event_name.starts_with("employment.")) {
        return Ok("ignored");
    }
    let company = match &event.company_id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let tenant = deps
        .tenants
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.enabled && t.personio_company_id.as_deref() == Some(company.as_str()));
    let Some(tenant) = tenant else {
        tracing::warn!(company_id = %company, "Personio webhook for an unknown company: acknowledged, not queued");
        return Ok("unknown_tenant");
    };
    let event_id = event.dedupe_key();
    // Kombo learns of the change only from its own sync of Personio: a delta at once would
    // usually find nothing.
    queue_sync(
        SyncRequest::delta(tenant.settings.tenant_id, event_id),
        deps.personio_delta_delay_seconds.min(MAX_DELAY_SECONDS),
        deps,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_counted_by_kind() {
        let accepted = webhook_metrics(200, "queued").to_json(0);
        assert_eq!(accepted["WebhookAccepted"], 1.0);
        assert_eq!(accepted["outcome"], "queued");
        let forged = webhook_metrics(401, "unauthorized").to_json(0);
        assert_eq!(
            (&forged["WebhookRejected"], &forged["WebhookUnauthorized"]),
            (&1.0.into(), &1.0.into())
        );
        let malformed = webhook_metrics(400, "malformed").to_json(0);
        assert!(malformed.get("WebhookUnauthorized").is_none());
        assert_eq!(
            webhook_metrics(503, "unavailable").to_json(0)["WebhookFailed"],
            1.0
        );
    }
}
