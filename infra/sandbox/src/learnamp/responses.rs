//! Learn Amp's error bodies and the pagination headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::faults::FaultAnswers;

/// A handler's answer; the error `Response` is the `Err`.
pub(super) type HResult = Result<Response, Response>;

pub(super) fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

/// The fault layer's answers, in Learn Amp's error body.
pub(super) const FAULT_ANSWERS: FaultAnswers = FaultAnswers {
    too_many_requests: too_many_api_calls,
    unavailable: offline_for_maintenance,
};

fn too_many_api_calls() -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "You're requesting too many API calls.",
    )
}

fn offline_for_maintenance(status: StatusCode) -> Response {
    error(
        status,
        "We're temporarily offline for maintenance. Please try again later.",
    )
}

pub(super) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not found")
}

pub(super) fn bad_request(msg: &str) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

pub(super) fn bad_request_full(msg: &str, fields: &[(&str, &str)]) -> Response {
    let mut full: Map<String, Value> = Map::new();
    for (f, m) in fields {
        match full.get_mut(*f) {
            Some(Value::Array(a)) => a.push(json!(m)),
            _ => {
                full.insert(f.to_string(), json!([m]));
            }
        }
    }
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg, "fullErrors": full})),
    )
        .into_response()
}

/// ActiveRecord-style "Validation failed: ..." errors: (param name, attribute label, message).
pub(super) fn validation_failed(prefix: bool, errs: &[(&str, &str, &str)]) -> Response {
    let sentence = errs
        .iter()
        .map(|(_, label, m)| format!("{label} {m}"))
        .collect::<Vec<_>>()
        .join(", ");
    let msg = if prefix {
        format!("Validation failed: {sentence}")
    } else {
        sentence
    };
    let fields: Vec<(&str, &str)> = errs.iter().map(|(f, _, m)| (*f, *m)).collect();
    bad_request_full(&msg, &fields)
}

/// The pagination headers; `reported` replaces `Total` and `Total-Pages` (a fault knob).
pub(super) fn with_pagination(
    mut resp: Response,
    total: usize,
    per_page: usize,
    reported: Option<(u64, u64)>,
) -> Response {
    let (total, pages) = reported.unwrap_or((total as u64, total.div_ceil(per_page) as u64));
    let h = resp.headers_mut();
    h.insert("total", HeaderValue::from(total));
    h.insert("per-page", HeaderValue::from(per_page as u64));
    h.insert("total-pages", HeaderValue::from(pages));
    resp
}
