//! The webhook function's `main`: read the configuration and build the clients once, hand the
//! handler to the runtime.

use fn_common::config::{process_env, refuse_start};
use fn_common::{init_logging, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sync_aws::{DynamoStateStore, SqsQueue};
use webhook_fn::{handle, Config, WebhookDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env(process_env).map_err(refuse_start)?;
    let sdk = sync_aws::sdk_config().await;
    let ssm = SsmSecrets::new(&sdk);
    let secrets = config.secrets(&ssm).await.map_err(refuse_start)?;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.state_table);
    let sync_requests = SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        config.sync_requests_queue_url,
    );
    let deps = WebhookDeps {
        kombo_secrets: secrets.kombo.accepted(),
        personio_token: secrets.personio_token,
        personio_header: config.personio_token_header,
        personio_delta_delay_seconds: config.personio_delta_delay_seconds,
        tenants: &store,
        coordination: &store,
        sync_requests: &sync_requests,
    };
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handle(event.payload, deps).await)
    }))
    .await
}
