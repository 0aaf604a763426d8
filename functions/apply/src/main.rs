//! The apply function's `main`: read the configuration and build the clients once, hand the
//! handler to the runtime.

use apply_fn::{handle, ApplyDeps, Config};
use aws_lambda_events::sqs::SqsEvent;
use fn_common::config::{process_env, refuse_start};
use fn_common::{init_logging, HttpClients, RetryPolicy, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::DynamoStateStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env(process_env).map_err(refuse_start)?;
    let sdk = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets::new(&sdk));
    let clients = HttpClients::without_kombo(ssm).with_retry(RetryPolicy::queue_worker());
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStateStore::new(dynamo, config.state_table);
    let deps = ApplyDeps {
        tenants: &store,
        store: &store,
        ledger: &store,
        clients: &clients,
        concurrency: config.changes_in_flight,
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
