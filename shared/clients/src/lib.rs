//! HTTP clients for Kombo's HRIS API (and its connection flow) and Learn Amp's public API: the
//! real adapters of sync-core's `HrisSource`, `KomboConnect` and `LearnAmp` ports. Both retry 429, 5xx and transport errors with
//! bounded, jittered backoff that honours `Retry-After`, and count every call they make. Learn
//! Amp's calls keep to the pace its 429s teach ([`pacer`]), shared by every worker of a run.
//!
//! Every remote answer is treated as hostile: redirects are never followed (a redirect would
//! carry credentials or personal data to a host nobody configured), bodies are read up to
//! [`MAX_BODY_BYTES`], listings end after a bounded number of pages, and remote numbers
//! (token lifetimes, `Retry-After`, page totals) are clamped before use.

mod cursor_prefix;
pub mod kombo;
pub mod kombo_connect;
mod kombo_http;
pub mod learnamp;
pub mod pacer;
pub mod retry;
pub mod stats;

pub use kombo::KomboClient;
pub use kombo_connect::KomboConnectClient;
pub use learnamp::LearnAmpClient;
pub use retry::RetryPolicy;

use std::time::Duration;

/// How long one request may take, answer included, unless a client is told otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer either client reads: a Kombo page of 250 employees with many custom
/// fields is a few megabytes; anything near this is broken or hostile.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// One HTTP client configuration for both APIs: rustls, bounded timeouts, no redirects.
pub fn http_client() -> reqwest::Client {
    http_client_with_timeout(REQUEST_TIMEOUT)
}

pub fn http_client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("personio-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}

/// What a redirect answer says, for an error: its status and the host it points at (only the
/// host: a path or query can hold an email address).
pub(crate) fn describe_redirect(response: &reqwest::Response) -> String {
    let status = response.status().as_u16();
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    let host = match &target {
        Some(url) => url.host_str().unwrap_or("(no host)").to_string(),
        None => "(no valid Location)".to_string(),
    };
    format!("was answered with a redirect (HTTP {status}) to host {host}; redirects are not followed, so nothing was sent there: check the configured base URL")
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over [`MAX_BODY_BYTES`] (or the limit given).
    TooLarge(usize),
    Transport(reqwest::Error),
}

/// The whole body, or an error once it passes `limit` bytes: an endless answer costs at most
/// `limit` bytes of memory.
pub(crate) async fn read_body(
    response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    read_body_peeking(response, limit, &mut |_| {}).await
}

/// [`read_body`], showing `peek` the body read so far after each chunk.
pub(crate) async fn read_body_peeking(
    mut response: reqwest::Response,
    limit: usize,
    peek: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<bytes::Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
        peek(&body);
    }
    Ok(body.freeze())
}
