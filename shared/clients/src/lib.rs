//! HTTP clients for Kombo's HRIS API and Learn Amp's public API: the real adapters of
//! sync-core's `HrisSource` and `LearnAmp` ports. Both retry 429, 5xx and transport errors with
//! bounded, jittered backoff that honours `Retry-After`, and count every call they make.

pub mod kombo;
pub mod learnamp;
pub mod retry;
pub mod stats;

pub use kombo::KomboClient;
pub use learnamp::LearnAmpClient;
pub use retry::RetryPolicy;

use std::time::Duration;

/// How long one request may take, answer included, unless a client is told otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP client configuration for both APIs: rustls, bounded timeouts.
pub fn http_client() -> reqwest::Client {
    http_client_with_timeout(REQUEST_TIMEOUT)
}

pub fn http_client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("personio-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}
