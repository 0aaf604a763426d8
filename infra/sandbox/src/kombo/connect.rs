//! Kombo's connection flow (`/connect/*`, `/integrations/{id}`), as Kombo's OpenAPI spec
//! documents it, and the integration lifecycle webhooks it sends.
//!
//! * `POST /connect/create-link`: `end_user_email` (an email) and `end_user_organization_name`
//!   (non-empty) required; `end_user_origin_id` a non-empty string or null;
//!   `integration_category` `HRIS` (the sandbox serves nothing else); `integration_tool`
//!   `personio` or null; `language` one of `en de fr it es` or null; `link_type` `EMBEDDED` or
//!   `MAGIC_LINK`. Anything else is **400** `PLATFORM.INPUT_INVALID`. Answers
//!   `{"status":"success","data":{"link"}}`: the sandbox's stand-in connection page
//!   (`connect_page`), valid once, for an hour (a year for `MAGIC_LINK`).
//! * `GET /connect/integration-by-token/{token}`: the integration the token names (tokens stay
//!   valid for an hour); an unknown or expired token is **404** `PLATFORM.INPUT_INVALID`.
//! * `GET /integrations/{id}`, `DELETE /integrations/{id}`, `POST /integrations/{id}/relink`,
//!   `GET /integrations/{id}/custom-fields` (`page_size` 1..=250, default 100; `cursor` the
//!   previous page's `next`): an unknown (or deleted) integration is **404**
//!   `PLATFORM.INTEGRATION_NOT_FOUND`.
//!
//! Every integration serves the sandbox's one company on `/hris/*`: the one the sandbox was
//! made with (`ACTIVE`, `COMPLETED`, no origin id) and every one the connection page creates.
//! A new integration's setup is `INCOMPLETE` (reads answer 409 `INTEGRATION.SETUP_SYNC_PENDING`)
//! until `KomboSandbox::set_setup_status` completes it, or the delay of
//! `KomboSandbox::set_setup_delay` passes: tests stay deterministic, the demo moves on alone.
//!
//! The sandbox-wide knobs `set_setup_pending` and `set_connection_broken` steer the sandbox's
//! own integration only; a connected one is steered by its statuses.
//!
//! Webhooks (`integration-created`, `integration-state-changed` when a status changes,
//! `integration-deleted`) are signed as Kombo signs them (`X-Kombo-Signature`: HMAC-SHA256 of the
//! body, base64url without padding), kept in an outbox (`KomboSandbox::webhooks_sent`) and,
//! when a URL is set (`KomboSandbox::set_webhook`), POSTed to it before the answer that caused
//! them is sent: when the connection page hands its token over, `integration-created` was
//! delivered.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::connect_state::{
    ConnectState, Link, PendingLink, SandboxCustomField, SandboxIntegration, SentWebhook,
};
use super::data::Shared;
use super::errors::{error_response, input_invalid};
use crate::util::fmt_kombo_dt;

/// How long an embedded link and a token stay valid.
const EMBEDDED_VALIDITY: Duration = Duration::from_secs(3600);
const MAGIC_LINK_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
const LANGUAGES: &[&str] = &["en", "de", "fr", "it", "es"];

fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn integration_not_found(id: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "PLATFORM.INTEGRATION_NOT_FOUND",
        "The integration could not be found.",
        &format!("No integration with the ID \"{id}\" exists in this environment."),
    )
}

impl Shared {
    pub(super) fn connect(&self) -> MutexGuard<'_, ConnectState> {
        self.connect.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn link_url(&self, link_token: &str) -> String {
        let origin = self.origin.lock().unwrap_or_else(|e| e.into_inner());
        format!("{origin}/connect?token={link_token}")
    }

    fn issue_link(&self, pending: PendingLink, validity: Duration) -> String {
        let token = random_id();
        self.connect().links.insert(
            token.clone(),
            Link {
                pending,
                expires: Instant::now() + validity,
            },
        );
        self.link_url(&token)
    }

    /// The company's custom fields: every key of an employee's `custom_fields`, then the ones
    /// added by hand.
    fn custom_fields(&self) -> Vec<SandboxCustomField> {
        let mut keys: Vec<String> = {
            let d = self.data.lock().unwrap_or_else(|e| e.into_inner());
            d.employees
                .iter()
                .flat_map(|r| r.e.custom_fields.keys().cloned())
                .collect()
        };
        keys.sort();
        keys.dedup();
        let mut fields: Vec<SandboxCustomField> = keys
            .into_iter()
            .map(|key| SandboxCustomField {
                label: Some(key.replace('_', " ")),
                key,
                model: "hris_employees".into(),
            })
            .collect();
        fields.extend(self.connect().extra_fields.iter().cloned());
        fields
    }
}

/// A lifecycle webhook about `integration`, in the shape the spec gives for `event_type`.
fn lifecycle_payload(event_type: &str, integration: &SandboxIntegration) -> Value {
    let end_user = json!({
        "origin_id": integration.origin_id,
        "creator_email": integration.creator_email,
        "organization_name": integration.organization_name,
    });
    let now = fmt_kombo_dt(&Utc::now());
    let data = match event_type {
        "integration-state-changed" => json!({
            "integration_tool": integration.tool,
            "integration_category": "HRIS",
            "integration_id": integration.id,
            "end_user": end_user,
            "qa_status": "PASSED",
            "setup_status": integration.setup_status,
            "state": integration.status,
            "updated_at": now,
        }),
        "integration-deleted" => json!({
            "id": integration.id,
            "tool": integration.tool,
            "category": "HRIS",
            "end_user": end_user,
            "deleted_at": now,
        }),
        _ => json!({
            "id": integration.id,
            "tool": integration.tool,
            "category": "HRIS",
            "end_user": end_user,
        }),
    };
    json!({"id": random_id(), "type": event_type, "data": data})
}

/// Kombo's signature of `body`: HMAC-SHA256, base64url without padding.
pub(super) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Signs, records and (with a URL set) delivers the lifecycle webhooks, in order.
pub(super) async fn send_webhooks(sh: &Shared, events: Vec<(&str, SandboxIntegration)>) {
    for (event_type, integration) in events {
        let body = lifecycle_payload(event_type, &integration).to_string();
        let (url, secret) = {
            let connect = sh.connect();
            (connect.webhook_url.clone(), connect.webhook_secret.clone())
        };
        let signature = sign(&secret, body.as_bytes());
        let delivered = match &url {
            Some(url) => deliver(url, &body, &signature).await,
            None => None,
        };
        sh.connect().outbox.push(SentWebhook {
            event_type: event_type.to_string(),
            body,
            signature,
            delivered,
        });
    }
}

async fn deliver(url: &str, body: &str, signature: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    match client
        .post(url)
        .header("content-type", "application/json")
        .header("x-kombo-signature", signature)
        .body(body.to_string())
        .send()
        .await
    {
        Ok(response) => Some(response.status().as_u16()),
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "sandbox webhook not delivered");
            None
        }
    }
}

/// Changes an integration's statuses; the `integration-state-changed` webhook to send if one
/// changed.
pub(super) fn change_status(
    sh: &Shared,
    id: &str,
    status: Option<&str>,
    setup_status: Option<&str>,
) -> Option<Option<SandboxIntegration>> {
    let mut connect = sh.connect();
    let integration = connect.integrations.get_mut(id)?;
    let before = (integration.status.clone(), integration.setup_status.clone());
    if let Some(status) = status {
        integration.status = status.to_string();
    }
    if let Some(setup_status) = setup_status {
        integration.setup_status = setup_status.to_string();
    }
    let changed = before != (integration.status.clone(), integration.setup_status.clone());
    Some(changed.then(|| integration.clone()))
}

/// The admin completed the flow behind `link_token`: a new link creates an integration, a relink
/// makes its integration `ACTIVE` again. The token handed to the browser, or `None` for a link
/// that is unknown, used or expired. Webhooks are delivered before this returns.
pub(super) async fn complete_link(sh: &Arc<Shared>, link_token: &str) -> Option<String> {
    let (token, events, new_integration) = {
        let mut connect = sh.connect();
        let link = connect.links.remove(link_token)?;
        if link.expires < Instant::now() {
            return None;
        }
        let token = random_id();
        let (integration_id, events, new_integration) = match link.pending {
            PendingLink::New {
                origin_id,
                organization_name,
                creator_email,
            } => {
                let integration = SandboxIntegration {
                    id: format!("personio:{}", random_id()),
                    tool: "personio".into(),
                    status: "ACTIVE".into(),
                    setup_status: "INCOMPLETE".into(),
                    origin_id,
                    organization_name,
                    creator_email: Some(creator_email),
                    created_at: Utc::now(),
                };
                connect
                    .integrations
                    .insert(integration.id.clone(), integration.clone());
                let id = integration.id.clone();
                (
                    id.clone(),
                    vec![("integration-created", integration)],
                    Some(id),
                )
            }
            PendingLink::Relink(id) => {
                let integration = connect.integrations.get_mut(&id)?;
                let mut events = Vec::new();
                if integration.status != "ACTIVE" {
                    integration.status = "ACTIVE".into();
                    events.push(("integration-state-changed", integration.clone()));
                }
                (id, events, None)
            }
        };
        connect.tokens.insert(
            token.clone(),
            (integration_id, Instant::now() + EMBEDDED_VALIDITY),
        );
        (token, events, new_integration)
    };
    send_webhooks(sh, events).await;
    if let (Some(id), Some(delay)) = (new_integration, sh.connect().setup_delay) {
        let sh = sh.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(Some(changed)) = change_status(&sh, &id, None, Some("COMPLETED")) {
                send_webhooks(&sh, vec![("integration-state-changed", changed)]).await;
            }
        });
    }
    Some(token)
}

/// What `/hris/*` answers for an integration the connection flow created: `Ok` once it is
/// `ACTIVE` and its setup `COMPLETED`. `None`: not one of them.
pub(super) fn check_connected(sh: &Shared, id: &str) -> Option<Result<(), Response>> {
    let connect = sh.connect();
    let integration = connect.integrations.get(id)?;
    Some(
        match (
            integration.status.as_str(),
            integration.setup_status.as_str(),
        ) {
            ("INVALID", _) => Err(error_response(
                StatusCode::FORBIDDEN,
                "INTEGRATION.AUTHENTICATION_INVALID",
                "The credentials of the integration are no longer valid.",
                "The end user has to reconnect the integration.",
            )),
            ("INACTIVE", _) => Err(integration_not_found(id)),
            (_, "COMPLETED") => Ok(()),
            _ => Err(error_response(
                StatusCode::CONFLICT,
                "INTEGRATION.SETUP_SYNC_PENDING",
                "The initial sync of this integration has not finished yet.",
                "Data can be read once the setup of the integration is completed.",
            )),
        },
    )
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn optional_enum(body: &Value, field: &str, allowed: &[&str]) -> Result<(), Response> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => Err(input_invalid(&format!(
            "{field} must be one of {}",
            allowed.join(", ")
        ))),
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }
        None => false,
    }
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(input_invalid("The request body must be a JSON object.")),
    }
}

pub(super) async fn create_link(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let text = |field: &str| body.get(field).and_then(Value::as_str);
    let Some(email) = text("end_user_email").filter(|e| looks_like_email(e)) else {
        return input_invalid("end_user_email is required and must be an email address.");
    };
    let Some(organization) = text("end_user_organization_name").filter(|o| !o.is_empty()) else {
        return input_invalid("end_user_organization_name is required and must not be empty.");
    };
    let origin_id = match body.get("end_user_origin_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return input_invalid("end_user_origin_id must be a non-empty string or null."),
    };
    let checks = [
        optional_enum(&body, "integration_category", &["HRIS"]),
        optional_enum(&body, "integration_tool", &["personio"]),
        optional_enum(&body, "language", LANGUAGES),
        optional_enum(&body, "link_type", &["EMBEDDED", "MAGIC_LINK"]),
    ];
    if let Some(Err(r)) = checks.into_iter().find(Result::is_err) {
        return r;
    }
    let validity = if text("link_type") == Some("MAGIC_LINK") {
        MAGIC_LINK_VALIDITY
    } else {
        EMBEDDED_VALIDITY
    };
    let link = sh.issue_link(
        PendingLink::New {
            origin_id,
            organization_name: organization.to_string(),
            creator_email: email.to_string(),
        },
        validity,
    );
    success(json!({ "link": link }))
}

pub(super) async fn integration_by_token(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    let connect = sh.connect();
    let integration = connect
        .tokens
        .get(&token)
        .filter(|(_, expires)| *expires >= Instant::now())
        .and_then(|(id, _)| connect.integrations.get(id));
    match integration {
        Some(i) => success(json!({
            "tool": i.tool,
            "id": i.id,
            "end_user_origin_id": i.origin_id,
            "end_user_organization_name": i.organization_name,
            "end_user_email": i.creator_email,
            "setup_status": i.setup_status,
        })),
        None => error_response(
            StatusCode::NOT_FOUND,
            "PLATFORM.INPUT_INVALID",
            "The provided input is invalid.",
            "The token is unknown or has expired.",
        ),
    }
}

pub(super) async fn get_integration(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    let connect = sh.connect();
    let Some(i) = connect.integrations.get(&id) else {
        return integration_not_found(&id);
    };
    success(json!({
        "id": i.id,
        "tool": {
            "id": i.tool,
            "label": "Personio",
            "internal_label": null,
            "logo_url": "https://storage.googleapis.com/kombo-assets/integrations/personio/logo.svg",
            "icon_url": "https://storage.googleapis.com/kombo-assets/integrations/personio/icon.svg",
        },
        "category": "HRIS",
        "status": i.status,
        "setup_status": i.setup_status,
        "end_user": {
            "organization_name": i.organization_name,
            "creator_email": i.creator_email,
            "origin_id": i.origin_id,
        },
        "scope_config": {"id": "SandboxScopeConfig000001", "name": "Sandbox scopes"},
        "data_expired_at": null,
        "created_at": fmt_kombo_dt(&i.created_at),
        "beta": false,
        "read_models": [],
        "write_actions": [],
    }))
}

pub(super) async fn delete_integration(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    let removed = {
        let mut connect = sh.connect();
        connect
            .tokens
            .retain(|_, (integration, _)| *integration != id);
        connect.integrations.remove(&id)
    };
    match removed {
        Some(integration) => {
            send_webhooks(&sh, vec![("integration-deleted", integration)]).await;
            success(json!({}))
        }
        None => integration_not_found(&id),
    }
}

pub(super) async fn relink(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let checks = [
        optional_enum(&body, "language", LANGUAGES),
        optional_enum(&body, "link_type", &["EMBEDDED", "MAGIC_LINK"]),
    ];
    if let Some(Err(r)) = checks.into_iter().find(Result::is_err) {
        return r;
    }
    if !sh.connect().integrations.contains_key(&id) {
        return integration_not_found(&id);
    }
    let link = sh.issue_link(PendingLink::Relink(id), EMBEDDED_VALIDITY);
    success(json!({ "link": link }))
}

pub(super) async fn custom_fields(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    if !sh.connect().integrations.contains_key(&id) {
        return integration_not_found(&id);
    }
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let page_size = match params.get("page_size").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n @ 1..=250)) => n,
        Some(_) => return input_invalid("page_size must be an integer from 1 to 250."),
    };
    let start = match params.get("cursor") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("cf:").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return input_invalid("The cursor is invalid."),
        },
    };
    let fields = sh.custom_fields();
    let end = (start + page_size).min(fields.len());
    let results: Vec<Value> = fields
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            json!({
                "id": format!("cf{}", URL_SAFE_NO_PAD.encode(format!("{}:{}", f.model, f.key))),
                "key": f.key,
                "integration_field": {
                    "id": format!("if{}", URL_SAFE_NO_PAD.encode(&f.key)),
                    "key": format!("custom.{}", f.key),
                    "type": "CUSTOM",
                    "label": f.label,
                },
                "model": f.model,
                "label": f.label,
                "description": null,
            })
        })
        .collect();
    let repeat = start > 0 && sh.repeat_cursor.load(std::sync::atomic::Ordering::SeqCst);
    let next = if repeat {
        Some(format!("cf:{start}"))
    } else {
        (end < fields.len()).then(|| format!("cf:{end}"))
    };
    success(json!({"results": results, "next": next, "next_cursor": next}))
}

/// What the sandbox's handle sets and reads of the connection flow.
pub(super) fn set_webhook(sh: &Shared, url: Option<&str>, secret: &str) {
    let mut connect = sh.connect();
    connect.webhook_url = url.map(str::to_string);
    connect.webhook_secret = secret.to_string();
}

pub(super) fn set_setup_delay(sh: &Shared, delay: Option<Duration>) {
    sh.connect().setup_delay = delay;
}

pub(super) async fn set_integration_status(
    sh: &Shared,
    id: &str,
    status: Option<&str>,
    setup_status: Option<&str>,
) -> bool {
    match change_status(sh, id, status, setup_status) {
        None => false,
        Some(changed) => {
            if let Some(integration) = changed {
                send_webhooks(sh, vec![("integration-state-changed", integration)]).await;
            }
            true
        }
    }
}

pub(super) fn add_custom_field(sh: &Shared, key: &str, model: &str, label: Option<&str>) {
    sh.connect().extra_fields.push(SandboxCustomField {
        key: key.to_string(),
        model: model.to_string(),
        label: label.map(str::to_string),
    });
}

pub(super) fn integrations(sh: &Shared) -> Vec<SandboxIntegration> {
    sh.connect().integrations.values().cloned().collect()
}

pub(super) fn webhooks_sent(sh: &Shared) -> Vec<SentWebhook> {
    sh.connect().outbox.clone()
}
