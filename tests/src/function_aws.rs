//! One function's AWS clients, built as its `main` builds them (DynamoDB, SQS, SSM for its
//! secrets), through a counting proxy of its own in front of moto, so that a test can hold what
//! the function asked of AWS against its policy in `template.yaml` ([`crate::template_policy`]):
//! moto allows everything, a deployed function is refused what its policy lacks.

use crate::aws_proxy::CountingProxy;
use crate::template_policy::{denied, Names};
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
