//! Fault injection shared by both sandboxes.
//!
//! [`FaultKnobs`] is a cheap, cloneable handle on shared settings that can be changed while a
//! server runs. Every request to an API route of a sandbox (everything except `/_sandbox/*`)
//! goes through an axum middleware that, in this order:
//!
//! 1. takes a token from the rate-limit bucket when a rate limit is set; an empty bucket answers
//!    **429** with `Retry-After: <seconds until a token is available, rounded up, at least 1>`;
//! 2. draws one number `r` in `[0, 1)` from a seeded RNG (one draw per request, so a given seed
//!    and request order always give the same faults): `r < rate_429` answers **429** (with
//!    `Retry-After: N` when configured); otherwise `r < rate_429 + rate_5xx` answers **503**;
//!    otherwise, with `rate_reset` more, the request **is served, then the connection is reset**
//!    before the answer arrives; otherwise, with `rate_stall` more, the request is served and
//!    the answer **stalls** for the configured time (past a client's timeout). Both leave the
//!    client not knowing whether its write happened, the case idempotency exists for;
//! 3. sleeps for the configured latency (so faults are delayed too), then answers.
//!
//! Error bodies use the API's own format, which each sandbox supplies as its `FaultAnswers`:
//! Kombo's `{"status":"error","error":{...}}` envelope (`PLATFORM.RATE_LIMIT_EXCEEDED`,
//! `REMOTE.SERVICE_UNAVAILABLE`) and Learn Amp's `{"error":"..."}` body. This module knows
//! neither format, so it depends on neither sandbox.
//!
//! The token bucket holds `max(1, requests_per_second)` tokens (one second of burst) and refills
//! continuously. Neither API documents its rate limits; this is a choice of the sandbox.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Runtime-changeable fault settings, shared by all clones.
#[derive(Clone, Default)]
pub struct FaultKnobs(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State0>,
    /// Nanoseconds the API spent answering requests that passed, injected latency excluded.
    service_nanos: std::sync::atomic::AtomicU64,
    /// Nanoseconds from the arrival of each request that passed to its answer: the injected
    /// latency as it was slept (tokio's timer rounds it up to the millisecond, and a busy
    /// machine wakes it later) and the API's own time.
    answer_nanos: std::sync::atomic::AtomicU64,
}

struct State0 {
    latency: Duration,
    rate_429: f64,
    retry_after: Option<u64>,
    rate_5xx: f64,
    /// The status of the injected 5xx answers: 503 unless set.
    status_5xx: u16,
    rate_reset: f64,
    rate_stall: f64,
    stall: Duration,
    rng: SmallRng,
    bucket: Option<Bucket>,
    hostile: Option<HostileRule>,
}

/// An answer no correct API gives, served instead of the API's own to the requests a rule
/// matches: what a broken or malicious server (or a man in the middle) could send.
#[derive(Clone, Debug, PartialEq)]
pub enum HostileAnswer {
    /// A redirect with this status (301, 302, 307, 308) to `location`.
    Redirect { status: u16, location: String },
    /// 200 with a JSON content type and a body that never ends.
    EndlessBody,
}

/// Which requests get a [`HostileAnswer`]: a method (any when `None`) and a path prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct HostileRule {
    pub method: Option<String>,
    pub path_prefix: String,
    pub answer: HostileAnswer,
}

impl HostileRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

impl Default for State0 {
    fn default() -> Self {
        State0 {
            latency: Duration::ZERO,
            rate_429: 0.0,
            retry_after: None,
            rate_5xx: 0.0,
            status_5xx: 503,
            rate_reset: 0.0,
            rate_stall: 0.0,
            stall: Duration::ZERO,
            rng: SmallRng::seed_from_u64(0),
            bucket: None,
            hostile: None,
        }
    }
}

struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl std::fmt::Debug for FaultKnobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("FaultKnobs")
            .field("latency", &s.latency)
            .field("rate_429", &s.rate_429)
            .field("retry_after", &s.retry_after)
            .field("rate_5xx", &s.rate_5xx)
            .field("rate_limit", &s.bucket.as_ref().map(|b| b.rate))
            .finish()
    }
}

/// What the middleware decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    Pass,
    TooManyRequests {
        retry_after: Option<u64>,
    },
    Unavailable,
    /// Served, then the connection is dropped before the answer.
    ResetAfterServing,
    /// Served, then the answer waits this long.
    StallAfterServing(Duration),
}

impl FaultKnobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, State0> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Latency added before every response of the API routes.
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    /// A fraction (0..=1) of requests is answered 429, with `Retry-After: N` when `Some(N)`.
    pub fn set_rate_429(&self, fraction: f64, retry_after_secs: Option<u64>) {
        let mut s = self.lock();
        s.rate_429 = fraction.clamp(0.0, 1.0);
        s.retry_after = retry_after_secs;
    }

    /// A fraction (0..=1) of requests is answered 503 with an error body in the API's format.
    pub fn set_rate_5xx(&self, fraction: f64) {
        self.lock().rate_5xx = fraction.clamp(0.0, 1.0);
    }

    /// The status the injected 5xx answers carry (500, 502, 503, 504, ...; default 503).
    pub fn set_5xx_status(&self, status: u16) {
        self.lock().status_5xx = status;
    }

    /// A fraction (0..=1) of requests is served and then the connection reset before the
    /// answer: the client sees a transport error although the write happened.
    pub fn set_rate_reset(&self, fraction: f64) {
        self.lock().rate_reset = fraction.clamp(0.0, 1.0);
    }

    /// A fraction (0..=1) of requests is served and then answered only after `stall`: past a
    /// client's timeout, it sees a timeout although the write happened.
    pub fn set_rate_stall(&self, fraction: f64, stall: Duration) {
        let mut s = self.lock();
        s.rate_stall = fraction.clamp(0.0, 1.0);
        s.stall = stall;
    }

    /// Answers the requests `rule` matches with its hostile answer (`None` removes the rule).
    /// Checked before every other fault; such requests never reach the API.
    pub fn set_hostile(&self, rule: Option<HostileRule>) {
        self.lock().hostile = rule;
    }

    /// Re-seeds the RNG the random faults are drawn from.
    pub fn set_seed(&self, seed: u64) {
        self.lock().rng = SmallRng::seed_from_u64(seed);
    }

    /// A token-bucket rate limit (`None` removes it). Over the rate → 429 with `Retry-After`.
    pub fn set_rate_limit(&self, requests_per_second: Option<f64>) {
        let mut s = self.lock();
        s.bucket = requests_per_second
            .filter(|r| *r > 0.0 && r.is_finite())
            .map(|rate| {
                let capacity = rate.max(1.0);
                Bucket {
                    rate,
                    capacity,
                    tokens: capacity,
                    last: Instant::now(),
                }
            });
    }

    /// Time the API itself spent answering the requests that got past the faults (building and
    /// serialising the answer), summed over requests, the injected latency not included. A
    /// client waits for it on top of the latency, as it would for any real server.
    pub fn service_time(&self) -> Duration {
        Duration::from_nanos(
            self.0
                .service_nanos
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The time the requests that got past the faults took from their arrival to their
    /// answer, summed over requests: what a client waits for each, at the least.
    pub fn answer_time(&self) -> Duration {
        Duration::from_nanos(
            self.0
                .answer_nanos
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Resets both the service time and the answer time.
    pub fn reset_service_time(&self) {
        self.0
            .service_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.0
            .answer_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Removes latency, random faults and the rate limit (the RNG keeps its state).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.latency = Duration::ZERO;
        s.rate_429 = 0.0;
        s.retry_after = None;
        s.rate_5xx = 0.0;
        s.status_5xx = 503;
        s.rate_reset = 0.0;
        s.rate_stall = 0.0;
        s.bucket = None;
        s.hostile = None;
    }

    /// Decides the fate of one request: the latency to add and the fault, if any.
    pub(crate) fn decide(&self) -> (Duration, Decision) {
        let mut s = self.lock();
        let latency = s.latency;
        if let Some(b) = s.bucket.as_mut() {
            let now = Instant::now();
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.last = now;
            b.tokens = (b.tokens + elapsed * b.rate).min(b.capacity);
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
            } else {
                let wait = ((1.0 - b.tokens) / b.rate).ceil().max(1.0) as u64;
                return (
                    latency,
                    Decision::TooManyRequests {
                        retry_after: Some(wait),
                    },
                );
            }
        }
        let r: f64 = s.rng.gen();
        let decision = if r < s.rate_429 {
            Decision::TooManyRequests {
                retry_after: s.retry_after,
            }
        } else if r < s.rate_429 + s.rate_5xx {
            Decision::Unavailable
        } else if r < s.rate_429 + s.rate_5xx + s.rate_reset {
            Decision::ResetAfterServing
        } else if r < s.rate_429 + s.rate_5xx + s.rate_reset + s.rate_stall {
            Decision::StallAfterServing(s.stall)
        } else {
            Decision::Pass
        };
        (latency, decision)
    }
}

/// The answers to the faults the middleware injects, in one API's error format.
#[derive(Clone, Copy)]
pub(crate) struct FaultAnswers {
    /// A 429 (the middleware adds `Retry-After` when it has one).
    pub too_many_requests: fn() -> Response,
    /// An injected 5xx with this status.
    pub unavailable: fn(StatusCode) -> Response,
}

/// State of the fault middleware.
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub knobs: FaultKnobs,
    pub answers: FaultAnswers,
}

/// The fault middleware (see the module docs). `/_sandbox/*` routes pass untouched.
pub(crate) async fn middleware(
    State(layer): State<FaultLayer>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let hostile = layer
        .knobs
        .lock()
        .hostile
        .clone()
        .filter(|rule| rule.matches(req.method().as_str(), req.uri().path()));
    if let Some(rule) = hostile {
        return hostile_response(rule.answer);
    }
    let arrived = Instant::now();
    let (latency, decision) = layer.knobs.decide();
    let status_5xx = StatusCode::from_u16(layer.knobs.lock().status_5xx)
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match decision {
        Decision::Pass => {
            let started = Instant::now();
            let response = next.run(req).await;
            layer.knobs.0.service_nanos.fetch_add(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            layer.knobs.0.answer_nanos.fetch_add(
                arrived.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            response
        }
        Decision::ResetAfterServing => {
            let served = next.run(req).await;
            let (parts, _) = served.into_parts();
            // A body that fails at once: hyper aborts the connection mid-answer.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset by the sandbox",
                ))
            });
            Response::from_parts(parts, axum::body::Body::from_stream(broken))
        }
        Decision::StallAfterServing(stall) => {
            let served = next.run(req).await;
            tokio::time::sleep(stall).await;
            served
        }
        Decision::TooManyRequests { retry_after } => {
            let mut resp = (layer.answers.too_many_requests)();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            resp
        }
        Decision::Unavailable => (layer.answers.unavailable)(status_5xx),
    }
}

fn hostile_response(answer: HostileAnswer) -> Response {
    match answer {
        HostileAnswer::Redirect { status, location } => {
            let mut resp = StatusCode::from_u16(status)
                .unwrap_or(StatusCode::TEMPORARY_REDIRECT)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(axum::http::header::LOCATION, v);
            }
            resp
        }
        HostileAnswer::EndlessBody => {
            let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let endless =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            let mut resp = Response::new(axum::body::Body::from_stream(endless));
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let run = |seed| {
            let k = FaultKnobs::default();
            k.set_seed(seed);
            k.set_rate_429(0.2, Some(3));
            k.set_rate_5xx(0.2);
            (0..200).map(|_| k.decide().1).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let v = run(7);
        let n429 = v
            .iter()
            .filter(|d| matches!(d, Decision::TooManyRequests { .. }))
            .count();
        let n503 = v.iter().filter(|d| **d == Decision::Unavailable).count();
        assert!((20..=60).contains(&n429), "{n429}");
        assert!((20..=60).contains(&n503), "{n503}");
    }

    #[test]
    fn bucket_limits() {
        let k = FaultKnobs::default();
        k.set_rate_limit(Some(2.0));
        assert_eq!(k.decide().1, Decision::Pass);
        assert_eq!(k.decide().1, Decision::Pass);
        assert_eq!(
            k.decide().1,
            Decision::TooManyRequests {
                retry_after: Some(1)
            }
        );
        k.clear();
        assert_eq!(k.decide().1, Decision::Pass);
    }
}
