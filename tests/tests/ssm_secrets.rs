//! Secrets read from SSM (moto): the error says whether another attempt can help, since that
//! decides whether the sync function retries a tenant's request or drops it for an operator.

use fn_common::{SecretError, SecretSource, SsmSecrets};
use sync_aws::testing::MotoServer;

#[tokio::test]
async fn a_missing_parameter_is_for_an_operator_and_an_unreachable_ssm_for_a_retry() {
    let moto = MotoServer::start();
    let secrets = SsmSecrets::new(&moto.sdk_config().await);
    let missing = secrets
        .secret("/personio-sync/not-created")
        .await
        .unwrap_err();
    assert_eq!(
        missing,
        SecretError::Missing {
            reference: "/personio-sync/not-created".into()
        }
    );
    assert!(!missing.is_retryable());

    // Nothing listens on a port just freed (the suite's moto server cannot be stopped here).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let unreachable_config = moto
        .sdk_config()
        .await
        .into_builder()
        .endpoint_url(format!("http://{closed}"))
        .build();
    let secrets = SsmSecrets::new(&unreachable_config);
    let unreachable = secrets
        .secret("/personio-sync/kombo-api-key")
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, SecretError::Unavailable { .. }),
        "{unreachable}"
    );
    assert!(unreachable.is_retryable());
}
