//! The sync function's `main`: build the clients once, hand the handler to the runtime.

use fn_common::{env, env_secret, init_logging, HttpClients, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::{DynamoStateStore, SqsQueue};
use sync_fn::{handle, SyncDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets(aws_sdk_ssm::Client::new(&config)));
    let kombo_api_key = env_secret("KOMBO_API_KEY", ssm.as_ref()).await?;
    let clients = HttpClients::new(env("KOMBO_BASE_URL")?, kombo_api_key, ssm);
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), env("STATE_TABLE")?);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut changes = SqsQueue::new(sqs.clone(), env("CHANGES_QUEUE_URL")?);
    // Local stacks drain the queue by hand and set 0: the apply side's manager wait alone then
    // orders the waves.
    if let Ok(seconds) = env("CHANGES_MAX_DELAY_SECONDS") {
        let seconds = seconds.parse().map_err(|_| {
            format!("CHANGES_MAX_DELAY_SECONDS must be a number of seconds, got {seconds}")
        })?;
        changes = changes.with_max_delay(seconds);
    }
    let sync_requests = SqsQueue::new(sqs, env("SYNC_REQUESTS_QUEUE_URL")?);
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
