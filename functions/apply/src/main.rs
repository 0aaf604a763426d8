//! The apply function's `main`: build the clients once, hand the handler to the runtime.

use apply_fn::{handle, ApplyDeps};
use aws_lambda_events::sqs::SqsEvent;
use fn_common::{env, env_secret, init_logging, HttpClients, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::{DynamoIdempotency, DynamoStateStore};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets(aws_sdk_ssm::Client::new(&config)));
    let kombo_api_key = env_secret("KOMBO_API_KEY", ssm.as_ref()).await?;
    let clients = HttpClients::new(env("KOMBO_BASE_URL")?, kombo_api_key, ssm);
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
