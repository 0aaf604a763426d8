//! What both Kombo clients share ([`crate::KomboClient`] for the HRIS data,
//! [`crate::KomboConnectClient`] for the connection flow): one request to Kombo, with the API
//! key, redirects refused, the body bounded, retried as the policy allows within a deadline,
//! and its failure read from Kombo's `error.code`.

use crate::retry::{parse_retry_after, RetryPolicy};
use crate::stats::CallCounter;
use crate::BodyError;
use std::time::Instant;
use sync_core::error::SourceError;
use sync_core::kombo::{ErrorEnvelope, NOT_READY_CODES, TRANSIENT_CODES};

/// An error answer is read this far, for its `error.code`.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// The connection to Kombo: base URL, API key, timeouts, retries and the call counts.
pub(crate) struct KomboHttp {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    pub(crate) request_timeout: std::time::Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) calls: CallCounter,
}

/// One request: the path under the base URL, its query, its JSON body, and the integration it
/// is about (the `X-Integration-Id` header of the data endpoints).
pub(crate) struct KomboRequest<'a> {
    pub(crate) method: reqwest::Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) json: Option<&'a serde_json::Value>,
    pub(crate) integration_id: Option<&'a str>,
}

impl KomboHttp {
    /// `base_url` is Kombo's API root, e.g. `https://api.kombo.dev/v1`.
    pub(crate) fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            http: crate::http_client(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            request_timeout: crate::REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            calls: CallCounter::default(),
        }
    }

    pub(crate) fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = crate::http_client_with_timeout(timeout);
        self.request_timeout = timeout;
        self
    }

    /// The answer's body, retried as the policy allows, and given up at `ends` (no attempt and
    /// no wait goes past it) with `out_of_time`'s error.
    pub(crate) async fn send(
        &self,
        request: &KomboRequest<'_>,
        ends: Instant,
        out_of_time: &(dyn Fn() -> SourceError + Sync),
    ) -> Result<bytes::Bytes, SourceError> {
        self.send_peeking(request, ends, out_of_time, &mut |_| {})
            .await
    }

    /// [`Self::send`], showing `peek` each successful answer's body as it comes in.
    pub(crate) async fn send_peeking(
        &self,
        request: &KomboRequest<'_>,
        ends: Instant,
        out_of_time: &(dyn Fn() -> SourceError + Sync),
        peek: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<bytes::Bytes, SourceError> {
        let path = request.path;
        let url = format!("{}{}", self.base_url, path);
        let endpoint = format!("{} {}", request.method, endpoint_name(path));
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let time_left = ends.saturating_duration_since(Instant::now());
            if time_left.is_zero() {
                return Err(out_of_time());
            }
            self.calls.count(&endpoint);
            let mut builder = self
                .http
                .request(request.method.clone(), &url)
                .timeout(self.request_timeout.min(time_left))
                .bearer_auth(&self.api_key);
            if let Some(id) = request.integration_id {
                builder = builder.header("X-Integration-Id", id);
            }
            if !request.query.is_empty() {
                builder = builder.query(request.query);
            }
            if let Some(json) = request.json {
                builder = builder.json(json);
            }
            let response = builder.send().await;
            let (failure, retry_after) = match response {
                Ok(r) if r.status().is_redirection() => {
                    return Err(SourceError::Protocol(format!(
                        "{endpoint} {}",
                        crate::describe_redirect(&r)
                    )))
                }
                Ok(r) if r.status().is_success() => {
                    match crate::read_body_peeking(r, crate::MAX_BODY_BYTES, peek).await {
                        Ok(bytes) => return Ok(bytes),
                        Err(BodyError::TooLarge(limit)) => {
                            return Err(SourceError::Protocol(format!(
                                "{endpoint}: the answer is over {limit} bytes"
                            )))
                        }
                        Err(BodyError::Transport(e)) => (
                            SourceError::Transient {
                                code: "TRANSPORT".into(),
                                message: transport_message(e, self.request_timeout),
                            },
                            None,
                        ),
                    }
                }
                Ok(r) => {
                    let status = r.status();
                    let retry_after = parse_retry_after(r.headers().get("retry-after"));
                    let body = crate::read_body(r, ERROR_BODY_BYTES)
                        .await
                        .unwrap_or_default();
                    (classify(status.as_u16(), &body), retry_after)
                }
                Err(e) => (
                    SourceError::Transient {
                        code: "TRANSPORT".into(),
                        message: transport_message(e, self.request_timeout),
                    },
                    None,
                ),
            };
            if !matches!(failure, SourceError::Transient { .. }) {
                return Err(failure);
            }
            match self.retry.delay(attempt, started, retry_after) {
                Some(delay) if Instant::now() + delay >= ends => return Err(out_of_time()),
                Some(delay) => {
                    tracing::warn!(endpoint = %endpoint, attempt, delay_ms = delay.as_millis() as u64, error = %failure, "kombo call will be retried");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(given_up(failure, attempt, started)),
            }
        }
    }
}

/// The endpoint's name for the call counts, logs and errors: the path with its ids and tokens
/// (a token is a credential, an id can be anything a caller was given) replaced by placeholders.
pub(crate) fn endpoint_name(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut named = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let placeholder = match i.checked_sub(1).map(|p| segments[p]) {
            Some("integrations") => "{integration_id}",
            Some("integration-by-token") => "{token}",
            _ => segment,
        };
        named.push(placeholder);
    }
    named.join("/")
}

/// The last failure of a request, with how long the retries took, so that the error says what
/// bound was reached.
fn given_up(failure: SourceError, attempts: u32, started: Instant) -> SourceError {
    match failure {
        SourceError::Transient { code, message } => SourceError::Transient {
            code,
            message: format!(
                "{message} ({attempts} attempts in {:.0} s)",
                started.elapsed().as_secs_f64()
            ),
        },
        other => other,
    }
}

/// A transport error without its URL, which would otherwise reach logs and reports.
pub(crate) fn transport_message(e: reqwest::Error, timeout: std::time::Duration) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        format!("connection failed: {e}")
    } else {
        e.to_string()
    }
}

/// Maps a non-2xx answer to an error, by `error.code` first and the status only as a fallback.
pub(crate) fn classify(status: u16, body: &[u8]) -> SourceError {
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
        Some(c @ "INTEGRATION.AUTHENTICATION_INVALID") => SourceError::ConnectionBroken {
            code: c.to_string(),
        },
        Some(
            c @ ("PLATFORM.AUTHENTICATION_INVALID"
            | "PLATFORM.INTEGRATION_NOT_FOUND"
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
        let broken = br#"{"status":"error","error":{"code":"INTEGRATION.AUTHENTICATION_INVALID","message":"The credentials are no longer valid."}}"#;
        let err = classify(401, broken);
        assert!(
            matches!(err, SourceError::ConnectionBroken { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("reconnect Personio"), "{err}");
        assert!(!err.to_string().contains("KOMBO_API_KEY"), "{err}");
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>"),
            SourceError::Transient { .. }
        ));
        assert!(matches!(classify(400, b""), SourceError::Rejected { .. }));
    }

    #[test]
    fn endpoints_are_named_without_their_ids() {
        assert_eq!(endpoint_name("/hris/employees"), "/hris/employees");
        assert_eq!(
            endpoint_name("/integrations/personio:abc/custom-fields"),
            "/integrations/{integration_id}/custom-fields"
        );
        assert_eq!(
            endpoint_name("/connect/integration-by-token/t0k3n"),
            "/connect/integration-by-token/{token}"
        );
    }
}
