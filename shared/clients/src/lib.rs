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

/// One HTTP client configuration for both APIs: rustls, bounded timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("personio-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}
