//! The deployed stack on moto, for the handlers' end-to-end tests: the state table and the two
//! queues as the template has them, and per function its AWS clients, built as its `main` builds
//! them (DynamoDB, SQS, SSM for its secrets) and sent through a counting proxy of its own, so
//! that a test holds what each function asked of AWS against its policy in `template.yaml`
//! ([`crate::template_policy`]): moto allows everything, a deployed function is refused what its
//! policy lacks. The event source mapping (receiving, deleting, handing back) is played with
//! clients of the stack's own, not counted.

use crate::aws_proxy::CountingProxy;
use crate::template_policy::{denied, Names};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{Duration, Utc};
use fn_common::{HttpClients, RetryPolicy, SsmSecrets};
use std::sync::Arc;
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::{DynamoStateStore, SqsQueue};
use sync_core::messages::{ChangeMessage, SyncRequest};

/// The DynamoDB table and the SQS queues the tests create, by the names they give them.
pub const STATE_TABLE: &str = "state";
pub const SYNC_REQUESTS_QUEUE: &str = "sync-requests";
pub const CHANGES_QUEUE: &str = "changes";

/// Creates the state table and the two queues as the template has them; the queues' URLs (the
/// sync-request queue's, then the changes queue's).
pub async fn create_resources(moto: &MotoServer) -> [String; 2] {
    let config = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    create_table(&dynamo, STATE_TABLE, &["pk", "sk"]).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut urls = [String::new(), String::new()];
    for (url, name) in urls.iter_mut().zip([SYNC_REQUESTS_QUEUE, CHANGES_QUEUE]) {
        let created = sqs.create_queue().queue_name(name).send().await;
        *url = created
            .expect("queue created")
            .queue_url()
            .expect("its url")
            .to_string();
    }
    urls
}

pub struct FunctionAws {
    pub proxy: CountingProxy,
    pub store: DynamoStateStore,
    pub sync_requests: SqsQueue<SyncRequest>,
    pub changes: SqsQueue<ChangeMessage>,
    pub secrets: Arc<SsmSecrets>,
    pub clients: HttpClients,
}

impl FunctionAws {
    /// `queue_urls`: as [`create_resources`] gives them.
    pub async fn start(
        moto: &MotoServer,
        queue_urls: &[String; 2],
        kombo_url: &str,
        kombo_key: &str,
        retry: RetryPolicy,
    ) -> Self {
        let proxy = CountingProxy::start(&moto.endpoint).await;
        let config = moto.sdk_config_via(&proxy.endpoint).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let secrets = Arc::new(SsmSecrets::new(&config));
        Self {
            store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), STATE_TABLE),
            sync_requests: SqsQueue::new(sqs.clone(), queue_urls[0].clone()),
            // moto keeps delays; the apply function's manager wait orders the waves.
            changes: SqsQueue::new(sqs, queue_urls[1].clone()).with_max_delay(0),
            clients: HttpClients::new(kombo_url.into(), kombo_key.into(), secrets.clone())
                .with_retry(retry),
            secrets,
            proxy,
        }
    }

    /// The requests this function made that its policy in `template.yaml` (`function`, its
    /// logical id) does not allow, with the stack's `SecretPrefix` as `secret_prefix`.
    pub fn denied(&self, function: &str, secret_prefix: &str) -> Vec<String> {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let template = std::fs::read_to_string(template).expect("template.yaml is readable");
        let names = Names {
            resources: &[
                (STATE_TABLE, "StateTable"),
                (SYNC_REQUESTS_QUEUE, "SyncRequestsQueue"),
                (CHANGES_QUEUE, "ChangesQueue"),
            ],
            parameters: &[("SecretPrefix", secret_prefix)],
        };
        denied(&template, function, &self.proxy.calls(), &names)
    }

    /// Panics, naming them, if the function made no request or one its policy does not allow.
    pub fn assert_allowed(&self, function: &str, secret_prefix: &str) {
        assert!(!self.proxy.calls().is_empty(), "{function} made no request");
        assert_eq!(
            self.denied(function, secret_prefix),
            Vec::<String>::new(),
            "{function}: requests its policy in template.yaml does not allow"
        );
    }
}

/// Up to `max` records of the queue at `url`, as the event source mapping hands them to Lambda.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, max: i32) -> Vec<SqsMessage> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    out.messages()
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_string);
            record.receipt_handle = m.receipt_handle().map(str::to_string);
            record.body = m.body().map(str::to_string);
            record.event_source = Some("aws:sqs".into());
            record.aws_region = Some("eu-central-1".into());
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

/// A Kombo webhook as the webhook function's Function URL hands it over: `body` as sent, with
/// its `X-Kombo-Signature`.
pub fn kombo_webhook_request(body: &[u8], signature: &str) -> LambdaFunctionUrlRequest {
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "rawPath": "/webhooks/kombo",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-kombo-signature": signature},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/kombo",
                                    "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
                           "timeEpoch": Utc::now().timestamp_millis()},
        "body": STANDARD.encode(body),
        "isBase64Encoded": true
    }))
    .expect("a Function URL request")
}

/// The webhook handler's answer: its HTTP status and the `status` its JSON body names.
pub fn webhook_outcome(response: &LambdaFunctionUrlResponse) -> (i64, String) {
    let body = response.body.as_deref().unwrap_or("{}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let status = body["status"].as_str().unwrap_or_default().to_string();
    (response.status_code, status)
}

/// moto with the stack's resources, the four functions' counted clients, and the stack's own.
pub struct AwsStack {
    pub moto: MotoServer,
    /// The stack's own clients (the event source mapping's, a test's checks): not counted.
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub store: DynamoStateStore,
    pub admin: FunctionAws,
    pub webhook: FunctionAws,
    pub sync: FunctionAws,
    pub apply: FunctionAws,
}

impl AwsStack {
    /// `retry`: the functions' HTTP clients' retry policy.
    pub async fn start(kombo_url: &str, kombo_key: &str, retry: RetryPolicy) -> Self {
        let moto = MotoServer::start();
        let queues = create_resources(&moto).await;
        let config = moto.sdk_config().await;
        let function = || FunctionAws::start(&moto, &queues, kombo_url, kombo_key, retry.clone());
        Self {
            admin: function().await,
            webhook: function().await,
            sync: function().await,
            apply: function().await,
            sqs: aws_sdk_sqs::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), STATE_TABLE),
            moto,
        }
    }

    /// Stores a secret as a SecureString, as an operator or the admin function does.
    pub async fn put_secret(&self, name: &str, value: &str) {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("secret stored");
    }

    /// The sync function's dependencies, as its `main` wires them.
    pub fn sync_deps(&self) -> sync_fn::SyncDeps<'_> {
        let aws = &self.sync;
        sync_fn::SyncDeps {
            tenants: &aws.store,
            store: &aws.store,
            coordination: &aws.store,
            changes: &aws.changes,
            sync_requests: &aws.sync_requests,
            clients: &aws.clients,
        }
    }

    /// The webhook function's dependencies, as its `main` wires them, with `kombo_secret`.
    pub fn webhook_deps(&self, kombo_secret: &[u8]) -> webhook_fn::WebhookDeps<'_> {
        let aws = &self.webhook;
        webhook_fn::WebhookDeps {
            kombo_secrets: vec![kombo_secret.to_vec()],
            personio_token: None,
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &aws.store,
            coordination: &aws.store,
            sync_requests: &aws.sync_requests,
        }
    }

    /// The apply function's dependencies, as its `main` wires them (8 changes in flight).
    pub fn apply_deps(&self) -> apply_fn::ApplyDeps<'_> {
        let aws = &self.apply;
        apply_fn::ApplyDeps {
            tenants: &aws.store,
            store: &aws.store,
            ledger: &aws.store,
            clients: &aws.clients,
            concurrency: 8,
        }
    }

    /// Panics, naming them, if a function made a request its policy does not allow, or none
    /// at all (then the test did not exercise it).
    pub fn assert_policies_allow_every_request(&self, secret_prefix: &str, functions: &[&str]) {
        for function in functions {
            let aws = match *function {
                "AdminFunction" => &self.admin,
                "WebhookFunction" => &self.webhook,
                "SyncFunction" => &self.sync,
                "ApplyFunction" => &self.apply,
                other => panic!("no function {other} in the stack"),
            };
            aws.assert_allowed(function, secret_prefix);
        }
    }

    /// One receive, as the event source mapping does it: up to ten records.
    pub async fn receive(&self, url: &str) -> Vec<SqsMessage> {
        receive(&self.sqs, url, 10).await
    }

    /// Deletes the records that succeeded; the failures become visible again at once (their
    /// visibility timeout, shortened for the test). The number handed back.
    pub async fn settle(
        &self,
        url: &str,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) -> usize {
        for record in batch {
            let id = record.message_id.as_deref().unwrap_or_default();
            let receipt = record.receipt_handle.as_deref().expect("receipt");
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id);
            if failed {
                let back = self.sqs.change_message_visibility().queue_url(url);
                let back = back.receipt_handle(receipt).visibility_timeout(0);
                back.send().await.expect("visible again");
            } else {
                let delete = self.sqs.delete_message().queue_url(url);
                delete
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("deleted");
            }
        }
        response.batch_item_failures.len()
    }

    /// The changes queue through the apply handler until it stays empty; the records handed
    /// back.
    pub async fn drain_changes(&self) -> usize {
        let url = self.apply.changes.url().to_string();
        let (mut handed_back, mut empty_receives) = (0, 0);
        while empty_receives < 2 {
            let batch = self.receive(&url).await;
            if batch.is_empty() {
                empty_receives += 1;
                continue;
            }
            empty_receives = 0;
            let mut event = SqsEvent::default();
            event.records = batch.clone();
            let deadline_ms = (Utc::now() + Duration::seconds(60)).timestamp_millis();
            let response = apply_fn::handle(event, deadline_ms, &self.apply_deps()).await;
            handed_back += self.settle(&url, &batch, &response).await;
        }
        handed_back
    }

    /// The sync-request queue through the sync handler (its queue trigger) until it is empty;
    /// the requests it ran. A request handed back fails the test.
    pub async fn drain_sync_requests(&self) -> Vec<SyncRequest> {
        let url = self.sync.sync_requests.url().to_string();
        let mut ran = Vec::new();
        loop {
            let batch = self.receive(&url).await;
            if batch.is_empty() {
                return ran;
            }
            for record in &batch {
                let body = record.body.as_deref().expect("a body");
                ran.push(serde_json::from_str(body).expect("a sync request"));
            }
            let mut event = SqsEvent::default();
            event.records = batch.clone();
            let deadline = Utc::now() + Duration::seconds(60);
            let event = serde_json::to_value(&event).expect("an event");
            let response = sync_fn::handle(event, deadline, &self.sync_deps())
                .await
                .expect("the queue trigger answers");
            let response: SqsBatchResponse =
                serde_json::from_value(response).expect("a batch response");
            assert!(
                response.batch_item_failures.is_empty(),
                "sync request handed back: {response:?}"
            );
            self.settle(&url, &batch, &response).await;
        }
    }

    /// An invoke of the sync function (the schedule's, or an operator's); its answer.
    pub async fn invoke_sync(&self, payload: serde_json::Value) -> serde_json::Value {
        let deadline = Utc::now() + Duration::seconds(60);
        sync_fn::handle(payload, deadline, &self.sync_deps())
            .await
            .expect("the sync function answers")
    }
}
