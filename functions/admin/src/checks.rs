//! Learn Amp credentials an admin enters are checked before they are saved: Learn Amp must give
//! a token for them.

use async_trait::async_trait;
use sync_clients::LearnAmpClient;
use sync_core::error::TargetError;

#[async_trait]
pub trait LearnAmpCheck: Send + Sync {
    /// Asks Learn Amp at `base_url` for a token with these credentials.
    async fn check(
        &self,
        base_url: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), TargetError>;
}

/// The check over HTTP, with the sync's own Learn Amp client (its scopes, its fallback for
/// legacy credentials, its refusal of redirects).
pub struct HttpLearnAmpCheck {
    pub retry: fn_common::RetryPolicy,
}

impl Default for HttpLearnAmpCheck {
    /// An admin waits for the answer: a few quick attempts, 10 s at most.
    fn default() -> Self {
        Self {
            retry: fn_common::RetryPolicy {
                max_attempts: 3,
                base_delay: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_secs(2),
                max_retry_after: std::time::Duration::from_secs(5),
                deadline: std::time::Duration::from_secs(10),
            },
        }
    }
}

#[async_trait]
impl LearnAmpCheck for HttpLearnAmpCheck {
    async fn check(
        &self,
        base_url: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), TargetError> {
        LearnAmpClient::new(base_url, client_id, client_secret)
            .with_retry(self.retry.clone())
            .check_credentials()
            .await
    }
}
