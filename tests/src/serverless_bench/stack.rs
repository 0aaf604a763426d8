//! The deployed shape in one process: moto behind the counting proxy (DynamoDB tables, SQS
//! queues, the tenant's secret in SSM), the sync and apply handlers wired as their `main`s wire
//! them (SDK clients, `SsmSecrets`, `HttpClients`), and SQS's event source mapping played by
//! hand, straight against moto so that its requests are counted apart.

use crate::aws_proxy::CountingProxy;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use chrono::{Duration, Utc};
use fn_common::{HttpClients, RetryPolicy, SsmSecrets};
use std::sync::Arc;
use std::time::Instant;
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::{DynamoStateStore, SqsQueue};
use sync_core::messages::{ChangeMessage, SyncRequest};
use sync_core::tenants::{TenantConfig, TenantStore};
use sync_core::TenantSettings;

pub const SECRET_REF: &str = "/personio-sync/bench/learnamp-client-secret";

pub struct Stack {
    pub moto: MotoServer,
    pub proxy: CountingProxy,
    /// The event source mapping's client: straight to moto, not counted by the proxy.
    esm: aws_sdk_sqs::Client,
    pub store: DynamoStateStore,
    changes: SqsQueue<ChangeMessage>,
    sync_requests: SqsQueue<SyncRequest>,
    sync_clients: HttpClients,
    apply_clients: HttpClients,
    pub apply_concurrency: usize,
}

/// What the event source mapping did while draining the changes queue.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drained {
    pub invocations: u64,
    pub records: u64,
    pub handed_back: u64,
    /// Receives that returned records, and DeleteMessageBatch calls: what the mapping pays.
    pub esm_receives: u64,
    pub esm_deletes: u64,
    /// The apply handler's time, summed over its invocations (what Lambda bills).
    pub apply_ms: f64,
}

impl Stack {
    pub async fn start(
        kombo_url: &str,
        learnamp_url: &str,
        settings: TenantSettings,
        kombo_key: &str,
        (client_id, client_secret): (&str, &str),
    ) -> Self {
        let moto = MotoServer::start();
        let direct = moto.sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&direct);
        create_table(&dynamo, "state", &["pk", "sk"]).await;
        create_table(&dynamo, "idempotency", &["id"]).await;
        let esm = aws_sdk_sqs::Client::new(&direct);
        let mut urls = Vec::new();
        for name in ["sync-requests", "changes"] {
            let out = esm.create_queue().queue_name(name).send().await;
            urls.push(out.expect("queue").queue_url().expect("url").to_string());
        }
        aws_sdk_ssm::Client::new(&direct)
            .put_parameter()
            .name(SECRET_REF)
            .value(client_secret)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("secret stored");
        DynamoStateStore::new(dynamo, "state")
            .put_tenant(&TenantConfig {
                settings,
                learnamp_base_url: learnamp_url.to_string(),
                learnamp_client_id: client_id.to_string(),
                learnamp_client_secret_ref: SECRET_REF.to_string(),
                learnamp_scope: None,
                personio_company_id: None,
                enabled: true,
                last_event: None,
                first_import: Default::default(),
                revision: Default::default(),
                kombo: Default::default(),
            })
            .await
            .expect("tenant registered");

        // From here on, what the functions do goes through the proxy.
        let proxy = CountingProxy::start(&moto.endpoint).await;
        let counted = moto.sdk_config_via(&proxy.endpoint).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&counted);
        let sqs = aws_sdk_sqs::Client::new(&counted);
        let ssm = Arc::new(SsmSecrets::new(&counted));
        Self {
            store: DynamoStateStore::new(dynamo, "state"),
            sync_requests: SqsQueue::new(sqs.clone(), urls[0].clone()),
            // moto keeps delays; the manager wait in the apply function orders the waves.
            changes: SqsQueue::new(sqs, urls[1].clone()).with_max_delay(0),
            sync_clients: HttpClients::new(
                kombo_url.to_string(),
                kombo_key.to_string(),
                ssm.clone(),
            ),
            apply_clients: HttpClients::without_kombo(ssm).with_retry(RetryPolicy::queue_worker()),
            esm,
            proxy,
            moto,
            apply_concurrency: 8,
        }
    }

    /// One invocation of the sync function: its answer, and how long it took.
    pub async fn invoke_sync(&self, payload: serde_json::Value) -> (serde_json::Value, f64) {
        let deps = sync_fn::SyncDeps {
            tenants: &self.store,
            store: &self.store,
            coordination: &self.store,
            changes: &self.changes,
            sync_requests: &self.sync_requests,
            clients: &self.sync_clients,
        };
        let started = Instant::now();
        let answer = sync_fn::handle(payload, Utc::now() + Duration::seconds(900), &deps)
            .await
            .expect("the sync function answers");
        (answer, started.elapsed().as_secs_f64() * 1000.0)
    }

    async fn invoke_apply(&self, records: Vec<SqsMessage>) -> (SqsBatchResponse, f64) {
        let deps = apply_fn::ApplyDeps {
            tenants: &self.store,
            store: &self.store,
            ledger: &self.store,
            clients: &self.apply_clients,
            concurrency: self.apply_concurrency,
        };
        let mut event = SqsEvent::default();
        event.records = records;
        let deadline_ms = (Utc::now() + Duration::seconds(60)).timestamp_millis();
        let started = Instant::now();
        let response = apply_fn::handle(event, deadline_ms, &deps).await;
        (response, started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Up to `max` records, as the event source mapping hands them to Lambda.
    async fn receive(&self, max: i32) -> Vec<SqsMessage> {
        crate::aws_stack::receive(&self.esm, self.changes.url(), max).await
    }

    /// Drains the changes queue through the apply handler, `batch` records an invocation (the
    /// template's batch size is 10). A record handed back is made visible again at once (on AWS
    /// it waits out its visibility timeout; that call is the emulation's, not counted).
    pub async fn drain_changes(&self, batch: i32) -> Drained {
        let mut drained = Drained::default();
        let mut empty = 0;
        while empty < 2 {
            let records = self.receive(batch).await;
            if records.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            drained.esm_receives += 1;
            drained.invocations += 1;
            drained.records += records.len() as u64;
            let (response, ms) = self.invoke_apply(records.clone()).await;
            drained.apply_ms += ms;
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            drained.handed_back += failed.len() as u64;
            let mut deletes = Vec::new();
            for (i, record) in records.iter().enumerate() {
                let receipt = record.receipt_handle.clone().expect("receipt");
                if failed.contains(&record.message_id.as_deref().unwrap_or_default()) {
                    self.esm
                        .change_message_visibility()
                        .queue_url(self.changes.url())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("visible again");
                } else {
                    deletes.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(receipt)
                            .build()
                            .expect("entry"),
                    );
                }
            }
            if !deletes.is_empty() {
                drained.esm_deletes += 1;
                self.esm
                    .delete_message_batch()
                    .queue_url(self.changes.url())
                    .set_entries(Some(deletes))
                    .send()
                    .await
                    .expect("deleted");
            }
        }
        drained
    }
}
