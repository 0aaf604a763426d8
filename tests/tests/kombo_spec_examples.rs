//! End-to-end: Kombo's own OpenAPI examples, verbatim (`tests/fixtures/kombo_spec_examples.json`,
//! copied from the spec): the employees, groups and locations responses are served over HTTP to
//! the real client and a whole sync, and every webhook example, signed, goes through the webhook
//! handler. What Kombo documents must be accepted as it is documented.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use axum::extract::RawQuery;
use axum::routing::get;
use axum::Router;
use e2e::{CLIENT_ID, CLIENT_SECRET};
use sandbox::LearnAmpSandbox;
use serde_json::{json, Value};
use sync_clients::{KomboClient, LearnAmpClient, RetryPolicy};
use sync_core::coordination::InMemoryCoordination;
use sync_core::messages::SyncRequest;
use sync_core::ports::{HrisSource, ListQuery, Queue};
use sync_core::queue::InProcessQueue;
use sync_core::report::SyncMode;
use sync_core::store::EmbeddedStore;
use sync_core::tenants::{InMemoryTenants, TenantConfig, TenantStore};
use sync_core::{Engine, InvitePolicy, RunOptions, TenantSettings};

/// The integration id of the spec's examples.
const TENANT: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";
const KEY: &str = "kombo-key";

fn examples() -> Value {
    serde_json::from_str(include_str!("../fixtures/kombo_spec_examples.json")).unwrap()
}

/// Serves a listing's example as its first page, verbatim. The example's `next` is a cursor;
/// the page it leads to is the last, and empty.
fn listing(example: Value) -> impl Fn(RawQuery) -> std::future::Ready<axum::Json<Value>> + Clone {
    move |RawQuery(query): RawQuery| {
        let first = !query.unwrap_or_default().contains("cursor=");
        std::future::ready(axum::Json(if first {
            example.clone()
        } else {
            json!({"status": "success", "data": {"next": null, "results": []}})
        }))
    }
}

async fn serve(router: Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, stop)
}

#[tokio::test]
async fn the_specs_listing_examples_are_read_and_synced() {
    let examples = examples();
    let router = Router::new()
        .route(
            "/v1/hris/employees",
            get(listing(examples["employees"].clone())),
        )
        .route("/v1/hris/groups", get(listing(examples["groups"].clone())))
        .route(
            "/v1/hris/locations",
            get(listing(examples["locations"].clone())),
        );
    let (kombo_url, stop_kombo) = serve(router).await;
    let kombo = KomboClient::new(&kombo_url, KEY, TENANT).with_retry(RetryPolicy::fast());

    let example_ids = |key: &str| -> Vec<String> {
        examples[key]["data"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let employees = kombo.list_employees(&ListQuery::default()).await.unwrap();
    assert_eq!(
        employees.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        example_ids("employees")
    );
    let groups = kombo.list_groups(&ListQuery::default()).await.unwrap();
    assert_eq!(groups.len(), example_ids("groups").len());
    let locations = kombo.list_locations(&ListQuery::default()).await.unwrap();
    assert_eq!(locations.len(), example_ids("locations").len());

    // A whole sync of the example company into Learn Amp, then a delta (which reads groups).
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let learnamp_server = learnamp.start(0).await.unwrap();
    let client = LearnAmpClient::new(&learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(RetryPolicy::fast());
    let state = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(state.path()).unwrap();
    let queue = InProcessQueue::new();
    let mut settings = TenantSettings::new(TENANT);
    settings.invite_policy = InvitePolicy::Manual;
    let engine = Engine {
        hris: &kombo,
        learnamp: &client,
        store: &store,
        queue: &queue,
        settings: &settings,
        concurrency: 2,
        progress: &sync_core::NoProgress,
    };
    let report = engine.run(&RunOptions::default()).await.unwrap();
    assert_eq!(
        report.counts.failed, 0,
        "{:?} {:?}",
        report.actions, report.notes
    );
    let linked = learnamp
        .snapshot()
        .users
        .into_iter()
        .filter(|u| u.integration_external_id.is_some())
        .count();
    assert_eq!(linked as u64, report.counts.created, "{:?}", report.actions);
    let delta = engine
        .run(&RunOptions {
            mode: SyncMode::Delta,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(delta.counts.failed, 0, "{:?}", delta.actions);
    learnamp_server.shutdown().await;
    let _ = stop_kombo.send(());

    // The example employee is a leaver (INACTIVE, terminated in 2022): nobody to create. The
    // same record as a current employee, with values the spec allows, is created as shown.
    let mut current = examples["employees"].clone();
    let record = &mut current["data"]["results"][0];
    record["employment_status"] = json!("ACTIVE");
    record["termination_date"] = Value::Null;
    let router = Router::new().route("/v1/hris/employees", get(listing(current.clone())));
    let (kombo_url, stop_kombo) = serve(router).await;
    let kombo = KomboClient::new(&kombo_url, KEY, TENANT).with_retry(RetryPolicy::fast());
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let learnamp_server = learnamp.start(0).await.unwrap();
    let client = LearnAmpClient::new(&learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(RetryPolicy::fast());
    let state = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(state.path()).unwrap();
    let report = Engine {
        hris: &kombo,
        learnamp: &client,
        store: &store,
        queue: &queue,
        settings: &settings,
        concurrency: 2,
        progress: &sync_core::NoProgress,
    }
    .run(&RunOptions::default())
    .await
    .unwrap();
    assert_eq!(report.counts.created, 1, "{:?}", report.actions);
    let user = learnamp
        .snapshot()
        .users
        .into_iter()
        .find(|u| {
            u.integration_external_id.as_deref() == current["data"]["results"][0]["id"].as_str()
        })
        .expect("the example employee has a user");
    assert_eq!(user.email, "john.doe@acme.com");
    assert_eq!(user.first_name, "John");
    learnamp_server.shutdown().await;
    let _ = stop_kombo.send(());
}

#[tokio::test]
async fn every_webhook_example_of_the_spec_is_accepted() {
    let secret = b"spec-webhook-secret".to_vec();
    let tenants = InMemoryTenants::default();
    tenants
        .put_tenant(&TenantConfig {
            settings: TenantSettings::new(TENANT),
            learnamp_base_url: "https://api.learnamp.com".into(),
            learnamp_client_id: "client".into(),
            learnamp_client_secret_ref: "/personio-sync/tenants/acme/secret".into(),
            learnamp_scope: None,
            personio_company_id: None,
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo: Default::default(),
        })
        .await
        .unwrap();
    let queue = InProcessQueue::<SyncRequest>::new();
    let webhooks = examples()["webhooks"].as_object().unwrap().clone();
    assert!(webhooks.len() >= 10, "every webhook of the spec");
    let mut outcomes = std::collections::BTreeMap::new();
    for (name, example) in webhooks {
        // Every example has the same event id: each is delivered as if it came first.
        let coordination = InMemoryCoordination::default();
        let deps = webhook_fn::WebhookDeps {
            kombo_secrets: vec![secret.clone()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &tenants,
            coordination: &coordination,
            sync_requests: &queue,
        };
        // The bytes as Kombo would send them, signed as Kombo signs them.
        let body = serde_json::to_string(&example).unwrap();
        let signature = sync_core::webhook::kombo_signature(&secret, body.as_bytes());
        let request: LambdaFunctionUrlRequest = serde_json::from_value(json!({
            "version": "2.0",
            "rawPath": "/webhooks/kombo",
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "x-kombo-signature": signature},
            "routeKey": "$default",
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abc123",
                "domainName": "abc123.lambda-url.eu-central-1.on.aws",
                "domainPrefix": "abc123",
                "http": {"method": "POST", "path": "/webhooks/kombo", "protocol": "HTTP/1.1",
                         "sourceIp": "198.51.100.7", "userAgent": "Kombo-Webhooks"},
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "routeKey": "$default",
                "stage": "$default",
                "time": "22/Nov/2026:05:00:00 +0000",
                "timeEpoch": 1795324800000_i64
            },
            "body": body,
            "isBase64Encoded": false
        }))
        .unwrap();
        let response = webhook_fn::handle(request, &deps).await;
        let answer: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        assert_eq!(response.status_code, 200, "{name}: {answer}");
        outcomes.insert(name, answer["status"].as_str().unwrap().to_string());
    }
    assert_eq!(outcomes["data-changed"], "queued", "{outcomes:?}");
    assert_eq!(outcomes["integration-created"], "recorded", "{outcomes:?}");
    assert_eq!(outcomes["integration-deleted"], "recorded", "{outcomes:?}");
    let queued = queue.receive(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].message.tenant, TENANT);
    let tenant = tenants.tenant(TENANT).await.unwrap().unwrap();
    let recorded = serde_json::to_string(&tenant.last_event).unwrap();
    assert!(
        !recorded.contains("user@example.com"),
        "no end_user email stored: {recorded}"
    );
}
