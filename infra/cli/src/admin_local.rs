//! The local admin stack: the admin handler behind axum on 127.0.0.1, the embedded store, both
//! sandboxes, and a task that runs the syncs "Import all" queues, as the sync function would.
//!
//! Connecting Personio goes through the Kombo sandbox's connection flow, as on AWS through
//! Kombo's: the admin handler calls its `/connect/*` and `/integrations/*` endpoints with
//! [`KomboConnectClient`], the page frames its stand-in connection page, and the sandbox's signed
//! lifecycle webhooks (`integration-created`, `integration-state-changed`,
//! `integration-deleted`) reach the webhook function's own handler at `/webhooks/kombo` on this
//! server, over the same tenants: `integration-created` binds the tenant its origin id names,
//! and Kombo's setup `COMPLETED` makes the preview and "Import all" available.

use crate::local::{LocalSandboxes, KOMBO_API_KEY};
use crate::state_dir::{self, StateDirLock};
use admin_fn::{AdminDeps, HttpLearnAmpCheck, Request, Response, MAX_BODY_BYTES};
use axum::extract::State;
use fn_common::{ClientFactory, HttpClients, MemorySecrets};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use sync_clients::KomboConnectClient;
use sync_core::admin::InMemoryAdminSessions;
use sync_core::connect::KomboConnect;
use sync_core::coordination::{Coordination, InMemoryCoordination};
use sync_core::messages::{ChangeMessage, SyncRequest};
use sync_core::onboarding::{check_runnable, Readiness};
use sync_core::ports::Queue;
use sync_core::queue::InProcessQueue;
use sync_core::store::EmbeddedStore;
use sync_core::tenants::{InMemoryTenants, TenantStore};
use sync_core::{Engine, NoProgress, RunOptions};

/// The secret the Kombo sandbox signs its webhooks with, and the local webhook handler checks.
pub const LOCAL_WEBHOOK_SECRET: &str = "local-kombo-webhook-secret";
/// How long the Kombo sandbox takes to "copy the Personio data" of a new connection (its setup
/// stays `INCOMPLETE` meanwhile), so that the page's waiting state can be seen. Its control API
/// (`PUT /_sandbox/setup-delay`, `PATCH /_sandbox/integrations/{id}`) changes it.
pub const LOCAL_SETUP_DELAY: Duration = Duration::from_secs(5);

pub struct LocalAdmin {
    pub sandboxes: LocalSandboxes,
    tenants: InMemoryTenants,
    store: EmbeddedStore,
    _lock: StateDirLock,
    coordination: InMemoryCoordination,
    sessions: InMemoryAdminSessions,
    sync_requests: InProcessQueue<SyncRequest>,
    connect: KomboConnectClient,
    secrets: Arc<MemorySecrets>,
    clients: HttpClients,
    check: HttpLearnAmpCheck,
    key: Vec<u8>,
}

impl LocalAdmin {
    pub async fn start(
        company: sandbox::Company,
        state: &Path,
        key: Vec<u8>,
    ) -> Result<Self, String> {
        let lock = state_dir::lock_for_writing(state).map_err(|e| e.to_string())?;
        let store = EmbeddedStore::open(state).map_err(|e| format!("--state: {e}"))?;
        let sandboxes = LocalSandboxes::start(company, 0, 0)
            .await
            .map_err(|e| format!("cannot bind the sandboxes on 127.0.0.1: {e}"))?;
        let secrets = Arc::new(MemorySecrets::default());
        let clients = HttpClients::new(
            sandboxes.kombo_server.base_url.clone(),
            KOMBO_API_KEY.into(),
            secrets.clone(),
        );
        let connect = KomboConnectClient::new(&sandboxes.kombo_server.base_url, KOMBO_API_KEY);
        sandboxes.kombo.set_setup_delay(Some(LOCAL_SETUP_DELAY));
        Ok(Self {
            sandboxes,
            tenants: InMemoryTenants::default(),
            store,
            _lock: lock,
            coordination: InMemoryCoordination::default(),
            sessions: InMemoryAdminSessions::default(),
            sync_requests: InProcessQueue::new(),
            connect,
            secrets,
            clients,
            check: HttpLearnAmpCheck::default(),
            key,
        })
    }

    pub fn deps(&self) -> AdminDeps<'_> {
        AdminDeps {
            tenants: &self.tenants,
            store: &self.store,
            coordination: &self.coordination,
            sessions: &self.sessions,
            sync_requests: &self.sync_requests,
            connect: &self.connect,
            secrets: self.secrets.as_ref(),
            learnamp_check: &self.check,
            clients: &self.clients,
            link_keys: vec![self.key.clone()],
            secret_prefix: "/personio-sync".into(),
            local: true,
        }
    }

    /// Runs the syncs queued so far, one at a time, as the sync function would (but applying
    /// in this process, as `personio-sync sync` does).
    pub async fn run_queued_syncs(&self) {
        while let Ok(batch) = self.sync_requests.receive(1).await {
            let Some(delivery) = batch.into_iter().next() else {
                return;
            };
            let request = delivery.message;
            if let Err(e) = self.run_sync(&request).await {
                eprintln!(
                    "personio-sync: the import of tenant {} failed: {e}",
                    request.tenant
                );
            }
            let _ = self.sync_requests.ack(&delivery.receipt).await;
        }
    }

    async fn run_sync(&self, request: &SyncRequest) -> Result<(), String> {
        let tenant = self
            .tenants
            .tenant(&request.tenant)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no such tenant")?;
        // As the sync function: a tenant runs once its integration is bound, Kombo's setup
        // finished and its Learn Amp account was entered, and a run nobody asked for by hand
        // once its admin started the first import.
        let now = chrono::Utc::now();
        let options = RunOptions {
            mode: request.mode,
            trigger: request.trigger,
            ..RunOptions::default()
        };
        let tenant = match check_runnable(
            tenant,
            &options,
            Some(&self.connect as &dyn KomboConnect),
            &self.tenants,
            now,
        )
        .await
        .map_err(|e| e.to_string())?
        {
            Readiness::Ready(tenant) => *tenant,
            waiting => {
                println!(
                    "import of tenant {}: skipped, {}",
                    request.tenant,
                    waiting.reason()
                );
                return Ok(());
            }
        };
        let clients = self
            .clients
            .clients(&tenant)
            .await
            .map_err(|e| e.to_string())?;
        let holder = format!("admin-serve-{}", request.event_id);
        let until = now + chrono::Duration::hours(1);
        let tenant_id = tenant.settings.tenant_id.as_str();
        if !self
            .coordination
            .lock_run(tenant_id, &holder, now, until)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err("another run is in progress".into());
        }
        let changes = InProcessQueue::<ChangeMessage>::new();
        let engine = Engine {
            hris: clients.hris.as_ref(),
            learnamp: clients.learnamp.as_ref(),
            store: &self.store,
            queue: &changes,
            settings: &tenant.settings,
            concurrency: 8,
            progress: &NoProgress,
        };
        let result = engine.run(&options).await;
        let _ = self.coordination.unlock_run(tenant_id, &holder).await;
        let report = result.map_err(|e| e.to_string())?;
        println!(
            "import of tenant {tenant_id}: created {} updated {} deactivated {} deferred {} failed {}",
            report.counts.created, report.counts.updated, report.counts.deactivated, report.counts.deferred, report.counts.failed
        );
        Ok(())
    }

    /// The webhook function's handler over this stack's tenants and queue.
    async fn webhook(&self, request: axum::extract::Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let Ok(body) = axum::body::to_bytes(body, webhook_fn::MAX_BODY_BYTES + 1).await else {
            return status_only(413);
        };
        let Ok(body) = String::from_utf8(body.to_vec()) else {
            return status_only(400);
        };
        let headers: serde_json::Map<String, serde_json::Value> =
            admin_fn::http::header_pairs(&parts.headers)
                .into_iter()
                .map(|(name, value)| (name, value.into()))
                .collect();
        let path = parts.uri.path();
        // The Function URL's event, as Lambda hands it to the webhook function.
        let event = serde_json::json!({
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": parts.uri.query().unwrap_or_default(),
            "headers": headers,
            "requestContext": {"http": {"method": parts.method.as_str(), "path": path,
                                        "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                               "timeEpoch": chrono::Utc::now().timestamp_millis()},
            "body": body,
            "isBase64Encoded": false
        });
        let Ok(event) = serde_json::from_value(event) else {
            return status_only(400);
        };
        let deps = webhook_fn::WebhookDeps {
            kombo_secrets: vec![LOCAL_WEBHOOK_SECRET.as_bytes().to_vec()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &self.tenants,
            coordination: &self.coordination,
            sync_requests: &self.sync_requests,
        };
        let answer = webhook_fn::handle(event, &deps).await;
        let status = u16::try_from(answer.status_code).unwrap_or(500);
        // The event's type and what it did, never its content (its `end_user` names a person).
        let outcome = |text: &str, field: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get(field)?.as_str().map(str::to_string))
                .unwrap_or_else(|| "?".into())
        };
        println!(
            "Kombo webhook {}: {status} {}",
            outcome(body.as_str(), "type"),
            outcome(answer.body.as_deref().unwrap_or_default(), "status")
        );
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(answer.body.unwrap_or_default()))
            .unwrap_or_else(|_| status_only(500))
    }

    pub async fn stop(self) {
        self.sandboxes.shutdown().await;
    }
}

type Shared = Arc<LocalAdmin>;

/// The handler's request from axum's; `None` for a body over the limit.
async fn to_request(request: axum::extract::Request) -> Option<Request> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await.ok()?;
    Some(Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: admin_fn::http::header_pairs(&parts.headers),
        body: body.to_vec(),
    })
}

fn to_axum(response: Response) -> axum::response::Response {
    let mut out = axum::response::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        out = out.header(name, value);
    }
    for cookie in &response.cookies {
        out = out.header("set-cookie", cookie);
    }
    out.body(axum::body::Body::from(response.body))
        .expect("a valid response")
}

async fn admin(
    State(local): State<Shared>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let response = match to_request(request).await {
        Some(request) => admin_fn::handle(request, &local.deps()).await,
        None => Response::error(413, "The request is too large (64 KiB at most)."),
    };
    to_axum(response)
}

async fn webhook(
    State(local): State<Shared>,
    request: axum::extract::Request,
) -> axum::response::Response {
    local.webhook(request).await
}

fn status_only(status: u16) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    *response.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    response
}

/// Serves until `shutdown` resolves; runs the queued imports meanwhile; then stops the sandboxes.
pub async fn serve_local(
    listener: tokio::net::TcpListener,
    local: LocalAdmin,
    base_url: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The Kombo sandbox's lifecycle webhooks come to this server's webhook handler.
    let webhook_url = format!("{base_url}/webhooks/kombo");
    local
        .sandboxes
        .kombo
        .set_webhook(Some(&webhook_url), LOCAL_WEBHOOK_SECRET);
    let shared: Shared = Arc::new(local);
    let router = axum::Router::new()
        .route("/webhooks/kombo", axum::routing::post(webhook))
        .fallback(admin)
        .with_state(shared.clone());
    // The imports run in this task, beside the server: nothing of them has to be `'static`.
    let runner = async {
        loop {
            shared.run_queued_syncs().await;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    };
    let served = tokio::select! {
        served = axum::serve(listener, router).with_graceful_shutdown(shutdown) => served,
        never = runner => never,
    };
    // The sandboxes stop with the process if a connection still holds the stack.
    if let Ok(local) = Arc::try_unwrap(shared) {
        local.stop().await;
    }
    served
}
