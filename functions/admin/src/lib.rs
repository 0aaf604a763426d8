//! The admin function: one tenant's integration page and its JSON API (`API.md`), behind its own
//! Function URL on AWS and `personio-sync admin serve` locally. [`handle`] is a plain async
//! function over the ports, from the handler's [`Request`] to its [`Response`]; the `main` and
//! the local server only convert to and from them.
//!
//! Authentication: a signed, single-use admin link ([`link`]) opens an 8-hour session, held in
//! an HttpOnly cookie whose SHA-256 alone is stored ([`sync_core::admin::AdminSessions`]).
//! Every `/api/` request needs the session; every state-changing one also its CSRF token and,
//! when the browser names one, this origin. The tenant is always the session's: no route takes
//! a tenant id. Nothing here logs a name, an email, a token or a secret: ids only.

mod api;
mod checks;
pub mod config;
pub mod connect_adapter;
pub mod http;
pub mod link;
pub mod page;
pub mod random;
mod routes;
mod views;

pub use api::{ApiError, ROUTES};
pub use checks::{HttpLearnAmpCheck, LearnAmpCheck};
pub use config::Config;
pub use http::{Request, Response, MAX_BODY_BYTES};

use chrono::{DateTime, Duration, Utc};
use fn_common::{ClientFactory, SecretWriter};
use sync_core::admin::{AdminSession, AdminSessions};
use sync_core::connect::KomboConnect;
use sync_core::coordination::Coordination;
use sync_core::messages::SyncRequest;
use sync_core::ports::{Queue, StateStore};
use sync_core::tenants::TenantStore;

/// The session cookie.
pub const SESSION_COOKIE: &str = "ps_session";
/// How long a session lasts from entering.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);

/// What the handler runs against.
pub struct AdminDeps<'a> {
    pub tenants: &'a dyn TenantStore,
    pub store: &'a dyn StateStore,
    pub coordination: &'a dyn Coordination,
    pub sessions: &'a dyn AdminSessions,
    pub sync_requests: &'a dyn Queue<SyncRequest>,
    /// Kombo's connection flow.
    pub connect: &'a dyn KomboConnect,
    /// Writes a tenant's Learn Amp client secret (SSM SecureString on AWS).
    pub secrets: &'a dyn SecretWriter,
    /// Asks Learn Amp for a token with credentials an admin entered.
    pub learnamp_check: &'a dyn LearnAmpCheck,
    /// A tenant's Kombo and Learn Amp clients, for the preview and the names shown live.
    pub clients: &'a dyn ClientFactory,
    /// The admin link keys: the current one first, during a rotation the previous one too.
    pub link_keys: Vec<Vec<u8>>,
    /// Learn Amp client secrets are written under `<secret_prefix>/tenants/`.
    pub secret_prefix: String,
    /// The local server: its origin is `http://`, and Learn Amp may be at `http://127.0.0.1`.
    pub local: bool,
}

impl AdminDeps<'_> {
    /// The SSM parameter that holds `tenant`'s Learn Amp client secret: a tenant id holds no
    /// `/`, so turning its `:` into `/` keeps every tenant's name apart.
    pub fn secret_name(&self, tenant: &str) -> String {
        format!(
            "{}/tenants/{}/learnamp-client-secret",
            self.secret_prefix.trim_end_matches('/'),
            tenant.replace(':', "/")
        )
    }
}

/// Answers one request.
pub async fn handle(request: Request, deps: &AdminDeps<'_>) -> Response {
    let now = Utc::now();
    let path = request.path.as_str();
    if path.starts_with("/api/") {
        return api::handle(&request, deps, now).await;
    }
    match (request.method.as_str(), path) {
        ("GET", "/enter") => enter(&request, deps, now).await,
        ("GET", "/") | ("GET", "/index.html") => match api::session_of(&request, deps, now).await {
            Ok(Some(_)) => Response::html(200, page::INDEX_HTML),
            Ok(None) => Response::html(200, &page::OPEN_FROM_LEARN_AMP_PAGE),
            Err(_) => Response::html(503, &page::TRY_AGAIN_PAGE),
        },
        ("GET", "/assets/app.js") => {
            Response::asset("text/javascript; charset=utf-8", page::APP_JS)
        }
        ("GET", "/assets/app.css") => Response::asset("text/css; charset=utf-8", page::APP_CSS),
        ("GET", _) => Response::html(404, &page::NOT_FOUND_PAGE),
        _ => Response::error(405, "This address only answers GET."),
    }
}

/// `GET /enter`: a signed admin link becomes a session.
async fn enter(request: &Request, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> Response {
    let refused = || Response::html(403, &page::LINK_REFUSED_PAGE);
    let params: Vec<(String, String)> = match serde_urlencoded::from_str(&request.query) {
        Ok(params) => params,
        Err(_) => return refused(),
    };
    let one = |name: &str| {
        let mut values = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(value), None) => value.as_str(),
            _ => "",
        }
    };
    let claims = match link::verify(
        &deps.link_keys,
        one("tenant"),
        one("expires"),
        one("nonce"),
        one("sig"),
        now,
    ) {
        Ok(claims) => claims,
        Err(refusal) => {
            tracing::info!(refusal = %refusal, "admin link refused");
            return refused();
        }
    };
    match deps
        .sessions
        .consume_nonce(&claims.nonce, claims.expires_at)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(tenant = %claims.tenant_id, refusal = "nonce already used", "admin link refused");
            return refused();
        }
        Err(e) => {
            tracing::error!(error = %e, retryable = e.is_retryable(), "admin link: nonce not recorded");
            return Response::html(503, &page::TRY_AGAIN_PAGE);
        }
    }
    let session_id = random::token(32);
    let session = AdminSession {
        tenant_id: claims.tenant_id.clone(),
        csrf_token: random::token(32),
        expires_at: now + SESSION_LIFETIME,
    };
    if let Err(e) = deps
        .sessions
        .create(&random::sha256_hex(&session_id), &session)
        .await
    {
        tracing::error!(error = %e, retryable = e.is_retryable(), "admin session not stored");
        return Response::html(503, &page::TRY_AGAIN_PAGE);
    }
    tracing::info!(tenant = %claims.tenant_id, "admin session opened");
    let mut response = Response::redirect("/");
    response.cookies.push(format!(
        "{SESSION_COOKIE}={session_id}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={}",
        SESSION_LIFETIME.num_seconds()
    ));
    response
}
