//! A tenant onboarded with no operator command but the admin link, on the moto-backed stack:
//! the admin function's handler (`admin_fn::handle` over the DynamoDB tenant, session and state
//! stores, the SQS sync-request queue and SSM, all in moto) takes the admin in through a signed
//! link, saves the Learn Amp credentials (checked with the Learn Amp sandbox; the secret to
//! SSM), creates Kombo's connection link (the Kombo sandbox, through `KomboConnectClient`); the
//! admin completes Kombo's flow (the sandbox's page, through its control API); the sandbox's
//! signed `integration-created` goes to the webhook function's handler, which binds the
//! integration to the tenant; once Kombo's setup is `COMPLETED` the admin previews the first
//! import (the schedule's run writes nothing before the admin starts it) and starts it; the sync
//! handler reads Kombo and queues the changes, the apply handler writes them: the Learn Amp
//! sandbox has the users.
//!
//! Each function's AWS requests go through a counting proxy of its own, and every one of them
//! must be allowed by that function's policy in `template.yaml`.
//!
//! The admin handler runs with `local: true` only because the Learn Amp sandbox answers on
//! `http://127.0.0.1` (a deployed one takes `https://` base URLs alone).

use admin_fn::{AdminDeps, HttpLearnAmpCheck, Request, Response};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::{Duration, Utc};
use e2e::function_aws::{create_resources, FunctionAws};
use e2e::{CLIENT_ID, CLIENT_SECRET, KOMBO_KEY, TENANT};
use fn_common::RetryPolicy;
use sandbox::{generate_company, KomboSandbox, LearnAmpSandbox, SentWebhook};
use serde_json::{json, Value};
use sync_aws::testing::MotoServer;
use sync_aws::DynamoStateStore;
use sync_clients::KomboConnectClient;
use sync_core::messages::SyncRequest;
use sync_core::tenants::{KomboConnection, TenantStore};

const LINK_KEY: &[u8] = b"e2e-self-service-admin-link-key-0123456789";
const WEBHOOK_SECRET: &str = "e2e-self-service-webhook-secret";
/// The Learn Amp account's id, as Learn Amp's app names it in the admin link.
const ACCOUNT: &str = "acme-gmbh";
const PREFIX: &str = "/personio-sync";

struct Stack {
    _moto: MotoServer,
    /// The test's own clients (the event source mapping's, the checks'): not counted.
    sqs: aws_sdk_sqs::Client,
    ssm: aws_sdk_ssm::Client,
    store: DynamoStateStore,
    admin_aws: FunctionAws,
    webhook_aws: FunctionAws,
    sync_aws: FunctionAws,
    apply_aws: FunctionAws,
    connect: KomboConnectClient,
    check: HttpLearnAmpCheck,
}

/// An admin's session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Stack {
    async fn start(kombo_url: &str) -> Self {
        let moto = MotoServer::start();
        let queues = create_resources(&moto).await;
        let config = moto.sdk_config().await;
        let fast = RetryPolicy::fast;
        let function = || FunctionAws::start(&moto, &queues, kombo_url, KOMBO_KEY, fast());
        Self {
            ssm: aws_sdk_ssm::Client::new(&config),
            store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), "state"),
            admin_aws: function().await,
            webhook_aws: function().await,
            sync_aws: function().await,
            apply_aws: function().await,
            sqs: aws_sdk_sqs::Client::new(&config),
            connect: KomboConnectClient::new(kombo_url, KOMBO_KEY).with_retry(RetryPolicy::fast()),
            check: HttpLearnAmpCheck {
                retry: RetryPolicy::fast(),
            },
            _moto: moto,
        }
    }

    fn admin_deps(&self) -> AdminDeps<'_> {
        let aws = &self.admin_aws;
        AdminDeps {
            tenants: &aws.store,
            store: &aws.store,
            coordination: &aws.store,
            sessions: &aws.store,
            sync_requests: &aws.sync_requests,
            connect: &self.connect,
            secrets: aws.secrets.as_ref(),
            learnamp_check: &self.check,
            clients: &aws.clients,
            link_keys: vec![LINK_KEY.to_vec()],
            secret_prefix: PREFIX.into(),
            local: true,
        }
    }

    /// Learn Amp's app mints a link; the admin opens it.
    async fn enter(&self) -> Session {
        let link = admin_fn::link::mint(
            LINK_KEY,
            "https://admin.example",
            ACCOUNT,
            Duration::minutes(10),
            Utc::now(),
        );
        let query = link.split_once('?').unwrap().1;
        let entered = self
            .admin(Request::new("GET", "/enter").with_query(query))
            .await;
        assert_eq!(entered.status, 303, "{entered:?}");
        let cookie = entered.cookies[0].split(';').next().unwrap().to_string();
        let session = self
            .admin(Request::new("GET", "/api/session").with_header("cookie", &cookie))
            .await;
        let csrf = json_of(&session)["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        Session { cookie, csrf }
    }

    async fn admin(&self, request: Request) -> Response {
        admin_fn::handle(request, &self.admin_deps()).await
    }

    /// A request of the page in `session`; the answer's status and JSON.
    async fn call(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Request::new(method, path)
            .with_header("cookie", &session.cookie)
            .with_header("x-csrf-token", &session.csrf);
        if let Some(body) = body {
            request = request.with_json(&body);
        }
        let response = self.admin(request).await;
        (response.status, json_of(&response))
    }

    /// What the Kombo sandbox sent, handed to the webhook handler as the Function URL delivers
    /// it; the handler's outcome.
    async fn deliver(&self, webhook: &SentWebhook) -> String {
        let request: LambdaFunctionUrlRequest = serde_json::from_value(json!({
            "version": "2.0",
            "rawPath": "/webhooks/kombo",
            "rawQueryString": "",
            "headers": {"content-type": "application/json",
                        "x-kombo-signature": webhook.signature},
            "requestContext": {"http": {"method": "POST", "path": "/webhooks/kombo",
                                        "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
                               "timeEpoch": Utc::now().timestamp_millis()},
            "body": webhook.body,
            "isBase64Encoded": false
        }))
        .unwrap();
        let deps = webhook_fn::WebhookDeps {
            kombo_secrets: vec![WEBHOOK_SECRET.as_bytes().to_vec()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &self.webhook_aws.store,
            coordination: &self.webhook_aws.store,
            sync_requests: &self.webhook_aws.sync_requests,
        };
        let response = webhook_fn::handle(request, &deps).await;
        assert_eq!(response.status_code, 200, "{:?}", response.body);
        let body: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        body["status"].as_str().unwrap().to_string()
    }

    /// One receive, as the event source mapping does it: up to ten records.
    async fn receive(&self, url: &str) -> Vec<SqsMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id().map(str::to_string);
                record.receipt_handle = m.receipt_handle().map(str::to_string);
                record.body = m.body().map(str::to_string);
                record.event_source = Some("aws:sqs".into());
                record.attributes = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                record
            })
            .collect()
    }

    /// Deletes what succeeded; hands the failures back at once. The number handed back.
    async fn settle(&self, url: &str, batch: &[SqsMessage], response: &SqsBatchResponse) -> usize {
        for record in batch {
            let id = record.message_id.as_deref().unwrap_or_default();
            let receipt = record.receipt_handle.as_deref().unwrap();
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                let back = self.sqs.change_message_visibility().queue_url(url);
                back.receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                let delete = self.sqs.delete_message().queue_url(url);
                delete.receipt_handle(receipt).send().await.unwrap();
            }
        }
        response.batch_item_failures.len()
    }

    /// The sync function's dependencies, as its `main` wires them.
    fn sync_deps(&self) -> sync_fn::SyncDeps<'_> {
        let aws = &self.sync_aws;
        sync_fn::SyncDeps {
            tenants: &aws.store,
            store: &aws.store,
            coordination: &aws.store,
            changes: &aws.changes,
            sync_requests: &aws.sync_requests,
            clients: &aws.clients,
        }
    }

    /// The 3-hourly schedule's invoke of the sync handler: the tenants it queued.
    async fn schedule(&self) -> Value {
        let deps = self.sync_deps();
        let event = json!({"id": "evt-schedule", "detail-type": "Scheduled Event",
                           "source": "aws.events", "detail": {}});
        let deadline = Utc::now() + Duration::seconds(60);
        let answer = sync_fn::handle(event, deadline, &deps).await.unwrap();
        answer["queued"].clone()
    }

    /// The sync-request queue through the sync handler; the requests it ran.
    async fn drain_sync_requests(&self) -> Vec<SyncRequest> {
        let mut ran = Vec::new();
        loop {
            let batch = self.receive(self.sync_aws.sync_requests.url()).await;
            if batch.is_empty() {
                return ran;
            }
            for record in &batch {
                ran.push(serde_json::from_str(record.body.as_deref().unwrap()).unwrap());
            }
            let mut event = SqsEvent::default();
            event.records = batch.clone();
            let deps = self.sync_deps();
            let deadline = Utc::now() + Duration::seconds(60);
            let answer = sync_fn::handle(serde_json::to_value(&event).unwrap(), deadline, &deps)
                .await
                .expect("the queue trigger answers");
            let answer: SqsBatchResponse = serde_json::from_value(answer).unwrap();
            assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
            self.settle(self.sync_aws.sync_requests.url(), &batch, &answer)
                .await;
        }
    }

    /// The changes queue through the apply handler, until it stays empty.
    async fn drain_changes(&self) {
        let mut empty_receives = 0;
        while empty_receives < 2 {
            let batch = self.receive(self.apply_aws.changes.url()).await;
            if batch.is_empty() {
                empty_receives += 1;
                continue;
            }
            empty_receives = 0;
            let mut event = SqsEvent::default();
            event.records = batch.clone();
            let deps = apply_fn::ApplyDeps {
                tenants: &self.apply_aws.store,
                store: &self.apply_aws.store,
                ledger: &self.apply_aws.store,
                clients: &self.apply_aws.clients,
                concurrency: 8,
            };
            let deadline_ms = (Utc::now() + Duration::seconds(60)).timestamp_millis();
            let answer = apply_fn::handle(event, deadline_ms, &deps).await;
            self.settle(self.apply_aws.changes.url(), &batch, &answer)
                .await;
        }
    }
}

fn json_of(response: &Response) -> Value {
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_is_onboarded_through_the_admin_link_alone() {
    let today = Utc::now().date_naive();
    let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, generate_company(12, 11, today));
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let kombo_server = kombo.start(0).await.unwrap();
    let learnamp_server = learnamp.start(0).await.unwrap();
    // The sandbox keeps its webhooks in its outbox; this test delivers them to the handler.
    kombo.set_webhook(None, WEBHOOK_SECRET);
    let stack = Stack::start(&kombo_server.base_url).await;

    // The admin enters through the link Learn Amp's app minted; no tenant exists yet.
    let admin = stack.enter().await;
    assert!(stack.store.tenant(ACCOUNT).await.unwrap().is_none());

    // Learn Amp credentials: checked with Learn Amp, the secret to SSM, its name in the table.
    let (status, saved) = stack
        .call(
            &admin,
            "PUT",
            "/api/learnamp",
            Some(
                json!({"base_url": learnamp_server.base_url, "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert!(!saved.to_string().contains(CLIENT_SECRET));
    let parameter = stack
        .ssm
        .get_parameter()
        .name(admin_fn::secret_name(PREFIX, ACCOUNT))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(parameter.parameter().unwrap().value(), Some(CLIENT_SECRET));
    let (status, mut settings) = stack.call(&admin, "GET", "/api/settings", None).await;
    assert_eq!(status, 200);
    settings["invite_policy"] = json!("immediately");
    let (status, _) = stack
        .call(&admin, "PUT", "/api/settings", Some(settings))
        .await;
    assert_eq!(status, 200);

    // Connect: Kombo's link for this tenant; the admin completes Kombo's flow.
    let (status, link) = stack
        .call(
            &admin,
            "POST",
            "/api/connect/link",
            Some(json!({"email": "it-admin@acme.example", "organization_name": "ACME GmbH"})),
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let token = kombo
        .complete_link(link["link"].as_str().unwrap())
        .await
        .expect("the sandbox's page completes the flow");

    // Kombo's integration-created reaches the webhook handler, which binds it to the tenant.
    let sent = kombo.take_webhooks();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event_type, "integration-created");
    assert_eq!(stack.deliver(&sent[0]).await, "bound");
    let bound = stack.store.tenant(ACCOUNT).await.unwrap().unwrap();
    let KomboConnection::Connected { integration_id, .. } = &bound.kombo else {
        panic!("bound by the webhook: {:?}", bound.kombo);
    };
    let integration_id = integration_id.clone();

    // The page hands the token over too: the same integration, nothing changes.
    let (status, completed) = stack
        .call(
            &admin,
            "POST",
            "/api/connect/complete",
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(status, 200, "{completed}");
    assert_eq!(
        completed["connection"]["integration_id"],
        integration_id.as_str()
    );

    // Kombo's setup runs: the page says so and refuses to import.
    let (_, status_now) = stack.call(&admin, "GET", "/api/status", None).await;
    assert_eq!(status_now["ready_to_import"], false);
    assert_eq!(status_now["connection"]["setup_status"], "INCOMPLETE");
    let (refused, _) = stack.call(&admin, "POST", "/api/import", None).await;
    assert_eq!(refused, 409);

    // Kombo finishes and says so. Nothing is written before the admin starts the first
    // import: not by the webhook, not by the schedule.
    let seeded = learnamp.snapshot();
    assert!(kombo.set_setup_status(&integration_id, "COMPLETED").await);
    let sent = kombo.take_webhooks();
    assert_eq!(sent.len(), 1);
    assert_eq!(stack.deliver(&sent[0]).await, "recorded");
    assert!(stack.drain_sync_requests().await.is_empty());
    assert_eq!(stack.schedule().await, json!([ACCOUNT]));
    assert_eq!(stack.drain_sync_requests().await.len(), 1);
    stack.drain_changes().await;
    let now = learnamp.snapshot();
    assert_eq!(
        serde_json::to_value((&now.users, &now.teams)).unwrap(),
        serde_json::to_value((&seeded.users, &seeded.teams)).unwrap(),
        "Learn Amp untouched: its users and teams"
    );
    let (_, waiting) = stack.call(&admin, "GET", "/api/status", None).await;
    assert_eq!(waiting["ready_to_import"], true, "{waiting}");
    assert_eq!(waiting["first_import_started"], false, "{waiting}");
    assert_eq!(waiting["last_runs"], json!([]), "{waiting}");

    // The admin previews it, then starts it: queued, synced and applied.
    let (status, preview) = stack.call(&admin, "POST", "/api/preview", None).await;
    assert_eq!(status, 200, "{preview}");
    let to_create = preview["counts"]["create"].as_u64().unwrap();
    assert!(to_create > 0, "{preview}");
    let (status, queued) = stack.call(&admin, "POST", "/api/import", None).await;
    assert_eq!(status, 202, "{queued}");
    let ran = stack.drain_sync_requests().await;
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].tenant, ACCOUNT);
    stack.drain_changes().await;

    // The Learn Amp sandbox has the company's users; the page shows the run.
    let users = learnamp.snapshot().users;
    let linked = users
        .iter()
        .filter(|u| u.integration_external_id.is_some())
        .count();
    let (_, done) = stack.call(&admin, "GET", "/api/status", None).await;
    assert_eq!(done["ready_to_import"], true, "{done}");
    let run = &done["last_runs"][0];
    assert_eq!(run["kind"], "full", "{run}");
    let created = run["counts"]["created"].as_u64().unwrap();
    assert_eq!(created, to_create, "as previewed: {run}");
    assert_eq!(linked as u64, created, "{run}");
    assert_eq!(done["first_import_started"], true, "{done}");
    assert!(run["counts"]["invited"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(done["run_in_progress"], Value::Null, "{done}");

    // The operator's invokes of the sync function: a dry run, the status, a reconcile.
    let deadline = Utc::now() + Duration::seconds(60);
    for invoke in [
        json!({"tenant": ACCOUNT, "dry_run": true}),
        json!({"tenant": ACCOUNT, "status": true}),
        json!({"tenant": ACCOUNT, "mode": "reconcile"}),
    ] {
        let answer = sync_fn::handle(invoke.clone(), deadline, &stack.sync_deps()).await;
        assert!(answer.is_ok(), "{invoke}: {answer:?}");
    }
    stack.drain_changes().await;

    // Every AWS request each function made is one its policy in template.yaml allows (moto
    // allows everything; a deployed function is refused what its policy lacks).
    for (function, aws) in [
        ("AdminFunction", &stack.admin_aws),
        ("WebhookFunction", &stack.webhook_aws),
        ("SyncFunction", &stack.sync_aws),
        ("ApplyFunction", &stack.apply_aws),
    ] {
        aws.assert_allowed(function, PREFIX);
    }

    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
}
