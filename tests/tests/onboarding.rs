//! Self-service onboarding end to end, with no operator command: a tenant that exists but is
//! not connected (as the admin page creates it) is bound to its integration by the Kombo
//! sandbox's signed `integration-created` webhook, through the webhook handler, on DynamoDB
//! (moto); the sync handler skips it while Kombo's setup runs, and, once the sandbox's
//! `integration-state-changed` says the setup is `COMPLETED`, until its admin starts the first
//! import (the admin page's part is `self_service.rs`).

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{Duration, Utc};
use e2e::aws_stack::{kombo_webhook_request, webhook_outcome};
use e2e::{CLIENT_ID, CLIENT_SECRET, KOMBO_KEY, TENANT};
use fn_common::{HttpClients, StaticSecrets};
use sandbox::{generate_company, KomboSandbox, LearnAmpSandbox, SentWebhook};
use std::collections::HashMap;
use std::sync::Arc;
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::DynamoStateStore;
use sync_clients::{KomboConnectClient, RetryPolicy};
use sync_core::connect::{ConnectLanguage, KomboConnect, LinkRequest, SetupStatus};
use sync_core::messages::{ChangeMessage, SyncRequest};
use sync_core::ports::Queue;
use sync_core::queue::InProcessQueue;
use sync_core::report::SyncMode;
use sync_core::tenants::{FirstImport, KomboConnection, TenantConfig, TenantStore};
use sync_core::TenantSettings;

const WEBHOOK_SECRET: &str = "e2e-onboarding-webhook-secret";
const SECRET_REF: &str = "/personio-sync/acme/learnamp-client-secret";

struct Stack {
    store: DynamoStateStore,
    sync_requests: InProcessQueue<SyncRequest>,
    changes: InProcessQueue<ChangeMessage>,
    clients: HttpClients,
}

impl Stack {
    /// What the sandbox sent, handed to the webhook handler as the Function URL delivers it.
    async fn deliver(&self, webhook: &SentWebhook) -> String {
        let request = kombo_webhook_request(webhook.body.as_bytes(), &webhook.signature);
        let deps = webhook_fn::WebhookDeps {
            kombo_secrets: vec![WEBHOOK_SECRET.as_bytes().to_vec()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &self.store,
            coordination: &self.store,
            sync_requests: &self.sync_requests,
        };
        let (status, outcome) = webhook_outcome(&webhook_fn::handle(request, &deps).await);
        assert_eq!(status, 200, "{outcome}");
        outcome
    }

    async fn sync(&self, payload: serde_json::Value) -> serde_json::Value {
        let deps = sync_fn::SyncDeps {
            tenants: &self.store,
            store: &self.store,
            coordination: &self.store,
            changes: &self.changes,
            sync_requests: &self.sync_requests,
            clients: &self.clients,
        };
        sync_fn::handle(payload, Utc::now() + Duration::minutes(5), &deps)
            .await
            .expect("the sync handler answers")
    }

    /// The queued sync requests, handed to the sync handler as one SQS batch; the requests.
    async fn drain_sync_requests(&self) -> Vec<SyncRequest> {
        let deliveries = self.sync_requests.receive(10).await.unwrap();
        let mut event = SqsEvent::default();
        for (i, delivery) in deliveries.iter().enumerate() {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m-{i}"));
            record.body = Some(serde_json::to_string(&delivery.message).unwrap());
            event.records.push(record);
            self.sync_requests.ack(&delivery.receipt).await.unwrap();
        }
        let answer = self.sync(serde_json::to_value(&event).unwrap()).await;
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
        deliveries.into_iter().map(|d| d.message).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_is_bound_by_integration_created_and_synced_once_kombos_setup_completed_and_its_admin_started_it(
) {
    let today = Utc::now().date_naive();
    let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, generate_company(10, 7, today));
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let kombo_server = kombo.start(0).await.unwrap();
    let learnamp_server = learnamp.start(0).await.unwrap();
    kombo.set_webhook(None, WEBHOOK_SECRET);
    let seeded = learnamp.snapshot();

    let moto = MotoServer::start();
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    create_table(&dynamo, "state", &["pk", "sk"]).await;
    let secrets = StaticSecrets(HashMap::from([(
        SECRET_REF.to_string(),
        CLIENT_SECRET.to_string(),
    )]));
    let stack = Stack {
        store: DynamoStateStore::new(dynamo, "state"),
        sync_requests: InProcessQueue::new(),
        changes: InProcessQueue::new(),
        clients: HttpClients::new(
            kombo_server.base_url.clone(),
            KOMBO_KEY.into(),
            Arc::new(secrets),
        )
        .with_retry(RetryPolicy::fast()),
    };
    // The tenant as the admin page leaves it: Learn Amp credentials, no integration yet.
    stack
        .store
        .put_tenant(&TenantConfig {
            settings: TenantSettings::new("acme"),
            learnamp_base_url: learnamp_server.base_url.clone(),
            learnamp_client_id: CLIENT_ID.into(),
            learnamp_client_secret_ref: SECRET_REF.into(),
            learnamp_scope: None,
            personio_company_id: None,
            enabled: true,
            last_event: None,
            first_import: FirstImport::AwaitingAdmin,
            revision: Default::default(),
            kombo: KomboConnection::NotConnected,
        })
        .await
        .unwrap();
    assert_eq!(
        stack.sync(scheduled()).await["queued"],
        serde_json::json!([]),
        "nothing to read"
    );

    // The admin connects through Kombo's page; Kombo tells us.
    let connect = KomboConnectClient::new(&kombo_server.base_url, KOMBO_KEY);
    let link = connect
        .create_link(&LinkRequest {
            tenant_id: "acme".into(),
            end_user_email: "admin@acme.example".into(),
            end_user_organization_name: "Acme".into(),
            language: ConnectLanguage::En,
        })
        .await
        .unwrap();
    let token = kombo.complete_link(&link).await.unwrap();
    let integration_id = connect
        .integration_by_token(&token)
        .await
        .unwrap()
        .integration_id;
    let sent = kombo.take_webhooks();
    assert_eq!(sent.len(), 1);
    assert_eq!(stack.deliver(&sent[0]).await, "bound");
    let acme = stack
        .store
        .tenant_for_integration(&integration_id)
        .await
        .unwrap()
        .expect("found through the binding");
    assert_eq!(acme.settings.tenant_id, "acme");
    assert!(!acme.ready_to_sync());

    // Kombo's setup runs: the schedule asks for the tenant, its run refreshes the status from
    // Kombo and waits.
    assert_eq!(
        stack.sync(scheduled()).await["queued"],
        serde_json::json!(["acme"])
    );
    stack.drain_sync_requests().await;
    assert!(stack.changes.is_empty(), "nothing read before COMPLETED");
    let untouched = learnamp.snapshot();
    assert_eq!(
        (untouched.users.len(), untouched.teams.len()),
        (seeded.users.len(), seeded.teams.len()),
        "Learn Amp untouched"
    );

    // Kombo finishes its setup and says so: nothing runs before the admin starts the first
    // import, neither from the webhook nor from the schedule.
    assert!(kombo.set_setup_status(&integration_id, "COMPLETED").await);
    let sent = kombo.take_webhooks();
    assert_eq!(sent[0].event_type, "integration-state-changed");
    assert_eq!(stack.deliver(&sent[0]).await, "recorded");
    assert!(stack.drain_sync_requests().await.is_empty());
    assert_eq!(
        stack.sync(scheduled()).await["queued"],
        serde_json::json!(["acme"])
    );
    stack.drain_sync_requests().await;
    assert!(stack.changes.is_empty(), "nothing read before the admin");

    // The admin starts it (the page's "Import all" marks it started, then queues a full
    // sync): from then on the schedule keeps the tenant in step.
    let mut acme = stack.store.tenant("acme").await.unwrap().unwrap();
    acme.first_import = FirstImport::Started;
    stack.store.put_tenant(&acme).await.unwrap();
    assert_eq!(
        stack.sync(scheduled()).await["queued"],
        serde_json::json!(["acme"])
    );
    let ran = stack.drain_sync_requests().await;
    assert_eq!(ran.len(), 1);
    assert_eq!(
        (ran[0].tenant.as_str(), ran[0].mode),
        ("acme", SyncMode::Full)
    );
    assert!(
        !stack.changes.is_empty(),
        "the scheduled import queued its changes"
    );
    let acme = stack.store.tenant("acme").await.unwrap().unwrap();
    assert!(matches!(
        acme.kombo,
        KomboConnection::Connected {
            setup_status: SetupStatus::Completed,
            ..
        }
    ));

    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
}

fn scheduled() -> serde_json::Value {
    serde_json::json!({"id": "evt-schedule", "detail-type": "Scheduled Event",
                       "source": "aws.events", "detail": {}})
}
