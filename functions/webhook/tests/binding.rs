//! Kombo's integration lifecycle through the webhook handler, called with real Function URL
//! events: `integration-created` binds the integration to the tenant its origin id names (and
//! no other), a second integration is refused while the first works, a relink keeps the one
//! integration, state changes refresh the stored statuses, and the setup becoming `COMPLETED`
//! queues the tenant's first import.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use serde_json::{json, Value};
use sync_core::connect::{IntegrationStatus, SetupStatus};
use sync_core::coordination::{Coordination, InMemoryCoordination};
use sync_core::messages::SyncRequest;
use sync_core::ports::Queue;
use sync_core::queue::InProcessQueue;
use sync_core::report::SyncMode;
use sync_core::tenants::{
    FirstImport, InMemoryTenants, KomboConnection, TenantConfig, TenantStore,
};
use sync_core::webhook::kombo_signature;
use sync_core::TenantSettings;
use webhook_fn::{handle, WebhookDeps};

const SECRET: &[u8] = b"kombo-webhook-secret";
const LEGACY: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";

struct World {
    tenants: InMemoryTenants,
    coordination: InMemoryCoordination,
    queue: InProcessQueue<SyncRequest>,
}

fn tenant(id: &str, kombo: KomboConnection) -> TenantConfig {
    TenantConfig {
        settings: TenantSettings::new(id),
        learnamp_base_url: "https://api.learnamp.com".into(),
        learnamp_client_id: "id".into(),
        learnamp_client_secret_ref: format!("/personio-sync/{id}/learnamp-secret"),
        learnamp_scope: None,
        personio_company_id: None,
        enabled: true,
        last_event: None,
        first_import: Default::default(),
        revision: Default::default(),
        kombo,
    }
}

fn bound(integration: &str, status: IntegrationStatus) -> KomboConnection {
    KomboConnection::Connected {
        integration_id: integration.into(),
        status,
        setup_status: SetupStatus::Completed,
        checked_at: chrono::Utc::now(),
    }
}

impl World {
    /// `acme` and `globex` onboarding (not connected, their first import not started, as the
    /// admin page creates them), and a tenant registered by an operator.
    async fn new() -> Self {
        let tenants = InMemoryTenants::default();
        let onboarding = |id| TenantConfig {
            first_import: FirstImport::AwaitingAdmin,
            ..tenant(id, KomboConnection::NotConnected)
        };
        for config in [
            onboarding("acme"),
            onboarding("globex"),
            tenant(LEGACY, KomboConnection::TenantIdIsIntegration),
        ] {
            tenants.put_tenant(&config).await.unwrap();
        }
        Self {
            tenants,
            coordination: InMemoryCoordination::default(),
            queue: InProcessQueue::new(),
        }
    }

    async fn send(&self, event: Value) -> String {
        let body = event.to_string();
        let deps = WebhookDeps {
            kombo_secrets: vec![SECRET.to_vec()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &self.tenants,
            coordination: &self.coordination,
            sync_requests: &self.queue,
        };
        let response = handle(request(&body), &deps).await;
        assert_eq!(response.status_code, 200, "{:?}", response.body);
        let answer: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        answer["status"].as_str().unwrap().to_string()
    }

    async fn kombo(&self, id: &str) -> KomboConnection {
        self.tenants.tenant(id).await.unwrap().unwrap().kombo
    }

    async fn queued(&self) -> Vec<SyncRequest> {
        self.queue
            .receive(10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.message)
            .collect()
    }
}

/// A Function URL event as Lambda delivers it, signed as Kombo signs.
fn request(body: &str) -> LambdaFunctionUrlRequest {
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/kombo",
        "rawQueryString": "",
        "headers": {"content-type": "application/json",
                    "x-kombo-signature": kombo_signature(SECRET, body.as_bytes())},
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc123",
            "domainName": "abc123.lambda-url.eu-central-1.on.aws", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": "/kombo", "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": "Kombo-Webhooks"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default",
            "stage": "$default", "time": "22/Nov/2026:05:00:00 +0000", "timeEpoch": 1795324800000_i64
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}

/// Kombo's `integration-created`, as the spec's example has it.
fn created(event_id: &str, integration: &str, origin: Option<&str>, tool: &str) -> Value {
    json!({"id": event_id, "type": "integration-created", "data": {
        "id": integration, "tool": tool, "category": "HRIS",
        "end_user": {"origin_id": origin, "creator_email": "admin@acme.example",
                     "organization_name": "Acme, Inc."}}})
}

fn state_changed(event_id: &str, integration: &str, state: &str, setup: &str) -> Value {
    json!({"id": event_id, "type": "integration-state-changed", "data": {
        "integration_tool": "personio", "integration_category": "HRIS",
        "integration_id": integration,
        "end_user": {"origin_id": "acme", "creator_email": "admin@acme.example",
                     "organization_name": "Acme, Inc."},
        "qa_status": "PASSED", "setup_status": setup, "state": state,
        "updated_at": "2026-12-01T12:00:00.000Z"}})
}

fn data_changed(event_id: &str, integration: &str) -> Value {
    json!({"id": event_id, "type": "data-changed", "data": {
        "integration_id": integration, "integration_tool": "personio",
        "integration_category": "HRIS", "changed_models": [{"name": "hris_employees"}]}})
}

#[tokio::test]
async fn integration_created_binds_the_tenant_its_origin_id_names_and_no_other() {
    let world = World::new().await;
    let event = created("evt-1", "personio:one", Some("acme"), "personio");
    assert_eq!(world.send(event.clone()).await, "bound");
    let KomboConnection::Connected {
        integration_id,
        status,
        setup_status,
        ..
    } = world.kombo("acme").await
    else {
        panic!("acme is bound");
    };
    assert_eq!(integration_id, "personio:one");
    assert_eq!(status, IntegrationStatus::Active);
    assert_eq!(
        setup_status,
        SetupStatus::Incomplete,
        "the first import waits for Kombo"
    );
    assert_eq!(world.kombo("globex").await, KomboConnection::NotConnected);
    let acme = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert!(!serde_json::to_string(&acme)
        .unwrap()
        .contains("admin@acme.example"));
    assert_eq!(world.send(event).await, "duplicate");
    assert!(world.queued().await.is_empty(), "nothing to read yet");

    // Events that name the integration reach the tenant bound to it.
    assert_eq!(
        world.send(data_changed("evt-2", "personio:one")).await,
        "queued"
    );
    let queued = world.queued().await;
    assert_eq!(queued[0].tenant, "acme");

    // Another tool, no origin id, an origin id that is no tenant of ours: nothing is bound.
    assert_eq!(
        world
            .send(created("evt-3", "bamboohr:x", Some("globex"), "bamboohr"))
            .await,
        "refused"
    );
    let globex = world.tenants.tenant("globex").await.unwrap().unwrap();
    assert_eq!(globex.kombo, KomboConnection::NotConnected);
    assert_eq!(
        globex.last_event.unwrap().event_type,
        sync_core::onboarding::INTEGRATION_REFUSED
    );
    assert_eq!(
        world
            .send(created("evt-4", "personio:two", None, "personio"))
            .await,
        "unknown_tenant"
    );
    assert_eq!(
        world
            .send(created(
                "evt-5",
                "personio:three",
                Some("initech"),
                "personio"
            ))
            .await,
        "unknown_tenant"
    );
    assert!(world.tenants.tenant("initech").await.unwrap().is_none());
    assert_eq!(world.kombo("globex").await, KomboConnection::NotConnected);
    // A tenant an operator registered keeps reading its own id.
    assert_eq!(
        world
            .send(created("evt-6", "personio:four", Some(LEGACY), "personio"))
            .await,
        "unknown_tenant"
    );
    assert_eq!(
        world.kombo(LEGACY).await,
        KomboConnection::TenantIdIsIntegration
    );
}

#[tokio::test]
async fn a_second_integration_is_refused_while_the_first_works_and_a_relink_keeps_the_one() {
    let world = World::new().await;
    world
        .tenants
        .put_tenant(&tenant(
            "acme",
            bound("personio:one", IntegrationStatus::Active),
        ))
        .await
        .unwrap();
    assert_eq!(
        world
            .send(created("evt-1", "personio:two", Some("acme"), "personio"))
            .await,
        "refused"
    );
    let acme = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert_eq!(acme.integration_id(), Some("personio:one"));
    let refused = acme.last_event.unwrap();
    assert_eq!(refused.data["integration_id"], "personio:two");
    assert!(refused.data["reason"]
        .as_str()
        .unwrap()
        .contains("personio:one"));

    // Its credentials break: Kombo says so, and a relink is what brings it back.
    assert_eq!(
        world
            .send(state_changed(
                "evt-2",
                "personio:one",
                "INVALID",
                "COMPLETED"
            ))
            .await,
        "recorded"
    );
    assert!(matches!(
        world.kombo("acme").await,
        KomboConnection::Connected {
            status: IntegrationStatus::Invalid,
            ..
        }
    ));
    assert_eq!(
        world
            .send(created("evt-3", "personio:two", Some("acme"), "personio"))
            .await,
        "refused",
        "a broken integration is relinked, not replaced"
    );
    assert_eq!(
        world
            .send(state_changed(
                "evt-4",
                "personio:one",
                "ACTIVE",
                "COMPLETED"
            ))
            .await,
        "recorded"
    );
    assert_eq!(
        world.kombo("acme").await,
        KomboConnection::Connected {
            integration_id: "personio:one".into(),
            status: IntegrationStatus::Active,
            setup_status: SetupStatus::Completed,
            checked_at: match world.kombo("acme").await {
                KomboConnection::Connected { checked_at, .. } => checked_at,
                _ => unreachable!(),
            },
        }
    );
    assert!(
        world.queued().await.is_empty(),
        "its first import ran long ago"
    );

    // Deleted at Kombo: a new connection replaces it.
    let deleted = json!({"id": "evt-5", "type": "integration-deleted", "data": {
        "id": "personio:one", "tool": "personio", "category": "HRIS",
        "end_user": {"origin_id": "acme"}, "deleted_at": "2026-12-01T12:00:00.000Z"}});
    assert_eq!(world.send(deleted).await, "recorded");
    assert_eq!(
        world
            .send(created("evt-6", "personio:two", Some("acme"), "personio"))
            .await,
        "bound"
    );
    assert_eq!(
        world
            .tenants
            .tenant("acme")
            .await
            .unwrap()
            .unwrap()
            .integration_id(),
        Some("personio:two")
    );
}

#[tokio::test]
async fn the_setup_becoming_completed_queues_nothing_before_the_admin_starts_the_first_import() {
    let world = World::new().await;
    assert_eq!(
        world
            .send(created("evt-1", "personio:one", Some("acme"), "personio"))
            .await,
        "bound"
    );
    assert_eq!(
        world
            .send(state_changed(
                "evt-2",
                "personio:one",
                "ACTIVE",
                "COMPLETED"
            ))
            .await,
        "recorded"
    );
    assert!(
        world.queued().await.is_empty(),
        "the admin previews and starts it"
    );
    let acme = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert!(acme.ready_to_sync());
    assert_eq!(acme.first_import, FirstImport::AwaitingAdmin);
}

/// A tenant whose admin already started its imports is synced in full as soon as Kombo says
/// the integration's setup is `COMPLETED` again (after Kombo ran it anew), once.
#[tokio::test]
async fn the_setup_completed_again_queues_a_full_sync_once_the_admin_started_imports() {
    let world = World::new().await;
    assert_eq!(
        world
            .send(created("evt-1", "personio:one", Some("acme"), "personio"))
            .await,
        "bound"
    );
    let mut acme = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert_eq!(acme.first_import, FirstImport::AwaitingAdmin);
    acme.first_import = FirstImport::Started;
    world.tenants.put_tenant(&acme).await.unwrap();
    assert_eq!(
        world
            .send(state_changed(
                "evt-2",
                "personio:one",
                "ACTIVE",
                "FINAL_SYNC_PENDING"
            ))
            .await,
        "recorded"
    );
    assert!(world.queued().await.is_empty());
    assert_eq!(
        world
            .send(state_changed(
                "evt-3",
                "personio:one",
                "ACTIVE",
                "COMPLETED"
            ))
            .await,
        "queued"
    );
    let queued = world.queued().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].tenant.as_str(), queued[0].mode),
        ("acme", SyncMode::Full)
    );
    let acme = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert!(acme.ready_to_sync());
    assert!(
        !serde_json::to_string(&acme.last_event)
            .unwrap()
            .contains("admin@acme.example"),
        "the end user is not stored"
    );
    // Kombo saying it again (another event) queues nothing more.
    world.coordination.sync_started("acme").await.unwrap();
    assert_eq!(
        world
            .send(state_changed(
                "evt-4",
                "personio:one",
                "ACTIVE",
                "COMPLETED"
            ))
            .await,
        "recorded"
    );
    assert!(world.queued().await.is_empty());
}
