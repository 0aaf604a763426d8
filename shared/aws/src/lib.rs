//! The AWS adapters of sync-core's ports: per-tenant state and idempotency records in DynamoDB,
//! queues in SQS. Only this crate and the function `main`s see the AWS SDK.

pub mod admin_sessions;
pub mod dynamo;
pub mod idempotency;
pub mod sqs;
#[cfg(feature = "testing")]
pub mod testing;

pub use dynamo::DynamoStateStore;
pub use idempotency::DynamoIdempotency;
pub use sqs::SqsQueue;

/// The SDK configuration from the environment. `AWS_ENDPOINT_URL` (honoured by the SDK itself)
/// points it at moto in tests and local runs.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An SDK error with its whole chain of causes, for a log line or a `StoreError`.
pub fn describe<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
