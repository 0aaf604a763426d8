//! The admin handler's test world: both sandboxes over HTTP (fn-common's `TestWorld`), the
//! embedded adapters, Kombo's connection flow in memory, and admins who enter through signed
//! links.

#![allow(dead_code)]

use admin_fn::{handle, link, AdminDeps, HttpLearnAmpCheck, Request, Response};
use chrono::{Duration, Utc};
use fn_common::testing::{TestWorld, TENANT};
use fn_common::MemorySecrets;
use sync_core::admin::InMemoryAdminSessions;
use sync_core::connect::{IntegrationInfo, IntegrationStatus, SetupStatus};
use sync_core::embedded::InMemoryKomboConnect;
use sync_core::tenants::{KomboConnection, TenantConfig, TenantStore};

pub const KEY: &[u8] = b"test-admin-link-key-of-at-least-32-bytes";
pub const HOST: &str = "admin.example";
/// The Kombo sandbox's one integration: a tenant bound to it previews against the sandbox.
pub const SANDBOX_INTEGRATION: &str = TENANT;

pub struct Admin {
    pub world: TestWorld,
    pub connect: InMemoryKomboConnect,
    pub sessions: InMemoryAdminSessions,
    pub secrets: MemorySecrets,
    pub check: HttpLearnAmpCheck,
}

/// One admin's session: its cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Admin {
    pub async fn start() -> Self {
        let today = Utc::now().date_naive();
        Self {
            world: TestWorld::start(sandbox::generate_company(12, 3, today)).await,
            connect: InMemoryKomboConnect::new(),
            sessions: InMemoryAdminSessions::default(),
            secrets: MemorySecrets::default(),
            check: HttpLearnAmpCheck {
                retry: fn_common::RetryPolicy::fast(),
            },
        }
    }

    pub fn deps(&self) -> AdminDeps<'_> {
        AdminDeps {
            tenants: &self.world.tenants,
            store: &self.world.store,
            coordination: &self.world.coordination,
            sessions: &self.sessions,
            sync_requests: &self.world.sync_requests,
            connect: &self.connect,
            secrets: &self.secrets,
            learnamp_check: &self.check,
            clients: &self.world.clients,
            link_keys: vec![KEY.to_vec()],
            secret_prefix: "/personio-sync".into(),
            // The sandboxes answer on http://127.0.0.1.
            local: true,
        }
    }

    pub async fn send(&self, request: Request) -> Response {
        handle(request, &self.deps()).await
    }

    /// `GET /enter` with a freshly minted link for `tenant`.
    pub async fn enter(&self, tenant: &str) -> Response {
        let url = link::mint(
            KEY,
            "https://admin.example",
            tenant,
            Duration::minutes(10),
            Utc::now(),
        );
        self.send(Request::new("GET", "/enter").with_query(url.split_once('?').unwrap().1))
            .await
    }

    /// An admin of `tenant`, entered through a link.
    pub async fn login(&self, tenant: &str) -> Session {
        let entered = self.enter(tenant).await;
        assert_eq!(entered.status, 303, "{entered:?}");
        let cookie = entered.cookies[0].split(';').next().unwrap().to_string();
        let session = self
            .send(Request::new("GET", "/api/session").with_header("cookie", &cookie))
            .await;
        assert_eq!(session.status, 200);
        Session {
            cookie,
            csrf: session.json_body()["csrf_token"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// A request as the page sends it in `session`: cookie, CSRF token, this origin.
    pub fn request(&self, session: &Session, method: &str, path: &str) -> Request {
        Request::new(method, path)
            .with_header("cookie", &session.cookie)
            .with_header("x-csrf-token", &session.csrf)
            .with_header("host", HOST)
            .with_header("origin", &format!("http://{HOST}"))
    }

    pub async fn call(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Response {
        let mut request = self.request(session, method, path);
        if let Some(body) = body {
            request = request.with_json(&body);
        }
        self.send(request).await
    }

    pub async fn tenant(&self, tenant: &str) -> Option<TenantConfig> {
        self.world.tenants.tenant(tenant).await.unwrap()
    }

    /// `tenant`, fully set up: bound to the sandbox's integration (made for it, setup
    /// COMPLETED), with the sandbox's Learn Amp credentials.
    pub async fn ready_tenant(&self, tenant: &str) -> TenantConfig {
        self.connect.put_integration(IntegrationInfo {
            integration_id: SANDBOX_INTEGRATION.into(),
            tool: "personio".into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::Completed,
            end_user_origin_id: Some(tenant.into()),
        });
        let mut config = self.world.tenant_config(tenant);
        config.kombo = KomboConnection::Connected {
            integration_id: SANDBOX_INTEGRATION.into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::Completed,
            checked_at: Utc::now(),
        };
        self.world.tenants.put_tenant(&config).await.unwrap();
        config
    }

    pub async fn stop(self) {
        self.world.stop().await;
    }
}

/// A body each route accepts (for the routes that take one).
pub fn body_for(method: &str, path: &str, learnamp_base_url: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    match (method, path) {
        ("POST", "/api/connect/link") => Some(
            json!({"email": "admin@acme.example", "organization_name": "ACME", "language": "de"}),
        ),
        ("POST", "/api/connect/complete") => Some(json!({"token": "token-unknown"})),
        ("PUT", "/api/learnamp") => Some(json!({
            "base_url": learnamp_base_url,
            "client_id": fn_common::testing::CLIENT_ID,
            "client_secret": fn_common::testing::CLIENT_SECRET,
        })),
        ("PUT", "/api/settings") => Some(json!({
            "invite_policy": "on_hire_date",
            "time_zone": "Europe/London",
            "location": {"sync": true},
            "custom_fields": [{"personio_key": "shirt", "learnamp_field": "Shirt size"}],
            "scope": {"legal_entity_ids": [], "employment_types": ["FULL_TIME"], "group_ids": []},
            "deactivation_guard": {"max_percent": 10.0, "max_count": 5},
        })),
        _ => None,
    }
}
