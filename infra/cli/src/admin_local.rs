//! The local admin stack: the admin handler behind axum on 127.0.0.1, the embedded store, both
//! sandboxes, a stand-in of Kombo's connection page (for the sandbox's one integration), and a
//! task that runs the syncs "Import all" queues, as the sync function would.

use crate::local::{LocalSandboxes, INTEGRATION_ID, KOMBO_API_KEY};
use crate::state_dir::{self, StateDirLock};
use admin_fn::{AdminDeps, HttpLearnAmpCheck, Request, Response, MAX_BODY_BYTES};
use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use fn_common::{ClientFactory, HttpClients, MemorySecrets};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use sync_core::admin::InMemoryAdminSessions;
use sync_core::connect::{
    ConnectLanguage, CustomFieldInfo, IntegrationInfo, IntegrationStatus, KomboConnect,
    LinkRequest, SetupStatus, TokenIntegration,
};
use sync_core::coordination::{Coordination, InMemoryCoordination};
use sync_core::error::SourceError;
use sync_core::messages::{ChangeMessage, SyncRequest};
use sync_core::ports::Queue;
use sync_core::queue::InProcessQueue;
use sync_core::store::EmbeddedStore;
use sync_core::tenants::{InMemoryTenants, TenantStore};
use sync_core::{Engine, NoProgress, RunOptions};

pub struct LocalAdmin {
    pub sandboxes: LocalSandboxes,
    tenants: InMemoryTenants,
    store: EmbeddedStore,
    _lock: StateDirLock,
    coordination: InMemoryCoordination,
    sessions: InMemoryAdminSessions,
    sync_requests: InProcessQueue<SyncRequest>,
    pub connect: LocalConnect,
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
        Ok(Self {
            sandboxes,
            tenants: InMemoryTenants::default(),
            store,
            _lock: lock,
            coordination: InMemoryCoordination::default(),
            sessions: InMemoryAdminSessions::default(),
            sync_requests: InProcessQueue::new(),
            connect: LocalConnect::default(),
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
        let clients = self
            .clients
            .clients(&tenant)
            .await
            .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
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
        let options = RunOptions {
            mode: request.mode,
            trigger: request.trigger,
            ..RunOptions::default()
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

    pub async fn stop(self) {
        self.sandboxes.shutdown().await;
    }
}

/// Kombo's connection flow for the Kombo sandbox's one integration: a link opens the stand-in
/// connection page this server serves (`/_kombo/connect`), whose button completes it and hands
/// the token to the page that opened it (`postMessage({type: "kombo-connect", token})`), as
/// Kombo's `showKomboConnect` resolves with it. The integration is made for the link's tenant,
/// its setup COMPLETED (the sandbox holds the whole company at once).
#[derive(Default)]
pub struct LocalConnect {
    pub base_url: OnceLock<String>,
    data: Mutex<ConnectData>,
}

#[derive(Default)]
struct ConnectData {
    links: HashMap<String, Option<String>>,
    tokens: HashMap<String, String>,
    integration: Option<IntegrationInfo>,
    issued: u64,
}

impl LocalConnect {
    fn issue(&self, tenant: Option<String>) -> String {
        let mut data = self.data.lock().expect("lock");
        data.issued += 1;
        let id = format!("{}-{}", data.issued, admin_fn::random::token(9));
        data.links.insert(id.clone(), tenant);
        format!(
            "{}/_kombo/connect?link={id}",
            self.base_url.get().map_or("", String::as_str)
        )
    }

    /// The admin completes the flow behind link `id`: its token, or `None` for a link never issued.
    pub fn complete(&self, id: &str) -> Option<String> {
        let mut data = self.data.lock().expect("lock");
        let tenant = data.links.remove(id)?;
        match (tenant, data.integration.as_mut()) {
            (Some(tenant), _) => {
                data.integration = Some(IntegrationInfo {
                    integration_id: INTEGRATION_ID.into(),
                    tool: "personio".into(),
                    status: IntegrationStatus::Active,
                    setup_status: SetupStatus::Completed,
                    end_user_origin_id: Some(tenant),
                })
            }
            (None, Some(integration)) => integration.status = IntegrationStatus::Active,
            (None, None) => return None,
        }
        let token = admin_fn::random::token(24);
        data.tokens.insert(token.clone(), INTEGRATION_ID.into());
        Some(token)
    }

    /// Breaks the sandbox's connection (`INVALID`), to try a reconnect.
    pub fn break_connection(&self) {
        if let Some(integration) = self.data.lock().expect("lock").integration.as_mut() {
            integration.status = IntegrationStatus::Invalid;
        }
    }

    fn current(&self, integration_id: &str) -> Option<IntegrationInfo> {
        let data = self.data.lock().expect("lock");
        data.integration
            .clone()
            .filter(|i| i.integration_id == integration_id)
    }
}

fn unknown(what: &str) -> SourceError {
    SourceError::Rejected {
        code: "PLATFORM.INPUT_INVALID".into(),
        message: format!("{what} not found"),
    }
}

#[async_trait]
impl KomboConnect for LocalConnect {
    async fn create_link(&self, request: &LinkRequest) -> Result<String, SourceError> {
        Ok(self.issue(Some(request.tenant_id.clone())))
    }

    async fn integration_by_token(&self, token: &str) -> Result<TokenIntegration, SourceError> {
        let id = self.data.lock().expect("lock").tokens.get(token).cloned();
        let integration = id
            .and_then(|id| self.current(&id))
            .ok_or_else(|| unknown("token"))?;
        Ok(TokenIntegration {
            integration_id: integration.integration_id,
            tool: integration.tool,
            end_user_origin_id: integration.end_user_origin_id,
            setup_status: integration.setup_status,
        })
    }

    async fn integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<IntegrationInfo>, SourceError> {
        Ok(self.current(integration_id))
    }

    async fn relink(
        &self,
        integration_id: &str,
        _: ConnectLanguage,
    ) -> Result<String, SourceError> {
        self.current(integration_id)
            .ok_or_else(|| unknown("integration"))?;
        Ok(self.issue(None))
    }

    async fn delete_integration(&self, integration_id: &str) -> Result<(), SourceError> {
        self.current(integration_id)
            .ok_or_else(|| unknown("integration"))?;
        self.data.lock().expect("lock").integration = None;
        Ok(())
    }

    async fn custom_fields(
        &self,
        integration_id: &str,
    ) -> Result<Vec<CustomFieldInfo>, SourceError> {
        self.current(integration_id)
            .ok_or_else(|| unknown("integration"))?;
        Ok(vec![CustomFieldInfo {
            id: "cf-cost-center".into(),
            key: "cost_center".into(),
            model: "hris_employees".into(),
            label: Some("Cost center".into()),
        }])
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

#[derive(serde::Deserialize)]
struct LinkQuery {
    link: String,
    #[serde(default)]
    done: bool,
}

/// The stand-in of Kombo's connection page. Nothing of the query is written into the page but
/// the link id, which is checked to be one this server issued.
async fn kombo_connect_page(
    State(local): State<Shared>,
    Query(q): Query<LinkQuery>,
) -> axum::response::Response {
    if !q.done {
        if !local
            .connect
            .data
            .lock()
            .expect("lock")
            .links
            .contains_key(&q.link)
        {
            return (
                axum::http::StatusCode::NOT_FOUND,
                Html("This connection link is unknown or was used."),
            )
                .into_response();
        }
        return Html(format!(
            "<!doctype html><meta charset=utf-8><title>Kombo (sandbox)</title><h1>Connect Personio (sandbox)</h1>\
             <p>This stands in for Kombo's connection page.</p>\
             <form method=get><input type=hidden name=link value=\"{}\"><input type=hidden name=done value=true>\
             <button id=connect>Connect Personio</button></form>",
            q.link
        ))
        .into_response();
    }
    let Some(token) = local.connect.complete(&q.link) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            Html("This connection link is unknown or was used."),
        )
            .into_response();
    };
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Kombo (sandbox)</title><h1>Personio is connected</h1>\
         <p>Token: <code id=token>{token}</code></p>\
         <script>var m = {{type: \"kombo-connect\", token: \"{token}\"}}; if (window.parent !== window) {{ window.parent.postMessage(m, \"*\"); }} else if (window.opener) {{ window.opener.postMessage(m, \"*\"); window.close(); }}</script>"
    ))
    .into_response()
}

async fn break_connection(State(local): State<Shared>) -> &'static str {
    local.connect.break_connection();
    "the sandbox's Personio connection is now INVALID\n"
}

/// Serves until `shutdown` resolves; runs the queued imports meanwhile; then stops the sandboxes.
pub async fn serve_local(
    listener: tokio::net::TcpListener,
    local: LocalAdmin,
    base_url: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = local.connect.base_url.set(base_url.to_string());
    let shared: Shared = Arc::new(local);
    let router = axum::Router::new()
        .route("/_kombo/connect", axum::routing::get(kombo_connect_page))
        .route("/_kombo/break", axum::routing::post(break_connection))
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
