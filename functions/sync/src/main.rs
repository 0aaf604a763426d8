//! The sync function's `main`: read the configuration and build the clients once, hand the
//! handler to the runtime.

use fn_common::config::{process_env, refuse_start};
use fn_common::{init_logging, HttpClients, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::{DynamoStateStore, SqsQueue};
use sync_fn::{handle, Config, SyncDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env(process_env).map_err(refuse_start)?;
    let sdk = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets::new(&sdk));
    let kombo_api_key = config
        .kombo_api_key
        .read(ssm.as_ref())
        .await
        .map_err(refuse_start)?;
    let clients = HttpClients::new(config.kombo_base_url, kombo_api_key, ssm);
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.state_table);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut changes = SqsQueue::new(sqs.clone(), config.changes_queue_url);
    if let Some(seconds) = config.changes_max_delay_seconds {
        changes = changes.with_max_delay(seconds);
    }
    let sync_requests = SqsQueue::new(sqs, config.sync_requests_queue_url);
    let deps = SyncDeps {
        tenants: &store,
        store: &store,
        coordination: &store,
        changes: &changes,
        sync_requests: &sync_requests,
        clients: &clients,
    };
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = chrono::DateTime::<chrono::Utc>::from(event.context.deadline());
            handle(event.payload, deadline, deps)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
