//! The apply function's `main`: build the clients once, hand the handler to the runtime.

use apply_fn::{handle, ApplyDeps};
use aws_lambda_events::sqs::SqsEvent;
use fn_common::{env, init_logging, HttpClients, RetryPolicy, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::{DynamoIdempotency, DynamoStateStore};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets(aws_sdk_ssm::Client::new(&config)));
    let clients = HttpClients::without_kombo(ssm).with_retry(RetryPolicy::queue_worker());
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoStateStore::new(dynamo.clone(), env("STATE_TABLE")?);
    let idempotency = DynamoIdempotency::new(dynamo, env("IDEMPOTENCY_TABLE")?);
    let deps = ApplyDeps {
        tenants: &store,
        store: &store,
        idempotency: &idempotency,
        clients: &clients,
        concurrency: 8,
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // The in-progress claim lasts until this invocation's deadline, as Powertools does.
        let deadline_ms =
            chrono::DateTime::<chrono::Utc>::from(event.context.deadline()).timestamp_millis();
        Ok::<_, Error>(handle(event.payload, deadline_ms, deps).await)
    }))
    .await
}
