//! The admin function's `main`: read the configuration and build the clients once, hand the
//! handler to the runtime.

use admin_fn::{handle, AdminDeps, Config, HttpLearnAmpCheck, Request, Response};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use fn_common::config::{process_env, refuse_start};
use fn_common::{init_logging, HttpClients, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use sync_aws::{DynamoStateStore, SqsQueue};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env(process_env).map_err(refuse_start)?;
    let sdk = sync_aws::sdk_config().await;
    let ssm = Arc::new(SsmSecrets::new(&sdk));
    let secrets = config.secrets(ssm.as_ref()).await.map_err(refuse_start)?;
    let connect =
        admin_fn::connect_adapter::kombo_connect(&config.kombo_base_url, &secrets.kombo_api_key);
    let clients = HttpClients::new(config.kombo_base_url, secrets.kombo_api_key, ssm.clone());
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.state_table);
    let sync_requests = SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        config.sync_requests_queue_url,
    );
    let learnamp_check = HttpLearnAmpCheck::default();
    let deps = AdminDeps {
        tenants: &store,
        store: &store,
        coordination: &store,
        sessions: &store,
        sync_requests: &sync_requests,
        connect: connect.as_ref(),
        secrets: ssm.as_ref(),
        learnamp_check: &learnamp_check,
        clients: &clients,
        link_keys: secrets.link_keys,
        secret_prefix: config.secret_prefix,
        local: false,
    };
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let response = match Request::from_lambda(event.payload) {
                Some(request) => handle(request, deps).await,
                None => Response::error(400, "The request body could not be read."),
            };
            Ok::<_, Error>(response.into_lambda())
        },
    ))
    .await
}
