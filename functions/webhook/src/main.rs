//! The webhook function's `main`: build the clients once, hand the handler to the runtime.

use fn_common::{env, env_secret, init_logging, SsmSecrets};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sync_aws::{DynamoStateStore, SqsQueue};
use webhook_fn::{handle, personio_delta_delay, WebhookDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = sync_aws::sdk_config().await;
    let ssm = SsmSecrets(aws_sdk_ssm::Client::new(&config));
    // Two secrets, one per line, while the Kombo webhook secret is being rotated.
    let kombo_secrets = env_secret("KOMBO_WEBHOOK_SECRET", &ssm)
        .await?
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect();
    // Personio webhooks are optional, but a configured token that cannot be read must fail the
    // cold start, not turn every Personio webhook into a 401.
    let personio_configured =
        env("PERSONIO_WEBHOOK_TOKEN").is_ok() || env("PERSONIO_WEBHOOK_TOKEN_PARAM").is_ok();
    let personio_token = if personio_configured {
        Some(env_secret("PERSONIO_WEBHOOK_TOKEN", &ssm).await?)
    } else {
        None
    };
    let personio_delta_delay_seconds =
        personio_delta_delay(env("PERSONIO_DELTA_DELAY_SECONDS").ok().as_deref())?;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), env("STATE_TABLE")?);
    let sync_requests = SqsQueue::new(
        aws_sdk_sqs::Client::new(&config),
        env("SYNC_REQUESTS_QUEUE_URL")?,
    );
    let deps = WebhookDeps {
        kombo_secrets,
        personio_token,
        personio_header: env("PERSONIO_TOKEN_HEADER").unwrap_or_else(|_| "authorization".into()),
        personio_delta_delay_seconds,
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
