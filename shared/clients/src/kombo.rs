//! Kombo's HRIS API: `GET /hris/employees`, `/hris/groups`, `/hris/locations`, with cursor
//! pagination at the maximum page size, `updated_after` and `include_deleted=true`.
//!
//! Errors branch on Kombo's `error.code`, not on the HTTP status: the setup codes
//! (`INTEGRATION.SETUP_SYNC_PENDING` and its siblings, HTTP 409 since May 2026) mean "not ready,
//! retry later" and are not retried within the run; rate limits and remote outages are retried
//! with backoff. A listing is complete or an error, never a partial result (pages handed
//! over before an error belong to a listing that failed, and are to be thrown away).

use crate::retry::{parse_retry_after, RetryPolicy};
use crate::stats::CallCounter;
use async_trait::async_trait;
use chrono::SecondsFormat;
use serde::de::DeserializeOwned;
use std::time::Instant;
use sync_core::error::SourceError;
use sync_core::kombo::{
    Employee, ErrorEnvelope, Group, Location, PageEnvelope, NOT_READY_CODES, TRANSIENT_CODES,
};
use sync_core::ports::{CallStats, HrisSource, ListQuery};

/// Kombo's maximum `page_size`.
pub const MAX_PAGE_SIZE: usize = 250;

pub struct KomboClient {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    integration_id: String,
    retry: RetryPolicy,
    calls: CallCounter,
}

impl KomboClient {
    /// `base_url` is Kombo's API root, e.g. `https://api.kombo.dev/v1`.
    pub fn new(base_url: &str, api_key: &str, integration_id: &str) -> Self {
        Self {
            http: crate::http_client(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            integration_id: integration_id.to_string(),
            retry: RetryPolicy::default(),
            calls: CallCounter::default(),
        }
    }

    /// Another timeout for each request (the default is [`crate::REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = crate::http_client_with_timeout(timeout);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn reset_call_stats(&self) {
        self.calls.reset();
    }

    async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Vec<T>, SourceError> {
        let mut results = Vec::new();
        self.each_page(path, query, &mut |page| results.extend(page))
            .await?;
        Ok(results)
    }

    /// Every page of a listing, handed to `on_page` as it is decoded. The pages come one after
    /// the other (each page's cursor comes with the page before), so the next one is fetched
    /// while this one is decoded and handed over: the listing takes about as long as its pages'
    /// round trips, not round trips plus decoding.
    async fn each_page<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &ListQuery,
        on_page: &mut (dyn FnMut(Vec<T>) + Send),
    ) -> Result<(), SourceError> {
        let mut params: Vec<(&str, String)> = vec![
            ("page_size", MAX_PAGE_SIZE.to_string()),
            ("include_deleted", "true".to_string()),
        ];
        if let Some(after) = query.updated_after {
            params.push((
                "updated_after",
                after.to_rfc3339_opts(SecondsFormat::Millis, true),
            ));
        }
        if let Some(ids) = &query.ids {
            params.push(("ids", ids.join(",")));
        }
        let mut records = 0usize;
        let decode_error = |e: serde_json::Error| SourceError::Decode(format!("{path}: {e}"));
        let mut body = self.fetch_page(path, &params).await?;
        loop {
            // The cursor alone first (the records are skipped over), to ask for the next page.
            let next = serde_json::from_slice::<CursorOnly>(&body)
                .map_err(decode_error)?
                .data
                .next
                .filter(|n| !n.is_empty());
            let decoding = tokio::task::spawn_blocking(move || {
                serde_json::from_slice::<PageEnvelope<T>>(&body)
            });
            let hand_over = async {
                let page = decoding
                    .await
                    .map_err(|e| SourceError::Decode(format!("{path}: {e}")))?
                    .map_err(decode_error)?;
                records += page.data.results.len();
                on_page(page.data.results);
                Ok::<(), SourceError>(())
            };
            let Some(cursor) = next else {
                hand_over.await?;
                break;
            };
            let mut page_params = params.clone();
            page_params.push(("cursor", cursor));
            // A page that fails to decode stops the listing at once, its successor's retries too.
            let (fetched, ()) = tokio::try_join!(self.fetch_page(path, &page_params), hand_over)?;
            body = fetched;
        }
        tracing::debug!(path, records, "kombo listing complete");
        Ok(())
    }

    /// One page's body, retried as the policy allows.
    async fn fetch_page(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<bytes::Bytes, SourceError> {
        let url = format!("{}{}", self.base_url, path);
        let endpoint = format!("GET {path}");
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.calls.count(&endpoint);
            let response = self
                .http
                .get(&url)
                .bearer_auth(&self.api_key)
                .header("X-Integration-Id", &self.integration_id)
                .query(params)
                .send()
                .await;
            let (failure, retry_after) = match response {
                Ok(r) if r.status().is_success() => {
                    let bytes = r.bytes().await.map_err(|e| SourceError::Transient {
                        code: "TRANSPORT".into(),
                        message: transport_message(e),
                    });
                    match bytes {
                        Ok(bytes) => return Ok(bytes),
                        Err(e) => (e, None),
                    }
                }
                Ok(r) => {
                    let status = r.status();
                    let retry_after = parse_retry_after(r.headers().get("retry-after"));
                    let body = r.bytes().await.unwrap_or_default();
                    (classify(status.as_u16(), &body), retry_after)
                }
                Err(e) => (
                    SourceError::Transient {
                        code: "TRANSPORT".into(),
                        message: transport_message(e),
                    },
                    None,
                ),
            };
            if !matches!(failure, SourceError::Transient { .. }) {
                return Err(failure);
            }
            match self.retry.delay(attempt, started, retry_after) {
                Some(delay) => {
                    tracing::warn!(path, attempt, delay_ms = delay.as_millis() as u64, error = %failure, "kombo call will be retried");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(failure),
            }
        }
    }
}

/// A page's envelope without its records.
#[derive(serde::Deserialize)]
struct CursorOnly {
    data: CursorData,
}

#[derive(serde::Deserialize)]
struct CursorData {
    #[serde(default)]
    next: Option<String>,
}

/// A transport error without its URL, which would otherwise reach logs and reports.
fn transport_message(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("connection failed: {e}")
    } else {
        e.to_string()
    }
}

/// Maps a non-2xx answer to an error, by `error.code` first and the status only as a fallback.
fn classify(status: u16, body: &[u8]) -> SourceError {
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(body).ok();
    let code = envelope.as_ref().and_then(|e| e.error.code.clone());
    let message = envelope
        .map(|e| e.error.message)
        .unwrap_or_else(|| format!("HTTP {status}"));
    match code.as_deref() {
        Some(c) if NOT_READY_CODES.contains(&c) => SourceError::NotReady {
            code: c.to_string(),
        },
        Some(c) if TRANSIENT_CODES.contains(&c) => SourceError::Transient {
            code: c.to_string(),
            message,
        },
        Some(
            c @ ("PLATFORM.AUTHENTICATION_INVALID"
            | "PLATFORM.INTEGRATION_NOT_FOUND"
            | "INTEGRATION.AUTHENTICATION_INVALID"
            | "PLATFORM.IP_NOT_WHITELISTED"),
        ) => SourceError::Unauthorized {
            code: c.to_string(),
            message,
        },
        Some(c) => SourceError::Rejected {
            code: c.to_string(),
            message,
        },
        None => match status {
            401 | 403 => SourceError::Unauthorized {
                code: format!("HTTP {status}"),
                message,
            },
            408 | 429 | 500..=599 => SourceError::Transient {
                code: format!("HTTP {status}"),
                message,
            },
            _ => SourceError::Rejected {
                code: format!("HTTP {status}"),
                message,
            },
        },
    }
}

#[async_trait]
impl HrisSource for KomboClient {
    async fn list_employees(&self, query: &ListQuery) -> Result<Vec<Employee>, SourceError> {
        self.list("/hris/employees", query).await
    }

    async fn each_employee_page(
        &self,
        query: &ListQuery,
        on_page: &mut (dyn FnMut(Vec<Employee>) + Send),
    ) -> Result<(), SourceError> {
        self.each_page("/hris/employees", query, on_page).await
    }

    async fn list_groups(&self, query: &ListQuery) -> Result<Vec<Group>, SourceError> {
        self.list("/hris/groups", query).await
    }

    async fn list_locations(&self, query: &ListQuery) -> Result<Vec<Location>, SourceError> {
        self.list("/hris/locations", query).await
    }

    fn call_stats(&self) -> CallStats {
        self.calls.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_error_code_before_status() {
        let pending = br#"{"status":"error","error":{"code":"INTEGRATION.SETUP_SYNC_PENDING","message":"wait"}}"#;
        assert!(matches!(
            classify(409, pending),
            SourceError::NotReady { .. }
        ));
        assert!(
            matches!(classify(503, pending), SourceError::NotReady { .. }),
            "the pre-May-2026 status too"
        );
        let limited = br#"{"status":"error","error":{"code":"PLATFORM.RATE_LIMIT_EXCEEDED","message":"slow down"}}"#;
        assert!(matches!(
            classify(429, limited),
            SourceError::Transient { .. }
        ));
        let auth = br#"{"status":"error","error":{"code":"PLATFORM.AUTHENTICATION_INVALID","message":"bad key"}}"#;
        assert!(matches!(
            classify(401, auth),
            SourceError::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>"),
            SourceError::Transient { .. }
        ));
        assert!(matches!(classify(400, b""), SourceError::Rejected { .. }));
    }
}
