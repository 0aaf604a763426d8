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
use chrono::{Duration, Utc};
use e2e::aws_stack::{kombo_webhook_request, webhook_outcome, AwsStack};
use e2e::{CLIENT_ID, CLIENT_SECRET, KOMBO_KEY, TENANT};
use fn_common::RetryPolicy;
use sandbox::{generate_company, KomboSandbox, LearnAmpSandbox, SentWebhook};
use serde_json::{json, Value};
use sync_clients::KomboConnectClient;
use sync_core::tenants::{KomboConnection, TenantStore};

const LINK_KEY: &[u8] = b"e2e-self-service-admin-link-key-0123456789";
const WEBHOOK_SECRET: &str = "e2e-self-service-webhook-secret";
/// The Learn Amp account's id, as Learn Amp's app names it in the admin link.
const ACCOUNT: &str = "acme-gmbh";
const PREFIX: &str = "/personio-sync";

struct Stack {
    aws: AwsStack,
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
        Self {
            aws: AwsStack::start(kombo_url, KOMBO_KEY, RetryPolicy::fast()).await,
            connect: KomboConnectClient::new(kombo_url, KOMBO_KEY).with_retry(RetryPolicy::fast()),
            check: HttpLearnAmpCheck {
                retry: RetryPolicy::fast(),
            },
        }
    }

    fn admin_deps(&self) -> AdminDeps<'_> {
        let aws = &self.aws.admin;
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
        let request = kombo_webhook_request(webhook.body.as_bytes(), &webhook.signature);
        let deps = self.aws.webhook_deps(WEBHOOK_SECRET.as_bytes());
        let (status, outcome) = webhook_outcome(&webhook_fn::handle(request, &deps).await);
        assert_eq!(status, 200, "{outcome}");
        outcome
    }

    /// The 3-hourly schedule's invoke of the sync handler: the tenants it queued.
    async fn schedule(&self) -> Value {
        let event = json!({"id": "evt-schedule", "detail-type": "Scheduled Event",
                           "source": "aws.events", "detail": {}});
        self.aws.invoke_sync(event).await["queued"].clone()
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
    assert!(stack.aws.store.tenant(ACCOUNT).await.unwrap().is_none());

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
        .aws
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
    let bound = stack.aws.store.tenant(ACCOUNT).await.unwrap().unwrap();
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
    assert!(stack.aws.drain_sync_requests().await.is_empty());
    assert_eq!(stack.schedule().await, json!([ACCOUNT]));
    assert_eq!(stack.aws.drain_sync_requests().await.len(), 1);
    stack.aws.drain_changes().await;
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
    let ran = stack.aws.drain_sync_requests().await;
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].tenant, ACCOUNT);
    stack.aws.drain_changes().await;

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
    for invoke in [
        json!({"tenant": ACCOUNT, "dry_run": true}),
        json!({"tenant": ACCOUNT, "status": true}),
        json!({"tenant": ACCOUNT, "mode": "reconcile"}),
    ] {
        let answer = stack.aws.invoke_sync(invoke.clone()).await;
        assert!(answer.get("skipped").is_none(), "{invoke}: {answer}");
    }
    stack.aws.drain_changes().await;

    // Every AWS request each function made is one its policy in template.yaml allows (moto
    // allows everything; a deployed function is refused what its policy lacks).
    stack.aws.assert_policies_allow_every_request(
        PREFIX,
        &[
            "AdminFunction",
            "WebhookFunction",
            "SyncFunction",
            "ApplyFunction",
        ],
    );

    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
}
